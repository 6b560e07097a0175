// The claim's order and its cost as history grows (issue 23).
//   - Claim order on both stores: priority, then oldest job (FIFO), then part, with finished,
//     failed, cancelled and running jobs mixed in among the pending ones, a priority raised by
//     scheduling an equal job again, and a retried job coming back with its priority.
//   - PostgreSQL: the claim walks job_parts_claim_idx in claim order and stops at the first
//     ready part. Its plan (EXPLAIN ANALYZE, BUFFERS of the store's own statement and settings,
//     rolled back) has no sort and no sequential scan, also with statistics older than the
//     queue, and the walk reads the same rows and the same index buffers with 50,000 finished
//     part rows in the table as with none.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/postgres/pg_sql.h"
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

INSTANTIATE_TEST_SUITE_P(Stores, ClaimOrderTest, testing::BothBackends(),
                         testing::BackendParamName);

// ---- PostgreSQL: the plan of the claim

class PgClaimPlanTest : public testing::StoreTest {
 protected:
  // The store's claim statement (kClaimSolo) for one part, run under EXPLAIN (ANALYZE,
  // BUFFERS) and rolled back: its plan as JSON.
  nlohmann::json ExplainClaim() {
    const std::string sql =
        std::string("BEGIN; ") + kClaimPlanSettings.text +
        "; PREPARE nbi_claim_probe(text, bigint, int) AS " + kClaimSolo.text +
        "; EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE nbi_claim_probe('probe', " +
        std::to_string(clock_.NowMs()) + ", 1)";
    const std::string out = testing::QuerySql(url_, sql);  // rolled back
    return nlohmann::json::parse(out)[0]["Plan"];
  }
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
  const auto blocks = [](const nlohmann::json& n) {
    return n["Shared Hit Blocks"].get<int64_t>() + n["Shared Read Blocks"].get<int64_t>();
  };
  EXPECT_LE(blocks(walk_after), blocks(walk_before))
      << "the walk read more of the index with finished rows in the table";
  // The claim still takes the oldest pending job.
  auto c = store_->Claim("w");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->metadata["bounds"]["minLat"], 40.0);
}

INSTANTIATE_TEST_SUITE_P(Stores, PgClaimPlanTest, ::testing::Values(Backend::kPostgres),
                         testing::BackendParamName);

}  // namespace
}  // namespace nbi
