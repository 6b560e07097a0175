// POI importers: OSM (.osm.pbf, .osm, .osm.bz2, .osm.gz via libosmium), GeoJSON (Point
// features with OSM-style tag properties; also Overpass JSON with lat/lon or center, and
// Overture places as GeoJSON or GeoJSONSeq) and CSV (lat,lng,category[,name]).
//
// Every importer ends in the same step (import_internal::FinishPois): names are cleaned
// (valid UTF-8, no NUL, at most 256 bytes: CleanPoiName), POIs get their source ids (the OSM
// type and id, else a content key "csv:…"/"geojson:…", never the file name or a line number:
// see poi/poi.h), and POIs of one file with the same source id are merged into one.
//
// Contract: a file is read whole or not at all. On any malformed or truncated input the
// importer returns kInvalidArgument with a message naming the file and, where the format
// allows, the position (line, feature index, OSM object); it never returns a partial list as
// success. A missing/unreadable file is kNotFound / kInvalidArgument naming the file.
// Thread-safe: no shared state.
//
// The OSM importer also reads the walk network (SPEC §4a, common/walk_network.h) in the same pass,
// when the caller asks for it; GeoJSON and CSV carry none and leave it empty. It follows the
// same contract: on an error the caller gets no network either.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/walk_network.h"
#include "geo/geo.h"
#include "poi/poi.h"

namespace nbi {

enum class PoiFormat { kOsm, kGeoJson, kCsv };

// Chooses the format from the file name: .osm.pbf/.pbf/.osm/.osm.bz2/.osm.gz -> kOsm,
// .geojson/.json/.geojsonseq/.geojsonl/.ndjson -> kGeoJson, .csv -> kCsv. Unknown extensions are
// kInvalidArgument.
Result<PoiFormat> DetectPoiFormat(const std::string& path);

// Called now and then with bytes read so far and total bytes (0 when unknown).
using ImportProgress = std::function<void(uint64_t done, uint64_t total)>;

// What a file held: nodes + ways - duplicates POIs are returned.
struct ImportStats {
  uint64_t nodes = 0;       // POIs read from OSM nodes (or points for GeoJSON/CSV)
  uint64_t ways = 0;        // POIs read from OSM ways (placed at the mean of distinct node
                            // positions) or from GeoJSON lines and polygons
  uint64_t duplicates = 0;  // of those, merged into another with the same source id (two
                            // identical CSV rows, an OSM object listed twice)
  uint64_t walk_nodes = 0;  // the walk network read (OSM only): its nodes and edges
  uint64_t walk_edges = 0;
  uint64_t unplaced = 0;  // GeoJSON features skipped without a category of ours (none, or
                          // Overture categories outside the mapping): reported, not imported
  // OSM change files: ways with a category none of whose nodes has a known position (not in
  // the file, not stored: e.g. a building the extract held without a category, tagged a shop
  // now). Not placed, so not imported: reported; the next extract with --replace brings them.
  uint64_t ways_not_placed = 0;
  // The area the file describes (OSM only): the PBF header's bounding box when it has one
  // (header_bounds), else the extent of the file's node locations; nullopt when neither
  // exists (no node with a location). An import with --replace treats it as authoritative.
  std::optional<BBox> bounds;
  bool header_bounds = false;
};

// Reads every POI of a supported category from `path`. With `network`, also its walk
// network (replacing what it held; cleared for GeoJSON/CSV and on any error).
Result<std::vector<Poi>> ImportPois(const std::string& path, ImportStats* stats = nullptr,
                                    const ImportProgress& progress = {},
                                    WalkNetwork* network = nullptr);

// The per-format readers, for callers that know the format.
// With `ways`, also the node lists of its POI ways and walk ways (common/walk_network.h).
Result<std::vector<Poi>> ImportOsm(const std::string& path, ImportStats* stats,
                                   const ImportProgress& progress, WalkNetwork* network = nullptr,
                                   std::vector<OsmWayNodes>* ways = nullptr);
Result<std::vector<Poi>> ImportGeoJson(const std::string& path, ImportStats* stats);
Result<std::vector<Poi>> ImportCsv(const std::string& path, ImportStats* stats);

// A CSV file read in batches, in memory bounded by the batch (RunImport's CSV import): each
// Next gives up to `max` POIs in file order, finished as every importer finishes them (names
// cleaned, content source ids, duplicates within the batch merged). A POI listed again in a
// later batch comes again, with the same source id (an upsert merges it as FinishPois would);
// Count() counts it as a duplicate. Errors are ImportCsv's, at the record where they occur:
// the caller must drop what earlier batches gave (the file is read whole or not at all).
class CsvPoiStream {
 public:
  static Result<std::unique_ptr<CsvPoiStream>> Open(const std::string& path);
  ~CsvPoiStream();
  // Fills *batch (replacing it) and returns true; false at the end of the file.
  Result<bool> Next(size_t max, std::vector<Poi>* batch);
  // After the last Next: the records read (nodes) and those that repeated an earlier record's
  // source id (duplicates); with per_category, the distinct POIs of each category.
  ImportStats Count(std::array<int64_t, kCategoryCount>* per_category);
  uint64_t bytes_read() const;

 private:
  CsvPoiStream();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The CSV and GeoJSON/Overpass readers over text already in memory (ImportCsv and
// ImportGeoJson read the file, then call these); `name` stands for the file in messages.
Result<std::vector<Poi>> ParseCsvPois(std::string_view text, const std::string& name,
                                      ImportStats* stats);
Result<std::vector<Poi>> ParseGeoJsonPois(std::string_view text, const std::string& name,
                                          ImportStats* stats);
// GeoJSONSeq: one feature per line (Overture places exports); ImportGeoJson reads a file of
// that kind (IsGeoJsonSeqPath: .geojsonseq, .geojsonl, .ndjson) with it.
Result<std::vector<Poi>> ParseGeoJsonSeqPois(std::string_view text, const std::string& name,
                                             ImportStats* stats);
bool IsGeoJsonSeqPath(const std::string& path);

}  // namespace nbi
