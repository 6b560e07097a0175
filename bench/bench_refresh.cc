// Keeping a heatmap fresh (jobs/refresh.h): a full computation of an extract against the
// recompute after a newer copy of it with 10 POIs changed is imported with --replace.
//
//   bench_refresh --url URL [--extract FILE.osm.pbf] [--step S] [--models grocery,blend,...]
//
// 1. Imports the extract (default ../shared/data/osm/andorra.osm.pbf).
// 2. Full computation: one job per model over the box of the extract's POIs at `step`
//    (default 0.0005), run to the end by the worker (defaults: chunk 500, one slot); wall time
//    and cells per model.
// 3. Writes a copy of the extract with 10 POIs (groceries, spread over it by longitude)
//    changed: 4 deleted, 3 moved by ~150 m, 3 new groceries near 3 others; imports it with
//    --replace: the dirty cells per model, the boxes and cells enqueued, and what the rule's
//    straight-line bound is (the union of the changed POIs' disks, whole cells).
// 4. Runs the heatmap_refresh jobs: wall time and cells per model, beside the full run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <osmium/builder/attr.hpp>
#include <osmium/io/any_input.hpp>
#include <osmium/io/pbf_output.hpp>
#include <osmium/io/writer.hpp>
#include <set>
#include <string>
#include <vector>

#include "jobs/refresh.h"
#include "poi/import.h"
#include "store/store.h"
#include "worker/worker.h"

namespace nbi {
namespace {

using SteadyClock = std::chrono::steady_clock;
double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}
void Check(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "bench_refresh: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}
template <typename T>
T Must(Result<T> r, const char* what) {
  Check(r.status(), what);
  return std::move(r).value();
}

// Runs every runnable job to its end; the wall time.
double RunJobs(Store* store) {
  WorkerOptions o;  // the defaults: chunk 500, one slot
  o.exit_when_idle = true;
  o.log_polls = false;
  o.progress_step_percent = 100;
  Worker w(store, Env{}, o);
  auto t0 = SteadyClock::now();
  w.Run();
  return Since(t0);
}

struct Change {
  std::set<int64_t> deleted;
  std::map<int64_t, std::pair<double, double>> moved;  // id -> (lat, lng)
  std::vector<std::pair<double, double>> added;
};

// 10 grocery nodes spread by longitude: the first 4 deleted, 3 moved ~150 m north, and 3 new
// groceries 200 m east of the last 3.
Change ChooseChange(const std::vector<Poi>& pois) {
  std::vector<const Poi*> g;
  for (const Poi& p : pois) {
    if (p.category == Category::kGroceries && p.source_id[0] == 'n') g.push_back(&p);
  }
  std::sort(g.begin(), g.end(), [](const Poi* a, const Poi* b) { return a->lng < b->lng; });
  Change c;
  for (int k = 0; k < 10 && !g.empty(); ++k) {
    const Poi* p = g[g.size() * size_t(2 * k + 1) / 20];
    const int64_t id = std::stoll(p->source_id.substr(1));
    if (k < 4)
      c.deleted.insert(id);
    else if (k < 7)
      c.moved[id] = {p->lat + 0.00135, p->lng};
    else
      c.added.push_back({p->lat, p->lng + 0.0027});
  }
  return c;
}

void WriteChanged(const std::string& in, const std::string& out, const Change& c) {
  osmium::io::Reader reader(in);
  osmium::io::Header header = reader.header();
  osmium::io::Writer writer(out, header, osmium::io::overwrite::allow);
  int64_t max_id = 0;
  while (osmium::memory::Buffer buf = reader.read()) {
    osmium::memory::Buffer copy{buf.committed() + 1024, osmium::memory::Buffer::auto_grow::yes};
    for (const osmium::OSMObject& obj : buf.select<osmium::OSMObject>()) {
      if (obj.type() == osmium::item_type::node) {
        max_id = std::max<int64_t>(max_id, obj.id());
        if (c.deleted.count(obj.id())) continue;
      }
      copy.add_item(obj);
      copy.commit();
    }
    for (osmium::Node& n : copy.select<osmium::Node>()) {
      if (auto it = c.moved.find(n.id()); it != c.moved.end()) {
        n.set_location(osmium::Location(it->second.second, it->second.first));
      }
    }
    writer(std::move(copy));
  }
  using namespace osmium::builder::attr;  // NOLINT(google-build-using-namespace)
  osmium::memory::Buffer extra{4096, osmium::memory::Buffer::auto_grow::yes};
  for (const auto& [lat, lng] : c.added) {
    osmium::builder::add_node(extra, _id(++max_id), _version(1), _location(lng, lat),
                              _tag("shop", "supermarket"), _tag("name", "Bench new grocery"));
  }
  writer(std::move(extra));
  writer.close();
  reader.close();
}

// Steps 3 and 4: the changed copy imported with --replace, and its refresh jobs.
void RefreshAfterChange(Store* store, const std::string& extract, const std::vector<Poi>& pois,
                        const std::map<HeatModel, std::pair<int64_t, double>>& full) {
  const Change change = ChooseChange(pois);
  const std::string changed =
      (std::filesystem::temp_directory_path() / "nbi_bench_refresh.osm.pbf").string();
  WriteChanged(extract, changed, change);
  std::printf(
      "3. import --replace of a copy with 10 POIs changed (%zu deleted, %zu moved, %zu new)\n",
      change.deleted.size(), change.moved.size(), change.added.size());
  ImportOptions ro;
  ro.replace = true;
  auto t0 = SteadyClock::now();
  ImportRun run = Must(RunImport(store, changed, ro), "import --replace");
  std::printf(
      "  import + plan: %.2f s; %lld new, %lld updated, %lld removed; %zu POI states changed\n",
      Since(t0), (long long)run.summary.inserted, (long long)run.summary.updated,
      (long long)run.summary.removed, run.changes.pois.size());
  std::map<HeatModel, std::pair<int64_t, int>> boxes;
  for (const RefreshBox& b : run.refresh.boxes) {
    boxes[b.model].first += b.cells();
    boxes[b.model].second += 1;
  }
  std::printf("  dirty cells (all models): %lld; enqueued %lld cells in %zu jobs\n",
              (long long)run.refresh.dirty_cells, (long long)run.refresh.cells(), run.jobs.size());
  std::printf("4. Refresh jobs vs full computation\n");
  const double refresh_secs = RunJobs(store);
  for (const auto& [m, f] : full) {
    const auto [cells, n] = boxes[m];
    const int64_t dirty = run.refresh.dirty_per_model[size_t(m)];
    std::printf(
        "  %-12s dirty %7lld, recomputed %7lld cells in %3d boxes (+%.1f%% over dirty) = %5.2f%% "
        "of %lld\n",
        std::string(HeatModelId(m)).c_str(), (long long)dirty, (long long)cells, n,
        dirty > 0 ? 100.0 * double(cells - dirty) / double(dirty) : 0.0,
        100.0 * double(cells) / double(full.at(m).first), (long long)full.at(m).first);
  }
  double full_secs = 0;
  for (const auto& [m, f] : full) full_secs += f.second;
  std::printf("  wall time: refresh %.2f s (all models) vs full %.2f s\n", refresh_secs, full_secs);
}

}  // namespace
}  // namespace nbi

int main(int argc, char** argv) {
  using namespace nbi;
  std::string url, extract = "../shared/data/osm/andorra.osm.pbf";
  std::string models = "grocery,blend,grocery-walk";
  double step = 0.0005;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--url") && i + 1 < argc)
      url = argv[++i];
    else if (!std::strcmp(argv[i], "--extract") && i + 1 < argc)
      extract = argv[++i];
    else if (!std::strcmp(argv[i], "--step") && i + 1 < argc)
      step = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--models") && i + 1 < argc)
      models = argv[++i];
  }
  if (url.empty()) {
    std::fprintf(stderr,
                 "usage: bench_refresh --url URL [--extract FILE] [--step S] [--models M,...]\n");
    return 2;
  }
  std::vector<HeatModel> ms;
  for (size_t a = 0; a < models.size();) {
    size_t b = models.find(',', a);
    if (b == std::string::npos) b = models.size();
    auto m = ParseHeatModel(models.substr(a, b - a));
    if (!m) Check(Status::Invalid("unknown model " + models.substr(a, b - a)), "--models");
    ms.push_back(*m);
    a = b + 1;
  }
  auto store = Must(OpenStore(url), "open");
  std::printf("Store: %s, extract %s, step %g\n", store->Describe().c_str(), extract.c_str(), step);

  ImportOptions io;
  io.recompute = false;
  auto t0 = SteadyClock::now();
  ImportRun first = Must(RunImport(store.get(), extract, io), "import");
  std::printf("1. Import: %zu POIs, %zu walk edges in %.2f s\n", first.pois.size(),
              first.network.edges.size(), Since(t0));
  BBox box{90, 180, -90, -180};
  for (const Poi& p : first.pois) {
    box = {std::min(box.min_lat, p.lat), std::min(box.min_lng, p.lng), std::max(box.max_lat, p.lat),
           std::max(box.max_lng, p.lng)};
  }
  std::printf("2. Full computation over %s\n", box.ToString().c_str());
  std::map<HeatModel, std::pair<int64_t, double>> full;
  for (HeatModel m : ms) {
    HeatmapJobSpec spec;
    spec.bounds = box;
    spec.grid_step = step;
    spec.model = m;
    auto e = Must(store->EnqueueHeatmap(spec), "enqueue");
    const double secs = RunJobs(store.get());
    full[m] = {e.job.total_items, secs};
    std::printf("  %-12s %9lld cells: %7.2f s\n", std::string(HeatModelId(m)).c_str(),
                (long long)e.job.total_items, secs);
  }

  RefreshAfterChange(store.get(), extract, first.pois, full);
  return 0;
}
