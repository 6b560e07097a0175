// JSON forms of scores: the API's point-score shape (SPEC §6), shared by `nearbyindex score`
// (from the store or a POI file) and GET /api/score, which adds its coverage fields
// (hasHeatmapCoverage, coverageJobId).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "score/scorer.h"

namespace nbi {

// {lat, lng, overall, categories:[{id, score, count, radius, nearestDistance,
//  pois:[{id, name, lat, lng, distance}]}], computedAt}
nlohmann::json PointScoreJson(const PointScore& ps, const SpatialIndex& index);
// That shape for the heatmap model `model`, plus {model, distance, cellScore}: cellScore is the
// heatmap cell of `model` at the point; distance is "straight", or "walking" for the walking
// models (SPEC §4a), whose every distance (nearestDistance, each POI's) is walked along the
// street network. `named` holds the POIs that `ps` numbers.
nlohmann::json ModelPointScoreJson(const PointScore& ps, const SpatialIndex& named,
                                   HeatModel model);

// Current UTC time as ISO-8601 with milliseconds ("2026-11-28T21:05:00.123Z").
std::string IsoNow();

}  // namespace nbi
