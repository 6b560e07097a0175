#include "osm_town.h"

#include <fmt/format.h>

#include <algorithm>
#include <osmium/builder/attr.hpp>
#include <osmium/io/gzip_compression.hpp>
#include <osmium/io/pbf_output.hpp>
#include <osmium/io/writer.hpp>
#include <osmium/io/xml_output.hpp>
#include <osmium/memory/buffer.hpp>
#include <osmium/osm/box.hpp>

namespace nbi::testing {

OsmTown OsmTown::Generate(int groceries, int restaurants, int parks, unsigned seed) {
  OsmTown t;
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c)
      t.nodes[StreetNode(r, c)] = {kLat0 + r * kStep, kLng0 + c * kStep, {}};
  }
  for (int r = 0; r < kRows; ++r) {
    Way w{{}, {{"highway", "residential"}}};
    for (int c = 0; c < kCols; ++c) w.refs.push_back(StreetNode(r, c));
    t.ways[1000 + r] = w;
  }
  // A river between rows kRiver and kRiver + 1, crossed by bridges only (the columns of
  // kBridges); elsewhere a column is two ways, 5000 + c south and 6000 + c north of it.
  for (int c = 0; c < kCols; ++c) {
    const bool bridge =
        std::find(std::begin(kBridges), std::end(kBridges), c) != std::end(kBridges);
    Way w{{}, {{"highway", "residential"}}};
    for (int r = 0; r < kRows; ++r) {
      if (!bridge && r == kRiver + 1) {
        t.ways[5000 + c] = w;
        w.refs.clear();
      }
      w.refs.push_back(StreetNode(r, c));
    }
    t.ways[(bridge ? 5000 : 6000) + c] = w;
  }
  std::mt19937 rng(seed);
  for (int k = 0; k < groceries; ++k) {
    t.AddPoi(100000 + k, t.RandomPosition(&rng), "shop", "supermarket",
             fmt::format("Grocer {}", k));
  }
  // A grocery beside the western bridge, south of the river: the bridge decides who walks to it.
  t.AddPoi(100000 + groceries, {kLat0 + (kRiver - 1) * kStep, kLng0 + kBridges[0] * kStep + 0.0001},
           "shop", "supermarket", "Bridge Grocer");
  for (int k = 0; k < restaurants; ++k) {
    t.AddPoi(200000 + k, t.RandomPosition(&rng), "amenity", "restaurant",
             fmt::format("Diner {}", k));
  }
  for (int k = 0; k < parks; ++k) {
    t.AddPoi(300000 + k, t.RandomPosition(&rng), "leisure", "park", fmt::format("Park {}", k));
  }
  // A supermarket drawn as a building outline: its POI sits at the mean of its corners.
  const LatLng at = t.RandomPosition(&rng);
  Way hall{{}, {{"shop", "supermarket"}, {"name", "Market Hall"}}};
  for (int k = 0; k < 4; ++k) {
    t.nodes[400000 + k] = {at.lat + (k / 2) * 0.0004, at.lng + ((k + k / 2) % 2) * 0.0005, {}};
    hall.refs.push_back(400000 + k);
  }
  hall.refs.push_back(400000);
  t.ways[9000] = hall;
  t.header = {kLat0 - 0.01, kLng0 - 0.01, kLat0 + kRows * kStep + 0.01,
              kLng0 + kCols * kStep + 0.01};
  return t;
}

LatLng OsmTown::RandomPosition(std::mt19937* rng) const {
  std::uniform_real_distribution<double> u(0.02, 0.98);
  // Rounded to OSM's 1e-7 degrees, as a file stores it.
  auto round7 = [](double v) { return std::round(v * 1e7) / 1e7; };
  return {round7(kLat0 + u(*rng) * (kRows - 1) * kStep),
          round7(kLng0 + u(*rng) * (kCols - 1) * kStep)};
}

void OsmTown::AddPoi(int64_t id, LatLng at, const std::string& key, const std::string& value,
                     const std::string& name) {
  nodes[id] = {at.lat, at.lng, {{key, value}, {"name", name}}};
}

void OsmTown::CutStreet(int64_t a, int64_t b, int64_t new_way) {
  for (auto& [id, w] : ways) {
    for (size_t k = 0; k + 1 < w.refs.size(); ++k) {
      if (!((w.refs[k] == a && w.refs[k + 1] == b) || (w.refs[k] == b && w.refs[k + 1] == a))) {
        continue;
      }
      Way tail{std::vector<int64_t>(w.refs.begin() + static_cast<long>(k) + 1, w.refs.end()),
               w.tags};
      w.refs.resize(k + 1);
      ways[new_way] = tail;
      return;
    }
  }
}

std::vector<int64_t> OsmTown::GroceryNodes() const {
  std::vector<int64_t> out;
  for (const auto& [id, n] : nodes) {
    for (const auto& [k, v] : n.tags) {
      if (k == "shop" && v == "supermarket") out.push_back(id);
    }
  }
  return out;
}

namespace {

using namespace osmium::builder::attr;  // NOLINT(google-build-using-namespace)

void AddNode(osmium::memory::Buffer& buf, int64_t id, const OsmTown::Node& n, int version,
             bool deleted = false) {
  osmium::builder::add_node(buf, _id(id), _version(version), _deleted(deleted), _visible(!deleted),
                            _location(n.lng, n.lat), _tags(n.tags));
}

void AddWay(osmium::memory::Buffer& buf, int64_t id, const OsmTown::Way& w, int version,
            bool deleted = false) {
  osmium::builder::add_way(buf, _id(id), _version(version), _deleted(deleted), _visible(!deleted),
                           _nodes(w.refs), _tags(w.tags));
}

}  // namespace

void OsmTown::WritePbf(const std::string& path) const {
  osmium::memory::Buffer buf{1 << 20, osmium::memory::Buffer::auto_grow::yes};
  for (const auto& [id, n] : nodes) AddNode(buf, id, n, 1);
  for (const auto& [id, w] : ways) AddWay(buf, id, w, 1);
  osmium::io::Header h;
  h.set("generator", "refresh_test");
  h.add_box(osmium::Box(header.min_lng, header.min_lat, header.max_lng, header.max_lat));
  osmium::io::Writer writer{path, h, osmium::io::overwrite::allow};
  writer(std::move(buf));
  writer.close();
}

void OsmTown::WriteChange(const OsmTown& before, const OsmTown& after, const std::string& path) {
  // libosmium's osc writer puts a version-1 object into <create>, an invisible one into
  // <delete> and any other into <modify>.
  osmium::memory::Buffer buf{1 << 20, osmium::memory::Buffer::auto_grow::yes};
  for (const auto& [id, n] : after.nodes) {
    auto it = before.nodes.find(id);
    if (it == before.nodes.end()) AddNode(buf, id, n, 1);
    if (it != before.nodes.end() && !(it->second == n)) AddNode(buf, id, n, 2);
  }
  for (const auto& [id, w] : after.ways) {
    auto it = before.ways.find(id);
    if (it == before.ways.end()) AddWay(buf, id, w, 1);
    if (it != before.ways.end() && !(it->second == w)) AddWay(buf, id, w, 2);
  }
  for (const auto& [id, w] : before.ways) {
    if (!after.ways.count(id)) AddWay(buf, id, w, 2, true);
  }
  for (const auto& [id, n] : before.nodes) {
    if (!after.nodes.count(id)) AddNode(buf, id, n, 2, true);
  }
  osmium::io::Header h;
  h.set("generator", "refresh_test");
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  osmium::io::Writer writer{osmium::io::File{path, gz ? "osc.gz" : "osc"}, h,
                            osmium::io::overwrite::allow};
  writer(std::move(buf));
  writer.close();
}

}  // namespace nbi::testing
