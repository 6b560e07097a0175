// The one seam that chooses the scorer of a heatmap model (SPEC §4 and §4a): the straight-line
// models score over a SpatialIndex of the POIs, the walking models over a WalkIndex of the
// stored street network. A job's cells (jobs/runner.cc), the stored point score (GET /api/score
// and `nearbyindex score`) and the scores from a POI file (`score --osm`, `heatmap`) are all
// built here, so they load the same margins and refuse a missing network with one message.
//
// The margin rule: an index scores some categories (a heatmap model's for cells, every one for
// a point score); R is the largest of their radii. The POIs are loaded within R + kLoadMarginM
// of the area, and for a walking model the network within 2 R + kLoadMarginM (every path that
// can count stays inside; SPEC §4a). The margin absorbs rounding at the edges of the boxes.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/walk_network.h"
#include "geo/geo.h"
#include "poi/poi.h"
#include "score/model.h"
#include "score/scorer.h"
#include "score/spatial_index.h"
#include "store/store.h"
#include "walk/walk_index.h"

namespace nbi {

inline constexpr double kLoadMarginM = 100;

// How far around its area an index loads (the rule above). `point`: the index of a point
// score (every category); else the cells of `model`.
struct LoadMargins {
  double pois_m = 0;
  double network_m = 0;  // 0 for a straight-line model: it loads no network
};
LoadMargins MarginsFor(HeatModel model, bool point);

// The refusal of a walking model where no network is stored or given: kInvalidArgument,
// "no walk network <where>: model M measures distance along streets; ..." with `where` as
// "in <box>", "at <lat>,<lng>" or "in <file>".
Status NoWalkNetwork(std::string_view where, HeatModel model);

class ModelIndex {
 public:
  // The cells of `model` over `pois`, and for a walking model the network `net`.
  static Result<ModelIndex> ForCells(HeatModel model, const std::vector<PoiPoint>& pois,
                                     const WalkNetwork& net, std::string_view where);
  // The point score at `at` for `model`: every category, its POIs named.
  static Result<ModelIndex> ForPoint(HeatModel model, LatLng at, std::vector<Poi> pois,
                                     const WalkNetwork& net, std::string_view where);

  HeatModel model() const { return model_; }
  // The walking index (walking models only; for the log's figures).
  const WalkIndex* walk() const { return walk_.get(); }
  // The store's ScoringDataVersion read before the index loaded (LoadModelIndex of a box);
  // nullopt for an index of a file. Its cells' checkpoints carry it (Checkpoint::data_version).
  std::optional<int64_t> data_version() const { return data_version_; }

  // ForCells: scores cells [begin, end) of `region` into out[0 .. end-begin).
  void ScoreCells(const GridRegion& region, int64_t begin, int64_t end, uint8_t* out) const;
  // ForPoint: the score at the point, and it in the shape of GET /api/score without its
  // coverage fields (ModelPointScoreJson, score/score_json.h).
  PointScore ScorePoint() const;
  nlohmann::json PointJson() const;

 private:
  explicit ModelIndex(HeatModel model) : model_(model) {}

  friend Result<ModelIndex> LoadModelIndex(PoiStore* store, const BBox& box, HeatModel model);

  HeatModel model_;
  std::optional<int64_t> data_version_;
  std::optional<LatLng> at_;  // ForPoint
  std::unique_ptr<const SpatialIndex> pois_;
  std::unique_ptr<const WalkIndex> walk_;
};

// The box whose POIs a job of `model` over `box` loads (the margin rule); nullopt when that
// load is not one box (across the antimeridian or around a pole).
std::optional<BBox> PoiLoadBox(const BBox& box, HeatModel model);

// Small jobs of one model lying close together (a worker's batch: clicks' coverage jobs, an
// import's refresh boxes) share one index over the hull of their areas: an index over a
// larger box scores a cell as the cell's own would, since the margin rule keeps every POI and
// path that counts for it. Per job, the shared index, or null for a job that loads its own:
// the only one of its model, one far from the others (the hull of the groups' load boxes no
// larger than their areas added up), or one whose metadata does not decode. A shared index
// that fails to load (no walk network) is not shared: each job then fails with its own words.
std::vector<std::shared_ptr<const ModelIndex>> SharedJobIndexes(PoiStore* store,
                                                                std::span<const Job> jobs);

// The index of `model`'s cells over `box`, loaded from the store by the margin rule.
Result<ModelIndex> LoadModelIndex(PoiStore* store, const BBox& box, HeatModel model);
// The index of the point score at `at`, loaded from the store by the margin rule.
Result<ModelIndex> LoadModelIndex(PoiStore* store, LatLng at, HeatModel model);
// The point score at `at` from the store: LoadModelIndex(store, at, model).PointJson().
Result<nlohmann::json> StoredPointScore(PoiStore* store, LatLng at, HeatModel model);

}  // namespace nbi
