// OSM importer: nodes and ways carrying a SPEC §4 category tag, and the walk network (SPEC
// §4a), read with libosmium.
//
// One pass over the file. Every node location goes into an index (NodeLocations below: 16
// bytes per node, e.g. 6.4 GB for a 400 M-node country extract); ways with a category are
// kept aside with their node ids and placed after the last node has been read. So the
// importer does not depend on the order of the file (Overpass XML, for one, writes ways
// before their nodes). Relations are not read: SPEC §4 POIs are nodes and ways.
//
// The walk network comes out of the same pass: a walk way (IsWalkWay) leaves its consecutive
// node pairs as segments (16 bytes each), which become edges once every location is known.
// Segments sit in a flat vector that is sorted and deduplicated once; no map per node, so a
// city's million segments cost tens of MB, not hundreds. A segment with a node missing from
// the file is dropped (clipped extracts), as is one whose node lies out of range: the network
// is a by-product of a POI import and a stray coordinate on a footway must not fail it.
//
// A way sits at the mean of the distinct positions of its nodes. Nodes missing from the file
// are left out (clipped extracts such as helsinki.osm.pbf reference nodes outside their
// bounds); a category way none of whose nodes is present cannot be placed and is an error.
// Means are plain averages of lat and lng, so a way across the antimeridian lands in the
// wrong place; no POI data of ours comes near it.
//
// libosmium reports malformed input (bad XML, truncated PBF blobs, broken gzip/bzip2 streams,
// a missing OSMHeader) by exceptions, some raised on its worker threads and rethrown by
// Reader::read(); all of them become kInvalidArgument naming the file. It misses one kind of
// truncation, which ImportOsm checks itself (see there). A PBF cut exactly at a blob
// boundary is still a valid PBF and cannot be told apart from a smaller extract.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <osmium/handler.hpp>
#include <osmium/index/map/sparse_mmap_array.hpp>
#include <osmium/io/bzip2_compression.hpp>
#include <osmium/io/gzip_compression.hpp>
#include <osmium/io/pbf_input.hpp>
#include <osmium/io/reader.hpp>
#include <osmium/io/xml_input.hpp>
#include <osmium/osm/box.hpp>
#include <osmium/osm/location.hpp>
#include <osmium/osm/node.hpp>
#include <osmium/osm/way.hpp>
#include <osmium/visitor.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <vector>

#include "geo/geo.h"
#include "poi/import.h"
#include "poi/import_internal.h"
#include "poi/walk_ways.h"

namespace nbi {

namespace {

// Units per degree of osmium::Location's fixed-point coordinates.
constexpr double kCoordinatePrecision = osmium::detail::coordinate_precision;

// Node id -> location for every node of the file.
//
// libosmium's SparseMmapArray: (id, location) pairs, 16 bytes per node, in anonymous memory
// that grows by mremap, 1 M entries (16 MB) at a time, without copying: 16 B/node plus at
// most one such block at the peak.
// It replaced FlexMem (2026-11-30), which in an extract stays sparse (it turns dense only
// past 16 M nodes covering a third of all ids up to the highest) and so is a std::vector of
// the same pairs, whose doubling copies it: up to 32 B/node at the peak (bench_import: 26.7
// B/node at 5 M nodes; a 400 M-node extract peaks at 8.6 GB instead of 6.4 GB), for the same
// speed. The others: dense indexes cost 8 B per id up to the highest (> 100 GB with today's
// ids: planet only); sparse_file_array keeps the same 16 B/node in a file under /tmp, often
// a tmpfs, so it saves memory only where the kernel evicts its pages, at the price of a
// file of several GB nobody asked for. See BENCHMARKS.md, "Import throughput".
class NodeLocations {
 public:
  void Set(osmium::object_id_type id, osmium::Location loc) {
    const osmium::unsigned_object_id_type key = Key(id);
    if (key < last_key_) must_sort_ = true;
    last_key_ = key;
    if (id >= 0) {
      positive_.set(key, loc);
      return;
    }
    if (!negative_) negative_ = std::make_unique<Index>();  // maps its first 16 MB
    negative_->set(key, loc);
  }
  // Call once after the last Set and before Get (the sparse index needs sorted ids).
  void Freeze() {
    if (!must_sort_) return;
    positive_.sort();
    if (negative_) negative_->sort();
  }
  // An undefined location when the node is not in the file.
  osmium::Location Get(osmium::object_id_type id) const {
    if (id >= 0) return positive_.get_noexcept(Key(id));
    return negative_ ? negative_->get_noexcept(Key(id)) : osmium::Location();
  }

 private:
  // |id|, computed in unsigned arithmetic so that the most negative id does not overflow.
  static osmium::unsigned_object_id_type Key(osmium::object_id_type id) {
    const auto bits = static_cast<osmium::unsigned_object_id_type>(id);
    return id < 0 ? 0 - bits : bits;
  }

  using Index =
      osmium::index::map::SparseMmapArray<osmium::unsigned_object_id_type, osmium::Location>;
  Index positive_;
  std::unique_ptr<Index> negative_;  // negative ids occur in files made by editors such as JOSM
  osmium::unsigned_object_id_type last_key_ = 0;
  bool must_sort_ = false;
};

// The libosmium format string for a file name, or nullopt for an unsupported suffix. Passed
// explicitly so that upper-case suffixes, accepted by DetectPoiFormat, work too.
std::optional<std::string> OsmiumFormat(const std::string& path) {
  using import_internal::EndsWithNoCase;
  if (EndsWithNoCase(path, ".pbf")) return "pbf";
  if (EndsWithNoCase(path, ".osm")) return "osm";
  if (EndsWithNoCase(path, ".osm.bz2")) return "osm.bz2";
  if (EndsWithNoCase(path, ".osm.gz")) return "osm.gz";
  return std::nullopt;
}

std::optional<CategoryMatch> MatchOsmTags(const osmium::TagList& tags) {
  if (tags.empty()) return std::nullopt;
  return MatchTags([&tags](std::string_view key) -> std::string_view {
    for (const osmium::Tag& tag : tags) {
      if (key == tag.key()) return tag.value();
    }
    return {};
  });
}

std::string NameOf(const osmium::TagList& tags) {
  const char* name = tags.get_value_by_key("name");
  return name ? name : "";
}

// A node's position as node POIs get theirs: the doubles of the fixed-point coordinates.
LatLng PositionOf(osmium::Location loc) {
  return {loc.lat_without_check(), loc.lon_without_check()};
}

// Collects the POIs of one file: nodes as they come, ways in Finish(); with `walk`, the
// walk network's segments too (edges in FinishWalk()).
class PoiCollector : public osmium::handler::Handler {
 public:
  PoiCollector(bool walk, bool keep_ways) : walk_(walk), keep_ways_(keep_ways) {}

  void node(const osmium::Node& node) {
    locations_.Set(node.id(), node.location());
    if (node.location().valid()) extent_.extend(node.location());
    if (!error_.ok()) return;
    std::optional<CategoryMatch> match = MatchOsmTags(node.tags());
    if (!match) return;
    const std::string id = fmt::format("n{}", node.id());
    const osmium::Location loc = node.location();
    if (!loc.is_defined()) {
      error_ = Status::Invalid(fmt::format("node {} has no location", id));
      return;
    }
    Result<LatLng> pos =
        LatLng::Make(loc.lat_without_check(), loc.lon_without_check(), "node " + id);
    if (!pos.ok()) {
      error_ = pos.status();
      return;
    }
    pois_.push_back({id, match->category, match->sub, NameOf(node.tags()), pos->lat, pos->lng});
    ++nodes_;
  }

  void way(const osmium::Way& way) {
    if (!error_.ok()) return;
    const int cls = walk_ ? KeepWalkSegments(way) : -1;
    std::optional<CategoryMatch> match = MatchOsmTags(way.tags());
    if (!match && !(keep_ways_ && cls >= 0)) return;
    const size_t first = refs_.size();  // the way's node ids: refs_[first, first + size)
    for (const osmium::NodeRef& ref : way.nodes()) refs_.push_back(ref.ref());
    if (keep_ways_) kept_ways_.push_back({way.id(), cls, first, way.nodes().size()});
    if (!match) return;
    PendingWay pending{way.id(), *match, NameOf(way.tags()), first, way.nodes().size()};
    pending_ways_.push_back(std::move(pending));
  }

  // The first error met so far; once set, the remaining objects are ignored.
  const Status& error() const { return error_; }

  // Places the kept ways once every node has been seen; call after the last buffer.
  Status Finish() {
    NBI_RETURN_IF_ERROR(error_);
    locations_.Freeze();
    std::vector<osmium::Location> distinct;
    for (PendingWay& way : pending_ways_) {
      const std::string id = fmt::format("w{}", way.id);
      distinct.clear();
      for (size_t i = way.first_ref; i < way.first_ref + way.ref_count; ++i) {
        const osmium::Location loc = locations_.Get(refs_[i]);
        if (!loc.is_defined()) continue;  // node not in the file: see the file comment
        if (!loc.valid()) {
          return Status::Invalid(
              fmt::format("way {}: node n{} has a location out of range", id, refs_[i]));
        }
        distinct.push_back(loc);
      }
      if (distinct.empty()) {
        return Status::Invalid(
            fmt::format("way {}: none of its {} node(s) is in the file, so it cannot be placed", id,
                        way.ref_count));
      }
      std::sort(distinct.begin(), distinct.end());
      distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());

      // Sum the fixed-point coordinates exactly, then divide once.
      int64_t sum_x = 0, sum_y = 0;
      for (const osmium::Location& loc : distinct) {
        sum_x += loc.x();
        sum_y += loc.y();
      }
      const double n = static_cast<double>(distinct.size());
      const double lat = static_cast<double>(sum_y) / n / kCoordinatePrecision;
      const double lng = static_cast<double>(sum_x) / n / kCoordinatePrecision;
      pois_.push_back({id, way.match.category, way.match.sub, std::move(way.name), lat, lng});
      ++ways_;
    }
    return Status::Ok();
  }

  // The node lists of the POI and walk ways (keep_ways); call after Finish().
  std::vector<OsmWayNodes> FinishWays() {
    std::vector<OsmWayNodes> out;
    out.reserve(kept_ways_.size());
    for (const KeptWay& w : kept_ways_) {
      OsmWayNodes way{w.id, w.cls, {}};
      way.refs.reserve(w.ref_count);
      for (size_t i = w.first_ref; i < w.first_ref + w.ref_count; ++i) {
        const osmium::Location loc = locations_.Get(refs_[i]);
        const LatLng pos = loc.valid() ? PositionOf(loc) : LatLng{0, 0};
        way.refs.push_back({refs_[i], pos.lat, pos.lng, loc.valid()});
      }
      out.push_back(std::move(way));
    }
    return out;
  }

  // The walk network of the kept segments; call after Finish() (which freezes the index).
  WalkNetwork FinishWalk() {
    // A segment of two ways (a street and the major road it becomes) is drawn as the larger.
    std::sort(segments_.begin(), segments_.end(), [](const Segment& x, const Segment& y) {
      return std::tie(x.a, x.b, y.cls) < std::tie(y.a, y.b, x.cls);
    });
    segments_.erase(
        std::unique(segments_.begin(), segments_.end(),
                    [](const Segment& x, const Segment& y) { return x.a == y.a && x.b == y.b; }),
        segments_.end());
    WalkNetwork net;
    std::vector<int64_t> ends;
    for (const auto& [a, b, cls] : segments_) {
      const osmium::Location la = locations_.Get(a), lb = locations_.Get(b);
      if (!la.valid() || !lb.valid()) continue;  // missing or out of range: see the file comment
      net.edges.push_back({a, b, HaversineMeters(PositionOf(la), PositionOf(lb)), cls});
      ends.push_back(a);
      ends.push_back(b);
    }
    std::vector<Segment>().swap(segments_);  // freed before the nodes grow
    std::sort(ends.begin(), ends.end());
    ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
    net.nodes.reserve(ends.size());
    for (int64_t id : ends) {
      const LatLng pos = PositionOf(locations_.Get(id));
      net.nodes.push_back({id, pos.lat, pos.lng});
    }
    return net;
  }

  std::vector<Poi>& pois() { return pois_; }
  const osmium::Box& extent() const { return extent_; }
  uint64_t nodes() const { return nodes_; }
  uint64_t ways() const { return ways_; }

 private:
  struct PendingWay {
    osmium::object_id_type id;
    CategoryMatch match;
    std::string name;
    size_t first_ref, ref_count;  // its node ids are refs_[first_ref, first_ref + ref_count)
  };

  // Keeps each pair of consecutive distinct nodes of a walk way, as (smaller id, larger id).
  // Returns the way's walk class, -1 for a way that is no walk way.
  int KeepWalkSegments(const osmium::Way& way) {
    const osmium::TagList& tags = way.tags();
    if (!tags.has_key("highway")) return -1;  // most ways: skip the tag lookups
    const bool walk = IsWalkWay([&tags](std::string_view key) -> std::string_view {
      for (const osmium::Tag& tag : tags) {
        if (key == tag.key()) return tag.value();
      }
      return {};
    });
    if (!walk) return -1;
    const uint8_t cls = WalkClassOf(tags.get_value_by_key("highway", ""));
    const osmium::WayNodeList& nodes = way.nodes();
    for (size_t i = 1; i < nodes.size(); ++i) {
      const int64_t a = nodes[i - 1].ref(), b = nodes[i].ref();
      if (a != b) segments_.push_back({std::min(a, b), std::max(a, b), cls});
    }
    return cls;
  }
  struct KeptWay {
    int64_t id;
    int cls;
    size_t first_ref, ref_count;  // in refs_
  };

  struct Segment {
    int64_t a, b;
    uint8_t cls;  // the way's drawing class (WalkClassOf)
  };
  const bool walk_, keep_ways_;
  std::vector<KeptWay> kept_ways_;
  std::vector<Segment> segments_;  // the walk ways' node pairs
  NodeLocations locations_;
  osmium::Box extent_;  // of every valid node location read
  std::vector<PendingWay> pending_ways_;
  std::vector<osmium::object_id_type> refs_;
  std::vector<Poi> pois_;
  uint64_t nodes_ = 0, ways_ = 0;
  Status error_;
};

}  // namespace

Result<std::vector<Poi>> ImportOsm(const std::string& path, ImportStats* stats,
                                   const ImportProgress& progress, WalkNetwork* network,
                                   std::vector<OsmWayNodes>* ways) {
  if (network) *network = WalkNetwork{};  // nothing of an earlier file survives an error
  if (ways) ways->clear();
  NBI_RETURN_IF_ERROR(import_internal::CheckInputFile(path));
  std::optional<std::string> format = OsmiumFormat(path);
  if (!format) {
    return Status::Invalid(fmt::format(
        "{}: not an OSM file name (expected .osm.pbf, .pbf, .osm, .osm.bz2 or .osm.gz)", path));
  }

  std::error_code ec;
  if (std::filesystem::file_size(path, ec) == 0 && !ec) {
    return Status::Invalid(fmt::format("{}: the file is empty", path));
  }

  PoiCollector collector(network != nullptr, ways != nullptr);
  uint64_t total = 0;      // file size in bytes
  osmium::Box header_box;  // the header's bounding box, if the file has one
  Status placed;           // the outcome of placing the ways
  try {
    // An absolute name: libosmium reads "-" as stdin and "http://..." through curl.
    osmium::io::File file(std::filesystem::absolute(path).string(), *format);
    osmium::io::Reader reader(file, osmium::osm_entity_bits::node | osmium::osm_entity_bits::way,
                              osmium::io::read_meta::no);
    total = reader.file_size();
    header_box = reader.header().box();
    if (progress) progress(0, total);
    while (osmium::memory::Buffer buffer = reader.read()) {
      osmium::apply(buffer, collector);
      if (!collector.error().ok()) break;
      if (progress) progress(reader.offset(), total);
    }
    // libosmium takes end-of-file inside the 4-byte length that starts each PBF blob for a
    // clean end, so a file cut 1-3 bytes into a blob would read as a shorter valid one. At a
    // real end its reader has consumed exactly the whole file.
    if (collector.error().ok() && *format == "pbf" && reader.offset() != total) {
      return Status::Invalid(fmt::format(
          "{}: cannot read OSM data: PBF data ends inside a blob length after {} of {} bytes "
          "(truncated file?)",
          path, reader.offset(), total));
    }
    reader.close();
    placed = collector.Finish();
    if (placed.ok() && ways) *ways = collector.FinishWays();
    if (placed.ok() && network) *network = collector.FinishWalk();
  } catch (const std::bad_alloc&) {
    return Status::Internal(fmt::format("{}: out of memory while reading OSM data", path));
  } catch (const std::system_error& e) {
    // The node index maps its memory: ENOMEM from mmap/mremap is what bad_alloc is elsewhere.
    if (e.code() == std::errc::not_enough_memory) {
      return Status::Internal(fmt::format("{}: out of memory while reading OSM data", path));
    }
    return Status::Invalid(fmt::format("{}: cannot read OSM data: {}", path, e.what()));
  } catch (const std::exception& e) {
    // osmium::io_error and its kin (pbf_error, xml_error, gzip_error, bzip2_error, ...),
    // std::system_error from I/O and std::range_error / invalid_location from bad numbers.
    return Status::Invalid(fmt::format("{}: cannot read OSM data: {}", path, e.what()));
  }
  if (!placed.ok()) return placed.WithPrefix(path + ": ");
  if (progress) progress(total, total);

  if (stats) {
    stats->nodes = collector.nodes();
    stats->ways = collector.ways();
    stats->walk_nodes = network ? network->nodes.size() : 0;
    stats->walk_edges = network ? network->edges.size() : 0;
    stats->header_bounds = header_box.valid();
    const osmium::Box& box = stats->header_bounds ? header_box : collector.extent();
    stats->bounds.reset();
    if (box.valid()) {
      stats->bounds = BBox{box.bottom_left().lat(), box.bottom_left().lon(), box.top_right().lat(),
                           box.top_right().lon()};
    }
  }
  // Every POI has its OSM id ("n123", "w456"): no content keys here.
  return import_internal::FinishPois(std::move(collector.pois()), "osm:", stats);
}

}  // namespace nbi
