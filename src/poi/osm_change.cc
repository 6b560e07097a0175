// Reading OSM change files (poi/osm_change.h) with libosmium's XML reader.
#include "poi/osm_change.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <osmium/handler.hpp>
#include <osmium/io/bzip2_compression.hpp>
#include <osmium/io/gzip_compression.hpp>
#include <osmium/io/reader.hpp>
#include <osmium/io/xml_input.hpp>
#include <osmium/osm/node.hpp>
#include <osmium/osm/way.hpp>
#include <osmium/visitor.hpp>
#include <string_view>

#include "poi/import_internal.h"
#include "poi/walk_ways.h"

namespace nbi {

namespace {

std::optional<std::string> ChangeFormat(const std::string& path) {
  using import_internal::EndsWithNoCase;
  if (EndsWithNoCase(path, ".osc")) return "osc";
  if (EndsWithNoCase(path, ".osc.gz")) return "osc.gz";
  if (EndsWithNoCase(path, ".osc.bz2")) return "osc.bz2";
  return std::nullopt;
}

WayTagGetter TagsOf(const osmium::TagList& tags) {
  return [&tags](std::string_view key) -> std::string_view {
    for (const osmium::Tag& tag : tags) {
      if (key == tag.key()) return tag.value();
    }
    return {};
  };
}

std::optional<CategoryMatch> Match(const osmium::TagList& tags) {
  if (tags.empty()) return std::nullopt;
  return MatchTags(TagsOf(tags));
}

std::string NameOf(const osmium::TagList& tags) {
  const char* name = tags.get_value_by_key("name");
  return CleanPoiName(name ? name : "");
}

// Keeps the newest state of each object: (version, order read) decides.
class ChangeCollector : public osmium::handler::Handler {
 public:
  void node(const osmium::Node& n) {
    OsmChange::Node out;
    out.id = n.id();
    out.visible = n.visible();
    if (out.visible && n.location().valid()) {
      out.located = true;
      out.lat = n.location().lat_without_check();
      out.lng = n.location().lon_without_check();
    }
    if (out.visible) {
      out.match = Match(n.tags());
      out.name = NameOf(n.tags());
    }
    Keep(&nodes_, out.id, n.version(), std::move(out));
  }

  void way(const osmium::Way& w) {
    OsmChange::Way out;
    out.id = w.id();
    out.visible = w.visible();
    if (out.visible) {
      for (const osmium::NodeRef& ref : w.nodes()) out.refs.push_back(ref.ref());
      out.match = Match(w.tags());
      out.name = NameOf(w.tags());
      if (w.tags().has_key("highway") && IsWalkWay(TagsOf(w.tags()))) {
        out.walk_class = WalkClassOf(w.tags().get_value_by_key("highway", ""));
      }
    }
    Keep(&ways_, out.id, w.version(), std::move(out));
  }

  OsmChange Finish() {
    OsmChange out;
    for (auto& [id, v] : nodes_) out.nodes.push_back(std::move(v.second));
    for (auto& [id, v] : ways_) out.ways.push_back(std::move(v.second));
    return out;
  }

 private:
  template <typename T>
  void Keep(std::map<int64_t, std::pair<uint64_t, T>>* m, int64_t id, uint64_t version, T v) {
    auto it = m->find(id);
    if (it != m->end() && it->second.first > version) return;
    (*m)[id] = {version, std::move(v)};
  }
  std::map<int64_t, std::pair<uint64_t, OsmChange::Node>> nodes_;
  std::map<int64_t, std::pair<uint64_t, OsmChange::Way>> ways_;
};

}  // namespace

bool IsOsmChangePath(const std::string& path) { return ChangeFormat(path).has_value(); }

Result<OsmChange> ReadOsmChange(const std::string& path) {
  NBI_RETURN_IF_ERROR(import_internal::CheckInputFile(path));
  std::optional<std::string> format = ChangeFormat(path);
  if (!format) {
    return Status::Invalid(
        fmt::format("{}: not an OSM change file name (expected .osc, .osc.gz or .osc.bz2)", path));
  }
  ChangeCollector collector;
  try {
    osmium::io::File file(std::filesystem::absolute(path).string(), *format);
    osmium::io::Reader reader(file, osmium::osm_entity_bits::node | osmium::osm_entity_bits::way);
    while (osmium::memory::Buffer buffer = reader.read()) osmium::apply(buffer, collector);
    reader.close();
  } catch (const std::bad_alloc&) {
    return Status::Internal(fmt::format("{}: out of memory while reading the change file", path));
  } catch (const std::exception& e) {
    return Status::Invalid(fmt::format("{}: cannot read the OSM change file: {}", path, e.what()));
  }
  return collector.Finish();
}

}  // namespace nbi
