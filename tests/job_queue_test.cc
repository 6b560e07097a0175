// JobQueue conformance (src/store/store.h): the job queue and its checkpointed writes.
// Enqueue with its duplicate rule; Claim/ClaimBatch order (priority, then oldest) and effects;
// ownership (kConflict for anyone but the owner, who alone may heartbeat, checkpoint,
// complete, fail or release); WriteCheckpoint writes cells + progress + lastProcessedIndex
// in one transaction (read back through CellStore), atomically under commit faults
// (testing::FaultStore); fail/retry with backoff; cancel; release; rescue of stale jobs;
// force reset, prune, list and counts; and every job claimed exactly once by 8 threads and
// by 4 processes. Runs on SQLite and PostgreSQL.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fault_store.h"
#include "store/store.h"
#include "store/testing.h"
#include "store_fixture.h"
#include "store_test_util.h"

namespace nbi {
namespace {

using testing::Backend;
using testing::Spec;

class JobQueueTest : public testing::StoreTest {};

TEST_P(JobQueueTest, EnqueueDuplicateRule) {
  JobQueue* q = store_.get();
  Job a = Enqueue(Spec());
  EXPECT_EQ(a.status, JobStatus::kPending);
  EXPECT_EQ(a.total_items, 25);
  EXPECT_EQ(a.type, "heatmap_compute");
  EXPECT_EQ(a.metadata["gridStep"], 0.01);
  EXPECT_EQ(a.metadata["model"], "grocery");
  EXPECT_EQ(a.metadata["lastProcessedIndex"], 0);
  auto dup = q->EnqueueHeatmap(Spec());
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
  EXPECT_FALSE(q->EnqueueHeatmap(Spec())->is_new);
  ASSERT_TRUE(q->CompletePart(a.id, 0, "w1").ok());
  auto after = q->EnqueueHeatmap(Spec());
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->is_new);
  EXPECT_NE(after->job.id, a.id);
  // Invalid specs are refused.
  EXPECT_EQ(q->EnqueueHeatmap(Spec(47.1, 9.5, 0.5)).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(JobQueueTest, ClaimOrderPriorityThenFifo) {
  JobQueue* q = store_.get();
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
  auto none = q->Claim("w");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_P(JobQueueTest, BatchClaimAndCompleteKeepOrderAndOwnership) {
  JobQueue* q = store_.get();
  std::vector<Job> jobs;
  for (int i = 0; i < 7; ++i) {
    auto s = Spec(40.0 + i);
    s.priority = i == 5 ? 9 : 0;
    jobs.push_back(Enqueue(s));
  }
  auto first = q->ClaimBatch("w", 3);
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
  auto rest = q->ClaimBatch("v", 100);
  ASSERT_EQ(rest->size(), 4u);
  EXPECT_TRUE(q->ClaimBatch("v", 5)->empty());
  // Only the owner's jobs complete.
  std::vector<int64_t> ids;
  for (const Job& j : *first) ids.push_back(j.id);
  ids.push_back(rest->front().id);  // owned by "v"
  auto done = q->CompleteBatch(ids, "w");
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(*done, 3);
  EXPECT_EQ(q->GetJob(jobs[5].id)->status, JobStatus::kCompleted);
  EXPECT_EQ(q->GetJob(rest->front().id)->status, JobStatus::kRunning);
  EXPECT_EQ(*q->CompleteBatch({}, "w"), 0);
}

TEST_P(JobQueueTest, OwnershipIsChecked) {
  CellStore* cell_store = store_.get();
  JobQueue* q = store_.get();
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(j.metadata.is_null() ? BBox{} : Spec().bounds, 0.01);
  ASSERT_TRUE(g.ok());
  MustClaim("owner");
  EXPECT_EQ(q->Heartbeat(j.id, "intruder").status().code(), StatusCode::kConflict);
  EXPECT_EQ(Write(j, "intruder", *g, 0, 5).status().code(), StatusCode::kConflict);
  EXPECT_EQ(q->CompletePart(j.id, 0, "intruder").status().code(), StatusCode::kConflict);
  EXPECT_EQ(q->FailPart(j.id, 0, "intruder", "x", false).status().code(), StatusCode::kConflict);
  EXPECT_EQ(q->ReleasePart(j.id, 0, "intruder").status().code(), StatusCode::kConflict);
  EXPECT_EQ(*cell_store->CountCells(std::nullopt), 0);  // the intruder wrote nothing
  // An unknown job is not the caller's either: the same answer from both stores (the steps are
  // shared, store/queue_steps.h; SQLite once said kNotFound here).
  const int64_t unknown = j.id + 1000;
  EXPECT_EQ(q->CompletePart(unknown, 0, "owner").status().code(), StatusCode::kConflict);
  EXPECT_EQ(q->FailPart(unknown, 0, "owner", "x", false).status().code(), StatusCode::kConflict);
  EXPECT_EQ(q->ReleasePart(unknown, 0, "owner").status().code(), StatusCode::kConflict);
  auto hb = q->Heartbeat(j.id, "owner");
  ASSERT_TRUE(hb.ok());
  EXPECT_FALSE(*hb);
}

TEST_P(JobQueueTest, CheckpointWritesCellsProgressAndIndexTogether) {
  CellStore* cell_store = store_.get();
  JobQueue* q = store_.get();
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(Spec().bounds, 0.01);
  ASSERT_TRUE(g.ok());
  MustClaim("w");
  clock_.Advance(1000);
  auto r = Write(j, "w", *g, 0, 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(*r);
  Job now = *q->GetJob(j.id);
  EXPECT_EQ(now.last_processed_index(), 10);
  EXPECT_EQ(now.progress, 40);  // 10 of 25
  EXPECT_EQ(now.heartbeat_at_ms, clock_.NowMs());
  EXPECT_EQ(*cell_store->CountCells(0.01), 10);
  ASSERT_TRUE(Write(j, "w", *g, 10, 15).ok());
  EXPECT_EQ(q->GetJob(j.id)->progress, 100);
  auto cells = cell_store->QueryCells(Spec().bounds, 0.01, HeatModel::kGrocery, 0, 1000);
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
  EXPECT_EQ(*cell_store->CountCells(0.01), 25);
  cells = cell_store->QueryCells(Spec().bounds, 0.01, HeatModel::kGrocery, 0, 1000);
  EXPECT_EQ((*cells)[3].score, 53);
  // min_score filter and the limit (+1 so callers can see the cap was hit).
  EXPECT_EQ(cell_store->QueryCells(Spec().bounds, 0.01, HeatModel::kGrocery, 70, 1000)->size(),
            5u);  // 70..74
  EXPECT_EQ(cell_store->QueryCells(Spec().bounds, 0.01, HeatModel::kGrocery, 0, 7)->size(), 8u);
  EXPECT_EQ(cell_store->QueryCells(Spec().bounds, 0.005, HeatModel::kGrocery, 0, 7)->size(), 0u);
  ASSERT_TRUE(q->CompletePart(j.id, 0, "w").ok());
  Job done = *q->GetJob(j.id);
  EXPECT_EQ(done.status, JobStatus::kCompleted);
  EXPECT_EQ(done.progress, 100);
  EXPECT_TRUE(done.completed_at_ms.has_value());
  EXPECT_FALSE(done.locked_by.has_value());
}

TEST_P(JobQueueTest, FailRetriesWithBackoffThenFails) {
  JobQueue* q = store_.get();
  auto spec = Spec();
  spec.max_attempts = 2;
  Job j = Enqueue(spec);
  MustClaim("w");
  auto f1 = q->FailPart(j.id, 0, "w", "boom 1", false);
  ASSERT_TRUE(f1.ok()) << f1.status().ToString();
  EXPECT_EQ(f1->status, JobStatus::kPending);
  EXPECT_EQ(f1->error, "boom 1");
  EXPECT_EQ(f1->run_at_ms, clock_.NowMs() + RetryBackoffMs(1));
  EXPECT_FALSE(q->Claim("w")->has_value()) << "claimed before its backoff elapsed";
  clock_.Advance(RetryBackoffMs(1));
  Job again = MustClaim("w");
  EXPECT_EQ(again.id, j.id);
  EXPECT_EQ(again.attempts, 2);
  auto f2 = q->FailPart(j.id, 0, "w", "boom 2", false);
  ASSERT_TRUE(f2.ok());
  EXPECT_EQ(f2->status, JobStatus::kFailed);
  EXPECT_EQ(f2->error, "boom 2");
  EXPECT_TRUE(f2->completed_at_ms.has_value());
  // Retry brings it back, from its checkpoint, with a fresh attempt budget.
  auto r = q->Retry(j.id);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, JobStatus::kPending);
  EXPECT_EQ(r->attempts, 0);
  EXPECT_FALSE(r->error.has_value());
  EXPECT_EQ(MustClaim("w").id, j.id);
  // A permanent failure does not retry.
  auto p = q->FailPart(j.id, 0, "w", "bad input", true);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->status, JobStatus::kFailed);
  EXPECT_EQ(q->Retry(999999).status().code(), StatusCode::kNotFound);
  Job pending = Enqueue(Spec(47.4));
  EXPECT_EQ(q->Retry(pending.id).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(JobQueueTest, RetryRefusedWhileAnEqualJobIsActive) {
  JobQueue* q = store_.get();
  Job j = Enqueue(Spec());
  ASSERT_TRUE(q->Cancel(j.id).ok());
  Job twin = Enqueue(Spec());
  EXPECT_NE(twin.id, j.id);
  EXPECT_EQ(q->Retry(j.id).status().code(), StatusCode::kConflict);
}

TEST_P(JobQueueTest, CancelPendingAtOnceAndRunningAtChunkBoundary) {
  JobQueue* q = store_.get();
  Job a = Enqueue(Spec(47.0));
  auto c = q->Cancel(a.id);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->status, JobStatus::kCancelled);
  EXPECT_TRUE(c->completed_at_ms.has_value());
  EXPECT_EQ(q->Cancel(a.id).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(q->Cancel(123456).status().code(), StatusCode::kNotFound);

  Job b = Enqueue(Spec(47.1));
  auto g = GridRegion::Make(Spec(47.1).bounds, 0.01);
  MustClaim("w");
  auto rc = q->Cancel(b.id);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(rc->status, JobStatus::kRunning);
  EXPECT_TRUE(rc->cancel_requested);
  auto cp = Write(b, "w", *g, 0, 5);
  ASSERT_TRUE(cp.ok());
  EXPECT_TRUE(*cp) << "the owner learns of the cancel at its checkpoint";
  EXPECT_TRUE(*q->Heartbeat(b.id, "w"));
  auto rel = q->ReleasePart(b.id, 0, "w");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->status, JobStatus::kCancelled);
  EXPECT_EQ(rel->last_processed_index(), 5);
}

TEST_P(JobQueueTest, ReleaseHandsBackWithoutSpendingAnAttempt) {
  JobQueue* q = store_.get();
  Job j = Enqueue(Spec());
  auto g = GridRegion::Make(Spec().bounds, 0.01);
  MustClaim("w");
  ASSERT_TRUE(Write(j, "w", *g, 0, 10).ok());
  auto rel = q->ReleasePart(j.id, 0, "w");
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->status, JobStatus::kPending);
  EXPECT_EQ(rel->attempts, 0);
  EXPECT_EQ(rel->last_processed_index(), 10);
  Job again = MustClaim("w2");
  EXPECT_EQ(again.id, j.id);
  EXPECT_EQ(again.last_processed_index(), 10);
}

TEST_P(JobQueueTest, RescueUsesHeartbeatsNotStartTime) {
  JobQueue* q = store_.get();
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
      ASSERT_TRUE(q->Heartbeat(healthy.id, "healthy-worker").ok());
    } else {
      ASSERT_TRUE(Write(healthy, "healthy-worker", *gh, 0, 1).ok());
    }
    auto n = q->RescueStale(timeout);
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(*n, minute == 10 ? 1 : 0) << "minute " << minute;
  }
  EXPECT_EQ(q->GetJob(healthy.id)->status, JobStatus::kRunning);
  Job s = *q->GetJob(stuck.id);
  EXPECT_EQ(s.status, JobStatus::kPending);
  EXPECT_FALSE(s.locked_by.has_value());
  // The rescued job's old owner can no longer write.
  auto gs = GridRegion::Make(Spec(47.1).bounds, 0.01);
  EXPECT_EQ(Write(stuck, "dead-worker", *gs, 0, 5).status().code(), StatusCode::kConflict);
  Job taken = MustClaim("new-worker");
  EXPECT_EQ(taken.id, stuck.id);
  EXPECT_EQ(taken.attempts, 2);
}

TEST_P(JobQueueTest, RescueEndsACancelledJobAndResumesTheOthers) {
  JobQueue* q = store_.get();
  const int64_t timeout = 60 * 1000;
  Job cancelled = Enqueue(Spec(47.0));
  auto last = Spec(47.1);
  last.max_attempts = 1;
  Job crashed = Enqueue(last);
  MustClaim("dead-1");
  MustClaim("dead-2");
  ASSERT_TRUE(q->Cancel(cancelled.id).ok());  // requested while its worker is dead
  clock_.Advance(timeout + 1);
  EXPECT_EQ(*q->RescueStale(timeout), 2);
  Job c = *q->GetJob(cancelled.id);
  EXPECT_EQ(c.status, JobStatus::kCancelled);
  EXPECT_TRUE(c.completed_at_ms.has_value());
  // Its worker died on its last attempt before any progress: the job ends failed, saying so,
  // instead of being rescued forever.
  Job x = *q->GetJob(crashed.id);
  EXPECT_EQ(x.status, JobStatus::kFailed);
  ASSERT_TRUE(x.error.has_value());
  EXPECT_NE(x.error->find("died (or hung) while running it 1 times"), std::string::npos)
      << *x.error;
  EXPECT_FALSE(q->Claim("w")->has_value());
}

// A rescue counts as an attempt unless the run committed progress since its claim: a poison
// job fails after max_attempts, a long job crashed mid-way many times still finishes.
TEST_P(JobQueueTest, RescuesCountAsAttemptsUnlessTheRunProgressed) {
  JobQueue* q = store_.get();
  const int64_t timeout = 60 * 1000;
  auto spec = Spec(47.0);
  spec.max_attempts = 3;
  Job poison = Enqueue(spec);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    Job j = MustClaim("w" + std::to_string(attempt));
    EXPECT_EQ(j.attempts, attempt);
    clock_.Advance(timeout + 1);
    EXPECT_EQ(*q->RescueStale(timeout), 1);
  }
  Job p = *q->GetJob(poison.id);
  EXPECT_EQ(p.status, JobStatus::kFailed);
  EXPECT_EQ(p.attempts, 3);
  EXPECT_NE(p.error->find("3 times without progress; giving up after 3 of 3 attempts"),
            std::string::npos)
      << *p.error;

  auto long_spec = Spec(47.2);
  long_spec.max_attempts = 2;
  Job long_job = Enqueue(long_spec);
  auto g = GridRegion::Make(long_spec.bounds, long_spec.grid_step);
  for (int crash = 0; crash < 5; ++crash) {  // five crashes, each after one more chunk
    Job j = MustClaim("w");
    ASSERT_TRUE(Write(j, "w", *g, crash * 5, 5).ok());
    clock_.Advance(timeout + 1);
    EXPECT_EQ(*q->RescueStale(timeout), 1);
    Job after = *q->GetJob(long_job.id);
    EXPECT_EQ(after.status, JobStatus::kPending) << "crash " << crash;
    EXPECT_EQ(after.attempts, 0) << "a run with progress gives its attempt back";
    EXPECT_NE(after.error->find("resumed from its checkpoint"), std::string::npos);
  }
  Job last = MustClaim("w");
  EXPECT_EQ(last.last_processed_index(), 25);
  ASSERT_TRUE(q->CompletePart(last.id, 0, "w").ok());
  EXPECT_FALSE(q->GetJob(last.id)->error.has_value());
}

// Dead-owner detection: a job whose owner holds no lease is rescued at once, without waiting
// for the heartbeat timeout; a job whose owner holds its lease is left alone.
TEST_P(JobQueueTest, DeadOwnersAreRescuedAtOnceLiveOnesKept) {
  JobQueue* q = store_.get();
  Job a = Enqueue(Spec(47.0));
  Job b = Enqueue(Spec(47.1));
  auto lease = q->HoldOwnerLease("alive-worker");
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(q->HoldOwnerLease("alive-worker").status().code(), StatusCode::kConflict);
  EXPECT_EQ(MustClaim("alive-worker").id, a.id);
  EXPECT_EQ(MustClaim("dead-worker").id, b.id);  // never held a lease: its process is gone
  EXPECT_EQ(*q->RescueDeadOwners(), 1);
  EXPECT_EQ(q->GetJob(a.id)->status, JobStatus::kRunning);
  EXPECT_EQ(q->GetJob(b.id)->status, JobStatus::kPending);
  EXPECT_EQ(*q->RescueDeadOwners(), 0);
  ASSERT_TRUE((*lease)->Check().ok());
  lease->reset();  // the owner ends
  int rescued = 0;
  for (int i = 0; i < 100 && rescued == 0; ++i) {  // a killed session ends asynchronously
    rescued = *q->RescueDeadOwners();
    if (rescued == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(rescued, 1);
  Job after = *q->GetJob(a.id);
  EXPECT_EQ(after.status, JobStatus::kPending);
  EXPECT_FALSE(after.locked_by.has_value());
  // The old owner's writes are refused.
  auto g = GridRegion::Make(Spec(47.0).bounds, 0.01);
  EXPECT_EQ(Write(after, "alive-worker", *g, 0, 5).status().code(), StatusCode::kConflict);
}

TEST_P(JobQueueTest, NextPendingIsTheEarliestRunAt) {
  JobQueue* q = store_.get();
  EXPECT_FALSE(q->NextPending()->has_value());
  Job a = Enqueue(Spec(47.0));
  Job b = Enqueue(Spec(47.1));
  EXPECT_EQ((*q->NextPending())->id, a.id);
  MustClaim("w");                                          // a
  auto failed = q->FailPart(a.id, 0, "w", "boom", false);  // a waits out a backoff
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ((*q->NextPending())->id, b.id);
  MustClaim("w");  // b
  auto next = q->NextPending();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->id, a.id);
  EXPECT_EQ((*next)->run_at_ms, clock_.NowMs() + RetryBackoffMs(1));
}

// A reset refuses while the area's job is active (nothing deleted); it touches only its own
// step's and model's cells and finished jobs; delete and enqueue are one transaction.
TEST_P(JobQueueTest, ResetIsRefusedWhileActiveAndTouchesOnlyItsStepAndModel) {
  JobQueue* q = store_.get();
  CellStore* cells = store_.get();
  auto grocery = Spec(47.0, 9.5, 0.01, HeatModel::kGrocery);
  auto blend = Spec(47.0, 9.5, 0.01, HeatModel::kBlend);
  auto fine = Spec(47.0, 9.5, 0.005, HeatModel::kGrocery);
  std::vector<Job> done;
  for (const auto& spec : {grocery, blend, fine}) {
    Job j = Enqueue(spec);
    Job c = MustClaim("w");
    ASSERT_EQ(c.id, j.id);
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    ASSERT_TRUE(Write(c, "w", *g, 0, g->cell_count()).ok());
    ASSERT_TRUE(q->CompletePart(c.id, 0, "w").ok());
    done.push_back(c);
  }
  const BBox box = grocery.bounds;
  EXPECT_EQ(cells->QueryCells(box, 0.01, HeatModel::kGrocery, 0, 1000)->size(), 25u);
  EXPECT_EQ(cells->QueryCells(box, 0.01, HeatModel::kBlend, 0, 1000)->size(), 25u);

  Job active = Enqueue(grocery);
  auto refused = q->ResetAndEnqueue(grocery);
  ASSERT_EQ(refused.status().code(), StatusCode::kConflict);
  EXPECT_NE(refused.status().message().find("#" + std::to_string(active.id)), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(*cells->CountCells(std::nullopt), 25 + 25 + 100) << "a refused reset deleted cells";
  ASSERT_TRUE(q->Cancel(active.id).ok());

  auto reset = q->ResetAndEnqueue(grocery);
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
  EXPECT_EQ(reset->first, 25);
  EXPECT_TRUE(reset->second.is_new);
  EXPECT_EQ(cells->QueryCells(box, 0.01, HeatModel::kGrocery, 0, 1000)->size(), 0u);
  EXPECT_EQ(cells->QueryCells(box, 0.01, HeatModel::kBlend, 0, 1000)->size(), 25u);
  EXPECT_EQ(cells->QueryCells(box, 0.005, HeatModel::kGrocery, 0, 1000)->size(), 100u);
  EXPECT_EQ(q->GetJob(done[0].id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(q->GetJob(active.id).status().code(), StatusCode::kNotFound);  // finished, same key
  EXPECT_TRUE(q->GetJob(done[1].id).ok());                                 // blend job kept
  EXPECT_TRUE(q->GetJob(done[2].id).ok());                                 // other step kept
}

// Cell ids are 64-bit: writes go on past 2^31 (a SERIAL id would fail every job there).
TEST_P(JobQueueTest, CellIdsGoPastTwoToTheThirtyOne) {
  if (GetParam() == Backend::kPostgres) {
    testing::ExecSql(url_, "SELECT setval('heat_cells_id_seq', 2147483600)");
  } else {
    testing::ExecSql(url_,
                     "INSERT INTO heat_cells (id, lat, lng, score, grid_step) "
                     "VALUES (2147483640, -89, -179, 0, 0.1)");
  }
  Job j = Enqueue(Spec(47.0));
  MustClaim("w");
  auto g = GridRegion::Make(Spec(47.0).bounds, 0.01);
  for (int round = 0; round < 4; ++round) {  // 100 rewrites of the 25 cells
    ASSERT_TRUE(Write(j, "w", *g, 0, 25, round).ok()) << "round " << round;
  }
  EXPECT_EQ(*store_->CountCells(0.01), 25);
  EXPECT_EQ(store_->QueryCells(Spec(47.0).bounds, 0.01, HeatModel::kGrocery, 0, 100)->front().score,
            3);
}

TEST_P(JobQueueTest, ForceResetPruneListAndCounts) {
  JobQueue* q = store_.get();
  std::vector<Job> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(Enqueue(Spec(40.0 + i)));
  MustClaim("w");  // jobs[0]
  MustClaim("w");  // jobs[1]
  ASSERT_TRUE(q->CompletePart(jobs[1].id, 0, "w").ok());
  ASSERT_TRUE(q->Cancel(jobs[2].id).ok());
  auto reset = q->ResetRunning();
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ(*reset, 1);
  Job r0 = *q->GetJob(jobs[0].id);
  EXPECT_EQ(r0.status, JobStatus::kPending);
  EXPECT_FALSE(r0.started_at_ms.has_value());

  auto counts = q->CountJobsByStatus();
  ASSERT_TRUE(counts.ok());
  std::map<JobStatus, int64_t> m(counts->begin(), counts->end());
  EXPECT_EQ(m[JobStatus::kPending], 4);
  EXPECT_EQ(m[JobStatus::kCompleted], 1);
  EXPECT_EQ(m[JobStatus::kCancelled], 1);

  auto page1 = q->ListJobs({std::nullopt, 4, std::nullopt});
  ASSERT_TRUE(page1.ok());
  ASSERT_EQ(page1->size(), 4u);
  EXPECT_EQ((*page1)[0].id, jobs[5].id);  // newest first
  auto page2 = q->ListJobs({std::nullopt, 4, page1->back().id});
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ(page2->back().id, jobs[0].id);
  auto pend = q->ListJobs({JobStatus::kPending, 50, std::nullopt});
  EXPECT_EQ(pend->size(), 4u);

  clock_.Advance(2 * 3600 * 1000);
  auto pruned = q->PruneFinished(3600 * 1000);
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 2);
  EXPECT_EQ(q->GetJob(jobs[1].id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(q->GetJob(jobs[0].id).ok());
  EXPECT_EQ(*q->PruneFinished(3600 * 1000), 0);
}

// Atomicity: fail the N-th commit, for every N across a job's checkpoints; the stored cells
// and the job's checkpoint always agree, and the job still completes with every cell.
TEST_P(JobQueueTest, CheckpointIsAtomicUnderCommitFaults) {
  CellStore* cell_store = store_.get();
  JobQueue* q = store_.get();
  auto g = GridRegion::Make(Spec().bounds, 0.0025);  // 400 cells
  ASSERT_TRUE(g.ok());
  const int64_t chunk = 37;
  const int chunks = int((g->cell_count() + chunk - 1) / chunk);
  testing::FaultStore faults(store_.get(), url_);
  for (int fail_at = 1; fail_at <= chunks + 1; ++fail_at) {
    SCOPED_TRACE("failing commit " + std::to_string(fail_at));
    ASSERT_TRUE(TruncateCells(cell_store).ok());
    auto spec = Spec(47.10, 9.50, 0.0025);
    spec.max_attempts = 100;
    auto e = q->EnqueueHeatmap(spec);
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
    Job after = *q->GetJob(j.id);
    int64_t stored = *cell_store->CountCells(0.0025);
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
    ASSERT_TRUE(q->CompletePart(j.id, 0, "w").ok());
    ASSERT_EQ(*cell_store->CountCells(0.0025), g->cell_count());
  }
}

// Many claimers, one queue: every job claimed exactly once.
TEST_P(JobQueueTest, EightThreadsClaimEachJobExactlyOnce) {
  JobQueue* q = store_.get();
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
        auto c = q->Claim(me);
        if (!c.ok()) {
          if (c.status().code() == StatusCode::kTransient) continue;
          ++errors;
          return;
        }
        if (!c->has_value()) return;
        if (!q->CompletePart((*c)->id, 0, me).ok()) ++errors;
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

TEST_P(JobQueueTest, FourProcessesClaimEachJobExactlyOnce) {
  const int kJobs = 2000;
  for (int i = 0; i < kJobs; ++i) Enqueue(Spec(-60 + i * 0.06, 10, 0.01));
  store_.reset();  // children open their own connections
  // A start line: every child opens its store and says so, then all start claiming at once
  // (otherwise the first one up may take every job before the others have connected).
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(ready[0]);
      close(go[1]);
      auto s = OpenStore(url_, &clock_);
      if (!s.ok()) _exit(3);
      char byte = 'r';
      if (write(ready[1], &byte, 1) != 1) _exit(6);
      if (read(go[0], &byte, 1) != 0) _exit(7);  // EOF: the parent closed the line
      std::ofstream out(dir_.File("claims-" + std::to_string(p)));
      std::string me = "proc-" + std::to_string(p);
      for (;;) {
        auto c = (*s)->Claim(me);
        if (!c.ok()) {
          if (c.status().code() == StatusCode::kTransient) continue;
          _exit(4);
        }
        if (!c->has_value()) break;
        if (!(*s)->CompletePart((*c)->id, 0, me).ok()) _exit(5);
        out << (*c)->id << "\n";
        // A worker runs its job between claims. Without that pause one SQLite process can
        // take the write lock back every time before a waiting one wakes, and claim alone.
        usleep(300);
      }
      out.close();
      _exit(0);
    }
    kids.push_back(pid);
  }
  close(ready[1]);
  close(go[0]);
  for (int p = 0; p < 4; ++p) {
    char byte = 0;
    ASSERT_EQ(read(ready[0], &byte, 1), 1) << "a child did not come up";
  }
  close(go[1]);  // go
  close(ready[0]);
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

INSTANTIATE_TEST_SUITE_P(Stores, JobQueueTest, testing::BothBackends(), testing::BackendParamName);

}  // namespace
}  // namespace nbi
