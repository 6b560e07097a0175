// Walking models (SPEC §4a): network import, per-job preparation and end-to-end speed beside
// the straight-line model on the same job, in the same run.
//
//   bench_walk --url URL [--extract FILE.osm.pbf] [--side N] [--step S]
//
// 1. Writes a generated city as .osm.pbf with libosmium: a street grid of N x N nodes
//    (default 460: 211,600 nodes) 0.0005 deg apart, split into ways of 10-40 nodes, a river
//    with a bridge every ~2 km, 5 % of segments missing, motorways (not walkable) across,
//    2,000 groceries, 6,000 restaurants and 1,500 parks.
// 2. Imports it into the store: nodes/s over the file, network nodes and edges stored.
// 3. Per-job preparation over the whole city, for grocery-walk and blend-walk: loading the
//    network (one query), building the graph, the searches from the POIs.
// 4. End to end: a job over the city at `step` (default 0.0002: ~1.3 M cells) with the worker's
//    defaults, once per model: grocery, grocery-walk, blend, blend-walk; cells/s and the ratio.
// 5. With --extract: the same end-to-end pair over a real extract's POI box.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <osmium/builder/osm_object_builder.hpp>
#include <osmium/io/pbf_output.hpp>
#include <osmium/io/writer.hpp>
#include <random>
#include <string>
#include <vector>

#include "poi/import.h"
#include "score/scorer.h"
#include "score/spatial_index.h"
#include "store/store.h"
#include "store/testing.h"
#include "walk/walk_index.h"
#include "worker/worker.h"

namespace nbi {
namespace {

using SteadyClock = std::chrono::steady_clock;
double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}
void Check(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "bench_walk: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}
template <typename T>
T Must(Result<T> r, const char* what) {
  Check(r.status(), what);
  return std::move(r).value();
}

constexpr double kLat0 = 47.30, kLng0 = 8.45, kStep = 0.0005;

// A .osm.pbf being written: nodes, then ways, in buffers of ~12 MB.
class PbfOut {
 public:
  explicit PbfOut(const std::string& path)
      : writer_(osmium::io::File(path, "pbf"), Header(), osmium::io::overwrite::allow) {}
  void Node(int64_t id, double lat, double lng,
            std::initializer_list<std::pair<const char*, const char*>> tags) {
    {
      osmium::builder::NodeBuilder b(buf_);
      b.set_id(id).set_version(1).set_location(osmium::Location(lng, lat));
      if (tags.size()) {
        osmium::builder::TagListBuilder t(b);
        for (auto& [k, v] : tags) t.add_tag(k, v);
      }
    }
    buf_.commit();
    Flush(false);
  }
  void Way(const std::vector<int64_t>& refs, const char* highway) {
    if (refs.size() < 2) return;
    {
      osmium::builder::WayBuilder b(buf_);
      b.set_id(way_id_++).set_version(1);
      {
        osmium::builder::WayNodeListBuilder nl(b);
        for (int64_t ref : refs) nl.add_node_ref(ref);
      }
      osmium::builder::TagListBuilder t(b);
      t.add_tag("highway", highway);
    }
    buf_.commit();
    Flush(false);
  }
  void Close() {
    Flush(true);
    writer_.close();
  }

 private:
  static osmium::io::Header Header() {
    osmium::io::Header h;
    h.set("generator", "nearbyindex bench_walk");
    return h;
  }
  void Flush(bool force) {
    if (!force && buf_.committed() < (12u << 20)) return;
    writer_(std::move(buf_));
    buf_ = osmium::memory::Buffer(1 << 24, osmium::memory::Buffer::auto_grow::yes);
  }
  osmium::io::Writer writer_;
  osmium::memory::Buffer buf_{1 << 24, osmium::memory::Buffer::auto_grow::yes};
  int64_t way_id_ = 1;
};

// Rows (residential) and columns (footways) of the grid, cut into ways of 10-40 nodes, 5 % of
// segments missing; the river between rows side/2 and side/2+1 is crossed every 40 columns.
// Motorways (not walkable) every 100 rows.
void WriteStreets(PbfOut* out, int side, std::mt19937_64* rng) {
  std::uniform_real_distribution<double> u(0, 1);
  auto id_of = [&](int r, int c) { return int64_t(1) + int64_t(r) * side + c; };
  const int river = side / 2;
  for (int dir = 0; dir < 2; ++dir) {
    const char* highway = dir == 0 ? "residential" : "footway";
    for (int a = 0; a < side; ++a) {
      std::vector<int64_t> refs;
      int len = 10 + int(u(*rng) * 30);
      for (int b = 0; b < side; ++b) {
        const int r = dir == 0 ? a : b, c = dir == 0 ? b : a;
        const bool cross_river = dir == 1 && r == river + 1 && c % 40 != 20;
        if (cross_river || u(*rng) < 0.05 || int(refs.size()) >= len) {
          out->Way(refs, highway);
          refs.clear();
          len = 10 + int(u(*rng) * 30);
          if (!cross_river && b > 0)
            refs.push_back(id_of(dir == 0 ? a : b - 1, dir == 0 ? b - 1 : a));
        }
        refs.push_back(id_of(r, c));
      }
      out->Way(refs, highway);
    }
  }
  for (int r = 50; r < side; r += 100) {
    std::vector<int64_t> refs;
    for (int c = 0; c < side; ++c) refs.push_back(id_of(r, c));
    out->Way(refs, "motorway");
  }
}

// The generated city's .osm.pbf; returns its box.
BBox WriteCity(const std::string& path, int side) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  PbfOut out(path);
  for (int r = 0; r < side; ++r) {
    for (int c = 0; c < side; ++c) {
      // Jittered a little, as real street corners are.
      out.Node(1 + int64_t(r) * side + c, kLat0 + r * kStep + (u(rng) - 0.5) * 1e-4,
               kLng0 + c * kStep + (u(rng) - 0.5) * 1e-4, {});
    }
  }
  const double span = side * kStep;
  std::uniform_real_distribution<double> lat(kLat0, kLat0 + span), lng(kLng0, kLng0 + span);
  int64_t poi_id = int64_t(side) * side + 1000;
  for (int i = 0; i < 2000; ++i) out.Node(poi_id++, lat(rng), lng(rng), {{"shop", "supermarket"}});
  for (int i = 0; i < 6000; ++i)
    out.Node(poi_id++, lat(rng), lng(rng), {{"amenity", "restaurant"}});
  for (int i = 0; i < 1500; ++i) out.Node(poi_id++, lat(rng), lng(rng), {{"leisure", "park"}});
  WriteStreets(&out, side, &rng);
  out.Close();
  return BBox{kLat0, kLng0, kLat0 + span - kStep, kLng0 + span - kStep};
}

// Imports `path`; returns the box of its groceries.
BBox Import(Store* store, const std::string& path) {
  auto t0 = SteadyClock::now();
  ImportStats stats;
  WalkNetwork net;
  auto pois = Must(ImportPois(path, &stats, {}, &net), "import");
  const double read = Since(t0);
  auto t1 = SteadyClock::now();
  auto sum = Must(store->UpsertPois(pois, net), "store");
  const double write = Since(t1);
  std::printf(
      "  %s: %zu POIs, walk network %zu nodes / %zu edges; read %.2f s, stored %.2f s: "
      "%.0f network nodes/s\n",
      std::filesystem::path(path).filename().c_str(), pois.size(), net.nodes.size(),
      net.edges.size(), read, write, double(net.nodes.size()) / (read + write));
  (void)sum;
  BBox box{90, 180, -90, -180};
  for (const Poi& p : pois) {
    if (p.category != Category::kGroceries) continue;
    box.min_lat = std::min(box.min_lat, p.lat);
    box.min_lng = std::min(box.min_lng, p.lng);
    box.max_lat = std::max(box.max_lat, p.lat);
    box.max_lng = std::max(box.max_lng, p.lng);
  }
  return box;
}

void Prepare(Store* store, const BBox& box, HeatModel model, double step) {
  const WalkIndex::Options opts = WalkIndex::ForModel(model);
  const double radius = ParamsOf(Category::kGroceries).radius_m;
  auto t0 = SteadyClock::now();
  auto net = Must(LoadWalkNetworkAround(store, box, 2 * radius + 100), "load network");
  const double load = Since(t0);
  auto pois = Must(LoadPoiPointsAround(store, box, radius + 100), "load POIs");
  // Processor time of the graph and searches, all threads: what other processes on the
  // machine cannot stretch (the wall times above can).
  const std::clock_t cpu0 = std::clock();
  WalkIndex index(net, pois, opts);
  const double cpu = double(std::clock() - cpu0) / CLOCKS_PER_SEC;
  std::printf(
      "  %-12s network %zu nodes: load %.0f ms, graph %.0f ms, searches %.0f ms, total %.0f ms "
      "(without the load %.0f ms; processor time of graph and searches %.0f ms); index %.1f MB\n",
      std::string(HeatModelId(model)).c_str(), net.nodes.size(), load * 1000,
      index.graph_seconds() * 1000, index.search_seconds() * 1000,
      (load + index.graph_seconds() + index.search_seconds()) * 1000,
      (index.graph_seconds() + index.search_seconds()) * 1000, cpu * 1000,
      index.MemoryBytes() / 1e6);
  // The scoring kernels alone, one thread, over the job's cells.
  const GridRegion g = Must(GridRegion::Make(box, step), "grid");
  std::vector<uint8_t> out(size_t(g.cell_count()));
  t0 = SteadyClock::now();
  ScoreCellsWalk(index, g, 0, g.cell_count(), model, out.data());
  const double walk = Since(t0);
  const SpatialIndex straight(pois);
  const HeatModel twin = IsGroceryOnly(model) ? HeatModel::kGrocery : HeatModel::kBlend;
  t0 = SteadyClock::now();
  ScoreCells(straight, g, 0, g.cell_count(), twin, out.data());
  const double line = Since(t0);
  std::printf("  %-12s scoring only, one thread: %.0f cells/s walking, %.0f straight line\n", "",
              double(g.cell_count()) / walk, double(g.cell_count()) / line);
}

double EndToEnd(Store* store, const BBox& box, double step, HeatModel model) {
  Check(TruncateCells(store), "truncate");
  HeatmapJobSpec spec;
  spec.bounds = box;
  spec.grid_step = step;
  spec.model = model;
  auto e = Must(store->EnqueueHeatmap(spec), "enqueue");
  WorkerOptions o;  // the defaults: chunk 500, one slot
  o.exit_when_idle = true;
  o.log_polls = false;
  o.progress_step_percent = 100;
  Worker w(store, Env{}, o);
  auto t0 = SteadyClock::now();
  w.Run();
  const double secs = Since(t0);
  auto j = Must(store->GetJob(e.job.id), "job");
  if (j.status != JobStatus::kCompleted) {
    Check(Status::Internal("job did not complete: " + j.error.value_or("")), "e2e");
  }
  const double rate = double(j.total_items) / secs;
  std::printf("  %-12s %lld cells at %g: %.2f s, %.0f cells/s\n",
              std::string(HeatModelId(model)).c_str(), (long long)j.total_items, step, secs, rate);
  Check(store->PruneFinished(-1000000).status(), "prune");
  return rate;
}

void Compare(Store* store, const BBox& box, double step) {
  const double g = EndToEnd(store, box, step, HeatModel::kGrocery);
  const double gw = EndToEnd(store, box, step, HeatModel::kGroceryWalk);
  const double b = EndToEnd(store, box, step, HeatModel::kBlend);
  const double bw = EndToEnd(store, box, step, HeatModel::kBlendWalk);
  std::printf("  walking / straight line: grocery %.2f x, blend %.2f x (target >= 0.5)\n", gw / g,
              bw / b);
}

}  // namespace
}  // namespace nbi

int main(int argc, char** argv) {
  using namespace nbi;
  std::string url, extract;
  int side = 460;
  double step = 0.0002;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--url") && i + 1 < argc)
      url = argv[++i];
    else if (!std::strcmp(argv[i], "--extract") && i + 1 < argc)
      extract = argv[++i];
    else if (!std::strcmp(argv[i], "--side") && i + 1 < argc)
      side = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--step") && i + 1 < argc)
      step = std::atof(argv[++i]);
  }
  if (url.empty()) {
    std::fprintf(stderr, "usage: bench_walk --url URL [--extract FILE] [--side N] [--step S]\n");
    return 2;
  }
  auto store = Must(OpenStore(url), "open");
  std::printf("Store: %s\n", store->Describe().c_str());
  const std::string path =
      (std::filesystem::temp_directory_path() / "nbi_bench_walk.osm.pbf").string();
  std::printf("1. Generated city: %d x %d street nodes\n", side, side);
  auto t0 = SteadyClock::now();
  const BBox box = WriteCity(path, side);
  std::printf("  written in %.2f s: %s, box %s\n", Since(t0), path.c_str(), box.ToString().c_str());
  std::printf("2. Import\n");
  Import(store.get(), path);
  std::printf("3. Per-job preparation over the whole city\n");
  Prepare(store.get(), box, HeatModel::kGroceryWalk, step);
  Prepare(store.get(), box, HeatModel::kBlendWalk, step);
  std::printf("4. End to end, one worker at the defaults, generated city\n");
  Compare(store.get(), box, step);
  std::filesystem::remove(path);
  if (!extract.empty()) {
    std::printf("5. Real extract %s\n", extract.c_str());
    const BBox ebox = Import(store.get(), extract);  // over the extract's groceries
    Prepare(store.get(), ebox, HeatModel::kBlendWalk, 0.0001);
    Compare(store.get(), ebox, 0.0001);
  }
  return 0;
}
