// Scoring kernel throughput: grocery (and blend) cells per second on one core.
//   bench_score [--seconds S] [--osm-dir DIR]
// (a) a generated city: 2,000 groceries + 20,000 other POIs over ~30 x 30 km, cells at 0.001°;
// (b) the Porto extract (../shared/data/osm/porto.osm.pbf) when present.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "poi/import.h"
#include "poi/synthetic.h"
#include "score/scorer.h"

using namespace nbi;

namespace {

void Run(const char* name, const SpatialIndex& index, const BBox& box, double step, HeatModel model,
         double seconds) {
  auto g = GridRegion::Make(box, step);
  if (!g.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, g.status().message().c_str());
    return;
  }
  std::vector<uint8_t> out(g->cell_count());
  auto t0 = std::chrono::steady_clock::now();
  int64_t cells = 0;
  int reps = 0;
  double elapsed = 0;
  do {
    ScoreCells(index, *g, 0, g->cell_count(), model, out.data());
    cells += g->cell_count();
    ++reps;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < seconds);
  uint64_t sum = 0;
  for (uint8_t s : out) sum += s;
  std::printf("%-34s %-7s %10lld cells x %3d  %8.2f M cells/s  (mean score %.1f)\n", name,
              std::string(HeatModelId(model)).c_str(), (long long)g->cell_count(), reps,
              cells / elapsed / 1e6, double(sum) / double(out.size()));
}

}  // namespace

// Bytes a job's index holds per POI (SPEC §8: <= 100), for a generated region of 1 M POIs:
// the points a job loads (what the store returns), then the index built from them.
void MemoryPerPoi() {
  SyntheticCitySpec spec;
  spec.size_km = 300;
  spec.groceries = 100'000;
  spec.others = 900'000;
  std::vector<PoiPoint> points;
  for (const Poi& p : GenerateCity(spec)) points.push_back({p.lat, p.lng, p.category, p.sub});
  const double n = static_cast<double>(points.size());
  const SpatialIndex index(points);
  const double loaded = double(points.capacity() * sizeof(PoiPoint)) / n;
  const double held = double(index.MemoryBytes()) / n;
  std::printf(
      "Memory of a job's POI index, %zu generated POIs: %.1f B/POI held by the index, %.1f "
      "B/POI at the peak of building it (+ the loaded points) (target <= 100)\n",
      points.size(), held, held + loaded);
}

int main(int argc, char** argv) {
  double seconds = 3;
  std::string osm_dir = std::string(NBI_SOURCE_DIR) + "/../shared/data/osm";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--osm-dir")) osm_dir = argv[i + 1];
  }
  std::printf("Scoring kernel, one thread (SPEC §8 target: >= 2 M grocery cells/s per core)\n");
  SyntheticCitySpec spec;
  auto pois = GenerateCity(spec);
  SpatialIndex index(std::move(pois));
  BBox box = SyntheticCityBox(spec);
  Run("generated city 30x30 km @0.001", index, box, 0.001, HeatModel::kGrocery, seconds);
  Run("generated city 30x30 km @0.001", index, box, 0.001, HeatModel::kBlend, seconds);

  std::string porto = osm_dir + "/porto.osm.pbf";
  if (std::filesystem::exists(porto)) {
    auto pp = ImportPois(porto);
    if (!pp.ok()) {
      std::fprintf(stderr, "porto: %s\n", pp.status().message().c_str());
      return 1;
    }
    SpatialIndex pi(std::move(pp).value());
    BBox pbox{41.10, -8.66, 41.18, -8.56};
    Run("porto extract @0.0001", pi, pbox, 0.0001, HeatModel::kGrocery, seconds);
    Run("porto extract @0.0001", pi, pbox, 0.0001, HeatModel::kBlend, seconds);
  } else {
    std::printf("porto extract: skipped, %s not found\n", porto.c_str());
  }
  MemoryPerPoi();
  return 0;
}
