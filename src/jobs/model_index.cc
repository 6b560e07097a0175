#include "jobs/model_index.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "score/score_json.h"

namespace nbi {

namespace {

std::string PointPlace(LatLng at) { return fmt::format("at {:.6f},{:.6f}", at.lat, at.lng); }

// The network a walking model needs around `box` (none for a straight-line model).
Result<WalkNetwork> NetworkAround(PoiStore* store, const BBox& box, HeatModel model,
                                  const LoadMargins& m) {
  if (!IsWalkModel(model)) return WalkNetwork{};
  auto net = LoadWalkNetworkAround(store, box, m.network_m);
  if (!net.ok()) return net.status().WithPrefix("loading the walk network: ");
  return net;
}

}  // namespace

LoadMargins MarginsFor(HeatModel model, bool point) {
  const WalkIndex::Options scored =
      point ? WalkIndex::ForPoint(LatLng{}) : WalkIndex::ForModel(model);
  double radius = 0;
  for (Category c : kAllCategories) {
    if (scored.categories[static_cast<int>(c)]) radius = std::max(radius, ParamsOf(c).radius_m);
  }
  LoadMargins m;
  m.pois_m = radius + kLoadMarginM;
  if (IsWalkModel(model)) m.network_m = 2 * radius + kLoadMarginM;
  return m;
}

Status NoWalkNetwork(std::string_view where, HeatModel model) {
  return Status::Invalid(
      fmt::format("no walk network {}: model {} measures distance along streets; it needs an OSM "
                  "extract (.osm.pbf, .osm, .osm.bz2 or .osm.gz) covering the area (GeoJSON and "
                  "CSV files carry none)",
                  where, HeatModelId(model)));
}

Result<ModelIndex> ModelIndex::ForCells(HeatModel model, const std::vector<PoiPoint>& pois,
                                        const WalkNetwork& net, std::string_view where) {
  ModelIndex index(model);
  if (!IsWalkModel(model)) {
    index.pois_ = std::make_unique<SpatialIndex>(pois);
    return index;
  }
  if (net.empty()) return NoWalkNetwork(where, model);
  index.walk_ = std::make_unique<WalkIndex>(net, pois, WalkIndex::ForModel(model));
  return index;
}

Result<ModelIndex> ModelIndex::ForPoint(HeatModel model, LatLng at, std::vector<Poi> pois,
                                        const WalkNetwork& net, std::string_view where) {
  ModelIndex index(model);
  index.at_ = at;
  if (IsWalkModel(model) && net.empty()) return NoWalkNetwork(where, model);
  // The POIs stay named in pois_; the walking index numbers the same POIs.
  index.pois_ = std::make_unique<SpatialIndex>(std::move(pois));
  if (IsWalkModel(model)) {
    index.walk_ =
        std::make_unique<WalkIndex>(net, PointsOf(index.pois_->pois()), WalkIndex::ForPoint(at));
  }
  return index;
}

void ModelIndex::ScoreCells(const GridRegion& region, int64_t begin, int64_t end,
                            uint8_t* out) const {
  if (walk_) {
    ScoreCellsWalk(*walk_, region, begin, end, model_, out);
  } else {
    nbi::ScoreCells(*pois_, region, begin, end, model_, out);
  }
}

PointScore ModelIndex::ScorePoint() const {
  const LatLng at = at_.value_or(LatLng{});
  return walk_ ? ScorePointWalk(*walk_, at) : nbi::ScorePoint(*pois_, at);
}

nlohmann::json ModelIndex::PointJson() const {
  return ModelPointScoreJson(ScorePoint(), *pois_, model_);
}

std::optional<BBox> PoiLoadBox(const BBox& box, HeatModel model) {
  const std::vector<BBox> parts = box.ExpandedWrapped(MarginsFor(model, false).pois_m);
  if (parts.size() != 1) return std::nullopt;
  return parts[0];
}

std::vector<std::shared_ptr<const ModelIndex>> SharedJobIndexes(PoiStore* store,
                                                                std::span<const Job> jobs) {
  std::vector<std::shared_ptr<const ModelIndex>> out(jobs.size());
  struct Group {
    BBox hull, load_hull;
    double load_area = 0;
    std::vector<size_t> members;
  };
  const auto area = [](const BBox& b) { return (b.max_lat - b.min_lat) * (b.max_lng - b.min_lng); };
  const auto join = [](const BBox& a, const BBox& b) {
    return BBox{std::min(a.min_lat, b.min_lat), std::min(a.min_lng, b.min_lng),
                std::max(a.max_lat, b.max_lat), std::max(a.max_lng, b.max_lng)};
  };
  std::map<HeatModel, Group> groups;
  for (size_t i = 0; i < jobs.size(); ++i) {
    auto meta = DecodeHeatmapMetadata(jobs[i]);
    if (!meta.ok()) continue;
    const std::optional<BBox> load = PoiLoadBox(meta->bounds, meta->model);
    if (!load) continue;
    auto [it, fresh] = groups.try_emplace(meta->model);
    Group& g = it->second;
    g.hull = fresh ? meta->bounds : join(g.hull, meta->bounds);
    g.load_hull = fresh ? *load : join(g.load_hull, *load);
    g.load_area += area(*load);
    g.members.push_back(i);
  }
  for (const auto& [model, g] : groups) {
    if (g.members.size() < 2 || area(g.load_hull) > g.load_area) continue;
    auto index = LoadModelIndex(store, g.hull, model);
    if (!index.ok()) continue;
    auto shared = std::make_shared<const ModelIndex>(std::move(index).value());
    for (size_t i : g.members) out[i] = shared;
  }
  return out;
}

Result<ModelIndex> LoadModelIndex(PoiStore* store, const BBox& box, HeatModel model) {
  const LoadMargins m = MarginsFor(model, false);
  // Read before the loads: an import committing in between makes the index newer than its
  // version says, so its checkpoints are refused and it loads again (never the other way).
  NBI_ASSIGN_OR_RETURN(const int64_t version, store->ScoringDataVersion());
  auto pois = LoadPoiPointsAround(store, box, m.pois_m);
  if (!pois.ok()) return pois.status().WithPrefix("loading POIs: ");
  NBI_ASSIGN_OR_RETURN(const WalkNetwork net, NetworkAround(store, box, model, m));
  NBI_ASSIGN_OR_RETURN(ModelIndex index,
                       ModelIndex::ForCells(model, *pois, net, "in " + box.ToString()));
  index.data_version_ = version;
  return index;
}

Result<ModelIndex> LoadModelIndex(PoiStore* store, LatLng at, HeatModel model) {
  const LoadMargins m = MarginsFor(model, true);
  const BBox here{at.lat, at.lng, at.lat, at.lng};
  auto pois = LoadPoisAround(store, here, m.pois_m);
  if (!pois.ok()) return pois.status().WithPrefix("loading POIs: ");
  NBI_ASSIGN_OR_RETURN(const WalkNetwork net, NetworkAround(store, here, model, m));
  return ModelIndex::ForPoint(model, at, std::move(pois).value(), net, PointPlace(at));
}

Result<nlohmann::json> StoredPointScore(PoiStore* store, LatLng at, HeatModel model) {
  NBI_ASSIGN_OR_RETURN(ModelIndex index, LoadModelIndex(store, at, model));
  return index.PointJson();
}

}  // namespace nbi
