// Format detection, dispatch and the helpers shared by the importers.
#include "poi/import.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "poi/import_internal.h"

namespace nbi {

namespace import_internal {

Status CheckInputFile(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (st.type() == std::filesystem::file_type::not_found) {
    return Status::NotFound(fmt::format("{}: no such file", path));
  }
  if (ec) return Status::Invalid(fmt::format("{}: cannot access: {}", path, ec.message()));
  if (st.type() != std::filesystem::file_type::regular) {
    return Status::Invalid(fmt::format("{}: not a regular file", path));
  }
  return Status::Ok();
}

Result<std::string> ReadInputFile(const std::string& path) {
  NBI_RETURN_IF_ERROR(CheckInputFile(path));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::Invalid(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  // rdbuf() insertion sets failbit on an empty file; only a bad stream is an I/O error.
  if (in.bad()) return Status::Invalid(fmt::format("{}: read error", path));
  return std::move(content).str();
}

bool EndsWithNoCase(std::string_view path, std::string_view suffix) {
  if (path.size() < suffix.size()) return false;
  auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
  std::string_view tail = path.substr(path.size() - suffix.size());
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (lower(tail[i]) != lower(suffix[i])) return false;
  }
  return true;
}

Result<CategoryMatch> ParseCategorySpec(std::string_view text) {
  if (size_t eq = text.find('='); eq != std::string_view::npos) {
    if (auto m = MatchTag(text.substr(0, eq), text.substr(eq + 1))) return *m;
    return Status::Invalid(
        fmt::format("OSM tag '{}' is not one of the SPEC §4 category tags", text));
  }
  std::string_view id = text;
  std::optional<std::string_view> sub_id;  // the part after ':', when there is one
  if (size_t colon = text.find(':'); colon != std::string_view::npos) {
    id = text.substr(0, colon);
    sub_id = text.substr(colon + 1);
  }
  std::optional<Category> category = ParseCategory(id);
  if (!category) {
    return Status::Invalid(fmt::format(
        "unknown category '{}' (expected a category id such as groceries or healthcare, "
        "healthcare:pharmacy|medical|dental, or an OSM tag such as shop=supermarket)",
        text));
  }
  CategoryMatch match{*category};
  if (sub_id) {
    std::optional<HealthSub> sub = ParseHealthSub(*sub_id);
    if (*category != Category::kHealthcare || !sub || *sub == HealthSub::kNone) {
      return Status::Invalid(fmt::format(
          "bad category '{}': only healthcare takes a sub-type (pharmacy, medical, dental)", text));
    }
    match.sub = *sub;
  }
  return match;
}

std::vector<Poi> FinishPois(std::vector<Poi> pois, std::string_view content_prefix,
                            ImportStats* stats) {
  std::vector<Poi> kept;
  kept.reserve(pois.size());  // never reallocates: the keys below view its source ids
  std::unordered_map<std::string_view, size_t> slot_of;  // source_id -> index in `kept`
  uint64_t duplicates = 0;
  for (Poi& poi : pois) {
    poi.name = CleanPoiName(poi.name);
    if (poi.source_id.empty()) poi.source_id = ContentSourceId(content_prefix, poi);
    if (auto it = slot_of.find(poi.source_id); it != slot_of.end()) {
      Poi& first = kept[it->second];  // keeps its place and its source_id; takes the rest
      first.category = poi.category;
      first.sub = poi.sub;
      first.name = std::move(poi.name);
      first.lat = poi.lat;
      first.lng = poi.lng;
      ++duplicates;
      continue;
    }
    kept.push_back(std::move(poi));
    slot_of.emplace(kept.back().source_id, kept.size() - 1);
  }
  if (stats) stats->duplicates = duplicates;
  return kept;
}

}  // namespace import_internal

Result<PoiFormat> DetectPoiFormat(const std::string& path) {
  using import_internal::EndsWithNoCase;
  // ".osm.pbf" and ".osm.*" are covered by ".pbf" and the compressed suffixes below.
  for (std::string_view suffix : {".pbf", ".osm", ".osm.bz2", ".osm.gz"}) {
    if (EndsWithNoCase(path, suffix)) return PoiFormat::kOsm;
  }
  if (EndsWithNoCase(path, ".geojson") || EndsWithNoCase(path, ".json") || IsGeoJsonSeqPath(path)) {
    return PoiFormat::kGeoJson;
  }
  if (EndsWithNoCase(path, ".csv")) return PoiFormat::kCsv;
  return Status::Invalid(fmt::format(
      "{}: unknown POI file type (expected .osm.pbf, .pbf, .osm, .osm.bz2, .osm.gz, .geojson, "
      ".json, .geojsonseq or .csv)",
      path));
}

Result<std::vector<Poi>> ImportPois(const std::string& path, ImportStats* stats,
                                    const ImportProgress& progress, WalkNetwork* network) {
  if (network) *network = WalkNetwork{};
  Result<PoiFormat> format = DetectPoiFormat(path);
  if (!format.ok()) return format.status();
  if (*format == PoiFormat::kOsm) return ImportOsm(path, stats, progress, network);

  // GeoJSON and CSV are parsed in memory in one go: report only their completion.
  Result<std::vector<Poi>> pois =
      *format == PoiFormat::kGeoJson ? ImportGeoJson(path, stats) : ImportCsv(path, stats);
  if (pois.ok() && progress) {
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (!ec) progress(size, size);
  }
  return pois;
}

}  // namespace nbi
