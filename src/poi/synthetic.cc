#include "poi/synthetic.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

namespace nbi {

BBox SyntheticCityBox(const SyntheticCitySpec& spec) {
  double half_lat = spec.size_km * 500 / kMetersPerDegreeLat;
  double half_lng = half_lat / std::cos(spec.centre.lat * kDegToRad);
  return {spec.centre.lat - half_lat, spec.centre.lng - half_lng, spec.centre.lat + half_lat,
          spec.centre.lng + half_lng};
}

std::vector<Poi> GenerateCity(const SyntheticCitySpec& spec) {
  std::mt19937_64 rng(spec.seed);
  BBox box = SyntheticCityBox(spec);
  std::uniform_real_distribution<double> ulat(box.min_lat, box.max_lat),
      ulng(box.min_lng, box.max_lng);
  struct Cluster {
    double lat, lng, sigma_deg;
  };
  std::vector<Cluster> clusters;
  std::uniform_real_distribution<double> sig(0.004, 0.02);
  for (int i = 0; i < 40; ++i) clusters.push_back({ulat(rng), ulng(rng), sig(rng)});
  std::uniform_int_distribution<size_t> pick(0, clusters.size() - 1);
  std::uniform_real_distribution<double> coin(0, 1);
  std::uniform_int_distribution<int> other_cat(1, kCategoryCount - 1), sub(1, 3);

  std::vector<Poi> pois;
  pois.reserve(spec.groceries + spec.others);
  auto place = [&](Poi& p) {
    if (coin(rng) < 0.2) {
      p.lat = ulat(rng);
      p.lng = ulng(rng);
      return;
    }
    const Cluster& c = clusters[pick(rng)];
    std::normal_distribution<double> nd(0, c.sigma_deg);
    p.lat = std::clamp(c.lat + nd(rng), box.min_lat, box.max_lat);
    p.lng = std::clamp(c.lng + nd(rng), box.min_lng, box.max_lng);
  };
  for (int i = 0; i < spec.groceries + spec.others; ++i) {
    Poi p;
    p.source_id = "g" + std::to_string(i);
    p.category = i < spec.groceries ? Category::kGroceries : static_cast<Category>(other_cat(rng));
    if (p.category == Category::kHealthcare) p.sub = static_cast<HealthSub>(sub(rng));
    p.name = std::string(CategoryId(p.category)) + " " + std::to_string(i);
    place(p);
    pois.push_back(std::move(p));
  }
  return pois;
}

}  // namespace nbi
