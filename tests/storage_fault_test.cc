// Storage faults under the real binary on both stores: a job whose every write fails (a full
// disk on SQLite, made real with a file-size limit; an injected disk-full error on
// PostgreSQL) stays with its worker, is logged with its id, and resumes when the database is
// repaired, with no cell lost; `worker`, `process-jobs` and `serve` wait for a database that
// is locked or not up at start.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "fault_store.h"
#include "jobs/runner.h"
#include "store/testing.h"
#include "store_fixture.h"
#include "store_test_util.h"
#include "test_util.h"
#include "worker_fixture.h"

namespace nbi {
namespace {

// While armed, every write of cells and jobs fails with PostgreSQL's disk_full error.
constexpr const char* kPgDiskFull = R"sql(
CREATE TABLE test_disk (is_full BOOLEAN NOT NULL);
INSERT INTO test_disk VALUES (false);
CREATE FUNCTION test_disk_fn() RETURNS trigger AS $$
BEGIN
  IF (SELECT is_full FROM test_disk) THEN
    RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_disk_cells BEFORE INSERT OR UPDATE ON heat_cells
  FOR EACH ROW EXECUTE FUNCTION test_disk_fn();
CREATE TRIGGER test_disk_jobs BEFORE UPDATE ON jobs
  FOR EACH ROW EXECUTE FUNCTION test_disk_fn();
)sql";

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

class StorageFaultTest : public WorkerTest {
 protected:
  bool sqlite() const { return url_.rfind("sqlite:", 0) == 0; }

  // Makes every further write of the worker `w` fail: on SQLite its files may no longer
  // grow (RLIMIT_FSIZE just above their size, as on a full disk: the WAL's next pages do not
  // fit; the binary ignores SIGXFSZ, so the write fails instead of killing it), on
  // PostgreSQL the triggers raise disk_full.
  void BreakWrites(const testing::Child& w) {
    if (sqlite()) {
      const std::string db = url_.substr(7);
      int64_t limit = std::max(FileSize(db), FileSize(db + "-wal")) + 64 * 1024;
      // The soft limit only: an unprivileged test can raise it again to repair.
      rlimit r{static_cast<rlim_t>(limit), RLIM_INFINITY};
      ASSERT_EQ(prlimit(w.pid(), RLIMIT_FSIZE, &r, nullptr), 0);
    } else {
      testing::ExecSql(url_, "UPDATE test_disk SET is_full = true");
    }
  }
  void RepairWrites(const testing::Child& w) {
    if (sqlite()) {
      rlimit r{RLIM_INFINITY, RLIM_INFINITY};
      ASSERT_EQ(prlimit(w.pid(), RLIMIT_FSIZE, &r, nullptr), 0);
    } else {
      testing::ExecSql(url_, "UPDATE test_disk SET is_full = false");
    }
  }
};

TEST_P(StorageFaultTest, AJobWhoseWritesFailWaitsForTheRepairAndLosesNoCell) {
  if (!sqlite()) testing::ExecSql(url_, kPgDiskFull);
  auto spec = JobOver(47.04, 9.44, 0.1, 0.0005);  // 40,000 cells
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const int64_t id = e->job.id;
  const std::string log = dir_.File("w.log");
  testing::Child w({testing::BinaryPath(), "worker"},
                   Env({"WORKER_CHUNK_SIZE=100", "WORKER_POLL_INTERVAL=60000"}), log);
  Job started = WaitForJob(
      id, [](const Job& j) { return j.last_processed_index() > 0; }, 10000);
  ASSERT_GT(started.last_processed_index(), 0) << testing::ReadFile(log);
  BreakWrites(w);

  // The writes fail: progress stops, the job stays with its live worker, the log names it.
  const std::string line = "checkpoint of job #" + std::to_string(id);
  auto deadline = Clock_::now() + std::chrono::seconds(20);
  while (testing::ReadFile(log).find(line) == std::string::npos && Clock_::now() < deadline) {
    SleepMs(20);
  }
  ASSERT_NE(testing::ReadFile(log).find(line), std::string::npos) << testing::ReadFile(log);
  const int64_t stuck = Get(id).last_processed_index();
  SleepMs(1500);
  Job during = Get(id);
  EXPECT_EQ(during.status, JobStatus::kRunning);
  EXPECT_EQ(during.last_processed_index(), stuck) << "no write may land while broken";
  EXPECT_LT(stuck, 40000) << "the job ended before its writes broke; make it bigger";
  ASSERT_TRUE(w.Running()) << testing::ReadFile(log);

  RepairWrites(w);
  Job done = WaitForJob(
      id, [](const Job& j) { return j.status == JobStatus::kCompleted; }, 60000);
  ASSERT_EQ(done.status, JobStatus::kCompleted) << testing::ReadFile(log);
  EXPECT_LE(done.attempts, 1) << "a repaired fault costs no attempt";
  ExpectCellsEqual(spec);
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(10000), 0) << testing::ReadFile(log);
}

TEST_P(StorageFaultTest, CommandsWaitForADatabaseThatIsNotReadyAtStart) {
  std::string out;
  auto run = [&](const std::vector<std::string>& env, const std::string& args) {
    std::string cmd = "env";
    for (const std::string& e : Env(env)) cmd += " '" + e + "'";
    auto t0 = Clock_::now();
    int rc = testing::RunCommand(cmd + " " + testing::BinaryPath() + " " + args, &out);
    return std::make_pair(rc, std::chrono::duration<double>(Clock_::now() - t0).count());
  };
  if (sqlite()) {
    // Another process holds the write lock the start-up migration needs, for 1.5 s.
    auto lock = std::make_unique<testing::HeldLock>(url_, 0);
    std::thread release([&] {
      SleepMs(1500);
      lock.reset();
    });
    auto [rc, secs] = run({"DB_LOCK_TIMEOUT=200ms"}, "process-jobs");
    release.join();
    EXPECT_EQ(rc, 0) << out;
    EXPECT_GE(secs, 1.0) << out;
    EXPECT_NE(out.find("Waiting for the database (attempt 1"), std::string::npos) << out;
    EXPECT_NE(out.find("queue empty"), std::string::npos) << out;
    // Locked for longer than DB_WAIT_TIMEOUT: a clear error, exit 1.
    testing::HeldLock held(url_, 0);
    std::tie(rc, secs) = run({"DB_LOCK_TIMEOUT=200ms", "DB_WAIT_TIMEOUT=1s"}, "process-jobs");
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("did not come up within"), std::string::npos) << out;
    return;
  }
  // A PostgreSQL server that is not up: process-jobs gives up after DB_WAIT_TIMEOUT ...
  url_ = "postgresql://nbi@127.0.0.1:1/nbi?connect_timeout=1";
  auto [rc, secs] = run({"DB_WAIT_TIMEOUT=1500ms"}, "process-jobs");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_GE(secs, 1.0) << out;
  EXPECT_NE(out.find("Waiting for the database (attempt 2"), std::string::npos) << out;
  EXPECT_NE(out.find("did not come up within"), std::string::npos) << out;
  // ... and a worker waits for it forever, until told to stop.
  const std::string log = dir_.File("waiting.log");
  testing::Child w({testing::BinaryPath(), "worker"}, Env({"DB_WAIT_TIMEOUT=1s"}), log);
  SleepMs(2500);
  ASSERT_TRUE(w.Running()) << testing::ReadFile(log);
  EXPECT_NE(testing::ReadFile(log).find("Waiting for the database (attempt 3"), std::string::npos)
      << testing::ReadFile(log);
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(5000), 0) << testing::ReadFile(log);
}

// The runner scores chunk n+1 while chunk n is written, and sends chunk n+1 to the database
// while chunk n commits: two chunks in flight. A commit fault at every N across a job, both
// a transient one (retried in place) and one that fails the attempt while the chunk after it
// is staged: the stored cells are always exactly the prefix the job's checkpoint names (a
// fault never lets progress run ahead of the cells, nor a later chunk land before an earlier
// one), and the job then completes with every cell, each once.
TEST_P(StorageFaultTest, PipelinedChunksKeepTheCheckpointUnderACommitFaultAtEveryN) {
  auto spec = JobOver(47.04, 9.44, 0.012, 0.0005);  // 24 x 24 = 576 cells
  spec.max_attempts = 100;
  auto g = GridRegion::Make(spec.bounds, spec.grid_step);
  ASSERT_TRUE(g.ok());
  const int64_t total = g->cell_count(), chunk = 37;
  const int chunks = static_cast<int>((total + chunk - 1) / chunk);
  testing::FaultStore faults(store_.get(), url_);
  JobRunOptions o;
  o.worker_id = "w";
  o.chunk_size = chunk;
  const nbi::Env env = testing::TestEnv();
  for (bool permanent : {false, true}) {
    for (int fail_at = 1; fail_at <= chunks; ++fail_at) {
      SCOPED_TRACE(fmt::format("failing commit {} ({})", fail_at,
                               permanent ? "fails the attempt" : "transient"));
      ASSERT_TRUE(TruncateCells(store_.get()).ok());
      auto e = store_->EnqueueHeatmap(spec);
      ASSERT_TRUE(e.ok());
      const int64_t id = e->job.id;
      int failed_runs = 0;
      for (int run = 0; Get(id).status != JobStatus::kCompleted; ++run) {
        ASSERT_LT(run, 3) << "the job does not complete";
        testing::SetRunAt(url_, id, 0);
        auto claimed = store_->Claim("w");
        ASSERT_TRUE(claimed.ok() && claimed->has_value());
        faults.FailNthCheckpoint(run == 0 ? fail_at : 0, permanent);
        RunHeatmapJob(&faults, env, **claimed, o, nullptr);
        faults.FailNthCheckpoint(0);
        Job after = Get(id);
        const int64_t stored = *store_->CountCells(spec.grid_step);
        if (after.status == JobStatus::kCompleted) {
          ASSERT_EQ(stored, total);
        } else {  // the fault failed the attempt (SQLite: a trigger's abort is not transient)
          ++failed_runs;
          ASSERT_EQ(stored, after.last_processed_index()) << "cells and checkpoint disagree";
          ASSERT_EQ(stored, (fail_at - 1) * chunk) << "a chunk after the fault landed";
        }
      }
      // A permanent fault fails the attempt on both stores; PostgreSQL retries a transient one
      // in place.
      const bool sqlite = GetParam() == Backend::kSqlite;
      EXPECT_EQ(failed_runs, permanent || sqlite ? 1 : 0);
      ExpectCellsEqual(spec);
      ASSERT_TRUE(store_->PruneFinished(0).ok());
    }
  }
  // Chunks were staged two at a time, never more.
  EXPECT_EQ(faults.max_staged(), 2);
}

// Two jobs over nearly the same cells, run at once with two chunks in flight each: a staged
// chunk holds its uncommitted cells while it waits for the chunk before it, and that one may
// wait on the other job's staged cells, whose own chunk before waits on ours. The database
// cannot see that cycle through the two clients; a staged chunk that waits too long lets go
// of its cells (CommitOrder::kHoldMs). Before, both jobs stalled until the server ended an
// idle transaction (5 s), and the checkpoint was retried after a database error.
TEST_P(StorageFaultTest, OverlappingJobsWritingTheSameCellsAtOnceDoNotStall) {
  std::ostringstream said;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(said);
  const nbi::Env env{SystemClock::Get(), std::make_shared<spdlog::logger>("overlap", sink)};
  JobRunOptions o;
  o.chunk_size = 37;
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_TRUE(TruncateCells(store_.get()).ok());
    // The second box is the first moved up by one row: the two jobs write the same cells
    // at about the same time.
    auto a = store_->EnqueueHeatmap(JobOver(47.04, 9.44, 0.02, 0.0005));
    auto b = store_->EnqueueHeatmap(JobOver(47.0405, 9.44, 0.02, 0.0005));
    ASSERT_TRUE(a.ok() && b.ok());
    auto ca = store_->Claim("wa");
    auto cb = store_->Claim("wb");
    ASSERT_TRUE(ca.ok() && ca->has_value() && cb.ok() && cb->has_value());
    JobRunOptions oa = o, ob = o;
    oa.worker_id = "wa";
    ob.worker_id = "wb";
    JobOutcome ra{}, rb{};
    std::thread ta([&] { ra = RunHeatmapJob(store_.get(), env, **ca, oa, nullptr); });
    std::thread tb([&] { rb = RunHeatmapJob(store_.get(), env, **cb, ob, nullptr); });
    ta.join();
    tb.join();
    EXPECT_EQ(ra, JobOutcome::kCompleted);
    EXPECT_EQ(rb, JobOutcome::kCompleted);
    EXPECT_EQ(Get(a->job.id).attempts, 1);
    EXPECT_EQ(Get(b->job.id).attempts, 1);
    ASSERT_TRUE(store_->PruneFinished(0).ok());
  }
  EXPECT_EQ(said.str().find("Database error"), std::string::npos) << said.str();
}

INSTANTIATE_TEST_SUITE_P(Stores, StorageFaultTest, testing::BothBackends(),
                         testing::BackendParamName);

}  // namespace
}  // namespace nbi
