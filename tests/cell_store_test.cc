// CellStore conformance (src/store/store.h): the reads of the computed heat cells.
// QueryCells returns the cells of one grid step in a box with score >= min_score, ordered by
// lat, lng, at most limit + 1 of them; CountCells counts all cells or those of one step;
// HasCoverage is true when a cell of the step lies within one step of the point. Cells are
// written here through the role's own raw path (RawInsertCells/TruncateCells); the coverage
// test writes them as a job's checkpoint and so uses the JobQueue role too.
// Runs on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "store/store.h"
#include "store/testing.h"
#include "store_fixture.h"
#include "store_test_util.h"

namespace nbi {
namespace {

using testing::Spec;

class CellStoreTest : public testing::StoreTest {
 protected:
  // The 5 x 5 cells of Spec() at step 0.01, stored with scores n % 101 = 0 .. 24.
  GridRegion InsertSpecCells() {
    auto g = GridRegion::Make(Spec().bounds, 0.01);
    EXPECT_TRUE(g.ok());
    EXPECT_EQ(g->cell_count(), 25);
    std::vector<uint8_t> scores = Scores(0, g->cell_count());
    Status st = RawInsertCells(store_.get(), *g, 0, scores);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *g;
  }
};

TEST_P(CellStoreTest, QueryCellsReturnsTheGridOrderedByLatLngWithScores) {
  CellStore* cell_store = store_.get();
  EXPECT_EQ(*cell_store->CountCells(std::nullopt), 0);
  GridRegion g = InsertSpecCells();
  EXPECT_EQ(*cell_store->CountCells(std::nullopt), 25);
  EXPECT_EQ(*cell_store->CountCells(0.01), 25);
  EXPECT_EQ(*cell_store->CountCells(0.005), 0);
  auto cells = cell_store->QueryCells(Spec().bounds, 0.01, HeatModel::kGrocery, 0, 1000);
  ASSERT_TRUE(cells.ok()) << cells.status().ToString();
  ASSERT_EQ(cells->size(), 25u);
  for (int64_t n = 0; n < 25; ++n) {
    LatLng at = g.CellAt(n);
    EXPECT_NEAR((*cells)[n].lat, at.lat, 1e-5) << n;
    EXPECT_NEAR((*cells)[n].lng, at.lng, 1e-5) << n;
    EXPECT_EQ((*cells)[n].score, n) << n;
    EXPECT_NEAR((*cells)[n].grid_step, 0.01, 1e-7) << n;
  }
  // Only the cells inside the box: the first row of the region.
  LatLng first = g.CellAt(0), fifth = g.CellAt(4);
  auto row = cell_store->QueryCells(
      {first.lat - 0.001, first.lng - 0.001, first.lat + 0.001, fifth.lng + 0.001}, 0.01,
      HeatModel::kGrocery, 0, 1000);
  ASSERT_TRUE(row.ok());
  ASSERT_EQ(row->size(), 5u);
  EXPECT_EQ(row->back().score, 4);
}

TEST_P(CellStoreTest, QueryCellsHonoursMinScoreAndReturnsAtMostLimitPlusOne) {
  CellStore* cell_store = store_.get();
  InsertSpecCells();
  const BBox box = Spec().bounds;
  auto high = cell_store->QueryCells(box, 0.01, HeatModel::kGrocery, 20, 1000);
  ASSERT_TRUE(high.ok());
  ASSERT_EQ(high->size(), 5u);  // scores 20 .. 24
  for (const HeatCell& c : *high) EXPECT_GE(c.score, 20);
  EXPECT_EQ(cell_store->QueryCells(box, 0.01, HeatModel::kGrocery, 24, 1000)->size(), 1u);
  EXPECT_EQ(cell_store->QueryCells(box, 0.01, HeatModel::kGrocery, 25, 1000)->size(), 0u);
  // The limit: one extra row when the cap is hit, so the caller can tell; none otherwise.
  EXPECT_EQ(cell_store->QueryCells(box, 0.01, HeatModel::kGrocery, 0, 7)->size(), 8u);
  EXPECT_EQ(cell_store->QueryCells(box, 0.01, HeatModel::kGrocery, 0, 24)->size(), 25u);
  EXPECT_EQ(cell_store->QueryCells(box, 0.01, HeatModel::kGrocery, 0, 25)->size(), 25u);
  EXPECT_EQ(cell_store->QueryCells(box, 0.01, HeatModel::kGrocery, 20, 2)->size(), 3u);
  // Another step or another place: nothing.
  EXPECT_EQ(cell_store->QueryCells(box, 0.005, HeatModel::kGrocery, 0, 1000)->size(), 0u);
  EXPECT_EQ(
      cell_store->QueryCells(Spec(10.0, 20.0).bounds, 0.01, HeatModel::kGrocery, 0, 1000)->size(),
      0u);
}

TEST_P(CellStoreTest, HasCoverageOnlyWithinOneStepOfACellOfThatStep) {
  CellStore* cell_store = store_.get();
  EXPECT_FALSE(
      *cell_store->HasCoverage(47.12, 9.52, 0.01, HeatModel::kGrocery));  // nothing stored yet
  GridRegion g = InsertSpecCells();
  LatLng last = g.CellAt(g.cell_count() - 1);
  EXPECT_TRUE(*cell_store->HasCoverage(last.lat, last.lng, 0.01, HeatModel::kGrocery));
  EXPECT_TRUE(
      *cell_store->HasCoverage(last.lat + 0.005, last.lng + 0.005, 0.01, HeatModel::kGrocery));
  EXPECT_FALSE(*cell_store->HasCoverage(last.lat + 0.05, last.lng, 0.01, HeatModel::kGrocery));
  EXPECT_FALSE(*cell_store->HasCoverage(last.lat, last.lng + 0.05, 0.01, HeatModel::kGrocery));
  EXPECT_FALSE(*cell_store->HasCoverage(-47.12, -9.52, 0.01, HeatModel::kGrocery));  // far away
  EXPECT_FALSE(
      *cell_store->HasCoverage(last.lat, last.lng, 0.0025, HeatModel::kGrocery));  // another step
  // TruncateCells empties the table.
  ASSERT_TRUE(TruncateCells(cell_store).ok());
  EXPECT_EQ(*cell_store->CountCells(std::nullopt), 0);
  EXPECT_FALSE(*cell_store->HasCoverage(last.lat, last.lng, 0.01, HeatModel::kGrocery));
  EXPECT_TRUE(cell_store->QueryCells(Spec().bounds, 0.01, HeatModel::kGrocery, 0, 1000)->empty());
}

TEST_P(CellStoreTest, CoverageAndAreaReset) {
  CellStore* cell_store = store_.get();
  JobQueue* q = store_.get();
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(Spec().bounds, 0.01);
  MustClaim("w");
  ASSERT_TRUE(Write(j, "w", *g, 0, 25).ok());
  ASSERT_TRUE(q->CompletePart(j.id, 0, "w").ok());
  EXPECT_TRUE(*cell_store->HasCoverage(47.123, 9.523, 0.01, HeatModel::kGrocery));
  EXPECT_TRUE(*cell_store->HasCoverage(47.10, 9.50, 0.01, HeatModel::kGrocery));
  EXPECT_FALSE(*cell_store->HasCoverage(47.30, 9.52, 0.01, HeatModel::kGrocery));
  EXPECT_FALSE(*cell_store->HasCoverage(47.12, 9.52, 0.0025, HeatModel::kGrocery));
  Job other = Enqueue(Spec(47.3));
  auto cov = q->FindActiveJobCovering(47.32, 9.52, 0.01, HeatModel::kGrocery);
  ASSERT_TRUE(cov.ok());
  ASSERT_TRUE(cov->has_value());
  EXPECT_EQ((*cov)->id, other.id);
  EXPECT_FALSE(
      q->FindActiveJobCovering(47.12, 9.52, 0.01, HeatModel::kGrocery)->has_value());  // finished
  // Only a job of the same step and model counts.
  EXPECT_FALSE(q->FindActiveJobCovering(47.32, 9.52, 0.0025, HeatModel::kGrocery)->has_value());
  EXPECT_FALSE(q->FindActiveJobCovering(47.32, 9.52, 0.01, HeatModel::kBlend)->has_value());
  auto reset = q->ResetAndEnqueue(Spec());
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
  EXPECT_EQ(reset->first, 25);
  EXPECT_TRUE(reset->second.is_new);
  EXPECT_NE(reset->second.job.id, j.id);
  EXPECT_EQ(*cell_store->CountCells(std::nullopt), 0);
  EXPECT_EQ(q->GetJob(j.id).status().code(), StatusCode::kNotFound);  // finished job gone
  EXPECT_TRUE(q->GetJob(other.id).ok());  // active job of another area kept
}

// Two models over one area and step: both sets of cells are stored and read apart.
TEST_P(CellStoreTest, ModelsAreStoredApart) {
  CellStore* cells = store_.get();
  auto grocery = Spec(47.0, 9.5, 0.01, HeatModel::kGrocery);
  auto blend = Spec(47.0, 9.5, 0.01, HeatModel::kBlend);
  Job g1 = Enqueue(grocery);
  Job b1 = Enqueue(blend);
  auto g = GridRegion::Make(grocery.bounds, 0.01);
  ASSERT_EQ(MustClaim("w").id, g1.id);
  ASSERT_EQ(MustClaim("w").id, b1.id);
  ASSERT_TRUE(Write(g1, "w", *g, 0, 25, /*bias=*/0).ok());
  ASSERT_TRUE(Write(b1, "w", *g, 0, 25, /*bias=*/50).ok());
  auto gc = cells->QueryCells(grocery.bounds, 0.01, HeatModel::kGrocery, 0, 1000);
  auto bc = cells->QueryCells(grocery.bounds, 0.01, HeatModel::kBlend, 0, 1000);
  ASSERT_EQ(gc->size(), 25u);
  ASSERT_EQ(bc->size(), 25u);
  for (size_t k = 0; k < 25; ++k) {
    EXPECT_EQ((*gc)[k].score, int(k % 101));
    EXPECT_EQ((*bc)[k].score, int((k + 50) % 101));
  }
  EXPECT_TRUE(*cells->HasCoverage(47.01, 9.51, 0.01, HeatModel::kBlend));
  EXPECT_EQ(*cells->CountCells(0.01), 50);
}

INSTANTIATE_TEST_SUITE_P(Stores, CellStoreTest, testing::BothBackends(), testing::BackendParamName);

}  // namespace
}  // namespace nbi
