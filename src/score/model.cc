#include "score/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace nbi {

namespace {
constexpr CategoryParams kParams[kCategoryCount] = {
    {Category::kGroceries, 1.5, 800, 1, 10, 0.5}, {Category::kRestaurants, 1.0, 600, 3, 25, 0.3},
    {Category::kTransit, 1.5, 1000, 1, 4, 0.7},   {Category::kHealthcare, 1.2, 1500, 1, 6, 0},
    {Category::kEducation, 1.0, 1200, 1, 5, 0.5}, {Category::kParks, 1.0, 800, 1, 5, 1.0},
    {Category::kShopping, 0.8, 800, 2, 15, 0.5},  {Category::kEntertainment, 0.6, 1200, 1, 8, 0.5},
};

double CountTerm(int count, int max_count, double k) {
  return 60.0 * std::log(1.0 + count * k) / std::log(1.0 + max_count * k);
}
}  // namespace

const CategoryParams& ParamsOf(Category c) { return kParams[static_cast<int>(c)]; }

double MaxRadiusMeters() {
  double r = 0;
  for (const auto& p : kParams) r = std::max(r, p.radius_m);
  return r;
}

double RawScore(Category c, const CategoryStats& s) {
  if (s.count == 0) return 0;
  const CategoryParams& p = ParamsOf(c);
  double count_score = 0;
  double bonus = 0;
  if (c == Category::kHealthcare) {
    int total_max = 0;
    for (const auto& sp : kHealthSubs) total_max += sp.max_count;
    int present = 0;
    for (const auto& sp : kHealthSubs) {
      int n = s.sub_count[static_cast<int>(sp.sub)];
      if (n == 0) continue;
      ++present;
      count_score +=
          static_cast<double>(sp.max_count) / total_max * CountTerm(n, sp.max_count, sp.k);
    }
    bonus = std::min(15.0, 5.0 * (present - 1));
    if (bonus < 0) bonus = 0;
  } else {
    count_score = CountTerm(s.count, p.max_count, p.k);
    if (s.count > p.max_count) {
      bonus = 15.0 * std::min(1.0, std::log(1.0 + s.count - p.max_count) /
                                       std::log(1.0 + 2.0 * p.max_count));
    }
  }
  double close = std::min(400.0, 0.4 * p.radius_m);
  double distance_score = 25.0 * std::max(0.0, 1.0 - s.nearest_m / close);
  if (s.count < p.min_count) return std::round(0.4 * (count_score + distance_score));
  return count_score + distance_score + bonus;
}

double Compress(double x) {
  if (x <= 60) return x;
  return std::min(100.0, std::round(60.0 + 40.0 * (1.0 - std::exp(-(x - 60.0) / 50.0))));
}

int CategoryScore(double raw) { return static_cast<int>(std::round(Compress(raw))); }

int OverallScore(const std::array<int, kCategoryCount>& scores) {
  double sum = 0, wsum = 0;
  for (Category c : kAllCategories) {
    sum += scores[static_cast<int>(c)] * ParamsOf(c).weight;
    wsum += ParamsOf(c).weight;
  }
  return static_cast<int>(Compress(std::round(sum / wsum)));
}

std::string_view HeatModelId(HeatModel m) {
  switch (m) {
    case HeatModel::kGrocery:
      return "grocery";
    case HeatModel::kBlend:
      return "blend";
    case HeatModel::kGroceryWalk:
      return "grocery-walk";
    case HeatModel::kBlendWalk:
      return "blend-walk";
  }
  return "grocery";
}

std::optional<HeatModel> ParseHeatModel(std::string_view id) {
  for (HeatModel m : kAllHeatModels) {
    if (id == HeatModelId(m)) return m;
  }
  return std::nullopt;
}

Result<HeatModel> ParseModelName(std::string_view what, std::string_view text) {
  if (auto m = ParseHeatModel(text)) return *m;
  std::string shown(text.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return Status::Invalid(fmt::format("{} '{}' is unknown: use {}", what, shown, kHeatModelNames));
}

int CellScore(HeatModel m, double raw_groceries, double raw_restaurants, double raw_parks) {
  if (IsGroceryOnly(m)) return CategoryScore(raw_groceries);
  double mix = (1.5 * raw_groceries + raw_restaurants + raw_parks) / 3.5;
  return static_cast<int>(Compress(std::round(mix)));
}

}  // namespace nbi
