// JSON importer: GeoJSON FeatureCollections and Overpass API JSON.
//
// GeoJSON: each feature's category comes from a "category" property holding one of our
// category specs (see ParseCategorySpec; a healthcare sub-type may also be given as
// "subtype"), else from its properties read as OSM tags ({"shop": "supermarket"}). Features
// without a category are skipped without looking at their geometry, so exports full of
// other objects import fine; an unrecognised "category" on a feature whose tags give no
// category either is an error (a typo must not drop POIs silently). A Point is a POI where
// it is; other geometries (LineString, Polygon, their Multi* forms) sit at the mean of their
// distinct vertices, outer rings only for polygons, and count as ways in ImportStats. Ids of
// the form "node/1" / "way/2" (feature "id" or property "@id", as Overpass turbo writes
// them) become "n1" / "w2"; otherwise the id is the content key "geojson:<hash of lat, lng,
// category and name>" (poi/poi.h), never the feature's index.
//
// Overpass: {"elements": [...]}. Ids are the OSM type and id ("n1", "w2"), as for OSM files.
// Nodes are POIs at "lat"/"lon". A way sits at its "center"
// (`out center`), else at the mean of the distinct points of its "geometry" (`out geom`),
// else at the mean of the distinct positions of its "nodes" found among the file's node
// elements (`out; >; out skel;`); as for OSM files, absent nodes are left out and a way with
// none is an error. Relations and other element types are skipped, as by the OSM importer.
//
// Overture places (GeoJSON, or GeoJSONSeq: one feature per line, .geojsonseq): a feature whose
// properties hold a "categories" object is categorised through the Overture mapping of SPEC
// §2a (poi/overture.h): categories.primary, then each of categories.alternate in order. Its
// name is names.primary (when there is no "name"), its source id "overture:<id>" (the same
// as the store gives the rows of the original app's overture_pois). A "category" property
// may also hold an Overture category ("supermarket").
//
// Features skipped for want of a category of ours (no category, or Overture categories
// outside the mapping) are counted in ImportStats::unplaced and reported, never dropped
// silently.
//
// The whole file is parsed into memory (a DOM about ten times the file size).
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "geo/geo.h"
#include "poi/import.h"
#include "poi/import_internal.h"
#include "poi/overture.h"

namespace nbi {

namespace {

using nlohmann::json;

// The string value of `key` in `object`, or "" when absent or not a string.
std::string_view StringAt(const json& object, std::string_view key) {
  if (!object.is_object()) return {};
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

// SPEC §4 category of a set of OSM tags given as a JSON object.
std::optional<CategoryMatch> MatchJsonTags(const json& tags) {
  return MatchTags([&tags](std::string_view key) { return StringAt(tags, key); });
}

// The mean of the distinct positions in `points`, which must not be empty.
LatLng MeanOfDistinct(std::vector<LatLng> points) {
  auto key = [](const LatLng& p) { return std::pair(p.lat, p.lng); };
  std::sort(points.begin(), points.end(),
            [&](const LatLng& a, const LatLng& b) { return key(a) < key(b); });
  points.erase(std::unique(points.begin(), points.end(),
                           [&](const LatLng& a, const LatLng& b) { return key(a) == key(b); }),
               points.end());
  double lat = 0, lng = 0;
  for (const LatLng& p : points) {
    lat += p.lat;
    lng += p.lng;
  }
  const double n = static_cast<double>(points.size());
  return {lat / n, lng / n};
}

// ---- GeoJSON ----------------------------------------------------------------------------

// An Overture place's category: categories.primary, then categories.alternate, through the
// mapping; nullopt when none is in it (or the feature is no Overture place).
std::optional<CategoryMatch> OvertureMatch(const json& props) {
  auto it = props.find("categories");
  if (it == props.end() || !it->is_object()) return std::nullopt;
  if (auto m = MatchOvertureCategory(StringAt(*it, "primary"))) return m;
  auto alternate = it->find("alternate");
  if (alternate == it->end() || !alternate->is_array()) return std::nullopt;
  for (const json& a : *alternate) {
    if (!a.is_string()) continue;
    if (auto m = MatchOvertureCategory(a.get_ref<const std::string&>())) return m;
  }
  return std::nullopt;
}

// The category of a feature from its properties; nullopt when it has none.
Result<std::optional<CategoryMatch>> FeatureCategory(const json& props) {
  std::optional<CategoryMatch> match;
  Status explicit_error;  // why the "category" property, if any, was not usable
  if (auto it = props.find("category"); it != props.end()) {
    if (!it->is_string()) {
      explicit_error = Status::Invalid("\"category\" must be a string");
    } else if (Result<CategoryMatch> m =
                   import_internal::ParseCategorySpec(it->get_ref<const std::string&>());
               m.ok()) {
      match = *m;
    } else if (auto o = MatchOvertureCategory(it->get_ref<const std::string&>())) {
      match = *o;
    } else {
      explicit_error = m.status();
    }
  }
  if (match) {
    if (auto it = props.find("subtype"); it != props.end() && !it->is_null()) {
      std::optional<HealthSub> sub;
      if (it->is_string()) sub = ParseHealthSub(it->get_ref<const std::string&>());
      if (!sub) {
        return Status::Invalid("\"subtype\" must be one of pharmacy, medical, dental");
      }
      if (*sub != HealthSub::kNone) {
        if (match->category != Category::kHealthcare) {
          return Status::Invalid("\"subtype\" is only allowed with category healthcare");
        }
        if (match->sub != HealthSub::kNone && match->sub != *sub) {
          return Status::Invalid("\"subtype\" contradicts the sub-type in \"category\"");
        }
        match->sub = *sub;
      }
    }
    return match;
  }
  if ((match = OvertureMatch(props))) return match;
  if ((match = MatchJsonTags(props))) return match;
  if (!explicit_error.ok()) return explicit_error;
  return std::optional<CategoryMatch>();
}

// A GeoJSON position [lng, lat(, altitude)].
Result<LatLng> ReadPosition(const json& position) {
  if (!position.is_array() || position.size() < 2 || !position[0].is_number() ||
      !position[1].is_number()) {
    return Status::Invalid("a position must be an array [longitude, latitude]");
  }
  return LatLng::Make(position[1].get<double>(), position[0].get<double>(), "position");
}

// Appends the positions of `coords`, which nests positions `depth` array levels deep.
Status CollectPositions(const json& coords, int depth, std::vector<LatLng>* out) {
  if (depth == 0) {
    Result<LatLng> p = ReadPosition(coords);
    if (!p.ok()) return p.status();
    out->push_back(*p);
    return Status::Ok();
  }
  if (!coords.is_array()) return Status::Invalid("\"coordinates\" are not nested as expected");
  for (const json& inner : coords) NBI_RETURN_IF_ERROR(CollectPositions(inner, depth - 1, out));
  return Status::Ok();
}

// The vertices that place a geometry: all of them, except only outer rings of polygons.
Status GeometryVertices(const json& geometry, std::vector<LatLng>* out) {
  if (!geometry.is_object()) return Status::Invalid("the feature has a category but no geometry");
  const std::string_view type = StringAt(geometry, "type");
  auto coords_it = geometry.find("coordinates");
  if (coords_it == geometry.end()) {
    return Status::Invalid(fmt::format("geometry type '{}' without \"coordinates\"", type));
  }
  const json& coords = *coords_it;
  if (type == "Point") return CollectPositions(coords, 0, out);
  if (type == "MultiPoint" || type == "LineString") return CollectPositions(coords, 1, out);
  if (type == "MultiLineString") return CollectPositions(coords, 2, out);
  if (type == "Polygon") {
    if (!coords.is_array() || coords.empty()) return Status::Invalid("polygon without rings");
    return CollectPositions(coords[0], 1, out);
  }
  if (type == "MultiPolygon") {
    if (!coords.is_array()) return Status::Invalid("\"coordinates\" are not nested as expected");
    for (const json& polygon : coords) {
      if (!polygon.is_array() || polygon.empty()) return Status::Invalid("polygon without rings");
      NBI_RETURN_IF_ERROR(CollectPositions(polygon[0], 1, out));
    }
    return Status::Ok();
  }
  return Status::Invalid(fmt::format("unsupported geometry type '{}'", type));
}

// "node/12" -> "n12", "way/5" -> "w5", "relation/7" -> "r7"; nullopt for anything else.
std::optional<std::string> OsmStyleId(const json& id) {
  if (!id.is_string()) return std::nullopt;
  const std::string& s = id.get_ref<const std::string&>();
  for (std::string_view type : {"node/", "way/", "relation/"}) {
    if (s.size() > type.size() && s.compare(0, type.size(), type) == 0 &&
        std::all_of(s.begin() + static_cast<std::ptrdiff_t>(type.size()), s.end(),
                    [](char c) { return c >= '0' && c <= '9'; })) {
      return std::string(1, type[0]) + s.substr(type.size());
    }
  }
  return std::nullopt;
}

// "overture:<id>" for an Overture place (properties with "categories") with a string id (the
// feature's, else its properties'); nullopt otherwise.
std::optional<std::string> OvertureId(const json& feature, const json& props) {
  if (!props.contains("categories")) return std::nullopt;
  std::string_view id = StringAt(feature, "id");
  if (id.empty()) id = StringAt(props, "id");
  if (id.empty()) return std::nullopt;
  return "overture:" + std::string(id);
}

// Reads one feature; appends its POI, if it is one. Errors lack the file/feature prefix.
Status ReadFeature(const json& feature, std::vector<Poi>* pois, ImportStats* stats) {
  if (!feature.is_object() || StringAt(feature, "type") != "Feature") {
    return Status::Invalid("not a GeoJSON Feature object");
  }
  auto props_it = feature.find("properties");
  if (props_it == feature.end() || props_it->is_null()) {  // no category
    ++stats->unplaced;
    return Status::Ok();
  }
  const json& props = *props_it;
  if (!props.is_object()) return Status::Invalid("\"properties\" must be an object");

  Result<std::optional<CategoryMatch>> match = FeatureCategory(props);
  if (!match.ok()) return match.status();
  if (!*match) {
    ++stats->unplaced;
    return Status::Ok();
  }

  static const json kNoGeometry;
  auto geometry_it = feature.find("geometry");
  const json& geometry = geometry_it == feature.end() ? kNoGeometry : *geometry_it;
  std::vector<LatLng> vertices;
  NBI_RETURN_IF_ERROR(GeometryVertices(geometry, &vertices));
  if (vertices.empty()) return Status::Invalid("the geometry has no positions");
  const bool is_point = StringAt(geometry, "type") == "Point";
  const LatLng pos = MeanOfDistinct(std::move(vertices));

  std::optional<std::string> id;
  if (auto it = feature.find("id"); it != feature.end()) id = OsmStyleId(*it);
  if (auto it = props.find("@id"); !id && it != props.end()) id = OsmStyleId(*it);
  if (!id) id = OvertureId(feature, props);
  std::string name(StringAt(props, "name"));
  if (auto names = props.find("names"); name.empty() && names != props.end()) {
    name = StringAt(*names, "primary");
  }
  // Without an OSM or Overture id, FinishPois gives the content key.
  pois->push_back(
      {id.value_or(""), (*match)->category, (*match)->sub, std::move(name), pos.lat, pos.lng});
  ++(is_point ? stats->nodes : stats->ways);
  return Status::Ok();
}

Result<std::vector<Poi>> ReadFeatureCollection(const std::string& path, const json& doc,
                                               ImportStats* stats) {
  auto features = doc.find("features");
  if (features == doc.end() || !features->is_array()) {
    return Status::Invalid(fmt::format("{}: FeatureCollection without a \"features\" array", path));
  }
  std::vector<Poi> pois;
  for (size_t i = 0; i < features->size(); ++i) {
    Status s = ReadFeature((*features)[i], &pois, stats);
    if (!s.ok()) return s.WithPrefix(fmt::format("{}: feature {}: ", path, i));
  }
  return pois;
}

// GeoJSONSeq (RFC 8142 and newline-delimited GeoJSON): one Feature per line, each line maybe
// led by the record separator 0x1E; blank lines are skipped. Errors name the line.
Result<std::vector<Poi>> ReadFeatureSeq(const std::string& path, std::string_view text,
                                        ImportStats* stats) {
  std::vector<Poi> pois;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_no;
    while (!line.empty() && (line.front() == '\x1e' || line.front() == ' ' ||
                             line.front() == '\t' || line.front() == '\r')) {
      line.remove_prefix(1);
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    if (line.empty()) continue;
    const json feature = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (feature.is_discarded()) {
      return Status::Invalid(fmt::format("{}: line {}: invalid JSON", path, line_no));
    }
    Status s = ReadFeature(feature, &pois, stats);
    if (!s.ok()) return s.WithPrefix(fmt::format("{}: line {}: ", path, line_no));
  }
  return pois;
}

// ---- Overpass ---------------------------------------------------------------------------

// An Overpass {"lat": .., "lon": ..} object (an element, a "center", a "geometry" point).
Result<LatLng> ReadLatLon(const json& object, std::string_view what) {
  auto lat = object.find("lat");
  auto lon = object.find("lon");
  if (lat == object.end() || lon == object.end() || !lat->is_number() || !lon->is_number()) {
    return Status::Invalid(fmt::format("{} needs numeric \"lat\" and \"lon\"", what));
  }
  return LatLng::Make(lat->get<double>(), lon->get<double>(), what);
}

using NodePositions = std::unordered_map<int64_t, LatLng>;

// Where an Overpass way sits (see the file comment).
Result<LatLng> PlaceWay(const json& way, const NodePositions& nodes) {
  if (auto center = way.find("center"); center != way.end()) {
    if (!center->is_object()) return Status::Invalid("\"center\" must be an object");
    return ReadLatLon(*center, "center");
  }
  std::vector<LatLng> points;
  if (auto geometry = way.find("geometry"); geometry != way.end()) {
    if (!geometry->is_array()) return Status::Invalid("\"geometry\" must be an array");
    for (const json& point : *geometry) {
      if (point.is_null()) continue;  // Overpass writes null for points clipped away
      if (!point.is_object()) return Status::Invalid("\"geometry\" points must be objects");
      Result<LatLng> p = ReadLatLon(point, "geometry point");
      if (!p.ok()) return p.status();
      points.push_back(*p);
    }
    if (points.empty()) return Status::Invalid("\"geometry\" has no points");
    return MeanOfDistinct(std::move(points));
  }
  if (auto refs = way.find("nodes"); refs != way.end()) {
    if (!refs->is_array()) return Status::Invalid("\"nodes\" must be an array of node ids");
    for (const json& ref : *refs) {
      if (!ref.is_number_integer()) return Status::Invalid("\"nodes\" must hold node ids");
      if (auto it = nodes.find(ref.get<int64_t>()); it != nodes.end()) points.push_back(it->second);
    }
    if (points.empty()) {
      return Status::Invalid(fmt::format(
          "none of its {} node(s) is in the file, so it cannot be placed", refs->size()));
    }
    return MeanOfDistinct(std::move(points));
  }
  return Status::Invalid("a way needs \"center\", \"geometry\" or \"nodes\" to be placed");
}

Result<std::vector<Poi>> ReadOverpass(const std::string& path, const json& elements,
                                      ImportStats* stats) {
  if (!elements.is_array()) {
    return Status::Invalid(fmt::format("{}: \"elements\" must be an array", path));
  }
  auto where = [&path](size_t i) { return fmt::format("{}: element {}: ", path, i); };

  // Pass 1: check the shape of node and way elements; keep node positions to place ways.
  NodePositions nodes;
  for (size_t i = 0; i < elements.size(); ++i) {
    const json& e = elements[i];
    if (!e.is_object()) return Status::Invalid(where(i) + "not an object");
    const std::string_view type = StringAt(e, "type");
    if (type.empty()) return Status::Invalid(where(i) + "needs a string \"type\"");
    if (type != "node" && type != "way") continue;
    auto id = e.find("id");
    if (id == e.end() || !id->is_number_integer()) {
      return Status::Invalid(fmt::format("{}{} needs an integer \"id\"", where(i), type));
    }
    if (type == "node" && e.contains("lat")) {
      Result<LatLng> p = ReadLatLon(e, fmt::format("node n{}", id->get<int64_t>()));
      if (!p.ok()) return p.status().WithPrefix(where(i));
      nodes.emplace(id->get<int64_t>(), *p);
    }
  }

  // Pass 2: the POIs, in file order.
  std::vector<Poi> pois;
  for (size_t i = 0; i < elements.size(); ++i) {
    const json& e = elements[i];
    const std::string_view type = StringAt(e, "type");
    if (type != "node" && type != "way") continue;
    auto tags = e.find("tags");
    if (tags == e.end()) continue;
    if (!tags->is_object()) return Status::Invalid(where(i) + "\"tags\" must be an object");
    std::optional<CategoryMatch> match = MatchJsonTags(*tags);
    if (!match) continue;

    const int64_t osm_id = e.at("id").get<int64_t>();
    const std::string id = fmt::format("{}{}", type[0], osm_id);
    Result<LatLng> pos = type == "node" ? ReadLatLon(e, "node " + id) : PlaceWay(e, nodes);
    if (!pos.ok()) {
      return pos.status().WithPrefix(type == "node" ? where(i) : where(i) + "way " + id + ": ");
    }
    pois.push_back({id, match->category, match->sub, std::string(StringAt(*tags, "name")), pos->lat,
                    pos->lng});
    ++(type == "node" ? stats->nodes : stats->ways);
  }
  return pois;
}

// nlohmann's messages start with "[json.exception.parse_error.101] "; drop that part.
std::string WithoutExceptionTag(std::string_view what) {
  if (!what.empty() && what[0] == '[') {
    if (size_t end = what.find("] "); end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

}  // namespace

Result<std::vector<Poi>> ImportGeoJson(const std::string& path, ImportStats* stats) {
  Result<std::string> text = import_internal::ReadInputFile(path);
  if (!text.ok()) return text.status();
  if (IsGeoJsonSeqPath(path)) return ParseGeoJsonSeqPois(*text, path, stats);
  return ParseGeoJsonPois(*text, path, stats);
}

bool IsGeoJsonSeqPath(const std::string& path) {
  using import_internal::EndsWithNoCase;
  return EndsWithNoCase(path, ".geojsonseq") || EndsWithNoCase(path, ".geojsonl") ||
         EndsWithNoCase(path, ".ndjson");
}

Result<std::vector<Poi>> ParseGeoJsonSeqPois(std::string_view text, const std::string& path,
                                             ImportStats* stats) {
  ImportStats counts;
  try {
    Result<std::vector<Poi>> pois = ReadFeatureSeq(path, text, &counts);
    if (!pois.ok()) return pois;
    if (stats) *stats = counts;
    return import_internal::FinishPois(std::move(pois).value(), "geojson:", stats);
  } catch (const json::exception& e) {  // a type mismatch the checks did not foresee
    return Status::Invalid(fmt::format("{}: {}", path, WithoutExceptionTag(e.what())));
  }
}

Result<std::vector<Poi>> ParseGeoJsonPois(std::string_view text, const std::string& path,
                                          ImportStats* stats) {
  ImportStats counts;
  try {
    const json doc = json::parse(text);
    Result<std::vector<Poi>> pois = Status::Invalid(fmt::format(
        "{}: neither a GeoJSON FeatureCollection nor Overpass JSON with \"elements\"", path));
    if (doc.is_object() && doc.contains("elements")) {
      pois = ReadOverpass(path, doc["elements"], &counts);
    } else if (StringAt(doc, "type") == "FeatureCollection") {
      pois = ReadFeatureCollection(path, doc, &counts);
    }
    if (!pois.ok()) return pois;
    if (stats) *stats = counts;
    return import_internal::FinishPois(std::move(pois).value(), "geojson:", stats);
  } catch (const json::parse_error& e) {
    return Status::Invalid(
        fmt::format("{}: invalid JSON: {}", path, WithoutExceptionTag(e.what())));
  } catch (const json::exception& e) {  // a type mismatch the checks above did not foresee
    return Status::Invalid(fmt::format("{}: {}", path, WithoutExceptionTag(e.what())));
  }
}

}  // namespace nbi
