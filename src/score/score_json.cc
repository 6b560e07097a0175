#include "score/score_json.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "common/time_format.h"

namespace nbi {

namespace {
double Round1(double v) { return std::round(v * 10) / 10; }
}  // namespace

std::string IsoNow() {
  auto now = std::chrono::system_clock::now();
  return FormatTimestamp(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count(),
      TimeStyle::kIsoUtc);
}

nlohmann::json PointScoreJson(const PointScore& ps, const SpatialIndex& index) {
  nlohmann::json cats = nlohmann::json::array();
  for (const CategoryScoreDetail& d : ps.categories) {
    nlohmann::json pois = nlohmann::json::array();
    for (const NearbyPoi& n : d.nearest) {
      const Poi& p = index.PoiAt(n.index);
      pois.push_back({{"id", p.source_id},
                      {"name", p.name},
                      {"lat", p.lat},
                      {"lng", p.lng},
                      {"distance", Round1(n.distance_m)}});
    }
    cats.push_back(
        {{"id", std::string(CategoryId(d.category))},
         {"score", d.score},
         {"count", d.count},
         {"radius", d.radius_m},
         {"nearestDistance", d.nearest_m ? nlohmann::json(Round1(*d.nearest_m)) : nlohmann::json()},
         {"pois", std::move(pois)}});
  }
  return {{"lat", ps.at.lat},
          {"lng", ps.at.lng},
          {"overall", ps.overall},
          {"categories", std::move(cats)},
          {"computedAt", IsoNow()}};
}

nlohmann::json ModelPointScoreJson(const PointScore& ps, const SpatialIndex& named,
                                   HeatModel model) {
  nlohmann::json body = PointScoreJson(ps, named);
  body["model"] = std::string(HeatModelId(model));
  body["distance"] = IsWalkModel(model) ? "walking" : "straight";
  body["cellScore"] = ps.cell_score(model);
  return body;
}

}  // namespace nbi
