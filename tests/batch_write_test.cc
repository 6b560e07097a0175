// A batch of small jobs written together (JobQueue::WriteCheckpoints), on both stores: the
// cells and overview levels it leaves are those of the same jobs written one at a time. On
// PostgreSQL such a batch completes its jobs of one chunk in one statement, writes their cells
// in one COPY and rebuilds the overview levels of neighbouring jobs together (pg_batch.h); the
// checks here hold that to the one-at-a-time result: a cell two jobs of the batch write keeps
// the later score, a cell stored before is replaced, a job far from the others has its levels
// too, and the area versions move.
#include <gtest/gtest.h>

#include <map>
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

constexpr double kStep = 0.001;
constexpr int kRow = 40;  // one-cell jobs side by side

class BatchWriteTest : public testing::StoreTest {
 protected:
  // A one-cell job around grid point (lat, lng); `shift` moves its box (not its cell), so that
  // two jobs of one cell are two jobs (their duplicate keys differ).
  int64_t OneCellJob(double lat, double lng, double shift = 0) {
    HeatmapJobSpec spec;
    spec.bounds = {lat - kStep / 4 + shift, lng - kStep / 4, lat + kStep / 4, lng + kStep / 4};
    spec.grid_step = kStep;
    auto e = store_->EnqueueHeatmap(spec);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    EXPECT_EQ(e.ok() ? e->job.total_items : -1, 1);
    return e.ok() ? e->job.id : -1;
  }

  // Claims every pending job as worker "w" and writes one checkpoint per job with
  // scores[job id], in claim order, as one batch; expects each to complete its job.
  void WriteBatch(const std::map<int64_t, uint8_t>& scores) {
    auto claimed = store_->ClaimBatch("w", int(scores.size()));
    ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
    ASSERT_EQ(claimed->size(), scores.size());
    std::vector<GridRegion> regions;
    regions.reserve(claimed->size());
    std::vector<std::vector<uint8_t>> cells;
    std::vector<CheckpointCompletion> done(claimed->size());
    std::vector<Checkpoint> cps(claimed->size());
    for (size_t i = 0; i < claimed->size(); ++i) {
      const Job& job = (*claimed)[i];
      auto meta = DecodeHeatmapMetadata(job);
      ASSERT_TRUE(meta.ok()) << meta.status().ToString();
      regions.push_back(GridRegion::Make(meta->bounds, meta->grid_step).value());
      cells.push_back({scores.at(job.id)});
    }
    for (size_t i = 0; i < cps.size(); ++i) {
      cps[i].job_id = (*claimed)[i].id;
      cps[i].worker_id = "w";
      cps[i].region = &regions[i];
      cps[i].scores = cells[i];
      cps[i].complete = &done[i];
    }
    auto r = store_->WriteCheckpoints(cps);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (size_t i = 0; i < cps.size(); ++i) {
      EXPECT_TRUE((*r)[i].ok()) << "job " << cps[i].job_id << ": " << (*r)[i].status().ToString();
      EXPECT_TRUE(done[i].done && done[i].job_completed) << "job " << cps[i].job_id;
      auto job = store_->GetJob(cps[i].job_id);
      ASSERT_TRUE(job.ok());
      EXPECT_EQ(job->status, JobStatus::kCompleted);
      EXPECT_EQ(job->progress, 100);
      EXPECT_EQ(job->last_processed_index(), 1);
    }
  }

  // Every overview level over `base`, as stored.
  std::vector<DenseLevel> Levels(const IndexRange& base) {
    std::vector<DenseLevel> out;
    for (int level = 1; level <= tiles::MaxOverviewLevel(kStep); ++level) {
      DenseLevel d;
      Status s = store_->ReadLevel(kStep, HeatModel::kGrocery, level, base.CoarserBy(level), &d);
      EXPECT_TRUE(s.ok()) << s.ToString();
      out.push_back(std::move(d));
    }
    return out;
  }
};

TEST_P(BatchWriteTest, ABatchLeavesTheCellsAndLevelsOfOneJobAtATime) {
  const double lat0 = 47.05, lng0 = 9.47, far_lat = 47.31, far_lng = 9.83;
  // A cell stored before the batch, which the batch replaces.
  const int64_t before = OneCellJob(lat0, lng0 + 5 * kStep, kStep / 8);
  WriteBatch({{before, 7}});

  std::map<int64_t, uint8_t> scores;
  std::vector<int64_t> row;
  for (int k = 0; k < kRow; ++k) {
    row.push_back(OneCellJob(lat0, lng0 + k * kStep));
    scores[row.back()] = uint8_t(20 + k);
  }
  const int64_t far = OneCellJob(far_lat, far_lng);
  scores[far] = 90;
  // A second job of the row's cell 3, enqueued (so claimed and written) after the first.
  const int64_t again = OneCellJob(lat0, lng0 + 3 * kStep, kStep / 8);
  scores[again] = 99;
  const auto version = [&] {
    auto g =
        GridRegion::Make({lat0 - kStep, lng0 - kStep, far_lat + kStep, far_lng + kStep}, kStep);
    auto v = store_->AreaVersion(kStep, HeatModel::kGrocery,
                                 tiles::VersionBlocks(tiles::BaseRange(*g), 0));
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : -1;
  };
  const int64_t version_before = version();
  WriteBatch(scores);
  EXPECT_GT(version(), version_before) << "the batch's cells must move their area's version";

  // The cells: the row's scores, the later write of cell 3, the replaced cell 5, the far one.
  auto cells = store_->QueryCells({lat0 - kStep, lng0 - kStep, far_lat + kStep, far_lng + kStep},
                                  kStep, HeatModel::kGrocery, 0, 1'000'000);
  ASSERT_TRUE(cells.ok()) << cells.status().ToString();
  std::map<std::pair<int64_t, int64_t>, int> got;
  for (const HeatCell& c : *cells) {
    const auto key = std::make_pair(NearestGridIndex(c.lat, kStep), NearestGridIndex(c.lng, kStep));
    EXPECT_EQ(got.count(key), 0u) << "two cells at " << c.lat << "," << c.lng;
    got[key] = c.score;
  }
  ASSERT_EQ(got.size(), size_t(kRow + 1));
  const int64_t i0 = NearestGridIndex(lat0, kStep), j0 = NearestGridIndex(lng0, kStep);
  for (int k = 0; k < kRow; ++k) {
    const int want = k == 3 ? 99 : 20 + k;  // cell 5 had 7 before: replaced by 25
    EXPECT_EQ((got[{i0, j0 + k}]), want) << "cell " << k;
  }
  EXPECT_EQ((got[{NearestGridIndex(far_lat, kStep), NearestGridIndex(far_lng, kStep)}]), 90);

  // The levels equal a rebuild from the stored cells, over the whole area (the row, the far
  // job and everything between).
  const BBox area{lat0 - 64 * kStep, lng0 - 64 * kStep, far_lat + 64 * kStep, far_lng + 64 * kStep};
  auto all = GridRegion::Make(area, kStep);
  ASSERT_TRUE(all.ok());
  const IndexRange base = tiles::BaseRange(*all);
  const std::vector<DenseLevel> written = Levels(base);
  ASSERT_TRUE(store_->RebuildOverviews(area, kStep, HeatModel::kGrocery).ok());
  const std::vector<DenseLevel> rebuilt = Levels(base);
  ASSERT_EQ(written.size(), rebuilt.size());
  for (size_t l = 0; l < written.size(); ++l) {
    int mismatches = 0;
    const IndexRange& r = written[l].range;
    for (int64_t i = r.i0; i <= r.i1; ++i) {
      for (int64_t j = r.j0; j <= r.j1; ++j) {
        if (written[l].Get(i, j) != rebuilt[l].Get(i, j) && ++mismatches <= 5) {
          ADD_FAILURE() << "level " << l + 1 << " (" << i << ", " << j << "): batch "
                        << int(written[l].Get(i, j)) << ", rebuilt " << int(rebuilt[l].Get(i, j));
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << "level " << l + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, BatchWriteTest, testing::BothBackends(),
                         testing::BackendParamName);

}  // namespace
}  // namespace nbi
