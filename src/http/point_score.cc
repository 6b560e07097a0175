#include "http/point_score.h"

#include <fmt/format.h>

#include "score/score_json.h"
#include "score/scorer.h"
#include "score/spatial_index.h"
#include "walk/walk_index.h"

namespace nbi::http {

namespace {

// The point score along the street network (SPEC §4a): every category within its radius,
// the network within twice the largest radius, searched only as far as the point's node.
Result<PointScore> WalkPointScore(PoiStore* store, LatLng at, const SpatialIndex& named) {
  const BBox here{at.lat, at.lng, at.lat, at.lng};
  NBI_ASSIGN_OR_RETURN(
      auto net, LoadWalkNetworkAround(store, here, 2 * MaxRadiusMeters() + kWalkLoadMarginM));
  if (net.empty()) {
    return Status::Invalid(
        fmt::format("no walk network within {:.0f} m of {:.6f},{:.6f}: walking models need an "
                    "OSM extract (.osm.pbf, .osm, .osm.bz2 or .osm.gz) imported over the area",
                    2 * MaxRadiusMeters(), at.lat, at.lng));
  }
  return ScorePointWalk(WalkIndex(net, PointsOf(named.pois()), WalkIndex::ForPoint(at)), at);
}

}  // namespace

Result<nlohmann::json> StoredPointScore(PoiStore* store, LatLng at, HeatModel model) {
  // Every POI that can count at this point: the largest radius around it.
  NBI_ASSIGN_OR_RETURN(
      auto pois, LoadPoisAround(store, BBox{at.lat, at.lng, at.lat, at.lng},
                                MaxRadiusMeters() + (IsWalkModel(model) ? kWalkLoadMarginM : 0)));
  SpatialIndex index(std::move(pois));
  PointScore ps;
  if (IsWalkModel(model)) {
    NBI_ASSIGN_OR_RETURN(ps, WalkPointScore(store, at, index));
  } else {
    ps = ScorePoint(index, at);
  }
  return ModelPointScoreJson(ps, index, model);
}

nlohmann::json ModelPointScoreJson(const PointScore& ps, const SpatialIndex& named,
                                   HeatModel model) {
  nlohmann::json body = PointScoreJson(ps, named);
  body["model"] = std::string(HeatModelId(model));
  body["distance"] = IsWalkModel(model) ? "walking" : "straight";
  body["cellScore"] = ps.cell_score(model);
  return body;
}

}  // namespace nbi::http
