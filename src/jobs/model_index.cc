#include "jobs/model_index.h"

#include <fmt/format.h>

#include <algorithm>
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

namespace {

bool Holds(const BBox& outer, const BBox& inner) {
  return outer.min_lat <= inner.min_lat && outer.max_lat >= inner.max_lat &&
         outer.min_lng <= inner.min_lng && outer.max_lng >= inner.max_lng;
}

// The points a load of `box` returns, from `pre` (which holds `box`): the stores' query keeps
// lat and lng within the box's closed ranges.
std::vector<PoiPoint> PointsIn(const PreloadedPoints& pre, const BBox& box) {
  std::vector<PoiPoint> out;
  for (const PoiPoint& p : pre.points) {
    if (p.lat >= box.min_lat && p.lat <= box.max_lat && p.lng >= box.min_lng &&
        p.lng <= box.max_lng) {
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace

Result<std::optional<PreloadedPoints>> PreloadJobPoints(PoiStore* store,
                                                        std::span<const Job> jobs) {
  using Out = std::optional<PreloadedPoints>;
  if (jobs.size() < 2) return Out();
  const auto area = [](const BBox& b) { return (b.max_lat - b.min_lat) * (b.max_lng - b.min_lng); };
  std::optional<BBox> hull;
  double sum = 0;
  for (const Job& job : jobs) {
    auto meta = DecodeHeatmapMetadata(job);
    if (!meta.ok()) return Out();
    const std::optional<BBox> own = PoiLoadBox(meta->bounds, meta->model);
    if (!own) return Out();
    sum += area(*own);
    if (!hull) {
      hull = *own;
    } else {
      hull = BBox{std::min(hull->min_lat, own->min_lat), std::min(hull->min_lng, own->min_lng),
                  std::max(hull->max_lat, own->max_lat), std::max(hull->max_lng, own->max_lng)};
    }
  }
  if (area(*hull) > sum) return Out();
  NBI_ASSIGN_OR_RETURN(std::vector<PoiPoint> points, store->LoadPoiPoints(*hull));
  return Out(PreloadedPoints{*hull, std::move(points)});
}

Result<ModelIndex> LoadModelIndex(PoiStore* store, const BBox& box, HeatModel model,
                                  const PreloadedPoints* pre) {
  const LoadMargins m = MarginsFor(model, false);
  const std::optional<BBox> own = PoiLoadBox(box, model);
  if (pre && own && Holds(pre->box, *own)) {
    NBI_ASSIGN_OR_RETURN(const WalkNetwork net, NetworkAround(store, box, model, m));
    return ModelIndex::ForCells(model, PointsIn(*pre, *own), net, "in " + box.ToString());
  }
  auto pois = LoadPoiPointsAround(store, box, m.pois_m);
  if (!pois.ok()) return pois.status().WithPrefix("loading POIs: ");
  NBI_ASSIGN_OR_RETURN(const WalkNetwork net, NetworkAround(store, box, model, m));
  return ModelIndex::ForCells(model, *pois, net, "in " + box.ToString());
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
