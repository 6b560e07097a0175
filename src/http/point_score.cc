#include "http/point_score.h"

#include "score/score_json.h"
#include "score/scorer.h"
#include "score/spatial_index.h"

namespace nbi::http {

Result<nlohmann::json> StoredPointScore(PoiStore* store, LatLng at, HeatModel model) {
  // Every POI that can count at this point: the largest radius around it.
  NBI_ASSIGN_OR_RETURN(
      auto pois, LoadPoisAround(store, BBox{at.lat, at.lng, at.lat, at.lng}, MaxRadiusMeters()));
  SpatialIndex index(std::move(pois));
  const PointScore ps = ScorePoint(index, at);
  nlohmann::json body = PointScoreJson(ps, index);
  body["model"] = std::string(HeatModelId(model));
  body["cellScore"] = ps.cell_score(model);
  return body;
}

}  // namespace nbi::http
