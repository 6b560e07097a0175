// The OSM XML importer (src/poi/import.h, ImportOsm over libosmium). libosmium reads files
// only, so each input is written to one temporary .osm file (in /dev/shm when it exists) and
// imported from there: the importer's own file checks run too. Properties: no exception
// escapes; every POI has finite, in-range coordinates and an n<id>/w<id> id; node and way
// counts add up to the POIs; an error names the file and leaves no walk network; the walk
// network keeps its invariants (common/walk_network.h) with in-range nodes and finite lengths.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include "fuzz_check.h"
#include "poi/import.h"

namespace {

const std::string& TempPath() {
  static const std::string path = [] {
    const char* dir = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/nbi-osm-fuzz-" + std::to_string(getpid()) + ".osm";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = TempPath();
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  } else {
    std::perror(path.c_str());
    std::abort();
  }
  nbi::ImportStats stats;
  nbi::WalkNetwork net;
  auto pois = nbi::ImportOsm(path, &stats, {}, &net);
  std::remove(path.c_str());
  if (!pois.ok()) {
    NBI_FUZZ_CHECK(pois.status().message().find(path) != std::string::npos);
    NBI_FUZZ_CHECK(net.nodes.empty() && net.edges.empty());
    return 0;
  }
  NBI_FUZZ_CHECK(stats.walk_nodes == net.nodes.size() && stats.walk_edges == net.edges.size());
  for (size_t i = 0; i < net.nodes.size(); ++i) {
    const nbi::WalkNode& n = net.nodes[i];
    NBI_FUZZ_CHECK(i == 0 || net.nodes[i - 1].id < n.id);
    NBI_FUZZ_CHECK(std::isfinite(n.lat) && std::fabs(n.lat) <= 90);
    NBI_FUZZ_CHECK(std::isfinite(n.lng) && std::fabs(n.lng) <= 180);
  }
  for (size_t i = 0; i < net.edges.size(); ++i) {
    const nbi::WalkEdge& e = net.edges[i];
    NBI_FUZZ_CHECK(e.a < e.b && std::isfinite(e.length_m) && e.length_m >= 0);
    NBI_FUZZ_CHECK(i == 0 ||
                   std::pair(net.edges[i - 1].a, net.edges[i - 1].b) < std::pair(e.a, e.b));
  }
  NBI_FUZZ_CHECK(stats.nodes + stats.ways - stats.duplicates == pois->size());
  for (const nbi::Poi& p : *pois) {
    NBI_FUZZ_CHECK(std::isfinite(p.lat) && std::fabs(p.lat) <= 90);
    NBI_FUZZ_CHECK(std::isfinite(p.lng) && std::fabs(p.lng) <= 180);
    NBI_FUZZ_CHECK(p.source_id.size() > 1 && (p.source_id[0] == 'n' || p.source_id[0] == 'w'));
  }
  return 0;
}
