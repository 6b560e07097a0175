// TileStore conformance (src/store/tile_store.h) on SQLite and PostgreSQL, and the pure tile
// code (src/tiles/): overview levels equal a brute-force max of the stored cells at every
// level (jobs side by side and overlapping, cells missing, a rebuild of a sub-area), level 0
// is the cells, the per-area version grows with every write, completion and reset under it
// (and only then), a reset removes the area's levels; tile math, rendering and PNG round trip.
// Jobs run as parts (a job of several parts completes them out of order).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"
#include "tiles/tiles.h"

namespace nbi {
namespace {

using tiles::DenseLevel;
using tiles::IndexRange;
using Cells = std::map<std::pair<int64_t, int64_t>, int>;  // (i, j) -> score

class TileStoreTest : public testing::StoreTest {
 protected:
  static constexpr double kStep = 0.001;

  // Runs a job over `box` split into parts of `part_cells`: claims its parts, writes their
  // cells in chunks of 500 with random scores (stopping its part at the chunk numbered
  // `skip_chunk` of the job, if any), records them in `cells`, and completes the parts in
  // reverse order (the
  // levels of a part's rows are rebuilt at its completion).
  // With `complete_with_last`, each part's last chunk completes it (Checkpoint::complete)
  // instead of CompletePart.
  void RunJob(const BBox& box, Cells* cells, std::mt19937_64* rng, int skip_chunk = -1,
              int64_t part_cells = 250'000, bool complete_with_last = false) {
    HeatmapJobSpec spec;
    spec.bounds = box;
    spec.grid_step = kStep;
    spec.part_cells = part_cells;
    Job job = Enqueue(spec);
    auto g = GridRegion::Make(box, kStep);
    ASSERT_TRUE(g.ok());
    std::vector<Job> parts;
    for (;;) {
      auto claimed = store_->Claim("w1");
      ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
      if (!claimed->has_value()) break;
      ASSERT_EQ((*claimed)->id, job.id);
      parts.push_back(**claimed);
    }
    ASSERT_EQ(static_cast<int64_t>(parts.size()), (g->cell_count() + part_cells - 1) / part_cells);
    for (const Job& p : parts) {
      for (int64_t begin = p.part_begin; begin < p.part_end; begin += 500) {
        const int64_t n = std::min<int64_t>(500, p.part_end - begin);
        if (begin / 500 == skip_chunk) break;  // a chunk starts where the last one ended
        std::vector<uint8_t> scores(n);
        for (int64_t k = 0; k < n; ++k) {
          scores[k] = static_cast<uint8_t>((*rng)() % 101);
          (*cells)[{g->RowOf(begin + k), g->ColOf(begin + k)}] = scores[k];
        }
        Checkpoint cp;
        cp.job_id = job.id;
        cp.part = p.part;
        cp.worker_id = "w1";
        cp.region = &*g;
        cp.begin = begin;
        cp.scores = scores;
        CheckpointCompletion completion;
        if (complete_with_last && begin + n >= p.part_end) cp.complete = &completion;
        auto w = store_->WriteCheckpoint(cp);
        ASSERT_TRUE(w.ok()) << w.status().ToString();
        EXPECT_EQ(completion.done, cp.complete != nullptr);
      }
    }
    for (auto p = parts.rbegin(); p != parts.rend() && !complete_with_last; ++p) {
      auto done = store_->CompletePart(job.id, p->part, "w1");
      ASSERT_TRUE(done.ok()) << done.status().ToString();
    }
    auto after = store_->GetJob(job.id);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->status, JobStatus::kCompleted);
  }

  // Compares level `level` over `base` (widened by a cell) with the max of `cells`.
  void ExpectLevelIsMax(int level, const IndexRange& base, const Cells& cells) {
    IndexRange r = base.CoarserBy(level);
    r = {r.i0 - 1, r.i1 + 1, r.j0 - 1, r.j1 + 1};
    DenseLevel got;
    Status s = store_->ReadLevel(kStep, HeatModel::kGrocery, level, r, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(got.range, r);
    DenseLevel want;
    want.Reset(r);
    for (const auto& [ij, score] : cells) {
      const int64_t f = int64_t{1} << level;
      const int64_t i = tiles::FloorDiv(ij.first, f), j = tiles::FloorDiv(ij.second, f);
      if (want.Contains(i, j)) want.At(i, j) = tiles::MaxScore(want.At(i, j), uint8_t(score));
    }
    int mismatches = 0;
    for (int64_t i = r.i0; i <= r.i1; ++i) {
      for (int64_t j = r.j0; j <= r.j1; ++j) {
        if (got.Get(i, j) != want.Get(i, j) && ++mismatches <= 5) {
          ADD_FAILURE() << "level " << level << " cell (" << i << ", " << j << "): stored "
                        << int(got.Get(i, j)) << ", max of the cells " << int(want.Get(i, j));
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << "level " << level;
  }

  Result<int64_t> VersionOf(const BBox& box) {
    auto g = GridRegion::Make(box, kStep);
    if (!g.ok()) return g.status();
    return store_->AreaVersion(kStep, HeatModel::kGrocery,
                               tiles::VersionBlocks(tiles::BaseRange(*g), 0));
  }
};

TEST_P(TileStoreTest, OverviewLevelsEqualTheMaxOfTheStoredCellsAtEveryLevel) {
  SCOPED_TRACE(::testing::Message() << "NBI_TEST_SEED=" << testing::TestSeed());
  std::mt19937_64 rng(testing::TestSeed());
  Cells cells;
  // A: not aligned to any level, in 4 parts completed in reverse order. B: east of A,
  // overlapping A's last columns (its cells replace A's there), its cells from the second chunk
  // on never written. C:
  // far away (its own overview cells).
  const BBox a{47.1003, 9.5007, 47.1453, 9.5617}, b{47.1203, 9.5557, 47.1603, 9.6017};
  const BBox c{47.3, 9.9, 47.31, 9.91};
  RunJob(a, &cells, &rng, -1, /*part_cells=*/700);
  RunJob(b, &cells, &rng, /*skip_chunk=*/1);
  RunJob(c, &cells, &rng);
  auto ga = GridRegion::Make(BBox{47.1003, 9.5007, 47.1603, 9.6017}, kStep);
  ASSERT_TRUE(ga.ok());
  const IndexRange all = tiles::BaseRange(*ga);
  const int max_level = tiles::MaxOverviewLevel(kStep);
  EXPECT_EQ(max_level, 9);  // 0.001 * 2^9 = 0.512 deg >= one pixel at zoom 2 (0.35 deg)
  for (int level = 0; level <= max_level; ++level) ExpectLevelIsMax(level, all, cells);

  // Rebuilding a sub-area (A) changes nothing; the levels above it still hold B's maxima.
  Status s = store_->RebuildOverviews(a, kStep, HeatModel::kGrocery);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (int level = 1; level <= max_level; ++level) ExpectLevelIsMax(level, all, cells);
  // Another model or step has no levels here.
  DenseLevel other;
  ASSERT_TRUE(store_->ReadLevel(kStep, HeatModel::kBlend, 2, all.CoarserBy(2), &other).ok());
  for (uint8_t v : other.v) EXPECT_EQ(v, tiles::kNoCell);
}

// Issue 23: a part's last checkpoint completes it in its own transaction (the one-cell jobs
// of an on-demand deployment): the levels are those of the cells, for jobs of one part
// side by side and for a job of several parts (the general completion path).
TEST_P(TileStoreTest, APartCompletedByItsLastCheckpointLeavesTheLevelsOfItsCells) {
  SCOPED_TRACE(::testing::Message() << "NBI_TEST_SEED=" << testing::TestSeed());
  std::mt19937_64 rng(testing::TestSeed());
  Cells cells;
  for (int k = 0; k < 40; ++k) {  // one-cell jobs in a row, as bench_queue part 5 runs them
    const double lat = 47.1 + (k / 8) * kStep, lng = 9.5 + (k % 8) * kStep;
    RunJob(BBox{lat - kStep / 4, lng - kStep / 4, lat + kStep / 4, lng + kStep / 4}, &cells, &rng,
           -1, 250'000, /*complete_with_last=*/true);
  }
  RunJob(BBox{47.1003, 9.5207, 47.1253, 9.5407}, &cells, &rng, -1, /*part_cells=*/700,
         /*complete_with_last=*/true);
  auto g = GridRegion::Make(BBox{47.099, 9.499, 47.1253, 9.5407}, kStep);
  ASSERT_TRUE(g.ok());
  for (int level = 0; level <= tiles::MaxOverviewLevel(kStep); ++level) {
    ExpectLevelIsMax(level, tiles::BaseRange(*g), cells);
  }
  // Not the owner: nothing is written, nothing completes.
  const BBox box{47.2, 9.7, 47.2 + kStep / 2, 9.7 + kStep / 2};
  HeatmapJobSpec spec;
  spec.bounds = box;
  spec.grid_step = kStep;
  const Job job = Enqueue(spec);
  ASSERT_EQ(MustClaim("w1").id, job.id);
  auto one = GridRegion::Make(box, kStep);
  ASSERT_TRUE(one.ok());
  const std::vector<uint8_t> score = {77};
  Checkpoint cp;
  cp.job_id = job.id;
  cp.worker_id = "w2";
  cp.region = &*one;
  cp.scores = score;
  CheckpointCompletion completion;
  cp.complete = &completion;
  auto w = store_->WriteCheckpoint(cp);
  EXPECT_EQ(w.status().code(), StatusCode::kConflict) << w.status().ToString();
  EXPECT_FALSE(completion.done);
  EXPECT_EQ(store_->GetJob(job.id)->status, JobStatus::kRunning);
  EXPECT_FALSE(*store_->HasCoverage(box.min_lat, box.min_lng, kStep, HeatModel::kGrocery));
}

TEST_P(TileStoreTest, AreaVersionGrowsWithWritesUnderItAndAResetClearsItsLevels) {
  std::mt19937_64 rng(testing::TestSeed());
  Cells cells;
  const BBox a{47.1003, 9.5007, 47.1253, 9.5307}, far{47.5, 10.5, 47.51, 10.51};
  ASSERT_EQ(*VersionOf(a), 0);
  RunJob(a, &cells, &rng);
  const int64_t v1 = *VersionOf(a);
  EXPECT_GT(v1, 0);
  RunJob(far, &cells, &rng);  // other blocks: A's version stays
  EXPECT_EQ(*VersionOf(a), v1);
  // A checkpoint and a completion under A each move its version.
  RunJob(BBox{47.1103, 9.5107, 47.1123, 9.5127}, &cells, &rng);
  const int64_t v2 = *VersionOf(a);
  EXPECT_GT(v2, v1);

  // A reset of A: its cells and levels are gone, its version moves again.
  HeatmapJobSpec spec;
  spec.bounds = a;
  spec.grid_step = kStep;
  auto reset = store_->ResetAndEnqueue(spec);
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
  EXPECT_GT(reset->first, 0);
  EXPECT_GT(*VersionOf(a), v2);
  auto g = GridRegion::Make(a, kStep);
  const IndexRange base = tiles::BaseRange(*g);
  std::erase_if(cells, [&](const auto& kv) {
    return kv.first.first >= base.i0 && kv.first.first <= base.i1 && kv.first.second >= base.j0 &&
           kv.first.second <= base.j1;
  });
  for (int level = 0; level <= tiles::MaxOverviewLevel(kStep); ++level) {
    ExpectLevelIsMax(level, base, cells);  // empty inside A; `far` untouched
  }
  DenseLevel l1;
  ASSERT_TRUE(store_->ReadLevel(kStep, HeatModel::kGrocery, 1, base.CoarserBy(1), &l1).ok());
  for (uint8_t v : l1.v) EXPECT_EQ(v, tiles::kNoCell);
}

INSTANTIATE_TEST_SUITE_P(Stores, TileStoreTest, testing::BothBackends(), testing::BackendParamName);

// ------------------------------------------------------------------ pure tile code
TEST(TileMath, LevelsFollowThePixelSize) {
  // One pixel at zoom z is 360 / (256 * 2^z) degrees of longitude.
  EXPECT_EQ(tiles::LevelForZoom(0.0005, 16), 0);  // cells 0.0005 vs pixels 0.0000215
  EXPECT_EQ(tiles::LevelForZoom(0.0005, 12), 0);  // 0.0005 >= 0.000343
  EXPECT_EQ(tiles::LevelForZoom(0.0005, 11), 1);  // 0.001 >= 0.000687 > 0.0005
  EXPECT_EQ(tiles::LevelForZoom(0.0005, 8), 4);   // 0.008 >= 0.0055 > 0.004
  EXPECT_EQ(tiles::MaxOverviewLevel(0.0001), 12);
  EXPECT_EQ(tiles::MaxOverviewLevel(0.1), 2);
  EXPECT_EQ(tiles::LevelForZoom(0.0001, 0), 12);  // the top level below zoom 2
  EXPECT_EQ(tiles::FloorDiv(-1, 2), -1);
  EXPECT_EQ(tiles::FloorDiv(-4, 4), -1);
  EXPECT_EQ(tiles::FloorDiv(5, 4), 1);
  EXPECT_EQ(tiles::StepKey(0.0025), 25000);
  EXPECT_FALSE(tiles::ValidateTile({21, 0, 0}).ok());
  EXPECT_FALSE(tiles::ValidateTile({3, 8, 0}).ok());
  EXPECT_TRUE(tiles::ValidateTile({3, 7, 7}).ok());
}

TEST(TileMath, ARenderedTileDecodesToTheColoursOfItsCells) {
  // A tile at zoom 14 over 47.1 N 9.5 E, every level-0 cell scored by its column.
  const tiles::TileId t{14, 8624, 5757};
  const double step = 0.0005;
  const IndexRange r = tiles::TileLevelRange(t, step, 0);
  ASSERT_FALSE(r.empty());
  DenseLevel cells;
  cells.Reset(r);
  for (int64_t i = r.i0; i <= r.i1; ++i) {
    for (int64_t j = r.j0; j <= r.j1; ++j) cells.At(i, j) = uint8_t((j * 7) % 101);
  }
  std::vector<uint8_t> bands;
  const int coloured = tiles::RenderTile(t, step, 0, cells, &bands);
  EXPECT_GT(coloured, 0);
  EXPECT_LT(coloured, 256 * 256);  // scores below 30 are transparent
  auto png = tiles::EncodeTilePng(bands);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  auto rgba = tiles::DecodePng(*png);
  ASSERT_TRUE(rgba.ok()) << rgba.status().ToString();
  ASSERT_EQ(rgba->width, 256);
  ASSERT_EQ(rgba->height, 256);
  for (int py = 3; py < 256; py += 17) {
    for (int px = 5; px < 256; px += 13) {
      const double lat = tiles::LatOfPixelRow(t.z, t.y * 256.0 + py + 0.5);
      const double lng = tiles::LngOfPixelCol(t.z, t.x * 256.0 + px + 0.5);
      const int score = cells.Get(std::llround(lat / step), std::llround(lng / step));
      const uint8_t* p = &rgba->px[(py * 256 + px) * 4];
      auto colour = tiles::ScoreColour(score);
      if (!colour) {
        EXPECT_EQ(p[3], 0) << px << "," << py << " score " << score;
      } else {
        EXPECT_EQ(p[3], 255) << px << "," << py;
        EXPECT_EQ((std::array<uint8_t, 3>{p[0], p[1], p[2]}), *colour) << px << "," << py;
      }
    }
  }
}

}  // namespace
}  // namespace nbi
