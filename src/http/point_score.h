#pragma once
// The point score answered from the store: GET /api/score and `nearbyindex score --json`.
// Kept apart from api.h, whose parsing is fuzzed without the store or the scorer.

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "geo/geo.h"
#include "score/model.h"
#include "score/scorer.h"
#include "score/spatial_index.h"
#include "store/store.h"

namespace nbi::http {

// The point score at `at` over every stored POI within the largest radius, in the shape of
// GET /api/score (SPEC §6) without its coverage fields: {lat, lng, overall, categories,
// computedAt, model, distance, cellScore}, where cellScore is the heatmap cell of `model` at
// the point and distance is "straight" or, for the walking models (SPEC §4a), "walking": then
// every distance (nearestDistance, each POI's) is walked along the street network. `nearbyindex
// score LAT LNG --json` prints the same, so both agree by construction.
Result<nlohmann::json> StoredPointScore(PoiStore* store, LatLng at, HeatModel model);
// That shape for a point score `ps` computed over the POIs of `named`.
nlohmann::json ModelPointScoreJson(const PointScore& ps, const SpatialIndex& named,
                                   HeatModel model);

}  // namespace nbi::http
