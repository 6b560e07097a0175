// Conformance of a store backend as a whole (src/store/store.h, class Store): migrations
// create and upgrade the schema idempotently (also a database made by the original app),
// Describe names the backend, and pooled connections never write from a stale snapshot.
// The roles have their own suites: city_store_test, poi_store_test, cell_store_test and
// job_queue_test. Runs on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <string>

#include "original_app_db.h"
#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"

namespace nbi {
namespace {

using testing::Backend;
using testing::Spec;

class StoreConformanceTest : public testing::StoreTest {};

TEST_P(StoreConformanceTest, MigrationsCreateSchemaAndRerun) {
  auto v = store_->SchemaVersion();
  ASSERT_TRUE(v.ok());
  // v5: job parts, v6: tile overviews and area versions, v7: attempts, v8: the walk network,
  // v9: the index of pending parts, v10: taking over the original app's database, v11: street
  // tiles (edge class and cell, the network's version), v12: canonical steps, v13 (PostgreSQL
  // only): the claim index in claim order, v14 (PostgreSQL only): the checkpoint's
  // compare-and-set on the part's position; then (PostgreSQL v15, SQLite v13) the index of
  // walk edges by their second node and the ways' node lists; then (PostgreSQL v16, SQLite
  // v14) delayed jobs out of the claim until due; then (PostgreSQL v17) the cells of near-equal
  // steps without a canonical twin onto the grid; then (PostgreSQL v18, SQLite v15) the
  // scoring data version.
  const int latest = GetParam() == Backend::kPostgres ? 18 : 15;
  EXPECT_EQ(*v, latest);
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_EQ(*store_->SchemaVersion(), latest);
  EXPECT_TRUE(store_->Ping().ok());
  // A second process opening the same database migrates nothing and works.
  auto again = OpenStore(url_, &clock_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->Ping().ok());
}

// A database made by the original app (tests/original_app_db: its migrations' schema and its
// rows as it writes them, SPEC §2a) upgrades in place. PostgreSQL only: the original app
// never ran on SQLite. takeover_test runs the binary on the same fixture.
TEST_P(StoreConformanceTest, SeedDatabaseUpgradesInPlace) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "the original app ran on PostgreSQL";
  testing::TempDir d2;
  std::string url = testing::FreshStoreUrl(GetParam(), d2);
  testing::BuildOriginalAppDatabase(url);
  auto s = OpenStore(url, &clock_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto jobs = (*s)->ListJobs({});
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[2].status, JobStatus::kCompleted);
  EXPECT_EQ((*jobs)[2].total_items, 25);
  EXPECT_EQ((*jobs)[1].status, JobStatus::kFailed);
  EXPECT_EQ((*jobs)[0].status, JobStatus::kPending);
  EXPECT_EQ((*jobs)[0].total_items, testing::kOriginalJobCount);  // until it is claimed
  EXPECT_EQ(*(*s)->CountCells(0.0025), 25);
  auto cells = (*s)->QueryCells(testing::kOldArea.Expanded(100), 0.0025, HeatModel::kBlend, 0, 100);
  ASSERT_TRUE(cells.ok());
  EXPECT_EQ(cells->size(), 25u);  // the original worker's blend cells
  auto cancun = (*s)->GetCity("cancun");
  ASSERT_TRUE(cancun.ok());
  EXPECT_EQ(cancun->name, "Cancún");  // the original's row, not the preset
  EXPECT_TRUE((*s)->GetCity("monaco").ok());
  // The POIs of overture_pois are read through the mapping.
  auto pois = (*s)->LoadPoiPoints(testing::kJobArea.Expanded(2000));
  ASSERT_TRUE(pois.ok()) << pois.status().ToString();
  EXPECT_EQ(static_cast<int64_t>(pois->size()), testing::PlacedCount());
  // And the upgraded queue works.
  auto e = (*s)->EnqueueHeatmap(Spec());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_GT(e->job.id, (*jobs)[0].id);
}

// Regression: a read that returned before its statement finished (Ping) left an old snapshot
// open on the pooled SQLite connection, so its next write failed at once with "database is
// locked" after another connection had committed.
TEST_P(StoreConformanceTest, WriteAfterReadOnAPooledConnectionSeesNoStaleSnapshot) {
  auto other = OpenStore(url_, &clock_);
  ASSERT_TRUE(other.ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->Ping().ok());
    ASSERT_TRUE((*other)->EnqueueHeatmap(Spec(40.0 + i)).ok());
    auto mine = store_->EnqueueHeatmap(Spec(50.0 + i));
    ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  }
}

TEST_P(StoreConformanceTest, DescribeNamesTheBackend) {
  const std::string d = store_->Describe();
  if (GetParam() == Backend::kSqlite) {
    EXPECT_EQ(d, url_);  // "sqlite:" + the file
  } else {
    EXPECT_EQ(d.rfind("postgresql://", 0), 0u) << d;
    EXPECT_EQ(d.find("search_path"), std::string::npos) << d;  // the address, not the options
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformanceTest, testing::BothBackends(),
                         testing::BackendParamName);

}  // namespace
}  // namespace nbi
