// The NearbyIndex formula (SPEC §4): per-category parameters, the raw score of one category
// at one point from its statistics, compression, and the heatmap models.
//
// Worked example (groceries: radius 800 m, maxCount 10, k 0.5): 3 stores, nearest 150 m:
//   countScore    = 60 ln(1+1.5)/ln(1+5)      = 30.68
//   distanceScore = 25 (1 - 150/min(400,320)) = 13.28
//   raw = 43.96 -> compress = 43.96 -> round = 44.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"
#include "poi/poi.h"

namespace nbi {

struct CategoryParams {
  Category category;
  double weight;
  double radius_m;
  int min_count;
  int max_count;
  double k;  // unused for healthcare (its sub-types carry their own k)
};

const CategoryParams& ParamsOf(Category c);
// The largest radius of any category: the margin a job loads POIs with.
double MaxRadiusMeters();

struct HealthSubParams {
  HealthSub sub;
  int max_count;
  double k;
};
inline constexpr std::array<HealthSubParams, 3> kHealthSubs = {
    HealthSubParams{HealthSub::kPharmacy, 2, 3.0}, HealthSubParams{HealthSub::kMedical, 4, 0.7},
    HealthSubParams{HealthSub::kDental, 2, 2.0}};

// What a scorer observed for one category around one point: the POIs within its radius.
struct CategoryStats {
  int count = 0;
  double nearest_m = 0;            // meaningful only when count > 0
  std::array<int, 4> sub_count{};  // healthcare: indexed by HealthSub
};

// Uncompressed score of one category (SPEC §4). The penalty branch (count < minCount)
// returns an already rounded value.
double RawScore(Category c, const CategoryStats& s);

// compress(x) = x <= 60 ? x : min(100, round(60 + 40 (1 - e^(-(x-60)/50)))).
double Compress(double x);

// Displayed score of one category: round(compress(raw)).
int CategoryScore(double raw);

// Overall point score from per-category displayed scores: compress(round(sum s*w / sum w)).
int OverallScore(const std::array<int, kCategoryCount>& scores);

// The straight-line models and their walking twins (SPEC §4a: the same formula, distances
// along the street network).
enum class HeatModel : uint8_t { kGrocery, kBlend, kGroceryWalk, kBlendWalk };
inline constexpr std::array<HeatModel, 4> kAllHeatModels = {
    HeatModel::kGrocery, HeatModel::kBlend, HeatModel::kGroceryWalk, HeatModel::kBlendWalk};
// "grocery", "blend", "grocery-walk", "blend-walk".
std::string_view HeatModelId(HeatModel m);
std::optional<HeatModel> ParseHeatModel(std::string_view id);
// "grocery, blend, grocery-walk or blend-walk": for error messages and help texts.
inline constexpr std::string_view kHeatModelNames = "grocery, blend, grocery-walk or blend-walk";
// A model name given by a user, a request or a stored job: the one parser every caller (CLI,
// HTTP, job metadata, configuration) uses, so a bad name reads the same everywhere:
// "<what> '<text>' is unknown: use grocery, blend, grocery-walk or blend-walk" (kInvalidArgument;
// the text cut to 64 bytes, control characters shown as '?'). `what` names the field as its
// caller spells it: "--model", "model", "SEED_JOB_MODEL".
Result<HeatModel> ParseModelName(std::string_view what, std::string_view text);
// True for the models that measure distance along the walk network.
inline bool IsWalkModel(HeatModel m) {
  return m == HeatModel::kGroceryWalk || m == HeatModel::kBlendWalk;
}
// True for the models that use groceries only (grocery, grocery-walk).
inline bool IsGroceryOnly(HeatModel m) {
  return m == HeatModel::kGrocery || m == HeatModel::kGroceryWalk;
}

// Heatmap cell score from raw category scores.
//   grocery(-walk): round(compress(raw_groceries))
//   blend(-walk):   compress(round((1.5 raw_groceries + raw_restaurants + raw_parks) / 3.5))
int CellScore(HeatModel m, double raw_groceries, double raw_restaurants, double raw_parks);

}  // namespace nbi
