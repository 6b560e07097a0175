// Heatmap tiles over a job of millions of cells (BENCHMARKS.md, "Heatmap tiles"):
//   - the job (generated city, `process-jobs` of the real binary): its time, and the time of
//     its overview build (RebuildOverviews over the job's area, what Complete runs) as a
//     fraction of it;
//   - storage bytes per cell: heat_cells (table + index) alone, and with the overview and
//     version tables;
//   - tile latency p50/p99 at z 8, 12 and 16 (and 13: level 0 at ~1 cell per pixel, the
//     most values a tile reads at this step): cold (the LRU never holds the tile: store read,
//     render, PNG) and hot (from the LRU: the version read and the lookup), measured on the
//     route handler (http/tile_routes.h) in-process, without the socket.
//   bench_tiles --url sqlite:/tmp/t.db | postgresql://... [--step 0.0002] [--half 0.2]
// The area is (47.1 +- half, 9.52 +- half) at `step`: 4,000,000 cells by default.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "http/tile_routes.h"
#include "store/parts.h"
#include "store/postgres/pg_tiles_sql.h"
#include "store/sqlite/sqlite_tiles_sql.h"
#include "store/store.h"
#include "tiles/tiles.h"

namespace {

using namespace nbi;
using Ms = std::chrono::duration<double, std::milli>;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int Run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) std::fprintf(stderr, "failed (%d): %s\n", rc, cmd.c_str());
  return rc;
}

// A fresh schema on PostgreSQL (search_path through the URL), or the SQLite file removed.
std::string FreshUrl(const std::string& url) {
  if (url.rfind("sqlite:", 0) == 0) {
    std::remove(url.substr(7).c_str());
    return url;
  }
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, "DROP SCHEMA IF EXISTS bench_tiles CASCADE; CREATE SCHEMA bench_tiles"));
  PQfinish(c);
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "options=-csearch_path%3Dbench_tiles";
}

// Bytes of each table (with its indexes).
std::vector<std::pair<std::string, double>> Sizes(const std::string& url) {
  const char* tables[] = {"heat_cells", "heat_overviews", "heat_area_versions"};
  std::vector<std::pair<std::string, double>> out;
  if (url.rfind("sqlite:", 0) == 0) {
    sqlite3* db = nullptr;
    sqlite3_open(url.substr(7).c_str(), &db);
    for (const char* t : tables) {
      // A table's pages plus those of its automatic indexes.
      std::string q = std::string("SELECT SUM(pgsize) FROM dbstat WHERE name = '") + t +
                      "' OR name LIKE 'sqlite_autoindex_" + t + "_%'";
      sqlite3_stmt* s = nullptr;
      double bytes = -1;
      if (sqlite3_prepare_v2(db, q.c_str(), -1, &s, nullptr) == SQLITE_OK &&
          sqlite3_step(s) == SQLITE_ROW) {
        bytes = sqlite3_column_double(s, 0);
      }
      sqlite3_finalize(s);
      out.emplace_back(t, bytes);
    }
    sqlite3_close(db);
    return out;
  }
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, "VACUUM ANALYZE"));
  for (const char* t : tables) {
    PGresult* r = PQexec(c, (std::string("SELECT pg_total_relation_size('") + t + "')").c_str());
    out.emplace_back(t, PQresultStatus(r) == PGRES_TUPLES_OK ? std::atof(PQgetvalue(r, 0, 0)) : -1);
    PQclear(r);
  }
  PQfinish(c);
  return out;
}

// Seconds per checkpoint hook: the version bump of one block (the statement the store adds to
// each checkpoint's transaction), 2,000 times inside one transaction.
double BumpSeconds(const std::string& url) {
  const int n = 2000;
  double t0 = 0, t1 = 0;
  if (url.rfind("sqlite:", 0) == 0) {
    sqlite3* db = nullptr;
    sqlite3_open(url.substr(7).c_str(), &db);
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, sql::kBumpAreaVersion, -1, &s, nullptr);
    t0 = Now();
    for (int k = 0; k < n; ++k) {
      sqlite3_bind_text(s, 1, "bench", -1, SQLITE_STATIC);
      sqlite3_bind_int64(s, 2, 1);
      sqlite3_bind_int64(s, 3, k % 7);
      sqlite3_bind_int64(s, 4, k % 5);
      sqlite3_step(s);
      sqlite3_reset(s);
    }
    t1 = Now();
    sqlite3_finalize(s);
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return (t1 - t0) / n;
  }
  PGconn* c = PQconnectdb(url.c_str());
  PQclear(PQexec(c, "BEGIN"));
  PQclear(PQprepare(c, "bump", kPgBumpAreaVersions.text, 0, nullptr));
  t0 = Now();
  for (int k = 0; k < n; ++k) {
    std::string bi = std::to_string(k % 7), bj = std::to_string(k % 5);
    const char* v[6] = {"bench", "1", bi.c_str(), bi.c_str(), bj.c_str(), bj.c_str()};
    PQclear(PQexecPrepared(c, "bump", 6, v, nullptr, nullptr, 0));
  }
  t1 = Now();
  PQclear(PQexec(c, "ROLLBACK"));
  PQfinish(c);
  return (t1 - t0) / n;
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// The tiles of zoom z over the box.
std::vector<tiles::TileId> TilesOver(const BBox& b, int z) {
  const double n = std::ldexp(1.0, z);
  auto tx = [&](double lng) { return static_cast<int64_t>((lng + 180) / 360 * n); };
  auto ty = [&](double lat) {
    return static_cast<int64_t>((1 - std::asinh(std::tan(lat * kDegToRad)) / kPi) / 2 * n);
  };
  std::vector<tiles::TileId> out;
  for (int64_t x = tx(b.min_lng); x <= tx(b.max_lng); ++x) {
    for (int64_t y = ty(b.max_lat); y <= ty(b.min_lat); ++y) out.push_back({z, x, y});
  }
  return out;
}

// Latencies (ms) of `requests` tile requests through `routes`; counts the answers by status.
std::vector<double> Time(http::TileRoutes& routes, const std::vector<tiles::TileId>& requests,
                         const std::string& prefix, int* ok, int* empty) {
  std::vector<double> ms;
  for (const tiles::TileId& t : requests) {
    http::Request req;
    req.method = "GET";
    http::Response res;
    const std::string rest = prefix + std::to_string(t.z) + "/" + std::to_string(t.x) + "/" +
                             std::to_string(t.y) + ".png";
    const double t0 = Now();
    routes.Tile(req, res, rest);
    ms.push_back((Now() - t0) * 1000);
    *ok += res.status == 200;
    *empty += res.status == 204;
  }
  return ms;
}

void TileLatencies(Store* store, const BBox& area, double step) {
  char prefix[64];
  std::snprintf(prefix, sizeof prefix, "grocery/%g/", step);
  std::mt19937_64 rng(42);
  std::printf("| zoom | level | tiles over the area | cold p50 / p99 ms | hot p50 / p99 ms |\n");
  for (int z : {8, 12, 13, 16}) {
    std::vector<tiles::TileId> all = TilesOver(area, z);
    std::shuffle(all.begin(), all.end(), rng);
    // Cold: 200 requests over distinct tiles where there are enough, an LRU of 0 bytes.
    std::vector<tiles::TileId> cold;
    for (size_t k = 0; k < 200; ++k) cold.push_back(all[k % all.size()]);
    http::TileRoutes no_cache(store, 0, {step}, 200'000);
    int ok = 0, empty = 0;
    std::vector<double> c = Time(no_cache, cold, prefix, &ok, &empty);
    // Hot: up to 50 tiles filled once, then 1,000 requests among them.
    http::TileRoutes cached(store, 64 << 20, {step}, 200'000);
    std::vector<tiles::TileId> hot(all.begin(), all.begin() + std::min<size_t>(50, all.size()));
    int ok2 = 0, empty2 = 0;
    Time(cached, hot, prefix, &ok2, &empty2);
    std::vector<tiles::TileId> again;
    for (int k = 0; k < 1000; ++k) again.push_back(hot[rng() % hot.size()]);
    std::vector<double> h = Time(cached, again, prefix, &ok2, &empty2);
    std::printf(
        "| %d | %d | %zu (%d of 200 cold answers drawn, %d empty) | %.2f / %.2f | %.3f / %.3f |\n",
        z, tiles::LevelForZoom(step, z), all.size(), ok, empty, Pct(c, 0.5), Pct(c, 0.99),
        Pct(h, 0.5), Pct(h, 0.99));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string url = "sqlite:/tmp/bench_tiles.db";
  double step = 0.0002, half = 0.2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--url") url = argv[i + 1];
    if (a == "--step") step = std::atof(argv[i + 1]);
    if (a == "--half") half = std::atof(argv[i + 1]);
  }
  const std::string bin = NBI_BINARY;
  url = FreshUrl(url);
  const std::string env = "DATABASE_URL='" + url + "' ";
  const BBox area{47.1 - half, 9.52 - half, 47.1 + half, 9.52 + half};
  if (Run(env + bin + " generate-city --out /tmp/bench_tiles_city.csv >/dev/null") ||
      Run(env + bin + " import /tmp/bench_tiles_city.csv >/dev/null") ||
      Run(env + bin + " schedule --bbox " + area.ToString() + " --grid-step " +
          std::to_string(step) + " >/dev/null")) {
    return 1;
  }
  const double t0 = Now();
  if (Run(env + bin + " process-jobs >/dev/null")) return 1;
  const double job_s = Now() - t0;
  auto store = OpenStore(url);
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  auto cells = (*store)->CountCells(std::nullopt);
  const double n = static_cast<double>(cells.ok() ? *cells : 0);
  std::vector<double> rebuild;
  for (int k = 0; k < 3; ++k) {
    const double r0 = Now();
    Status s = (*store)->RebuildOverviews(area, step, HeatModel::kGrocery);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
    rebuild.push_back(Now() - r0);
  }
  std::printf(
      "store %s: job of %.0f cells at %g deg in %.2f s (%.0f cells/s, process-jobs incl. "
      "POI load and the overview build)\n",
      (*store)->Describe().c_str(), n, step, job_s, n / job_s);
  const double ov = Pct(rebuild, 0.5);
  std::printf(
      "overview build of the whole area at once (levels 1..%d, median of 3): %.3f s = "
      "%.1f%% of the job\n",
      tiles::MaxOverviewLevel(step), ov, 100 * ov / job_s);
  // What the job itself does: one rebuild per part (JOB_PART_CELLS 250,000), over its rows.
  auto g = GridRegion::Make(area, step);
  double parts_s = 0;
  const auto parts = SplitParts(g->cell_count(), kDefaultPartCells);
  for (const auto& [begin, end] : parts) {
    const int64_t r0 = g->first_row() + begin / g->cols();
    const int64_t r1 = g->first_row() + (end - 1) / g->cols();
    const BBox rows{(static_cast<double>(r0) - 0.4) * step, area.min_lng,
                    (static_cast<double>(r1) + 0.4) * step, area.max_lng};
    const double r = Now();
    Status s = (*store)->RebuildOverviews(rows, step, HeatModel::kGrocery);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
    parts_s += Now() - r;
  }
  std::printf(
      "overview builds as the job runs them (one per part over its rows, %zu parts): "
      "%.3f s = %.1f%% of the job\n",
      parts.size(), parts_s, 100 * parts_s / job_s);
  const double bump = BumpSeconds(url);
  const double chunks = std::ceil(n / 500.0);
  std::printf(
      "ETag versions: %.1f us per block bump as a statement of its own x %.0f checkpoints at "
      "chunk 500 = %.2f s = %.1f%% of the job (an upper bound on PostgreSQL: the checkpoint "
      "sends it in its last pipeline, no round trip of its own)\n",
      bump * 1e6, chunks, bump * chunks, 100 * bump * chunks / job_s);
  auto sizes = Sizes(url);
  const double base = sizes[0].second, with = base + sizes[1].second + sizes[2].second;
  std::printf(
      "storage: heat_cells %.1f B/cell; + heat_overviews %.0f B + heat_area_versions %.0f "
      "B = %.1f B/cell (+%.1f%%)\n",
      base / n, sizes[1].second, sizes[2].second, with / n, 100 * (with - base) / base);
  TileLatencies(store->get(), area, step);
  return 0;
}
