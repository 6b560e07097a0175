// The scoring data version (store.h ScoringDataVersion, Checkpoint::data_version), on both
// stores: an import moves it; a checkpoint whose index was loaded before an import committed
// is refused (DataChanged) and writes nothing, alone or in a batch; on PostgreSQL an import's
// commit waits for a checkpoint that has checked the version, so none commits stale cells
// after the import (its refresh jobs may already have written the fresh ones).
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"

namespace nbi {
namespace {

constexpr double kStep = 0.001;

Poi Grocery(const std::string& id, double lat, double lng) {
  Poi p;
  p.source_id = id;
  p.name = id;
  p.category = Category::kGroceries;
  p.lat = lat;
  p.lng = lng;
  return p;
}

class DataVersionTest : public testing::StoreTest {
 protected:
  int64_t Version() {
    auto v = store_->ScoringDataVersion();
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : -1;
  }

  // A one-cell job at (lat, lng), claimed by `worker`.
  Job OneCellJob(double lat, double lng, const std::string& worker) {
    HeatmapJobSpec spec;
    spec.bounds = {lat - kStep / 4, lng - kStep / 4, lat + kStep / 4, lng + kStep / 4};
    spec.grid_step = kStep;
    Enqueue(spec);
    return MustClaim(worker);
  }

  // The checkpoint that completes the one-cell job `j`, its index loaded at `version`.
  struct OneCell {
    GridRegion region;
    std::vector<uint8_t> score{42};
    CheckpointCompletion done;
    Checkpoint cp;
  };
  static void Fill(const Job& j, const std::string& worker, std::optional<int64_t> version,
                   OneCell* w) {
    auto meta = DecodeHeatmapMetadata(j);
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    w->region = GridRegion::Make(meta->bounds, meta->grid_step).value();
    w->cp.job_id = j.id;
    w->cp.worker_id = worker;
    w->cp.region = &w->region;
    w->cp.scores = w->score;
    w->cp.complete = &w->done;
    w->cp.data_version = version;
  }

  int64_t Cells() {
    auto n = store_->CountCells(kStep);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  }
};

TEST_P(DataVersionTest, ImportsMoveTheVersionAndAnEmptyWriteDoesNot) {
  const int64_t v0 = Version();
  ASSERT_TRUE(store_->UpsertPois({Grocery("a", 47.1, 9.5)}).ok());
  const int64_t v1 = Version();
  EXPECT_GT(v1, v0);
  ASSERT_TRUE(store_->ApplyPoiWrite(PoiWrite{}).ok());
  EXPECT_EQ(Version(), v1) << "a write of nothing changed no data";
  PoiWrite del;
  del.poi_deletes = {"a"};
  ASSERT_TRUE(store_->ApplyPoiWrite(del).ok());
  const int64_t v2 = Version();
  EXPECT_GT(v2, v1);
  bool given = false;
  auto batches = store_->UpsertPoiBatches([&](std::vector<Poi>* b) -> Result<bool> {
    if (given) return false;
    given = true;
    *b = {Grocery("b", 47.2, 9.6)};
    return true;
  });
  ASSERT_TRUE(batches.ok()) << batches.status().ToString();
  EXPECT_GT(Version(), v2);
}

TEST_P(DataVersionTest, ACheckpointOfDataAnImportChangedWritesNothing) {
  const int64_t loaded = Version();
  const Job j = OneCellJob(47.1, 9.5, "w");
  ASSERT_TRUE(store_->UpsertPois({Grocery("new", 47.1, 9.5)}).ok());  // the import
  OneCell stale;
  Fill(j, "w", loaded, &stale);
  auto r = store_->WriteCheckpoint(stale.cp);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(IsDataChanged(r.status())) << r.status().ToString();
  EXPECT_NE(r.status().message().find("changed while it ran"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(Cells(), 0);
  EXPECT_FALSE(stale.done.done);
  auto parts = store_->ListParts(j.id);
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].status, PartStatus::kRunning);
  EXPECT_EQ((*parts)[0].next, 0);

  OneCell fresh;  // the same part with an index of the new data
  Fill(j, "w", Version(), &fresh);
  auto ok = store_->WriteCheckpoint(fresh.cp);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(fresh.done.done);
  EXPECT_EQ(Cells(), 1);

  // No version: no check (a writer that loads no index of the store).
  const Job k = OneCellJob(47.2, 9.5, "w");
  ASSERT_TRUE(store_->UpsertPois({Grocery("newer", 47.2, 9.5)}).ok());
  OneCell unchecked;
  Fill(k, "w", std::nullopt, &unchecked);
  EXPECT_TRUE(store_->WriteCheckpoint(unchecked.cp).ok());
}

// In a batch, the stale checkpoint alone is refused; the others are written (on PostgreSQL
// the batch's jobs of one chunk go through one statement, and the check is the batch's).
TEST_P(DataVersionTest, InABatchOnlyTheStaleCheckpointIsRefused) {
  const int64_t loaded = Version();
  ASSERT_TRUE(store_->UpsertPois({Grocery("new", 47.1, 9.5)}).ok());
  const int64_t now = Version();
  std::vector<OneCell> w(3);
  std::vector<Checkpoint> cps;
  for (int i = 0; i < 3; ++i) {
    const Job j = OneCellJob(47.1 + i * kStep, 9.5, "w");
    Fill(j, "w", i == 1 ? loaded : now, &w[i]);
  }
  for (const OneCell& c : w) cps.push_back(c.cp);
  auto r = store_->WriteCheckpoints(cps);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_TRUE((*r)[0].ok()) << (*r)[0].status().ToString();
  EXPECT_TRUE((*r)[2].ok()) << (*r)[2].status().ToString();
  ASSERT_FALSE((*r)[1].ok());
  EXPECT_TRUE(IsDataChanged((*r)[1].status())) << (*r)[1].status().ToString();
  EXPECT_TRUE(w[0].done.done && w[2].done.done);
  EXPECT_FALSE(w[1].done.done);
  EXPECT_EQ(Cells(), 2);
  auto stale = store_->GetJob(w[1].cp.job_id);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->status, JobStatus::kRunning);
  EXPECT_EQ(stale->last_processed_index(), 0);
}

// PostgreSQL: a session that has checked the version (nbi_data_version_locked, as a
// checkpoint does) holds the import's commit until it ends; the import then commits and the
// version moves. Without the lock, a checkpoint checked before an import could commit after
// it, and after the import's refresh jobs.
TEST_P(DataVersionTest, AnImportWaitsForACheckpointThatHasChecked) {
  if (GetParam() != testing::Backend::kPostgres) {
    GTEST_SKIP() << "SQLite: one writer at a time, so the check and the commit are one step";
  }
  PGconn* c = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  PGresult* r = PQexec(c, "BEGIN; SELECT nbi_data_version_locked()");
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
  const int64_t checked = std::stoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  EXPECT_EQ(checked, Version());

  auto import = std::async(std::launch::async,
                           [&] { return store_->UpsertPois({Grocery("a", 47.1, 9.5)}).status(); });
  // The import waits for the lock (seen in pg_locks), and has not committed.
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting; ++i) {
    const std::string n = testing::QuerySql(
        url_,
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = 1312966980 "
        "AND a.query LIKE '%nbi_bump_data_version%'");
    waiting = n != "0\n" && n != "0";
    if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(waiting) << "the import's version bump did not wait for the checked session";
  EXPECT_EQ(import.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  EXPECT_EQ(Version(), checked) << "the import committed while a checkpoint held the check";
  PQclear(PQexec(c, "COMMIT"));
  PQfinish(c);
  const Status s = import.get();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GT(Version(), checked);
}

INSTANTIATE_TEST_SUITE_P(Stores, DataVersionTest, testing::BothBackends(),
                         testing::BackendParamName);

}  // namespace
}  // namespace nbi
