// Street tiles, the offline base layer (BENCHMARKS.md, "Street tiles"): an OSM extract's walk
// network imported by the real binary into a fresh store, then tile latency p50/p99 at zoom
// 11-17, cold (an LRU of 0 bytes: the network version read, the edges read by street cell,
// the drawing, the PNG) and hot (from the LRU: the version read and the lookup), measured on
// the route handler (http/tile_routes.h) in-process, without the socket. Tiles are those
// under 200 random nodes of the network (where a user looks at streets), distinct where the
// zoom has that many.
//   bench_streets [--url sqlite:/tmp/s.db | postgresql://...] [--osm FILE]
// Default: ../shared/data/osm/andorra.osm.pbf beside the source tree.
#include <libpq-fe.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "http/tile_routes.h"
#include "store/store.h"
#include "tiles/streets.h"
#include "tiles/tiles.h"

namespace {

using namespace nbi;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// A fresh schema on PostgreSQL (search_path through the URL), or the SQLite file removed.
std::string FreshUrl(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) {
    std::remove(url.substr(7).c_str());
    return url;
  }
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, "DROP SCHEMA IF EXISTS bench_streets CASCADE; CREATE SCHEMA bench_streets"));
  PQfinish(c);
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "options=-csearch_path%3Dbench_streets";
}

tiles::TileId TileOf(double lat, double lng, int z) {
  const double n = std::ldexp(1.0, z);
  return {z, static_cast<int64_t>((lng + 180) / 360 * n),
          static_cast<int64_t>((1 - std::asinh(std::tan(lat * kDegToRad)) / kPi) / 2 * n)};
}

// Latencies (ms) of street tile requests through `routes`; counts the answers by status.
std::vector<double> Time(http::TileRoutes& routes, const std::vector<tiles::TileId>& requests,
                         int* ok, int* empty) {
  std::vector<double> ms;
  for (const tiles::TileId& t : requests) {
    http::Request req;
    req.method = "GET";
    http::Response res;
    const std::string rest = "streets/" + std::to_string(t.z) + "/" + std::to_string(t.x) + "/" +
                             std::to_string(t.y) + ".png";
    const double t0 = Now();
    routes.Tile(req, res, rest);
    ms.push_back((Now() - t0) * 1000);
    *ok += res.status == 200;
    *empty += res.status == 204;
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url = "sqlite:/tmp/bench_streets.db";
  std::string osm = std::string(NBI_SOURCE_DIR) + "/../shared/data/osm/andorra.osm.pbf";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--url") url = argv[i + 1];
    if (a == "--osm") osm = argv[i + 1];
  }
  url = FreshUrl(url);
  const double t0 = Now();
  const std::string cmd = "DATABASE_URL='" + url + "' " + NBI_BINARY + " import '" + osm + "'";
  if (std::system((cmd + " >/dev/null").c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", cmd.c_str());
    return 1;
  }
  const double import_s = Now() - t0;
  auto store = OpenStore(url);
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  auto net = (*store)->LoadWalkNetwork(BBox{-90, -180, 90, 180});
  if (!net.ok() || net->nodes.empty()) return std::fprintf(stderr, "no walk network\n"), 1;
  std::printf("store %s: %s, %zu nodes, %zu edges, imported in %.2f s\n",
              (*store)->Describe().c_str(), osm.c_str(), net->nodes.size(), net->edges.size(),
              import_s);
  std::mt19937_64 rng(42);
  std::printf("| zoom | classes drawn | cold p50 / p99 ms | hot p50 / p99 ms | cold answers |\n");
  std::printf("|---|---|---|---|---|\n");
  for (int z = 11; z <= 17; ++z) {
    // 200 tiles under random nodes, distinct while the zoom has enough of them.
    std::set<std::pair<int64_t, int64_t>> seen;
    std::vector<tiles::TileId> cold;
    for (int tries = 0; cold.size() < 200 && tries < 20000; ++tries) {
      const WalkNode& n = net->nodes[rng() % net->nodes.size()];
      const tiles::TileId t = TileOf(n.lat, n.lng, z);
      if (seen.insert({t.x, t.y}).second || tries > 10000) cold.push_back(t);
    }
    http::TileRoutes no_cache(store->get(), 0, {0.001}, 200'000);
    int ok = 0, empty = 0;
    const std::vector<double> c = Time(no_cache, cold, &ok, &empty);
    http::TileRoutes cached(store->get(), 64 << 20, {0.001}, 200'000);
    const std::vector<tiles::TileId> hot(cold.begin(), cold.begin() + 50);
    int ok2 = 0, empty2 = 0;
    Time(cached, hot, &ok2, &empty2);
    std::vector<tiles::TileId> again;
    for (int k = 0; k < 1000; ++k) again.push_back(hot[rng() % hot.size()]);
    const std::vector<double> h = Time(cached, again, &ok2, &empty2);
    const int cls = tiles::StreetMinClass(z);
    std::printf("| %d | %s | %.2f / %.2f | %.3f / %.3f | %d drawn, %d empty (%zu distinct) |\n", z,
                cls == 2 ? "major" : (cls == 1 ? "major, streets" : "all"), Pct(c, 0.5),
                Pct(c, 0.99), Pct(h, 0.5), Pct(h, 0.99), ok, empty, seen.size());
  }
  return 0;
}
