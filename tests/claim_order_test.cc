// The claim's order and its cost as history grows (issue 23).
//   - Claim order on both stores: priority, then oldest job (FIFO), then part, with finished,
//     failed, cancelled and running jobs mixed in among the pending ones, a priority raised by
//     scheduling an equal job again, and a retried job coming back with its priority.
//   - PostgreSQL: the claim walks job_parts_claim_idx in claim order and stops at the first
//     ready part. Its plan (EXPLAIN ANALYZE, BUFFERS of the store's own statement and settings,
//     rolled back) has no sort and no sequential scan, also with statistics older than the
//     queue, and the walk reads the same rows and the same index buffers with 50,000 finished
//     part rows in the table as with none.
//   - SQLite: the claim's candidate query costs the same (in SQLite VM steps) with 3,000
//     pending jobs queued behind the first as with 30: it walks jobs_claim_idx and stops,
//     instead of sorting every pending part (20,000 queued one-cell jobs ran at 75/s).
//   - Delayed jobs, on both stores: not claimed before their run_at, claimed once
//     due in their place; a retry waits out its backoff. Their cost: with 70,000 delayed jobs
//     ahead in claim order the PostgreSQL claim reads the rows and buffers it read without
//     them (EXPLAIN ANALYZE, BUFFERS), and SQLite's takes the same VM steps with 3,000.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/postgres/pg_sql.h"
#include "store/sqlite/sqlite_sql.h"
#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"

namespace nbi {
namespace {

using testing::Backend;
using testing::Spec;

class ClaimOrderTest : public testing::StoreTest {
 protected:
  Job EnqueueAt(double lat, int priority = 0, int64_t part_cells = kDefaultPartCells) {
    HeatmapJobSpec s = Spec(lat);  // 25 cells
    s.priority = priority;
    s.part_cells = part_cells;
    return Enqueue(s);
  }
  // Claims one at a time until none is ready: (job id, part) in claim order.
  std::vector<std::pair<int64_t, int>> ClaimAll(const std::string& worker) {
    std::vector<std::pair<int64_t, int>> out;
    for (;;) {
      auto c = store_->Claim(worker);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      if (!c.ok() || !c->has_value()) return out;
      out.emplace_back((*c)->id, (*c)->part);
    }
  }
};

TEST_P(ClaimOrderTest, PriorityThenFifoThenPartAmongFinishedAndPendingRows) {
  JobQueue* q = store_.get();
  Job done1 = EnqueueAt(40.0);
  Job a = EnqueueAt(40.1);
  Job failed = EnqueueAt(40.2);
  Job split = EnqueueAt(40.3, 0, 10);  // 3 parts
  Job cancelled = EnqueueAt(40.4);
  Job b = EnqueueAt(40.5, 2);
  Job done2 = EnqueueAt(40.6, 5);
  Job c = EnqueueAt(40.7);
  Job raised = EnqueueAt(40.8);
  Job running = EnqueueAt(40.9, 1);
  ASSERT_EQ(split.part_count, 3);
  // Everything claimed once; then finished and stopped jobs among the pending ones, and the
  // rest handed back (ready again, in its place).
  auto all = q->ClaimBatch("x", 100);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 12u);
  EXPECT_EQ(all->front().id, done2.id);  // priority 5, then 2, then 1
  EXPECT_EQ((*all)[1].id, b.id);
  EXPECT_EQ((*all)[2].id, running.id);
  ASSERT_TRUE(q->CompletePart(done1.id, 0, "x").ok());
  ASSERT_TRUE(q->CompletePart(done2.id, 0, "x").ok());
  auto f = q->FailPart(failed.id, 0, "x", "broken", /*permanent=*/true);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->status, JobStatus::kFailed);
  for (const Job& j : *all) {
    if (j.id == done1.id || j.id == done2.id || j.id == failed.id || j.id == running.id) continue;
    ASSERT_TRUE(q->ReleasePart(j.id, j.part, "x").ok());
  }
  ASSERT_TRUE(q->Cancel(cancelled.id).ok());
  // Scheduling an equal job with a higher priority raises the pending one.
  HeatmapJobSpec again = Spec(40.8);
  again.priority = 3;
  auto twin = q->EnqueueHeatmap(again);
  ASSERT_TRUE(twin.ok());
  ASSERT_FALSE(twin->is_new);
  ASSERT_EQ(twin->job.id, raised.id);

  const std::vector<std::pair<int64_t, int>> want = {
      {raised.id, 0}, {b.id, 0}, {a.id, 0}, {split.id, 0}, {split.id, 1}, {split.id, 2}, {c.id, 0}};
  EXPECT_EQ(ClaimAll("w"), want);

  // A retried job comes back in its place: its priority, then its age.
  ASSERT_TRUE(q->Retry(failed.id).ok());
  Job later = EnqueueAt(41.0);
  Job urgent = EnqueueAt(41.1, 1);
  const std::vector<std::pair<int64_t, int>> next = {{urgent.id, 0}, {failed.id, 0}, {later.id, 0}};
  EXPECT_EQ(ClaimAll("w"), next);
}

// The batched claim takes the same order, and parts of one job spread over claimers.
TEST_P(ClaimOrderTest, BatchedClaimsFollowTheOrderAndSpreadPartsOverWorkers) {
  Job one = EnqueueAt(40.0);
  Job split = EnqueueAt(40.1, 0, 10);  // 3 parts
  Job high = EnqueueAt(40.2, 4);
  auto first = store_->ClaimBatch("w1", 3);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 3u);
  EXPECT_EQ(((*first)[0].id), high.id);
  EXPECT_EQ(((*first)[1].id), one.id);
  EXPECT_EQ(((*first)[2].id), split.id);
  EXPECT_EQ(((*first)[2].part), 0);
  EXPECT_EQ((*first)[0].status, JobStatus::kRunning);
  EXPECT_EQ((*first)[0].locked_by, "w1");
  EXPECT_TRUE((*first)[0].starts_job);
  auto second = store_->ClaimBatch("w2", 1);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].id, split.id);
  EXPECT_EQ((*second)[0].part, 1);
  EXPECT_EQ((*second)[0].status, JobStatus::kRunning);
  auto third = store_->ClaimBatch("w3", 5);
  ASSERT_EQ(third->size(), 1u);
  EXPECT_EQ((*third)[0].part, 2);
  EXPECT_EQ(store_->GetJob(split.id)->status, JobStatus::kRunning);
  EXPECT_TRUE(store_->ClaimBatch("w4", 5)->empty());
}

// Delayed jobs: a job scheduled with a run_at ahead is not claimed before it, is
// claimed once due in its place (its priority, raised meanwhile by scheduling an equal job
// again, then its age, then its parts spread over claimers), and one cancelled while it waits
// never comes back. On PostgreSQL its parts stay out of the claim index while it waits.
TEST_P(ClaimOrderTest, ADelayedJobIsClaimedOnceDueInItsPlace) {
  const int64_t due = clock_.NowMs() + 60'000;
  HeatmapJobSpec d = Spec(40.0);
  d.run_at_ms = due;
  d.part_cells = 10;  // 3 parts
  Job delayed = Enqueue(d);
  HeatmapJobSpec gone = Spec(40.1);
  gone.run_at_ms = due;
  Job cancelled = Enqueue(gone);
  Job ready = EnqueueAt(40.2, 2);
  if (GetParam() == Backend::kPostgres) {
    EXPECT_EQ(testing::QuerySql(url_, "SELECT count(*) FROM job_parts WHERE due_ms = " +
                                          std::to_string(due) + " AND claim_priority IS NULL"),
              "4")
        << "a delayed job's parts are in the claim index";
  }
  EXPECT_EQ(ClaimAll("w"), (std::vector<std::pair<int64_t, int>>{{ready.id, 0}}));
  // Scheduling it again with a higher priority raises it while it waits.
  d.priority = 4;
  auto twin = store_->EnqueueHeatmap(d);
  ASSERT_TRUE(twin.ok() && !twin->is_new && twin->job.id == delayed.id);
  ASSERT_TRUE(store_->Cancel(cancelled.id).ok());
  Job later = EnqueueAt(40.3, 3);
  clock_.Advance(59'999);
  EXPECT_EQ(ClaimAll("w"), (std::vector<std::pair<int64_t, int>>{{later.id, 0}}));
  EXPECT_EQ(store_->GetJob(delayed.id)->status, JobStatus::kPending);
  clock_.Advance(1);
  auto first = store_->ClaimBatch("w1", 1);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].id, delayed.id);
  EXPECT_EQ((*first)[0].part, 0);
  EXPECT_TRUE((*first)[0].starts_job);
  EXPECT_EQ((*first)[0].status, JobStatus::kRunning);
  auto second = store_->ClaimBatch("w2", 5);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 2u) << "the cancelled job came back";
  EXPECT_EQ((*second)[0].part, 1);
  EXPECT_EQ((*second)[1].part, 2);
  EXPECT_EQ((*second)[1].locked_by, "w2");
  EXPECT_EQ(store_->GetJob(cancelled.id)->status, JobStatus::kCancelled);
  if (GetParam() == Backend::kPostgres) {
    EXPECT_EQ(testing::QuerySql(url_, "SELECT count(*) FROM job_parts WHERE due_ms IS NOT NULL"),
              "0");
  }
}

// A retry waits out its backoff outside the claim (on PostgreSQL: outside the claim index,
// with every pending part of its job), is claimed once it ends, and a hand-back of another
// part makes the job ready at once.
TEST_P(ClaimOrderTest, ARetryWaitsOutItsBackoffThenIsClaimed) {
  JobQueue* q = store_.get();
  Job j = EnqueueAt(40.0, 0, 10);  // 3 parts
  auto all = q->ClaimBatch("w", 2);
  ASSERT_TRUE(all.ok() && all->size() == 2u);
  auto f = q->FailPart(j.id, 0, "w", "boom", /*permanent=*/false);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->run_at_ms, clock_.NowMs() + RetryBackoffMs(1));
  if (GetParam() == Backend::kPostgres) {
    EXPECT_EQ(testing::QuerySql(url_,
                                "SELECT string_agg(part::text, ',' ORDER BY part) FROM "
                                "job_parts WHERE claim_priority IS NULL AND due_ms = " +
                                    std::to_string(f->run_at_ms)),
              "0,2")
        << "the pending parts in backoff are in the claim index";
  }
  EXPECT_TRUE(ClaimAll("x").empty()) << "claimed during its backoff";
  clock_.Advance(RetryBackoffMs(1));
  auto again = q->Claim("x");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->id, j.id);
  EXPECT_EQ((*again)->part, 0);
  EXPECT_EQ((*again)->attempts, 2);
  // Another failure, then the other running part is handed back: ready now.
  f = q->FailPart(j.id, 0, "x", "boom again", false);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE(ClaimAll("y").empty());
  ASSERT_TRUE(q->ReleasePart(j.id, 1, "w").ok());
  EXPECT_EQ(ClaimAll("y"), (std::vector<std::pair<int64_t, int>>{{j.id, 0}, {j.id, 1}, {j.id, 2}}));
}

// An upgrade: a job that waits for its run_at when the delay migration (PostgreSQL v16,
// SQLite v14; the ones after it run again too) runs is moved out of the claim by the
// database's clock, and claimed once due.
TEST_P(ClaimOrderTest, TheMigrationDelaysJobsAlreadyWaiting) {
  clock_.Set(SystemClock::Get()->NowMs());  // the migration compares with the database's clock
  HeatmapJobSpec d = Spec(40.0);
  d.run_at_ms = clock_.NowMs() + 60'000;
  Job delayed = Enqueue(d);
  Job ready = EnqueueAt(40.1);
  const int version = *store_->SchemaVersion();
  // As the job was before the migration: in the claim index, no due time.
  testing::ExecSql(url_, GetParam() == Backend::kPostgres
                             ? "UPDATE job_parts SET claim_priority = 0, due_ms = NULL"
                             : "UPDATE jobs SET due_ms = NULL");
  const int delay_version = GetParam() == Backend::kPostgres ? 16 : 14;
  testing::ExecSql(
      url_, "DELETE FROM schema_migrations WHERE version >= " + std::to_string(delay_version));
  auto again = OpenStore(url_, &clock_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*(*again)->SchemaVersion(), version);
  if (GetParam() == Backend::kPostgres) {
    EXPECT_EQ(testing::QuerySql(url_, "SELECT job_id FROM job_parts WHERE due_ms IS NOT NULL"),
              std::to_string(delayed.id));
  }
  EXPECT_EQ(ClaimAll("w"), (std::vector<std::pair<int64_t, int>>{{ready.id, 0}}));
  clock_.Advance(60'000);
  EXPECT_EQ(ClaimAll("w"), (std::vector<std::pair<int64_t, int>>{{delayed.id, 0}}));
}

INSTANTIATE_TEST_SUITE_P(Stores, ClaimOrderTest, testing::BothBackends(),
                         testing::BackendParamName);

// ---- PostgreSQL: the plan of the claim

class PgClaimPlanTest : public testing::StoreTest {
 protected:
  // The store's claim statement (kClaimSolo) for one part, run under EXPLAIN (ANALYZE,
  // BUFFERS) and rolled back: its plan as JSON.
  nlohmann::json ExplainClaim() {
    return Explain(kClaimSolo.text, "text, bigint, int, bigint",
                   "'probe', " + std::to_string(clock_.NowMs()) + ", 1, " +
                       std::to_string(JobQueue::kAnyPartCells));
  }
  // A statement of the claim's transaction, with its settings, under EXPLAIN (ANALYZE,
  // BUFFERS) and rolled back: its plan as JSON.
  nlohmann::json Explain(const std::string& text, const std::string& types,
                         const std::string& args) {
    const std::string sql = std::string("BEGIN; ") + kClaimPlanSettings.text +
                            "; PREPARE nbi_claim_probe(" + types + ") AS " + text +
                            "; EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE nbi_claim_probe(" +
                            args + ")";
    const std::string out = testing::QuerySql(url_, sql);  // rolled back
    return nlohmann::json::parse(out)[0]["Plan"];
  }
  static int64_t Blocks(const nlohmann::json& n) {
    return n["Shared Hit Blocks"].get<int64_t>() + n["Shared Read Blocks"].get<int64_t>();
  }
  Job EnqueueAt(double lat) { return Enqueue(Spec(lat)); }
  // Every node of the plan, depth first.
  static void Nodes(const nlohmann::json& n, std::vector<nlohmann::json>* out) {
    out->push_back(n);
    if (n.contains("Plans")) {
      for (const auto& c : n["Plans"]) Nodes(c, out);
    }
  }
  // The walk of the claim index.
  static nlohmann::json Walk(const nlohmann::json& plan) {
    std::vector<nlohmann::json> all;
    Nodes(plan, &all);
    for (const auto& n : all) {
      if (n.value("Index Name", "") == "job_parts_claim_idx") return n;
    }
    ADD_FAILURE() << "no scan of job_parts_claim_idx in " << plan.dump(1);
    return {};
  }
  static void ExpectNoSortNorSeqScan(const nlohmann::json& plan) {
    std::vector<nlohmann::json> all;
    Nodes(plan, &all);
    for (const auto& n : all) {
      const std::string type = n["Node Type"];
      EXPECT_NE(type, "Seq Scan") << n.dump(1);
      EXPECT_NE(type, "Bitmap Heap Scan") << n.dump(1);
      // The one sort allowed puts the few claimed rows in order for the answer.
      if (type == "Sort") EXPECT_LE(n["Actual Rows"].get<int>(), 1) << n.dump(1);
    }
  }
};

TEST_P(PgClaimPlanTest, TheClaimWalksItsIndexAndIgnoresFinishedRows) {
  // Statistics taken while the queue was nearly empty, then 300 pending jobs: without the
  // claim's settings the planner sorted every pending part.
  Enqueue(Spec(40.0));
  testing::ExecSql(url_, "ANALYZE jobs; ANALYZE job_parts;");
  for (int i = 1; i < 300; ++i) Enqueue(Spec(40.0 + i * 0.1));
  const nlohmann::json before = ExplainClaim();
  ExpectNoSortNorSeqScan(before);
  const nlohmann::json walk_before = Walk(before);
  EXPECT_EQ(walk_before["Actual Rows"], 1) << "stops at the first ready part";

  // 50,000 finished jobs of one part each, older than the pending ones (ids below theirs: first
  // in claim order if they were in the index at all), then fresh statistics.
  testing::ExecSql(
      url_,
      "INSERT INTO jobs (id, type, status, progress, total_items, metadata, created_at, "
      "priority, run_at_ms, part_count, ready_parts, completed_at, dedupe_key) "
      "SELECT -g, 'heatmap_compute', 'completed', 100, 1, '{}', now(), 0, 0, 1, 0, now(), "
      "'done-' || g FROM generate_series(1, 50000) g; "
      "INSERT INTO job_parts (job_id, part, begin_index, end_index, next_index, status, "
      "attempts) SELECT id, 0, 0, 1, 1, 'completed', 1 FROM jobs WHERE status = 'completed'; "
      "ANALYZE jobs; ANALYZE job_parts;");
  const nlohmann::json after = ExplainClaim();
  ExpectNoSortNorSeqScan(after);
  const nlohmann::json walk_after = Walk(after);
  EXPECT_EQ(walk_after["Actual Rows"], walk_before["Actual Rows"]);
  EXPECT_EQ(walk_after.value("Rows Removed by Filter", 0), 0);
  EXPECT_LE(Blocks(walk_after), Blocks(walk_before))
      << "the walk read more of the index with finished rows in the table";
  // The claim still takes the oldest pending job.
  auto c = store_->Claim("w");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->metadata["bounds"]["minLat"], 40.0);
}

// 70,000 delayed jobs ahead of the ready one in claim order (a higher priority, older ids):
// the claim reads what it read without them. Before, the walk met each delayed part, looked
// up its job and dropped it on run_at (36 ms per claim, "Rows Removed by Filter: 69991").
// The delayed jobs are copies of one the store delayed itself, row for row, so whatever the
// store writes for a delayed job is what the claim has to pass over.
TEST_P(PgClaimPlanTest, DelayedJobsLeaveTheClaimsCostUnchanged) {
  Job ready = EnqueueAt(40.0);
  HeatmapJobSpec d = Spec(41.0);
  d.priority = 5;
  d.run_at_ms = clock_.NowMs() + 3'600'000;
  Job model = Enqueue(d);
  testing::ExecSql(url_, "ANALYZE jobs; ANALYZE job_parts;");
  const nlohmann::json before = ExplainClaim();
  testing::ExecSql(
      url_,
      "INSERT INTO jobs SELECT (jsonb_populate_record(NULL::jobs, to_jsonb(t) || "
      "jsonb_build_object('id', -g, 'dedupe_key', 'delayed-' || g))).* "
      "FROM jobs t, generate_series(1, 70000) g WHERE t.id = " +
          std::to_string(model.id) +
          "; "
          "INSERT INTO job_parts SELECT (jsonb_populate_record(NULL::job_parts, to_jsonb(p) || "
          "jsonb_build_object('job_id', -g))).* "
          "FROM job_parts p, generate_series(1, 70000) g WHERE p.job_id = " +
          std::to_string(model.id));
  testing::ExecSql(url_, "VACUUM ANALYZE jobs");
  testing::ExecSql(url_, "VACUUM ANALYZE job_parts");
  const nlohmann::json after = ExplainClaim();
  ExpectNoSortNorSeqScan(after);
  const nlohmann::json walk_before = Walk(before), walk_after = Walk(after);
  EXPECT_EQ(walk_after["Actual Rows"], 1) << "the walk met delayed parts";
  EXPECT_EQ(walk_after["Actual Rows"], walk_before["Actual Rows"]);
  std::vector<nlohmann::json> nodes;
  Nodes(after, &nodes);
  for (const auto& n : nodes) {
    // Rows of the tables: kClaimSolo's answer filters its own few candidates (CTE Scan).
    if (n["Node Type"] != "CTE Scan")
      EXPECT_EQ(n.value("Rows Removed by Filter", 0), 0) << n.dump(1);
    EXPECT_EQ(n.value("Rows Removed by Join Filter", 0), 0) << n.dump(1);
    EXPECT_NE(n.value("Index Name", ""), "jobs_next_run_idx") << "the job not found by its key";
  }
  EXPECT_LE(Blocks(walk_after), Blocks(walk_before)) << "the walk read more of the index";
  // The statement as a whole: the tables grew from 2 rows to 70,000, so each index it reads or
  // writes may be one level deeper (measured: 39 blocks before, 48 after). Walking past the
  // delayed parts read one index entry and one job per part, thousands of blocks.
  EXPECT_LE(Blocks(after), Blocks(before) + 16) << before.dump(1) << after.dump(1);
  // The promotion before it reads the first entry of the due-time index and stops.
  const nlohmann::json promote =
      Explain(kPromoteDue.text, "bigint", std::to_string(clock_.NowMs()));
  Nodes(promote, &nodes);
  bool probed = false;
  for (const auto& n : nodes) {
    EXPECT_NE(n["Node Type"], "Seq Scan") << n.dump(1);
    probed |= n.value("Index Name", "") == "job_parts_due_idx";
  }
  EXPECT_TRUE(probed) << promote.dump(1);
  EXPECT_LE(Blocks(promote), 4) << promote.dump(1);
  auto c = store_->Claim("w");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->id, ready.id);
}

INSTANTIATE_TEST_SUITE_P(Stores, PgClaimPlanTest, ::testing::Values(Backend::kPostgres),
                         testing::BackendParamName);

// ---- SQLite: the cost of the claim

// The VM steps SQLite takes for one of the store's claim statements on the store's file: they
// grow with every row the statement visits.
class SqliteClaimCostTest : public testing::StoreTest {
 protected:
  int64_t Steps(const char* sql, int64_t now) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(url_.substr(7).c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_bind_int64(st, 1, now);
    if (sqlite3_bind_parameter_count(st) > 1) sqlite3_bind_int64(st, 2, 1);
    if (sqlite3_bind_parameter_count(st) > 2) sqlite3_bind_int64(st, 3, JobQueue::kAnyPartCells);
    while (sqlite3_step(st) == SQLITE_ROW) {
    }
    const int64_t steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return steps;
  }
};

// 3,000 delayed jobs ahead of the ready one in claim order (a higher priority): the claim and
// the promotion before it take the steps they took without them (the claim walked past every
// delayed job before).
TEST_P(SqliteClaimCostTest, DelayedJobsAddNoStepsToTheClaim) {
  Job ready = Enqueue(testing::Spec(40.0));
  const int64_t now = clock_.NowMs();
  const int64_t claim_before = Steps(sql::kClaimCandidates, now);
  const int64_t promote_before = Steps(sql::kPromoteDue, now);
  for (int i = 0; i < 3000; ++i) {
    HeatmapJobSpec d = testing::Spec(10.0 + (i % 100) * 0.5, -100.0 + (i / 100) * 0.5);
    d.priority = 5;
    d.run_at_ms = now + 3'600'000;
    Enqueue(d);
  }
  // The same walk: a step or so more where a B-tree the statement opens got deeper; delayed
  // jobs left in the claim index cost 12,025 steps here.
  EXPECT_LE(Steps(sql::kClaimCandidates, now), claim_before + 8);
  // The first entry of the due-time index, no longer empty, is read and found not due.
  EXPECT_LE(Steps(sql::kPromoteDue, now), promote_before + 10);
  auto c = store_->Claim("w");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->id, ready.id);
}

INSTANTIATE_TEST_SUITE_P(Stores, SqliteClaimCostTest, ::testing::Values(Backend::kSqlite),
                         testing::BackendParamName);

// ---- SQLite: the cost of the claim's candidate query with many pending jobs

class SqliteCandidateCostTest : public testing::StoreTest {
 protected:
  // SQLite VM steps of the store's candidate query (kClaimCandidates) for `limit` parts, run
  // on a connection of its own; *first: the first candidate's job.
  int64_t ClaimSteps(int limit, int64_t* first) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(url_.substr(std::string("sqlite:").size()).c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql::kClaimCandidates, -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_bind_int64(st, 1, clock_.NowMs());
    sqlite3_bind_int(st, 2, limit);
    sqlite3_bind_int64(st, 3, JobQueue::kAnyPartCells);
    *first = 0;
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
      if (rows++ == 0) *first = sqlite3_column_int64(st, 0);
    }
    EXPECT_EQ(rows, limit);
    const int64_t steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return steps;
  }
};

TEST_P(SqliteCandidateCostTest, TheClaimCostsTheSameWithManyPendingJobsBehind) {
  const Job first = Enqueue(Spec(40.0));
  for (int i = 1; i < 30; ++i) Enqueue(Spec(40.0 + i * 0.1));
  int64_t job = 0;
  const int64_t one_before = ClaimSteps(1, &job);
  EXPECT_EQ(job, first.id);
  const int64_t four_before = ClaimSteps(4, &job);
  // 3,000 more pending jobs, all behind the first in claim order (same priority, newer).
  for (int i = 0; i < 3000; ++i) Enqueue(Spec(-60.0 + (i % 100) * 0.1, 100.0 + (i / 100) * 0.1));
  const int64_t one_after = ClaimSteps(1, &job);
  EXPECT_EQ(job, first.id);
  const int64_t four_after = ClaimSteps(4, &job);
  // Equal up to a few steps (no step grows with the queue: a sort of every pending part took
  // about 100x more here).
  EXPECT_LE(one_after, one_before + 10) << "the claim reads the whole queue";
  EXPECT_LE(four_after, four_before + 10) << "the batched claim reads the whole queue";
  // And the claim itself still takes the first job.
  EXPECT_EQ(MustClaim("w").id, first.id);
}

INSTANTIATE_TEST_SUITE_P(Stores, SqliteCandidateCostTest, ::testing::Values(Backend::kSqlite),
                         testing::BackendParamName);

}  // namespace
}  // namespace nbi
