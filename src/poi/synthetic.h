// A generated city: clustered POIs around a centre, for benchmarks and for the demo when no
// real extract can be obtained. Deterministic for a given seed.
#pragma once

#include <cstdint>
#include <vector>

#include "geo/geo.h"
#include "poi/poi.h"

namespace nbi {

struct SyntheticCitySpec {
  LatLng centre{47.10, 9.52};
  double size_km = 30;  // side of the square
  int groceries = 2000;
  int others = 20000;  // spread over the other seven categories
  uint64_t seed = 42;
};

// POIs drawn from ~40 neighbourhood clusters (Gaussian) plus 20% uniform background.
std::vector<Poi> GenerateCity(const SyntheticCitySpec& spec);

// The bounding box the generated city covers.
BBox SyntheticCityBox(const SyntheticCitySpec& spec);

}  // namespace nbi
