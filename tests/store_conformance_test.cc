// Conformance of a store backend as a whole (src/store/store.h, class Store): migrations
// create and upgrade the schema idempotently (also a database made by the original app),
// Describe names the backend, and pooled connections never write from a stale snapshot.
// The roles have their own suites: city_store_test, poi_store_test, cell_store_test and
// job_queue_test. Runs on SQLite and PostgreSQL.
#include <gtest/gtest.h>

#include <string>

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
  EXPECT_EQ(*v, 10);  // v5: job parts, v6: tile overviews and area versions, v7: attempts,
                      // v8: the walk network, v9: the index of pending parts, v10: the index
                      // of walk edges by their second node
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_EQ(*store_->SchemaVersion(), 10);
  EXPECT_TRUE(store_->Ping().ok());
  // A second process opening the same database migrates nothing and works.
  auto again = OpenStore(url_, &clock_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->Ping().ok());
}

// A database made by the original app (the seed's DDL, with a job in it) upgrades in place.
TEST_P(StoreConformanceTest, SeedDatabaseUpgradesInPlace) {
  testing::TempDir d2;
  std::string url = testing::FreshStoreUrl(GetParam(), d2);
  bool pg = GetParam() == Backend::kPostgres;
  testing::ExecSql(
      url,
      std::string("CREATE TABLE cities (id ") + (pg ? "SERIAL" : "INTEGER") +
          " PRIMARY KEY, slug VARCHAR(100) NOT NULL UNIQUE, name TEXT NOT NULL, country TEXT,"
          " min_lat REAL NOT NULL, min_lng REAL NOT NULL, max_lat REAL NOT NULL, max_lng REAL NOT "
          "NULL);"
          "CREATE TABLE jobs (id " +
          (pg ? "SERIAL" : "INTEGER") +
          " PRIMARY KEY, type VARCHAR(50) NOT NULL, status VARCHAR(20) NOT NULL,"
          " city_id INTEGER REFERENCES cities, progress INTEGER DEFAULT 0, total_items INTEGER,"
          " error TEXT, metadata " +
          (pg ? "JSONB" : "TEXT") +
          ", created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, started_at TIMESTAMP, completed_at "
          "TIMESTAMP);"
          "CREATE INDEX jobs_status_idx ON jobs(status);"
          "CREATE TABLE heat_cells (id " +
          (pg ? "SERIAL" : "INTEGER") +
          " PRIMARY KEY, lat REAL NOT NULL, lng REAL NOT NULL, score INTEGER NOT NULL,"
          " grid_step REAL NOT NULL, city_id INTEGER REFERENCES cities, computed_at TIMESTAMP "
          "DEFAULT CURRENT_TIMESTAMP,"
          " UNIQUE(lat, lng, grid_step));"
          "INSERT INTO jobs (type, status, progress, total_items, metadata) VALUES "
          "('heatmap_compute', "
          "'completed', 100, 3600, '{\"gridStep\": 0.0025}');"
          "INSERT INTO heat_cells (lat, lng, score, grid_step) VALUES (21.1, -86.85, 55, 0.0025);");
  auto s = OpenStore(url, &clock_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto jobs = (*s)->ListJobs({});
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].status, JobStatus::kCompleted);
  EXPECT_EQ((*jobs)[0].total_items, 3600);
  EXPECT_EQ(*(*s)->CountCells(0.0025), 1);
  EXPECT_TRUE((*s)->GetCity("cancun").ok());
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
