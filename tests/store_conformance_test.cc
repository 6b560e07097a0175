// One conformance suite for every Store implementation: the same operations, the same
// answers, on a real SQLite file and a real PostgreSQL server.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "fault_store.h"
#include "store/store.h"
#include "store_test_util.h"

namespace nbi {
namespace {

using testing::Backend;

HeatmapJobSpec Spec(double lat0 = 47.10, double lng0 = 9.50, double step = 0.01,
                    HeatModel m = HeatModel::kGrocery) {
  HeatmapJobSpec s;
  s.bounds = {lat0, lng0, lat0 + 0.05, lng0 + 0.05};
  s.grid_step = step;
  s.model = m;
  return s;
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(GetParam());
    auto s = testing::OpenFreshStore(GetParam(), dir_, &clock_, &url_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  Job Enqueue(const HeatmapJobSpec& spec) {
    auto r = store_->EnqueueHeatmap(spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->is_new);
    return r->job;
  }
  Job MustClaim(const std::string& worker) {
    auto r = store_->Claim(worker);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->has_value()) << "no job to claim";
    return r->value_or(Job{});
  }
  // Writes cells [begin, begin+count) of the job's region with score = (n % 100).
  Result<bool> Write(const Job& j, const std::string& worker, const GridRegion& g, int64_t begin,
                     int64_t count, int bias = 0, Store* via = nullptr) {
    std::vector<uint8_t> scores(count);
    for (int64_t k = 0; k < count; ++k) scores[k] = uint8_t((begin + k + bias) % 101);
    Checkpoint cp;
    cp.job_id = j.id;
    cp.worker_id = worker;
    cp.region = &g;
    cp.begin = begin;
    cp.scores = scores;
    return (via ? via : store_.get())->WriteCheckpoint(cp);
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, MigrationsCreateSchemaAndRerun) {
  auto v = store_->SchemaVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 3);
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_TRUE(store_->Migrate().ok());
  EXPECT_EQ(*store_->SchemaVersion(), 3);
  EXPECT_TRUE(store_->Ping().ok());
  // A second process opening the same database migrates nothing and works.
  auto again = OpenStore(url_, &clock_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->Ping().ok());
}

// A database made by the original app (the seed's DDL, with a job in it) upgrades in place.
TEST_P(StoreTest, SeedDatabaseUpgradesInPlace) {
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
TEST_P(StoreTest, WriteAfterReadOnAPooledConnectionSeesNoStaleSnapshot) {
  auto other = OpenStore(url_, &clock_);
  ASSERT_TRUE(other.ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(store_->Ping().ok());
    ASSERT_TRUE((*other)->EnqueueHeatmap(Spec(40.0 + i)).ok());
    auto mine = store_->EnqueueHeatmap(Spec(50.0 + i));
    ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  }
}

TEST_P(StoreTest, CitiesPresetsUpsertAndLookup) {
  auto cancun = store_->GetCity("cancun");
  ASSERT_TRUE(cancun.ok());
  EXPECT_EQ(cancun->bounds, (BBox{20.8, -87.2, 21.4, -86.5}));
  EXPECT_EQ(store_->GetCity("atlantis").status().code(), StatusCode::kNotFound);
  City c{0, "vaduz", "Vaduz", "LI", {47.10, 9.50, 47.16, 9.55}};
  auto added = store_->UpsertCity(c);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_GT(added->id, 0);
  c.name = "Vaduz (centre)";
  auto again = store_->UpsertCity(c);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, added->id);
  EXPECT_EQ(store_->GetCity("vaduz")->name, "Vaduz (centre)");
  auto all = store_->ListCities();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), PresetCities().size() + 1);
}

TEST_P(StoreTest, PoisUpsertIsIdempotentAndLoadsByBox) {
  std::vector<Poi> pois = {
      {"n1", Category::kGroceries, HealthSub::kNone, "A", 47.10, 9.50},
      {"n2", Category::kHealthcare, HealthSub::kDental, "Dentist", 47.11, 9.51},
      {"w3", Category::kParks, HealthSub::kNone, "", 48.0, 10.0},
  };
  auto r = store_->UpsertPois(pois);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->inserted, 3);
  pois[0].name = "A renamed";
  auto r2 = store_->UpsertPois(pois);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->inserted, 0);
  EXPECT_EQ(r2->updated, 3);
  EXPECT_EQ(store_->LoadPois({47.0, 9.4, 47.2, 9.6}, 1)->size(), 1u);
  auto loaded = store_->LoadPois({47.0, 9.4, 47.2, 9.6}, -1);
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 2u);
  std::map<std::string, Poi> by_id;
  for (auto& p : *loaded) by_id[p.source_id] = p;
  EXPECT_EQ(by_id["n1"].name, "A renamed");
  EXPECT_EQ(by_id["n2"].sub, HealthSub::kDental);
  EXPECT_EQ(by_id["n2"].category, Category::kHealthcare);
  EXPECT_DOUBLE_EQ(by_id["n2"].lat, 47.11);
  auto counts = store_->CountPoisByCategory();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->size(), 3u);
}

// A point next to the antimeridian sees the POIs across it.
TEST_P(StoreTest, LoadPoisAroundWrapsTheAntimeridian) {
  std::vector<Poi> pois = {{"e", Category::kGroceries, HealthSub::kNone, "East", -17.75, 179.999},
                           {"w", Category::kGroceries, HealthSub::kNone, "West", -17.75, -179.999},
                           {"far", Category::kGroceries, HealthSub::kNone, "Far", -17.75, -179.9}};
  ASSERT_TRUE(store_->UpsertPois(pois).ok());
  auto near_east = LoadPoisAround(store_.get(), {-17.75, 179.999, -17.75, 179.999}, 800);
  ASSERT_TRUE(near_east.ok());
  std::set<std::string> ids;
  for (const Poi& p : *near_east) ids.insert(p.source_id);
  EXPECT_EQ(ids, (std::set<std::string>{"e", "w"}));
}

TEST_P(StoreTest, EnqueueDuplicateRule) {
  Job a = Enqueue(Spec());
  EXPECT_EQ(a.status, JobStatus::kPending);
  EXPECT_EQ(a.total_items, 25);
  EXPECT_EQ(a.type, "heatmap_compute");
  EXPECT_EQ(a.metadata["gridStep"], 0.01);
  EXPECT_EQ(a.metadata["model"], "grocery");
  EXPECT_EQ(a.metadata["lastProcessedIndex"], 0);
  auto dup = store_->EnqueueHeatmap(Spec());
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->is_new);
  EXPECT_EQ(dup->job.id, a.id);
  // Another step, another model or another area is another job.
  Job b = Enqueue(Spec(47.10, 9.50, 0.005));
  Job c = Enqueue(Spec(47.10, 9.50, 0.01, HeatModel::kBlend));
  Job d = Enqueue(Spec(47.20, 9.50));
  EXPECT_NE(b.id, a.id);
  EXPECT_NE(c.id, a.id);
  EXPECT_NE(d.id, a.id);
  // Still a duplicate while running; a new job once it finished.
  Job run = MustClaim("w1");
  EXPECT_EQ(run.id, a.id);
  EXPECT_FALSE(store_->EnqueueHeatmap(Spec())->is_new);
  ASSERT_TRUE(store_->Complete(a.id, "w1").ok());
  auto after = store_->EnqueueHeatmap(Spec());
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->is_new);
  EXPECT_NE(after->job.id, a.id);
  // Invalid specs are refused.
  EXPECT_EQ(store_->EnqueueHeatmap(Spec(47.1, 9.5, 0.5)).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, ClaimOrderPriorityThenFifo) {
  Job low1 = Enqueue(Spec(47.0));
  Job high = [&] {
    auto s = Spec(47.1);
    s.priority = 5;
    return Enqueue(s);
  }();
  Job low2 = Enqueue(Spec(47.2));
  EXPECT_EQ(MustClaim("w").id, high.id);
  EXPECT_EQ(MustClaim("w").id, low1.id);
  Job third = MustClaim("w");
  EXPECT_EQ(third.id, low2.id);
  EXPECT_EQ(third.status, JobStatus::kRunning);
  EXPECT_EQ(third.locked_by, "w");
  EXPECT_EQ(third.attempts, 1);
  EXPECT_TRUE(third.started_at_ms.has_value());
  EXPECT_EQ(third.heartbeat_at_ms, clock_.NowMs());
  auto none = store_->Claim("w");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_P(StoreTest, BatchClaimAndCompleteKeepOrderAndOwnership) {
  std::vector<Job> jobs;
  for (int i = 0; i < 7; ++i) {
    auto s = Spec(40.0 + i);
    s.priority = i == 5 ? 9 : 0;
    jobs.push_back(Enqueue(s));
  }
  auto first = store_->ClaimBatch("w", 3);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ((*first)[0].id, jobs[5].id);  // priority first
  EXPECT_EQ((*first)[1].id, jobs[0].id);  // then oldest
  EXPECT_EQ((*first)[2].id, jobs[1].id);
  for (const Job& j : *first) {
    EXPECT_EQ(j.status, JobStatus::kRunning);
    EXPECT_EQ(j.locked_by, "w");
    EXPECT_EQ(j.attempts, 1);
  }
  auto rest = store_->ClaimBatch("v", 100);
  ASSERT_EQ(rest->size(), 4u);
  EXPECT_TRUE(store_->ClaimBatch("v", 5)->empty());
  // Only the owner's jobs complete.
  std::vector<int64_t> ids;
  for (const Job& j : *first) ids.push_back(j.id);
  ids.push_back(rest->front().id);  // owned by "v"
  auto done = store_->CompleteBatch(ids, "w");
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, 3);
  EXPECT_EQ(store_->GetJob(jobs[5].id)->status, JobStatus::kCompleted);
  EXPECT_EQ(store_->GetJob(rest->front().id)->status, JobStatus::kRunning);
  EXPECT_EQ(*store_->CompleteBatch({}, "w"), 0);
}

TEST_P(StoreTest, OwnershipIsChecked) {
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(j.metadata.is_null() ? BBox{} : Spec().bounds, 0.01);
  ASSERT_TRUE(g.ok());
  MustClaim("owner");
  EXPECT_EQ(store_->Heartbeat(j.id, "intruder").status().code(), StatusCode::kConflict);
  EXPECT_EQ(Write(j, "intruder", *g, 0, 5).status().code(), StatusCode::kConflict);
  EXPECT_EQ(store_->Complete(j.id, "intruder").code(), StatusCode::kConflict);
  EXPECT_EQ(store_->FailAttempt(j.id, "intruder", "x", false).status().code(),
            StatusCode::kConflict);
  EXPECT_EQ(store_->Release(j.id, "intruder").status().code(), StatusCode::kConflict);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 0);  // the intruder wrote nothing
  auto hb = store_->Heartbeat(j.id, "owner");
  ASSERT_TRUE(hb.ok());
  EXPECT_FALSE(*hb);
}

TEST_P(StoreTest, CheckpointWritesCellsProgressAndIndexTogether) {
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(Spec().bounds, 0.01);
  ASSERT_TRUE(g.ok());
  MustClaim("w");
  clock_.Advance(1000);
  auto r = Write(j, "w", *g, 0, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(*r);
  Job now = *store_->GetJob(j.id);
  EXPECT_EQ(now.last_processed_index(), 10);
  EXPECT_EQ(now.progress, 40);  // 10 of 25
  EXPECT_EQ(now.heartbeat_at_ms, clock_.NowMs());
  EXPECT_EQ(*store_->CountCells(0.01), 10);
  ASSERT_TRUE(Write(j, "w", *g, 10, 15).ok());
  EXPECT_EQ(store_->GetJob(j.id)->progress, 100);
  auto cells = store_->QueryCells(Spec().bounds, 0.01, 0, 1000);
  ASSERT_TRUE(cells.ok());
  ASSERT_EQ(cells->size(), 25u);
  // Cells come back on the grid, ordered by lat, lng, with the written scores.
  for (int64_t n = 0; n < 25; ++n) {
    LatLng at = g->CellAt(n);
    EXPECT_NEAR((*cells)[n].lat, at.lat, 1e-5);
    EXPECT_NEAR((*cells)[n].lng, at.lng, 1e-5);
    EXPECT_EQ((*cells)[n].score, n % 101);
  }
  // Re-writing a cell replaces its score, never duplicates it.
  ASSERT_TRUE(Write(j, "w", *g, 0, 25, 50).ok());
  EXPECT_EQ(*store_->CountCells(0.01), 25);
  cells = store_->QueryCells(Spec().bounds, 0.01, 0, 1000);
  EXPECT_EQ((*cells)[3].score, 53);
  // min_score filter and the limit (+1 so callers can see the cap was hit).
  EXPECT_EQ(store_->QueryCells(Spec().bounds, 0.01, 70, 1000)->size(), 5u);  // 70..74
  EXPECT_EQ(store_->QueryCells(Spec().bounds, 0.01, 0, 7)->size(), 8u);
  EXPECT_EQ(store_->QueryCells(Spec().bounds, 0.005, 0, 7)->size(), 0u);
  ASSERT_TRUE(store_->Complete(j.id, "w").ok());
  Job done = *store_->GetJob(j.id);
  EXPECT_EQ(done.status, JobStatus::kCompleted);
  EXPECT_EQ(done.progress, 100);
  EXPECT_TRUE(done.completed_at_ms.has_value());
  EXPECT_FALSE(done.locked_by.has_value());
}

TEST_P(StoreTest, CoverageAndAreaReset) {
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(Spec().bounds, 0.01);
  MustClaim("w");
  ASSERT_TRUE(Write(j, "w", *g, 0, 25).ok());
  ASSERT_TRUE(store_->Complete(j.id, "w").ok());
  EXPECT_TRUE(*store_->HasCoverage(47.123, 9.523, 0.01));
  EXPECT_TRUE(*store_->HasCoverage(47.10, 9.50, 0.01));
  EXPECT_FALSE(*store_->HasCoverage(47.30, 9.52, 0.01));
  EXPECT_FALSE(*store_->HasCoverage(47.12, 9.52, 0.0025));
  Job other = Enqueue(Spec(47.3));
  auto cov = store_->FindActiveJobCovering(47.32, 9.52);
  ASSERT_TRUE(cov.ok());
  ASSERT_TRUE(cov->has_value());
  EXPECT_EQ((*cov)->id, other.id);
  EXPECT_FALSE(store_->FindActiveJobCovering(47.12, 9.52)->has_value());  // finished
  auto reset = store_->ResetArea(Spec().bounds, 0.01);
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
  EXPECT_EQ(*reset, 25);
  EXPECT_EQ(*store_->CountCells(std::nullopt), 0);
  EXPECT_EQ(store_->GetJob(j.id).status().code(), StatusCode::kNotFound);  // finished job gone
  EXPECT_TRUE(store_->GetJob(other.id).ok());  // active job of another area kept
}

TEST_P(StoreTest, FailRetriesWithBackoffThenFails) {
  auto spec = Spec();
  spec.max_attempts = 2;
  Job j = Enqueue(spec);
  MustClaim("w");
  auto f1 = store_->FailAttempt(j.id, "w", "boom 1", false);
  ASSERT_TRUE(f1.ok()) << f1.status().ToString();
  EXPECT_EQ(f1->status, JobStatus::kPending);
  EXPECT_EQ(f1->error, "boom 1");
  EXPECT_EQ(f1->run_at_ms, clock_.NowMs() + RetryBackoffMs(1));
  EXPECT_FALSE(store_->Claim("w")->has_value()) << "claimed before its backoff elapsed";
  clock_.Advance(RetryBackoffMs(1));
  Job again = MustClaim("w");
  EXPECT_EQ(again.id, j.id);
  EXPECT_EQ(again.attempts, 2);
  auto f2 = store_->FailAttempt(j.id, "w", "boom 2", false);
  ASSERT_TRUE(f2.ok());
  EXPECT_EQ(f2->status, JobStatus::kFailed);
  EXPECT_EQ(f2->error, "boom 2");
  EXPECT_TRUE(f2->completed_at_ms.has_value());
  // Retry brings it back, from its checkpoint, with a fresh attempt budget.
  auto r = store_->Retry(j.id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, JobStatus::kPending);
  EXPECT_EQ(r->attempts, 0);
  EXPECT_FALSE(r->error.has_value());
  EXPECT_EQ(MustClaim("w").id, j.id);
  // A permanent failure does not retry.
  auto p = store_->FailAttempt(j.id, "w", "bad input", true);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->status, JobStatus::kFailed);
  EXPECT_EQ(store_->Retry(999999).status().code(), StatusCode::kNotFound);
  Job pending = Enqueue(Spec(47.4));
  EXPECT_EQ(store_->Retry(pending.id).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(StoreTest, RetryRefusedWhileAnEqualJobIsActive) {
  Job j = Enqueue(Spec());
  ASSERT_TRUE(store_->Cancel(j.id).ok());
  Job twin = Enqueue(Spec());
  EXPECT_NE(twin.id, j.id);
  EXPECT_EQ(store_->Retry(j.id).status().code(), StatusCode::kConflict);
}

TEST_P(StoreTest, CancelPendingAtOnceAndRunningAtChunkBoundary) {
  Job a = Enqueue(Spec(47.0));
  auto c = store_->Cancel(a.id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->status, JobStatus::kCancelled);
  EXPECT_TRUE(c->completed_at_ms.has_value());
  EXPECT_EQ(store_->Cancel(a.id).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Cancel(123456).status().code(), StatusCode::kNotFound);

  Job b = Enqueue(Spec(47.1));
  auto g = GridRegion::Make(Spec(47.1).bounds, 0.01);
  MustClaim("w");
  auto rc = store_->Cancel(b.id);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(rc->status, JobStatus::kRunning);
  EXPECT_TRUE(rc->cancel_requested);
  auto cp = Write(b, "w", *g, 0, 5);
  ASSERT_TRUE(cp.ok());
  EXPECT_TRUE(*cp) << "the owner learns of the cancel at its checkpoint";
  EXPECT_TRUE(*store_->Heartbeat(b.id, "w"));
  auto rel = store_->Release(b.id, "w");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->status, JobStatus::kCancelled);
  EXPECT_EQ(rel->last_processed_index(), 5);
}

TEST_P(StoreTest, ReleaseHandsBackWithoutSpendingAnAttempt) {
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(Spec().bounds, 0.01);
  MustClaim("w");
  ASSERT_TRUE(Write(j, "w", *g, 0, 10).ok());
  auto rel = store_->Release(j.id, "w");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->status, JobStatus::kPending);
  EXPECT_EQ(rel->attempts, 0);
  EXPECT_EQ(rel->last_processed_index(), 10);
  Job again = MustClaim("w2");
  EXPECT_EQ(again.id, j.id);
  EXPECT_EQ(again.last_processed_index(), 10);
}

TEST_P(StoreTest, RescueUsesHeartbeatsNotStartTime) {
  const int64_t timeout = 10 * 60 * 1000;
  Job healthy = Enqueue(Spec(47.0));
  Job stuck = Enqueue(Spec(47.1));
  auto gh = GridRegion::Make(Spec(47.0).bounds, 0.01);
  MustClaim("healthy-worker");
  MustClaim("dead-worker");
  // Five hours pass; the healthy worker heartbeats every minute, the other never again.
  for (int minute = 0; minute < 300; ++minute) {
    clock_.Advance(60 * 1000);
    if (minute % 2) {
      ASSERT_TRUE(store_->Heartbeat(healthy.id, "healthy-worker").ok());
    } else {
      ASSERT_TRUE(Write(healthy, "healthy-worker", *gh, 0, 1).ok());
    }
    auto n = store_->RescueStale(timeout);
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(*n, minute == 10 ? 1 : 0) << "minute " << minute;
  }
  EXPECT_EQ(store_->GetJob(healthy.id)->status, JobStatus::kRunning);
  Job s = *store_->GetJob(stuck.id);
  EXPECT_EQ(s.status, JobStatus::kPending);
  EXPECT_FALSE(s.locked_by.has_value());
  // The rescued job's old owner can no longer write.
  auto gs = GridRegion::Make(Spec(47.1).bounds, 0.01);
  EXPECT_EQ(Write(stuck, "dead-worker", *gs, 0, 5).status().code(), StatusCode::kConflict);
  Job taken = MustClaim("new-worker");
  EXPECT_EQ(taken.id, stuck.id);
  EXPECT_EQ(taken.attempts, 2);
}

TEST_P(StoreTest, RescueEndsACancelledJobAndResumesTheOthers) {
  const int64_t timeout = 60 * 1000;
  Job cancelled = Enqueue(Spec(47.0));
  auto last = Spec(47.1);
  last.max_attempts = 1;
  Job crashed = Enqueue(last);
  MustClaim("dead-1");
  MustClaim("dead-2");
  ASSERT_TRUE(store_->Cancel(cancelled.id).ok());  // requested while its worker is dead
  clock_.Advance(timeout + 1);
  EXPECT_EQ(*store_->RescueStale(timeout), 2);
  Job c = *store_->GetJob(cancelled.id);
  EXPECT_EQ(c.status, JobStatus::kCancelled);
  EXPECT_TRUE(c.completed_at_ms.has_value());
  // A crash is not a failed attempt: even on its last attempt the job resumes.
  Job x = *store_->GetJob(crashed.id);
  EXPECT_EQ(x.status, JobStatus::kPending);
  EXPECT_EQ(MustClaim("w").id, crashed.id);
}

TEST_P(StoreTest, ForceResetPruneListAndCounts) {
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(Enqueue(Spec(40.0 + i)));
  MustClaim("w");  // jobs[0]
  MustClaim("w");  // jobs[1]
  ASSERT_TRUE(store_->Complete(jobs[1].id, "w").ok());
  ASSERT_TRUE(store_->Cancel(jobs[2].id).ok());
  auto reset = store_->ResetRunning();
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(*reset, 1);
  Job r0 = *store_->GetJob(jobs[0].id);
  EXPECT_EQ(r0.status, JobStatus::kPending);
  EXPECT_FALSE(r0.started_at_ms.has_value());

  auto counts = store_->CountJobsByStatus();
  ASSERT_TRUE(counts.ok());
  std::map<JobStatus, int64_t> m(counts->begin(), counts->end());
  EXPECT_EQ(m[JobStatus::kPending], 4);
  EXPECT_EQ(m[JobStatus::kCompleted], 1);
  EXPECT_EQ(m[JobStatus::kCancelled], 1);

  auto page1 = store_->ListJobs({std::nullopt, 4, std::nullopt});
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->size(), 4u);
  EXPECT_EQ((*page1)[0].id, jobs[5].id);  // newest first
  auto page2 = store_->ListJobs({std::nullopt, 4, page1->back().id});
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ(page2->back().id, jobs[0].id);
  auto pend = store_->ListJobs({JobStatus::kPending, 50, std::nullopt});
  EXPECT_EQ(pend->size(), 4u);

  clock_.Advance(2 * 3600 * 1000);
  auto pruned = store_->PruneFinished(3600 * 1000);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 2);
  EXPECT_EQ(store_->GetJob(jobs[1].id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetJob(jobs[0].id).ok());
  EXPECT_EQ(*store_->PruneFinished(3600 * 1000), 0);
}

// Atomicity: fail the N-th commit, for every N across a job's checkpoints; the stored cells
// and the job's checkpoint always agree, and the job still completes with every cell.
TEST_P(StoreTest, CheckpointIsAtomicUnderCommitFaults) {
  auto g = GridRegion::Make(Spec().bounds, 0.0025);  // 400 cells
  ASSERT_TRUE(g.ok());
  const int64_t chunk = 37;
  const int chunks = int((g->cell_count() + chunk - 1) / chunk);
  testing::FaultStore faults(store_.get(), url_);
  for (int fail_at = 1; fail_at <= chunks + 1; ++fail_at) {
    SCOPED_TRACE("failing commit " + std::to_string(fail_at));
    ASSERT_TRUE(store_->TruncateCells().ok());
    auto spec = Spec(47.10, 9.50, 0.0025);
    spec.max_attempts = 100;
    auto e = store_->EnqueueHeatmap(spec);
    ASSERT_TRUE(e.ok());
    Job j = e->job;
    Job claimed = MustClaim("w");
    ASSERT_EQ(claimed.id, j.id);
    faults.FailNthCheckpoint(fail_at);
    int64_t next = 0;
    bool faulted = false;
    while (next < g->cell_count()) {
      int64_t n = std::min(chunk, g->cell_count() - next);
      auto r = Write(j, "w", *g, next, n, 0, &faults);
      if (!r.ok()) {
        EXPECT_NE(r.status().message().find("injected commit fault"), std::string::npos)
            << r.status().ToString();
        faulted = true;
        break;
      }
      next += n;
    }
    faults.FailNthCheckpoint(0);
    Job after = *store_->GetJob(j.id);
    int64_t stored = *store_->CountCells(0.0025);
    ASSERT_EQ(stored, after.last_processed_index()) << "cells and checkpoint disagree";
    ASSERT_EQ(after.progress, int(100 * stored / g->cell_count()));
    if (fail_at <= chunks) {
      ASSERT_TRUE(faulted);
      ASSERT_EQ(stored, (fail_at - 1) * chunk);
    }
    // Resume from the checkpoint and finish.
    for (int64_t k = after.last_processed_index(); k < g->cell_count(); k += chunk) {
      ASSERT_TRUE(Write(j, "w", *g, k, std::min(chunk, g->cell_count() - k)).ok());
    }
    ASSERT_TRUE(store_->Complete(j.id, "w").ok());
    ASSERT_EQ(*store_->CountCells(0.0025), g->cell_count());
  }
}

// Many claimers, one queue: every job claimed exactly once.
TEST_P(StoreTest, EightThreadsClaimEachJobExactlyOnce) {
  const int kJobs = 2000;
  for (int i = 0; i < kJobs; ++i) Enqueue(Spec(-60 + i * 0.06, 10, 0.01));
  std::mutex mu;
  std::map<int64_t, int> claims;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::string me = "thread-" + std::to_string(t);
      for (;;) {
        auto c = store_->Claim(me);
        if (!c.ok()) {
          if (c.status().code() == StatusCode::kTransient) continue;
          ++errors;
          return;
        }
        if (!c->has_value()) return;
        if (!store_->Complete((*c)->id, me).ok()) ++errors;
        std::lock_guard<std::mutex> l(mu);
        ++claims[(*c)->id];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(claims.size(), size_t(kJobs));
  for (auto& [id, n] : claims) ASSERT_EQ(n, 1) << "job " << id;
}

TEST_P(StoreTest, FourProcessesClaimEachJobExactlyOnce) {
  const int kJobs = 2000;
  for (int i = 0; i < kJobs; ++i) Enqueue(Spec(-60 + i * 0.06, 10, 0.01));
  store_.reset();  // children open their own connections
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = OpenStore(url_, &clock_);
      if (!s.ok()) _exit(3);
      std::ofstream out(dir_.File("claims-" + std::to_string(p)));
      std::string me = "proc-" + std::to_string(p);
      for (;;) {
        auto c = (*s)->Claim(me);
        if (!c.ok()) {
          if (c.status().code() == StatusCode::kTransient) continue;
          _exit(4);
        }
        if (!c->has_value()) break;
        if (!(*s)->Complete((*c)->id, me).ok()) _exit(5);
        out << (*c)->id << "\n";
      }
      out.close();
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int st = 0;
    waitpid(k, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  }
  std::map<int64_t, int> claims;
  int busy_procs = 0;
  for (int p = 0; p < 4; ++p) {
    std::ifstream in(dir_.File("claims-" + std::to_string(p)));
    int64_t id;
    int mine = 0;
    while (in >> id) ++claims[id], ++mine;
    busy_procs += mine > 0;
  }
  ASSERT_EQ(claims.size(), size_t(kJobs));
  for (auto& [id, n] : claims) ASSERT_EQ(n, 1) << "job " << id;
  EXPECT_GE(busy_procs, 2) << "the processes did not actually compete";
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
