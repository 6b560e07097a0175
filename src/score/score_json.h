// JSON forms of scores: the API's point-score shape (SPEC §6), shared by `nearbyindex score`
// and GET /api/score.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "score/scorer.h"

namespace nbi {

// {lat, lng, overall, categories:[{id, score, count, radius, nearestDistance,
//  pois:[{id, name, lat, lng, distance}]}], computedAt}
nlohmann::json PointScoreJson(const PointScore& ps, const SpatialIndex& index);

// Current UTC time as ISO-8601 with milliseconds ("2026-11-28T21:05:00.123Z").
std::string IsoNow();

}  // namespace nbi
