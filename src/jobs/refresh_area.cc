// The dirty-area rule and the boxes that cover it (jobs/refresh.h).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <unordered_set>
#include <utility>
#include <vector>

#include "jobs/model_index.h"
#include "jobs/refresh.h"
#include "score/model.h"
#include "tiles/tiles.h"
#include "walk/walk_index.h"

namespace nbi {

namespace {

constexpr double kPi = 3.14159265358979323846;
// Metres added to every disk's radius: a cell that the scorer counts at exactly the radius
// must not be lost to the rounding of a haversine computed twice.
constexpr double kDiskSlackM = 0.01;

struct CellHash {
  size_t operator()(const CellKey& c) const { return std::hash<int64_t>()(c.i * 1'000'003 + c.j); }
};
using CellSet = std::unordered_set<CellKey, CellHash>;

bool ModelUses(HeatModel m, Category c) {
  if (c == Category::kGroceries) return true;
  return !IsGroceryOnly(m) && (c == Category::kRestaurants || c == Category::kParks);
}

// The largest radius of the model's categories.
double ModelRadius(HeatModel m) {
  double r = 0;
  for (Category c : kAllCategories) {
    if (ModelUses(m, c)) r = std::max(r, ParamsOf(c).radius_m);
  }
  return r;
}

// The box holding every point within `m` metres of `p` (generously: a degree of latitude is
// at least 110.5 km; longitude at the disk's latitude farthest from the equator).
BBox DiskBox(LatLng p, double m) {
  const double dlat = m / 110'500.0;
  const double far_lat = std::min(89.0, std::abs(p.lat) + dlat);
  const double dlng = std::min(180.0, dlat / std::cos(far_lat * kPi / 180.0));
  return {std::max(-90.0, p.lat - dlat), std::max(-180.0, p.lng - dlng),
          std::min(90.0, p.lat + dlat), std::min(180.0, p.lng + dlng)};
}

// Centres of the disks of one model: its changed POIs; for a walking model also the changed
// walk positions and the stored POIs of its categories within r of them (jobs/refresh.h).
Result<std::vector<LatLng>> Centres(Store* store, const ChangeSet& changes, HeatModel m, double r) {
  std::vector<LatLng> out;
  for (const PoiPoint& p : changes.pois) {
    if (ModelUses(m, p.category)) out.push_back({p.lat, p.lng});
  }
  if (IsWalkModel(m) && !changes.walk_points.empty()) {
    std::vector<LatLng> walk = changes.walk_points;
    std::sort(walk.begin(), walk.end(),
              [](const LatLng& a, const LatLng& b) { return a.lat < b.lat; });
    out.insert(out.end(), walk.begin(), walk.end());
    BBox all{walk.front().lat, walk.front().lng, walk.front().lat, walk.front().lng};
    for (const LatLng& w : walk) {
      all.min_lng = std::min(all.min_lng, w.lng);
      all.max_lng = std::max(all.max_lng, w.lng);
      all.max_lat = std::max(all.max_lat, w.lat);
    }
    NBI_ASSIGN_OR_RETURN(std::vector<PoiPoint> near,
                         LoadPoiPointsAround(store, all, r + kLoadMarginM));
    const double dlat = (r + 1) / 110'500.0;
    for (const PoiPoint& p : near) {
      if (!ModelUses(m, p.category)) continue;
      auto lo = std::lower_bound(walk.begin(), walk.end(), p.lat - dlat,
                                 [](const LatLng& a, double v) { return a.lat < v; });
      for (auto it = lo; it != walk.end() && it->lat <= p.lat + dlat; ++it) {
        if (HaversineMeters(*it, {p.lat, p.lng}) <= r + kDiskSlackM) {
          out.push_back({p.lat, p.lng});
          break;
        }
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const LatLng& a, const LatLng& b) {
    return std::make_pair(a.lat, a.lng) < std::make_pair(b.lat, b.lng);
  });
  out.erase(std::unique(
                out.begin(), out.end(),
                [](const LatLng& a, const LatLng& b) { return a.lat == b.lat && a.lng == b.lng; }),
            out.end());
  return out;
}

// The dirty and the stored cells of one model around its centres, per grid step ("stored"
// includes the cells a begun job may still write: BegunJobs).
struct GridCells {
  CellSet dirty, stored;
  // The regions (global row and column ranges) of the begun jobs of this step and model: their
  // cells count as stored; MarkDisk adds those it marks dirty to `stored`.
  std::vector<tiles::IndexRange> begun;
  bool Stored(const CellKey& k) const {
    if (stored.count(k)) return true;
    for (const tiles::IndexRange& r : begun) {
      if (k.i >= r.i0 && k.i <= r.i1 && k.j >= r.j0 && k.j <= r.j1) return true;
    }
    return false;
  }
};

// The region of a heatmap job that may write cells computed from the data before the import:
// one running, or pending after a part of it ran (the runner keeps a job's POI and walk index
// for its next parts, jobs/runner.h IndexCache). Its cells written after the import carry the
// old data, and no stored cell marks them when the import plans. A job that has not begun
// loads the data when it starts: it needs nothing.
struct BegunJob {
  double step = 0;
  HeatModel model = HeatModel::kGrocery;
  GridRegion region;
};

Result<std::vector<BegunJob>> BegunJobs(JobQueue* queue) {
  std::vector<BegunJob> out;
  for (JobStatus status : {JobStatus::kRunning, JobStatus::kPending}) {
    JobFilter f;
    f.status = status;
    f.limit = 1000;
    for (;;) {
      NBI_ASSIGN_OR_RETURN(std::vector<Job> page, queue->ListJobs(f));
      for (const Job& j : page) {
        if (!IsHeatmapJobType(j.type)) continue;
        if (status == JobStatus::kPending && !j.started_at_ms) continue;
        auto meta = DecodeHeatmapMetadata(j);
        if (!meta.ok()) continue;  // the runner fails such a job: it writes no cell
        auto region = GridRegion::Make(meta->bounds, meta->grid_step, INT64_MAX);
        if (!region.ok()) continue;
        out.push_back({region->step(), meta->model, *region});
      }
      if (page.size() < static_cast<size_t>(f.limit)) break;
      f.before_id = page.back().id;
    }
  }
  return out;
}

// Centres grouped by a coarse tile, so that one pair of queries serves the centres of a place.
std::map<std::pair<int64_t, int64_t>, std::vector<LatLng>> ByTile(const std::vector<LatLng>& cs) {
  std::map<std::pair<int64_t, int64_t>, std::vector<LatLng>> out;
  for (const LatLng& c : cs) {
    out[{static_cast<int64_t>(std::floor(c.lat / 0.05)),
         static_cast<int64_t>(std::floor(c.lng / 0.05))}]
        .push_back(c);
  }
  return out;
}

// Marks the stored cells of `step` within r of `c` dirty.
void MarkDisk(LatLng c, double r, double step, GridCells* g) {
  const BBox box = DiskBox(c, r + kDiskSlackM);
  const int64_t i0 = static_cast<int64_t>(std::ceil(box.min_lat / step - 1e-9));
  const int64_t i1 = static_cast<int64_t>(std::floor(box.max_lat / step + 1e-9));
  const int64_t j0 = static_cast<int64_t>(std::ceil(box.min_lng / step - 1e-9));
  const int64_t j1 = static_cast<int64_t>(std::floor(box.max_lng / step + 1e-9));
  for (int64_t i = i0; i <= i1; ++i) {
    for (int64_t j = j0; j <= j1; ++j) {
      const CellKey k{i, j};
      if (!g->Stored(k)) continue;
      const LatLng at{static_cast<double>(i) * step, static_cast<double>(j) * step};
      if (HaversineMeters(at, c) <= r + kDiskSlackM) {
        g->dirty.insert(k);
        g->stored.insert(k);  // a begun job's cell: allowed in the boxes from now on
      }
    }
  }
}

// The grid steps of one model stored around each coarse tile (the key of ByTile), once
// loaded: a tile's stored cells are read once, however many batches of changes reach it.
using TileSteps = std::map<std::pair<int64_t, int64_t>, std::vector<double>>;

// The box holding the disks of radius r around every point of a coarse tile: the union of
// its corners' disk boxes (the corner farthest from the equator has the widest).
BBox TileDiskBox(std::pair<int64_t, int64_t> tile, double r) {
  const double lat0 = static_cast<double>(tile.first) * 0.05, lat1 = lat0 + 0.05;
  const double lng0 = static_cast<double>(tile.second) * 0.05, lng1 = lng0 + 0.05;
  BBox box = DiskBox({lat0, lng0}, r + kDiskSlackM);
  for (LatLng corner : {LatLng{lat0, lng1}, LatLng{lat1, lng0}, LatLng{lat1, lng1}}) {
    const BBox d = DiskBox(corner, r + kDiskSlackM);
    box = {std::min(box.min_lat, d.min_lat), std::min(box.min_lng, d.min_lng),
           std::max(box.max_lat, d.max_lat), std::max(box.max_lng, d.max_lng)};
  }
  return box;
}

bool Overlaps(const BBox& a, const BBox& b) {
  return a.min_lat <= b.max_lat && b.min_lat <= a.max_lat && a.min_lng <= b.max_lng &&
         b.min_lng <= a.max_lng;
}

// The begun jobs are listed before the cells are read: a job that ends in between has stored
// its cells by then.
Status MarkModel(Store* store, HeatModel m, const std::vector<LatLng>& centres, double r,
                 const std::vector<BegunJob>& begun, std::map<double, GridCells>* grids,
                 TileSteps* loaded) {
  for (const auto& [tile, cs] : ByTile(centres)) {
    auto at = loaded->find(tile);
    if (at == loaded->end()) {
      at = loaded->emplace(tile, std::vector<double>{}).first;
      const BBox box = TileDiskBox(tile, r);
      NBI_ASSIGN_OR_RETURN(auto kinds, store->CellGridsIn(box));
      std::map<double, std::vector<const BegunJob*>> steps;
      for (const auto& [step, model] : kinds) {
        if (model == m) steps[step];
      }
      for (const BegunJob& j : begun) {
        const GridRegion& g = j.region;
        const BBox area{(double(g.first_row()) - 0.5) * j.step,
                        (double(g.first_col()) - 0.5) * j.step,
                        (double(g.first_row() + g.rows()) - 0.5) * j.step,
                        (double(g.first_col() + g.cols()) - 0.5) * j.step};
        if (j.model == m && Overlaps(area, box)) steps[j.step].push_back(&j);
      }
      for (const auto& [step, jobs] : steps) {
        NBI_ASSIGN_OR_RETURN(std::vector<HeatCell> cells,
                             store->QueryCells(box, step, m, 0, kDefaultCellCap));
        GridCells& g = (*grids)[step];
        for (const HeatCell& cell : cells) {
          g.stored.insert({NearestGridIndex(cell.lat, step), NearestGridIndex(cell.lng, step)});
        }
        for (const BegunJob* j : jobs) {
          const GridRegion& jr = j->region;
          const tiles::IndexRange range{jr.first_row(), jr.first_row() + jr.rows() - 1,
                                        jr.first_col(), jr.first_col() + jr.cols() - 1};
          // A job reaching several tiles is listed once.
          if (std::find(g.begun.begin(), g.begun.end(), range) == g.begun.end()) {
            g.begun.push_back(range);
          }
        }
        at->second.push_back(step);
      }
    }
    for (double step : at->second) {
      for (const LatLng& c : cs) MarkDisk(c, r, step, &(*grids)[step]);
    }
  }
  return Status::Ok();
}

}  // namespace

BBox RefreshBox::bounds() const {
  const double s = grid_step;
  return {(static_cast<double>(i0) - 0.5) * s, (static_cast<double>(j0) - 0.5) * s,
          (static_cast<double>(i1) - 0.5) * s, (static_cast<double>(j1) - 0.5) * s};
}

int64_t RefreshPlan::cells() const {
  int64_t n = 0;
  for (const RefreshBox& b : boxes) n += b.cells();
  return n;
}

std::vector<RefreshBox> CoverCells(std::vector<CellKey> dirty, const std::vector<CellKey>& allowed,
                                   double grid_step, HeatModel model) {
  std::sort(dirty.begin(), dirty.end());
  const CellSet d(dirty.begin(), dirty.end());
  const CellSet ok(allowed.begin(), allowed.end());
  CellSet covered;
  auto free_dirty = [&](int64_t i, int64_t j) { return d.count({i, j}) && !covered.count({i, j}); };
  auto usable = [&](int64_t i, int64_t j) {
    return (ok.count({i, j}) || d.count({i, j})) && !covered.count({i, j});
  };
  std::vector<RefreshBox> out;
  for (const CellKey& c : dirty) {
    if (covered.count(c)) continue;
    RefreshBox b{grid_step, model, c.i, c.i + 1, c.j, c.j + 1};
    while (free_dirty(c.i, b.j1)) ++b.j1;
    int64_t in = b.j1 - b.j0;  // dirty cells in the box
    for (;;) {                 // grow down a row at a time while the waste stays low
      const int64_t ni = b.i1;
      int64_t w0 = b.j0, w1 = b.j1;  // widened by the dirty run through the row's ends
      if (free_dirty(ni, w0)) {
        while (free_dirty(ni, w0 - 1)) --w0;
      }
      if (free_dirty(ni, w1 - 1)) {
        while (free_dirty(ni, w1)) ++w1;
      }
      bool grown = false;
      for (auto [a, z] : {std::make_pair(w0, w1), std::make_pair(b.j0, b.j1)}) {
        int64_t added = 0;
        bool fits = true;
        for (int64_t j = a; j < z && fits; ++j) {
          fits = usable(ni, j);
          added += d.count({ni, j});
        }
        for (int64_t i = b.i0; i < ni && fits; ++i) {
          for (int64_t j = a; j < z && fits; ++j) {
            if (j >= b.j0 && j < b.j1) continue;
            fits = usable(i, j);
            added += d.count({i, j});
          }
        }
        const int64_t area = (ni + 1 - b.i0) * (z - a);
        if (!fits || added == 0 ||
            static_cast<double>(area - in - added) > kMaxRefreshWaste * static_cast<double>(area)) {
          continue;
        }
        b.i1 = ni + 1;
        b.j0 = a;
        b.j1 = z;
        in += added;
        grown = true;
        break;
      }
      if (!grown) break;
    }
    for (int64_t i = b.i0; i < b.i1; ++i) {
      for (int64_t j = b.j0; j < b.j1; ++j) covered.insert({i, j});
    }
    out.push_back(b);
  }
  return out;
}

// An active job that has written nothing and holds no index (BegunJobs).
bool NotBegun(const Job& j) {
  return j.status == JobStatus::kPending && !j.started_at_ms && j.last_processed_index() == 0;
}

// How many begun equal refresh jobs EnqueueRefresh steps past before it gives up (each one
// began before the next was enqueued: a chain this long means the queue keeps changing).
constexpr int kMaxRefreshChain = 16;

// Per model, per grid step: the cells marked so far.
struct RefreshPlanner::State {
  std::array<std::map<double, GridCells>, kAllHeatModels.size()> grids;
  std::array<TileSteps, kAllHeatModels.size()> loaded;
  // The begun jobs (BegunJobs), listed at the first changes, before any cell is read.
  std::optional<std::vector<BegunJob>> begun;
};

RefreshPlanner::RefreshPlanner(Store* store) : store_(store), state_(std::make_unique<State>()) {}
RefreshPlanner::~RefreshPlanner() = default;

Status RefreshPlanner::Add(const ChangeSet& changes) {
  if (changes.empty()) return Status::Ok();
  if (!state_->begun) {
    NBI_ASSIGN_OR_RETURN(std::vector<BegunJob> begun, BegunJobs(store_));
    state_->begun = std::move(begun);
  }
  for (HeatModel m : kAllHeatModels) {
    const double r = ModelRadius(m);
    NBI_ASSIGN_OR_RETURN(std::vector<LatLng> centres, Centres(store_, changes, m, r));
    if (centres.empty()) continue;
    const auto k = static_cast<size_t>(m);
    NBI_RETURN_IF_ERROR(
        MarkModel(store_, m, centres, r, *state_->begun, &state_->grids[k], &state_->loaded[k]));
  }
  return Status::Ok();
}

RefreshPlan RefreshPlanner::Finish() {
  RefreshPlan plan;
  for (HeatModel m : kAllHeatModels) {
    for (auto& [step, g] : state_->grids[static_cast<size_t>(m)]) {
      if (g.dirty.empty()) continue;
      plan.dirty_cells += static_cast<int64_t>(g.dirty.size());
      plan.dirty_per_model[static_cast<size_t>(m)] += static_cast<int64_t>(g.dirty.size());
      std::vector<CellKey> dirty(g.dirty.begin(), g.dirty.end());
      std::vector<CellKey> stored(g.stored.begin(), g.stored.end());
      std::vector<RefreshBox> boxes = CoverCells(std::move(dirty), stored, step, m);
      plan.boxes.insert(plan.boxes.end(), boxes.begin(), boxes.end());
    }
  }
  state_->grids = {};
  state_->loaded = {};
  return plan;
}

Result<RefreshPlan> PlanRefresh(Store* store, const ChangeSet& changes) {
  RefreshPlanner planner(store);
  NBI_RETURN_IF_ERROR(planner.Add(changes));
  return planner.Finish();
}

BBox ReachOf(const ChangeSet& changes) {
  double r = 0;
  for (HeatModel m : kAllHeatModels) r = std::max(r, ModelRadius(m));
  std::optional<BBox> out;
  auto add = [&](LatLng p) {
    const BBox d = DiskBox(p, 2 * r + kDiskSlackM);
    out = out ? BBox{std::min(out->min_lat, d.min_lat), std::min(out->min_lng, d.min_lng),
                     std::max(out->max_lat, d.max_lat), std::max(out->max_lng, d.max_lng)}
              : d;
  };
  for (const PoiPoint& p : changes.pois) add({p.lat, p.lng});
  for (const LatLng& p : changes.walk_points) add(p);
  return out.value_or(BBox{});
}

Result<std::vector<EnqueueResult>> EnqueueRefresh(JobQueue* queue, const RefreshPlan& plan,
                                                  int64_t part_cells) {
  std::vector<EnqueueResult> out;
  for (const RefreshBox& b : plan.boxes) {
    HeatmapJobSpec spec;
    spec.type = kHeatmapRefreshJobType;
    spec.bounds = b.bounds();
    spec.grid_step = b.grid_step;
    spec.model = b.model;
    spec.priority = kRefreshPriority;
    spec.part_cells = part_cells;
    // A refresh folds only into an equal job that has not begun: one that has may have read
    // the data before this import and write cells from it, so the refresh behind it takes a
    // key of its own that names it (a later import folds into that one while it waits).
    for (int round = 0;; ++round) {
      NBI_ASSIGN_OR_RETURN(EnqueueResult r, queue->EnqueueHeatmap(spec));
      if (r.is_new || NotBegun(r.job)) {
        out.push_back(std::move(r));
        break;
      }
      if (round == kMaxRefreshChain) {
        return Status::Transient(fmt::format(
            "enqueueing a heatmap_refresh job over {}: {} equal jobs have begun; try again",
            spec.bounds.ToString(), round + 1));
      }
      spec.dedupe_tag = fmt::format("after #{}", r.job.id);
    }
  }
  return out;
}

}  // namespace nbi
