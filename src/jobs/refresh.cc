#include "jobs/refresh.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "score/model.h"
#include "store/parts.h"

namespace nbi {

namespace {

// Inclusive: a row on the edge of an extract's bounds is inside it.
bool Inside(const BBox& b, double lat, double lng) {
  return lat >= b.min_lat && lat <= b.max_lat && lng >= b.min_lng && lng <= b.max_lng;
}

bool SameScoring(const Poi& a, const Poi& b) {
  return a.category == b.category && a.sub == b.sub && a.lat == b.lat && a.lng == b.lng;
}

// The box holding every point of `points` and `nodes`; nullopt when both are empty.
std::optional<BBox> ExtentOf(const std::vector<Poi>& pois, const std::vector<WalkNode>& nodes) {
  std::optional<BBox> box;
  auto add = [&](double lat, double lng) {
    if (!box) {
      box = BBox{lat, lng, lat, lng};
      return;
    }
    box->min_lat = std::min(box->min_lat, lat);
    box->max_lat = std::max(box->max_lat, lat);
    box->min_lng = std::min(box->min_lng, lng);
    box->max_lng = std::max(box->max_lng, lng);
  };
  for (const Poi& p : pois) add(p.lat, p.lng);
  for (const WalkNode& n : nodes) add(n.lat, n.lng);
  return box;
}

BBox Union(const BBox& a, const BBox& b) {
  return {std::min(a.min_lat, b.min_lat), std::min(a.min_lng, b.min_lng),
          std::max(a.max_lat, b.max_lat), std::max(a.max_lng, b.max_lng)};
}

// POIs: each new, changed or (with replace) vanished OSM POI.
Status PlanPois(PoiStore* store, const std::vector<Poi>& pois, const std::optional<BBox>& replace,
                ImportPlan* plan) {
  std::vector<std::string> ids;
  ids.reserve(pois.size());
  for (const Poi& p : pois) ids.push_back(p.source_id);
  NBI_ASSIGN_OR_RETURN(std::vector<Poi> stored, store->LoadPoisById(ids));
  std::unordered_map<std::string, const Poi*> before;
  for (const Poi& p : stored) before.emplace(p.source_id, &p);
  for (const Poi& p : pois) {
    auto it = before.find(p.source_id);
    if (it != before.end() && SameScoring(*it->second, p)) continue;
    if (it != before.end()) plan->changes.pois.push_back(PointOf(*it->second));
    plan->changes.pois.push_back(PointOf(p));
  }
  if (!replace) return Status::Ok();
  std::unordered_set<std::string> held(ids.begin(), ids.end());
  NBI_ASSIGN_OR_RETURN(std::vector<Poi> inside, store->LoadPois(*replace, -1));
  for (const Poi& p : inside) {
    if (!IsOsmSourceId(p.source_id) || held.count(p.source_id)) continue;
    if (!Inside(*replace, p.lat, p.lng)) continue;
    plan->write.poi_deletes.push_back(p.source_id);
    plan->changes.pois.push_back(PointOf(p));
  }
  return Status::Ok();
}

// The walk network: nodes new or moved, edges new or re-measured, and (with replace) the
// nodes inside and the edges with both ends inside that the file lacks.
Status PlanWalk(PoiStore* store, const WalkNetwork& net, const std::optional<BBox>& replace,
                ImportPlan* plan) {
  std::vector<LatLng>& points = plan->changes.walk_points;
  std::vector<int64_t> ids;
  ids.reserve(net.nodes.size());
  for (const WalkNode& n : net.nodes) ids.push_back(n.id);
  NBI_ASSIGN_OR_RETURN(std::vector<WalkNode> stored, store->LoadWalkNodesById(ids));
  std::unordered_map<int64_t, LatLng> before;
  for (const WalkNode& n : stored) before.emplace(n.id, LatLng{n.lat, n.lng});
  std::unordered_map<int64_t, LatLng> after;
  for (const WalkNode& n : net.nodes) {
    after.emplace(n.id, LatLng{n.lat, n.lng});
    auto it = before.find(n.id);
    if (it != before.end() && it->second.lat == n.lat && it->second.lng == n.lng) continue;
    if (it != before.end()) points.push_back(it->second);
    points.push_back({n.lat, n.lng});
  }
  // The stored edges over the file's network (and the replaced area).
  std::optional<BBox> area = ExtentOf({}, net.nodes);
  if (replace) area = area ? Union(*area, *replace) : *replace;
  if (!area) return Status::Ok();
  NBI_ASSIGN_OR_RETURN(WalkNetwork old, store->LoadWalkNetwork(*area));
  std::map<std::pair<int64_t, int64_t>, double> old_edges;
  for (const WalkEdge& e : old.edges) old_edges.emplace(std::make_pair(e.a, e.b), e.length_m);
  auto ends = [&](int64_t a, int64_t b, const std::unordered_map<int64_t, LatLng>& at) {
    for (int64_t id : {a, b}) {
      if (auto it = at.find(id); it != at.end()) points.push_back(it->second);
    }
  };
  std::set<std::pair<int64_t, int64_t>> held;
  for (const WalkEdge& e : net.edges) {
    held.emplace(e.a, e.b);
    auto it = old_edges.find({e.a, e.b});
    if (it == old_edges.end() || it->second != e.length_m) ends(e.a, e.b, after);
  }
  if (!replace) return Status::Ok();
  std::unordered_map<int64_t, LatLng> old_at;
  for (const WalkNode& n : old.nodes) old_at.emplace(n.id, LatLng{n.lat, n.lng});
  for (const WalkEdge& e : old.edges) {
    if (held.count({e.a, e.b})) continue;
    const LatLng a = old_at[e.a], b = old_at[e.b];
    if (!Inside(*replace, a.lat, a.lng) || !Inside(*replace, b.lat, b.lng)) continue;
    plan->write.edge_deletes.emplace_back(e.a, e.b);
    ends(e.a, e.b, old_at);
  }
  // Nodes inside that the file lacks; their other edges go with them (the store reports
  // those edges' ends: PoiImportSummary::cascaded_edge_ends).
  NBI_ASSIGN_OR_RETURN(std::vector<WalkNode> inside, store->LoadWalkNodesIn(*replace));
  for (const WalkNode& n : inside) {
    if (after.count(n.id) || !Inside(*replace, n.lat, n.lng)) continue;
    plan->write.node_deletes.push_back(n.id);
    points.push_back({n.lat, n.lng});
  }
  std::sort(plan->write.node_deletes.begin(), plan->write.node_deletes.end());
  return Status::Ok();
}

}  // namespace

bool IsOsmSourceId(const std::string& id) {
  if (id.size() < 2 || (id[0] != 'n' && id[0] != 'w' && id[0] != 'r')) return false;
  size_t k = id[1] == '-' ? 2 : 1;
  if (k >= id.size()) return false;
  for (; k < id.size(); ++k) {
    if (!std::isdigit(static_cast<unsigned char>(id[k]))) return false;
  }
  return true;
}

Result<ImportPlan> PlanImport(PoiStore* store, std::vector<Poi> pois, WalkNetwork network,
                              const std::optional<BBox>& replace) {
  ImportPlan plan;
  NBI_RETURN_IF_ERROR(PlanPois(store, pois, replace, &plan));
  NBI_RETURN_IF_ERROR(PlanWalk(store, network, replace, &plan));
  plan.write.pois = std::move(pois);
  plan.write.network = std::move(network);
  return plan;
}

namespace {

// The error of an import whose write committed but whose refresh was not (all) enqueued:
// the changes are stored, so importing the file again finds none, and nothing else would
// recompute the cells they reach. It says so and gives the commands that do: one per box not
// enqueued, or (when planning failed, so the stored grids are unknown) the area the changes
// reach, for every grid step and model computed there. Never a user error (exit code 1).
Status RefreshLost(const std::string& path, const ImportRun& run, const Status& cause,
                   const std::vector<RefreshBox>* missed) {
  const PoiImportSummary& sum = run.summary;
  std::string msg = fmt::format(
      "{}: the import is stored ({} new, {} updated, {} removed), but {} the recompute "
      "failed: {}\nThe heatmap cells these changes reach stay stale until they are recomputed "
      "(importing the file again finds no change).",
      path, sum.inserted, sum.updated, sum.removed, missed ? "enqueueing" : "planning",
      cause.message());
  if (missed) {
    msg += " Recompute them with:";
    for (const RefreshBox& b : *missed) {
      msg += fmt::format("\n  nearbyindex schedule --reset --bbox {} --grid-step {} --model {}",
                         b.bounds().ToString(), b.grid_step, HeatModelId(b.model));
    }
  } else {
    msg += fmt::format(
        " Recompute the area they reach, for every grid step STEP and model MODEL computed "
        "there:\n  nearbyindex schedule --reset --bbox {} --grid-step STEP --model MODEL",
        ReachOf(run.changes).ToString());
  }
  return cause.code() == StatusCode::kTransient ? Status::Transient(msg) : Status::Internal(msg);
}

// Counts what a file held and what changed (RunImport's CSV path counts as it goes).
void CountRun(ImportRun* run) {
  run->poi_count = static_cast<int64_t>(run->pois.size());
  for (const Poi& p : run->pois) ++run->per_category[static_cast<size_t>(p.category)];
  run->change_points =
      static_cast<int64_t>(run->changes.pois.size() + run->changes.walk_points.size());
}

Status EnqueueBoxes(Store* store, const std::string& path, const ImportOptions& opts,
                    ImportRun* run);

// Writes `plan` and enqueues its refresh (RunImport's second half).
Status WriteAndRefresh(Store* store, const std::string& path, const ImportOptions& opts,
                       ImportPlan plan, ImportRun* run) {
  run->changes = std::move(plan.changes);
  auto sum = store->ApplyPoiWrite(plan.write);
  if (!sum.ok()) return sum.status().WithPrefix(path + ": storing POIs: ");
  run->summary = std::move(*sum);
  run->changes.walk_points.insert(run->changes.walk_points.end(),
                                  run->summary.cascaded_edge_ends.begin(),
                                  run->summary.cascaded_edge_ends.end());
  if (!opts.recompute) return Status::Ok();
  auto refresh = PlanRefresh(store, run->changes);
  if (!refresh.ok()) return RefreshLost(path, *run, refresh.status(), nullptr);
  run->refresh = std::move(*refresh);
  return EnqueueBoxes(store, path, opts, run);
}

// Enqueues run->refresh after the import's write committed: box by box, so that a failure
// names exactly the boxes left to recompute (RefreshLost).
Status EnqueueBoxes(Store* store, const std::string& path, const ImportOptions& opts,
                    ImportRun* run) {
  const std::vector<RefreshBox>& boxes = run->refresh.boxes;
  for (size_t k = 0; k < boxes.size(); ++k) {
    RefreshPlan one;
    one.boxes = {boxes[k]};
    auto jobs = EnqueueRefresh(store, one, opts.part_cells);
    if (!jobs.ok()) {
      const std::vector<RefreshBox> missed(boxes.begin() + static_cast<ptrdiff_t>(k), boxes.end());
      return RefreshLost(path, *run, jobs.status(), &missed);
    }
    run->jobs.insert(run->jobs.end(), jobs->begin(), jobs->end());
  }
  return Status::Ok();
}

// The node lists of the file's ways, for later change files. A way the file no longer holds
// is forgotten: a POI way removed, or a way of a walk edge or node removed (a change file that
// moves one of its nodes must not bring its edges back).
Status PlanWayLists(PoiStore* store, std::vector<OsmWayNodes> ways, PoiWrite* write) {
  std::set<int64_t> held;
  for (const OsmWayNodes& w : ways) held.insert(w.id);
  for (const std::string& id : write->poi_deletes) {
    if (id.size() > 1 && id[0] == 'w') write->way_deletes.push_back(std::stoll(id.substr(1)));
  }
  std::vector<int64_t> gone = write->node_deletes;
  for (const auto& [a, b] : write->edge_deletes) {
    gone.push_back(a);
    gone.push_back(b);
  }
  if (!gone.empty()) {
    NBI_ASSIGN_OR_RETURN(std::vector<OsmWayNodes> stale, store->LoadOsmWaysOfNodes(gone));
    for (const OsmWayNodes& w : stale) {
      if (!held.count(w.id)) write->way_deletes.push_back(w.id);
    }
  }
  write->ways = std::move(ways);
  return Status::Ok();
}

Result<ImportRun> RunChangeImport(Store* store, const std::string& path,
                                  const ImportOptions& opts) {
  if (opts.replace) {
    return Status::Invalid(fmt::format(
        "{}: --replace applies to an extract, not to a change file (a change file says itself "
        "what it deletes)",
        path));
  }
  ImportRun run;
  run.osm = true;
  run.change_file = true;
  NBI_ASSIGN_OR_RETURN(OsmChange change, ReadOsmChange(path));
  NBI_ASSIGN_OR_RETURN(ImportPlan plan, PlanChange(store, change, &run.stats));
  run.pois = plan.write.pois;
  run.network = plan.write.network;
  NBI_RETURN_IF_ERROR(WriteAndRefresh(store, path, opts, std::move(plan), &run));
  CountRun(&run);
  return run;
}

// A CSV file, read, compared and written in batches of opts.csv_batch POIs in one transaction,
// its dirty cells marked batch by batch: the memory is a batch's, whatever the file's size.
// A bad record anywhere rolls back every batch before it. The stored POIs are compared with
// what was committed before the import (the reads go through other connections than the
// write's), as PlanImport compares the whole file.
Result<ImportRun> RunCsvImport(Store* store, const std::string& path, const ImportOptions& opts) {
  ImportRun run;
  NBI_ASSIGN_OR_RETURN(std::unique_ptr<CsvPoiStream> csv, CsvPoiStream::Open(path));
  std::error_code size_error;
  const uint64_t size = std::filesystem::file_size(path, size_error);
  RefreshPlanner planner(store);
  Status failed;  // what stopped the batches, with its own prefix
  auto next = [&](std::vector<Poi>* batch) -> Result<bool> {
    Result<bool> more = csv->Next(std::max<size_t>(opts.csv_batch, 1), batch);
    if (!more.ok()) failed = more.status();
    if (!more.ok() || !*more) return more;
    ImportPlan plan;
    Status s = PlanPois(store, *batch, std::nullopt, &plan);
    if (s.ok()) {
      run.change_points += static_cast<int64_t>(plan.changes.pois.size());
      if (opts.recompute) s = planner.Add(plan.changes);
      if (!s.ok()) s = s.WithPrefix(path + ": planning the recompute: ");
    } else {
      s = s.WithPrefix(path + ": comparing with the stored POIs: ");
    }
    if (!s.ok()) return failed = s;
    if (opts.progress && !size_error) opts.progress(csv->bytes_read(), size);
    return true;
  };
  auto sum = store->UpsertPoiBatches(next);
  if (!failed.ok()) return failed;
  if (!sum.ok()) return sum.status().WithPrefix(path + ": storing POIs: ");
  run.stats = csv->Count(&run.per_category);
  for (int64_t n : run.per_category) run.poi_count += n;
  run.summary = *sum;
  // A POI listed in two batches was sent twice: the store counted its second upsert.
  run.summary.updated = run.poi_count - run.summary.inserted;
  if (!opts.recompute || run.change_points == 0) return run;
  run.refresh = planner.Finish();
  NBI_RETURN_IF_ERROR(EnqueueBoxes(store, path, opts, &run));
  return run;
}

}  // namespace

Result<ImportRun> RunImport(Store* store, const std::string& path, const ImportOptions& opts) {
  if (IsOsmChangePath(path)) return RunChangeImport(store, path, opts);
  if (Result<PoiFormat> f = DetectPoiFormat(path);
      f.ok() && *f == PoiFormat::kCsv && !opts.replace) {
    return RunCsvImport(store, path, opts);
  }
  ImportRun run;
  NBI_ASSIGN_OR_RETURN(PoiFormat format, DetectPoiFormat(path));
  run.osm = format == PoiFormat::kOsm;
  if (opts.replace && !run.osm) {
    return Status::Invalid(fmt::format(
        "{}: --replace needs an OSM file (.osm.pbf, .osm, ...): only an extract has bounds it "
        "is authoritative for",
        path));
  }
  std::vector<OsmWayNodes> ways;
  if (run.osm) {
    NBI_ASSIGN_OR_RETURN(run.pois, ImportOsm(path, &run.stats, opts.progress, &run.network, &ways));
  } else {
    NBI_ASSIGN_OR_RETURN(run.pois, ImportPois(path, &run.stats, opts.progress, &run.network));
  }
  if (opts.replace) {
    if (!run.stats.bounds) {
      return Status::Invalid(
          fmt::format("{}: --replace: the file has no bounds (no header box, no nodes)", path));
    }
    run.replaced = run.stats.bounds;
  }
  NBI_ASSIGN_OR_RETURN(ImportPlan plan, PlanImport(store, run.pois, run.network, run.replaced));
  NBI_RETURN_IF_ERROR(PlanWayLists(store, std::move(ways), &plan.write));
  NBI_RETURN_IF_ERROR(WriteAndRefresh(store, path, opts, std::move(plan), &run));
  CountRun(&run);
  return run;
}

}  // namespace nbi
