// Crash recovery and the job system's corners, with the real binary on both stores: a killed
// worker's job resumes at once through its owner lease (default STALE_JOB_TIMEOUT), a
// stopped owner that wakes after losing its lease writes nothing, poison jobs end failed
// instead of looping, a reset during a running job is refused (and --force is safe), a
// retry in backoff is waited for by process-jobs.
#include <glob.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "store_test_util.h"
#include "test_util.h"
#include "worker_fixture.h"

namespace nbi {
namespace {

class RecoveryTest : public WorkerTest {
 protected:
  // Runs the binary to completion; returns its exit code and output.
  int Run(const std::vector<std::string>& args, std::string* out,
          const std::vector<std::string>& env = {}) {
    std::string cmd;
    for (const std::string& e : Env(env)) cmd += "'" + e + "' ";
    cmd += testing::BinaryPath();
    for (const std::string& a : args) cmd += " '" + a + "'";
    return testing::RunCommand("env " + cmd, out);
  }
  // Starts a worker and waits until it has committed progress on the job past `*index`.
  Job RunUntilProgress(testing::Child& w, int64_t id, int64_t index, const std::string& log) {
    Job live = WaitForJob(
        id,
        [&](const Job& x) {
          return x.status == JobStatus::kRunning && x.last_processed_index() > index;
        },
        10000);
    EXPECT_GT(live.last_processed_index(), index) << testing::ReadFile(log);
    (void)w;
    return live;
  }
  // True while another session holds the job's row (PostgreSQL) or the write lock (SQLite).
  bool JobRowLocked(int64_t id) {
    try {
      if (url_.rfind("sqlite:", 0) == 0) {
        testing::ExecSql(url_, "BEGIN IMMEDIATE; ROLLBACK;");  // busy timeout 0: fails at once
      } else {
        // The job's row, or one of its parts' rows (a checkpoint locks its part first).
        testing::ExecSql(url_, "SELECT id FROM jobs WHERE id = " + std::to_string(id) +
                                   " FOR UPDATE NOWAIT; SELECT part FROM job_parts WHERE "
                                   "job_id = " +
                                   std::to_string(id) + " FOR UPDATE NOWAIT");
      }
      return false;
    } catch (const std::exception&) {
      return true;
    }
  }
};

// kill -9 ten times during one job, with the default STALE_JOB_TIMEOUT (10 min), then
// process-jobs: the dead owners' job is back at once and completes within seconds, with
// exactly the cells of an uninterrupted run.
TEST_P(RecoveryTest, KilledWorkersJobResumesAtOnceWithTheDefaultStaleTimeout) {
  auto spec = JobOver(47.04, 9.44, 0.1, 0.0005);  // 200 x 200 = 40,000 cells
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const auto env = std::vector<std::string>{"WORKER_CHUNK_SIZE=100", "WORKER_POLL_INTERVAL=60000"};
  int64_t index = 0;
  for (int kill = 0; kill < 10; ++kill) {
    const std::string log = dir_.File("w" + std::to_string(kill) + ".log");
    testing::Child w({testing::BinaryPath(), "worker"}, Env(env), log);
    Job live = RunUntilProgress(w, e->job.id, index, log);
    w.Signal(SIGKILL);
    ASSERT_EQ(w.Wait(5000), 128 + SIGKILL);
    index = Get(e->job.id).last_processed_index();
    ASSERT_GE(index, live.last_processed_index());
    ASSERT_LT(index, 40000) << "the job finished before the 10th kill; make it bigger";
  }
  Job dead = Get(e->job.id);
  ASSERT_EQ(dead.status, JobStatus::kRunning) << "owned by a dead worker";
  auto t0 = Clock_::now();
  std::string out;
  ASSERT_EQ(Run({"process-jobs"}, &out, env), 0) << out;
  double secs = std::chrono::duration<double>(Clock_::now() - t0).count();
  EXPECT_LT(secs * 1000, testing::PromptnessBoundMs(5000).value_or(1e18)) << out;
  EXPECT_NE(out.find("Rescued 1 job(s) whose worker died"), std::string::npos) << out;
  Job done = Get(e->job.id);
  ASSERT_EQ(done.status, JobStatus::kCompleted) << out;
  EXPECT_LE(done.attempts, 1) << "runs that made progress give their attempt back";
  ExpectCellsEqual(spec);
}

// An idle live worker notices a dead worker's job by itself within about a second (its
// housekeeping runs every second, whatever the poll interval) and takes it over.
TEST_P(RecoveryTest, AnIdleWorkerTakesOverADeadWorkersJobWithinTwoSeconds) {
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0002);  // 1,000,000 cells: still running after 2 s
  // One part: the idle worker must find nothing to claim while B lives (a job of several
  // parts would be shared, as tests/parts_process_test.cc shows).
  spec.part_cells = 1'000'000;
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const auto env = std::vector<std::string>{"WORKER_CHUNK_SIZE=100", "WORKER_POLL_INTERVAL=60000"};
  testing::Child b({testing::BinaryPath(), "worker"}, Env(env), dir_.File("b.log"));
  Job live = RunUntilProgress(b, e->job.id, 0, dir_.File("b.log"));
  ASSERT_TRUE(live.locked_by.has_value());
  const std::string dead_owner = *live.locked_by;
  testing::Child a({testing::BinaryPath(), "worker"}, Env(env), dir_.File("a.log"));
  // A is up and idle (its banner comes before its first poll): the only job belongs to a live
  // worker. (A fixed 1.5 s sleep stood here; on a loaded machine A was not up yet, and its
  // start-up counted against the takeover time below.)
  ASSERT_TRUE(testing::WaitForFileText(dir_.File("a.log"), "Background Worker Started", 30'000))
      << testing::ReadFile(dir_.File("a.log"));
  Job before = Get(e->job.id);
  ASSERT_EQ(before.locked_by, dead_owner) << JobStatusId(before.status);
  b.Signal(SIGKILL);
  ASSERT_EQ(b.Wait(5000), 128 + SIGKILL);
  auto t0 = Clock_::now();
  Job taken = WaitForJob(
      e->job.id,
      [&](const Job& x) {
        return x.status == JobStatus::kRunning && x.locked_by && *x.locked_by != dead_owner;
      },
      5000);
  double secs = std::chrono::duration<double>(Clock_::now() - t0).count();
  ASSERT_TRUE(taken.locked_by && *taken.locked_by != dead_owner)
      << testing::ReadFile(dir_.File("a.log"));
  if (auto bound = testing::PromptnessBoundMs(2000)) {
    EXPECT_LT(secs * 1000, *bound) << "taken over after " << secs << " s";
  }
  Job done = WaitForJob(
      e->job.id, [](const Job& x) { return x.status == JobStatus::kCompleted; }, 120000);
  ASSERT_EQ(done.status, JobStatus::kCompleted);
  a.Signal(SIGTERM);
  EXPECT_EQ(a.Wait(10000), 0);
  ExpectCellsEqual(spec);
}

// A stopped owner (SIGSTOP) keeps its lease but misses its heartbeats: past
// STALE_JOB_TIMEOUT another process takes the job over and finishes it. Woken (SIGCONT), the
// old owner writes nothing: every write of it is refused by the owner check.
TEST_P(RecoveryTest, StoppedOwnerPastItsLeaseWritesNothingAfterWaking) {
  auto spec = JobOver(47.04, 9.44, 0.1, 0.0005);  // 40,000 cells
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const auto env = std::vector<std::string>{"WORKER_CHUNK_SIZE=100", "STALE_JOB_TIMEOUT=1500",
                                            "WORKER_HEARTBEAT_INTERVAL=300"};
  const std::string log = dir_.File("stopped.log");
  testing::Child a({testing::BinaryPath(), "worker"}, Env(env), log);
  Job live = RunUntilProgress(a, e->job.id, 0, log);
  // Stop it between two checkpoint transactions: stopped inside one, it would hold the job's
  // row (PostgreSQL) or the database's write lock (SQLite) until it wakes, and nobody could
  // take the job over meanwhile (nor would it lose it).
  bool stopped_outside = false;
  for (int i = 0; i < 200 && !stopped_outside; ++i) {
    a.Signal(SIGSTOP);
    SleepMs(20);
    stopped_outside = !JobRowLocked(e->job.id);
    if (!stopped_outside) {
      a.Signal(SIGCONT);
      SleepMs(1 + i % 7);
    }
  }
  ASSERT_TRUE(stopped_outside) << "never caught the worker between transactions";
  const int64_t frozen_at = Get(e->job.id).last_processed_index();
  SleepMs(2000);  // past the stale timeout
  std::string out;
  ASSERT_EQ(Run({"process-jobs"}, &out, env), 0) << out;
  EXPECT_NE(out.find("stale job"), std::string::npos) << out;
  Job done = Get(e->job.id);
  ASSERT_EQ(done.status, JobStatus::kCompleted) << out;
  ASSERT_GE(done.last_processed_index(), frozen_at);
  const auto completed_at = done.completed_at_ms;
  a.Signal(SIGCONT);
  SleepMs(1000);  // its chunk in flight tries to commit, and is refused
  a.Signal(SIGTERM);
  EXPECT_EQ(a.Wait(10000), 0);
  Job after = Get(e->job.id);
  EXPECT_EQ(after.status, JobStatus::kCompleted);
  EXPECT_EQ(after.completed_at_ms, completed_at) << "the woken owner changed the job";
  EXPECT_EQ(after.attempts, done.attempts);
  ExpectCellsEqual(spec);
  (void)live;
}

// A job whose metadata cannot be decoded fails at once with the decoder's message; a job
// whose worker always dies before any progress fails after max_attempts, saying so. Neither
// crashes a worker or loops.
TEST_P(RecoveryTest, PoisonJobsEndFailedWithoutACrashLoop) {
  auto bad = store_->EnqueueHeatmap(JobOver(47.2, 9.5, 0.01, 0.001));
  ASSERT_TRUE(bad.ok());
  testing::ExecSql(url_,
                   "UPDATE jobs SET metadata = '{\"bounds\": \"everywhere\", "
                   "\"lastProcessedIndex\": \"x\"}' WHERE id = " +
                       std::to_string(bad->job.id));
  std::string out;
  ASSERT_EQ(Run({"process-jobs"}, &out), 0) << out;
  Job b = Get(bad->job.id);
  EXPECT_EQ(b.status, JobStatus::kFailed);
  ASSERT_TRUE(b.error.has_value());
  EXPECT_NE(b.error->find("metadata has no bounds object"), std::string::npos) << *b.error;
  EXPECT_EQ(b.attempts, 1) << "a permanent failure is not retried";

  // A job that kills its worker every time: huge first chunk, killed before it commits.
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0002);  // 1,000,000 cells, one chunk
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const auto env = std::vector<std::string>{"WORKER_CHUNK_SIZE=10000000"};
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const std::string log = dir_.File("poison" + std::to_string(attempt) + ".log");
    testing::Child w({testing::BinaryPath(), "worker"}, Env(env), log);
    Job claimed = WaitForJob(
        e->job.id,
        [&](const Job& x) { return x.status == JobStatus::kRunning && x.attempts == attempt; },
        10000);
    ASSERT_EQ(claimed.attempts, attempt) << testing::ReadFile(log);
    w.Signal(SIGKILL);
    ASSERT_EQ(w.Wait(5000), 128 + SIGKILL);
  }
  ASSERT_EQ(Run({"process-jobs"}, &out, env), 0) << out;
  Job p = Get(e->job.id);
  EXPECT_EQ(p.status, JobStatus::kFailed) << out;
  ASSERT_TRUE(p.error.has_value());
  EXPECT_NE(p.error->find("died (or hung) while running it 3 times"), std::string::npos)
      << *p.error;
  EXPECT_EQ(p.attempts, 3);
  EXPECT_NE(out.find("Processed 0 job(s)"), std::string::npos) << out;
}

// `schedule --reset` while the area's job runs is refused (exit 2, nothing deleted); with
// --force it cancels that job, waits for it to stop, then deletes and enqueues in one
// transaction: the area ends with exactly the cells of a clean run.
TEST_P(RecoveryTest, ResetDuringARunningJobIsRefusedAndForceIsSafe) {
  HeatmapJobSpec spec;
  spec.bounds = {47.04, 9.44, 47.24, 9.64};  // as the CLI parses the bbox below
  spec.grid_step = 0.0005;                   // 160,000 cells: still running at the reset
  const std::string bbox = "47.04,9.44,47.24,9.64";
  std::string out;
  ASSERT_EQ(Run({"schedule", "--bbox", bbox, "--grid-step", "0.0005"}, &out), 0) << out;
  const auto env = std::vector<std::string>{"WORKER_CHUNK_SIZE=25"};
  const std::string log = dir_.File("reset.log");
  testing::Child w({testing::BinaryPath(), "worker"}, Env(env), log);
  auto first = store_->ListJobs({});
  ASSERT_TRUE(first.ok() && !first->empty());
  const int64_t id = first->front().id;
  RunUntilProgress(w, id, 0, log);
  const int64_t cells_before = *store_->CountCells(0.0005);
  EXPECT_EQ(Run({"schedule", "--bbox", bbox, "--grid-step", "0.0005", "--reset"}, &out), 2) << out;
  EXPECT_NE(out.find("job #" + std::to_string(id)), std::string::npos) << out;
  EXPECT_NE(out.find("--force"), std::string::npos) << out;
  EXPECT_GE(*store_->CountCells(0.0005), cells_before) << "a refused reset deleted cells";

  ASSERT_EQ(Run({"schedule", "--bbox", bbox, "--grid-step", "0.0005", "--reset", "--force"}, &out),
            0)
      << out;
  EXPECT_NE(out.find("cancelled job #" + std::to_string(id)), std::string::npos) << out;
  // Cancelled, then deleted with the area's other finished jobs by the reset.
  EXPECT_EQ(store_->GetJob(id).status().code(), StatusCode::kNotFound);
  // The worker picks the new job up and finishes it.
  auto jobs = store_->ListJobs({});
  const int64_t fresh = jobs->front().id;
  ASSERT_NE(fresh, id);
  Job done = WaitForJob(
      fresh, [](const Job& x) { return x.status == JobStatus::kCompleted; }, 60000);
  ASSERT_EQ(done.status, JobStatus::kCompleted) << testing::ReadFile(log);
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(10000), 0);
  ExpectCellsEqual(spec);
}

// process-jobs does not exit while a job waits out its retry backoff: it says what it waits
// for and runs the job when its run_at comes.
TEST_P(RecoveryTest, ProcessJobsWaitsForAJobInBackoff) {
  auto e = store_->EnqueueHeatmap(JobOver(47.3, 9.5, 0.01, 0.001));
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(store_->Claim("w")->has_value());
  auto failed = store_->FailPart(e->job.id, 0, "w", "a transient failure", false);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->status, JobStatus::kPending);
  // Shorten the 5 s backoff to 1.5 s from now.
  const int64_t run_at = SystemClock::Get()->NowMs() + 1500;
  testing::SetRunAt(url_, std::nullopt, run_at);
  std::string out;
  ASSERT_EQ(Run({"process-jobs"}, &out), 0) << out;
  EXPECT_GE(SystemClock::Get()->NowMs(), run_at);
  EXPECT_NE(out.find("Waiting for job #" + std::to_string(e->job.id)), std::string::npos) << out;
  EXPECT_EQ(Get(e->job.id).status, JobStatus::kCompleted) << out;
}

// Regression: SIGHUP and SIGUSR1 killed worker and process-jobs at once (exit 129/138), leaving
// the part `running` until a rescue; after a SIGTERM, process-jobs said "queue empty" with jobs
// left. Now SIGUSR1 logs a status line and the process goes on; SIGHUP stops it as SIGTERM
// does (the chunk finished, the job handed back), and process-jobs says why it stopped.
TEST_P(RecoveryTest, HangupAndUser1LeaveNoOrphanedPart) {
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0005);  // 160,000 cells: running when signalled
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const auto env = std::vector<std::string>{"WORKER_CHUNK_SIZE=100", "WORKER_POLL_INTERVAL=60000"};
  const std::string log = dir_.File("w.log");
  auto no_running_part = [&] {
    for (const JobPart& p : Parts(e->job.id)) {
      if (p.status == PartStatus::kRunning) return false;
    }
    return true;
  };
  {
    testing::Child w({testing::BinaryPath(), "worker"}, Env(env), log);
    Job live = RunUntilProgress(w, e->job.id, 0, log);
    w.Signal(SIGUSR1);
    bool logged = false;
    for (int i = 0; i < 5000 && !logged; ++i) {
      logged = testing::ReadFile(log).find("Received SIGUSR1") != std::string::npos;
      if (!logged) SleepMs(1);
    }
    EXPECT_TRUE(logged) << testing::ReadFile(log);
    EXPECT_TRUE(w.Running()) << "SIGUSR1 ended the worker: " << testing::ReadFile(log);
    RunUntilProgress(w, e->job.id, live.last_processed_index(), log);  // still working
    w.Signal(SIGHUP);
    EXPECT_EQ(w.Wait(20'000), 0) << testing::ReadFile(log);
  }
  EXPECT_NE(testing::ReadFile(log).find("Received SIGHUP"), std::string::npos);
  Job back = Get(e->job.id);
  EXPECT_EQ(back.status, JobStatus::kPending) << "handed back";
  EXPECT_TRUE(no_running_part());
  // process-jobs stopped by SIGTERM says so, and how many jobs are left.
  const std::string once_log = dir_.File("once.log");
  testing::Child once({testing::BinaryPath(), "process-jobs"}, Env(env), once_log);
  RunUntilProgress(once, e->job.id, back.last_processed_index(), once_log);
  once.Signal(SIGTERM);
  ASSERT_EQ(once.Wait(20'000), 0) << testing::ReadFile(once_log);
  const std::string out = testing::ReadFile(once_log);
  EXPECT_NE(out.find("Stopped by SIGTERM: processed 0 job(s); 1 job(s) still pending or running"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find("queue empty"), std::string::npos) << out;
  EXPECT_TRUE(no_running_part());
}

// Regression: after its owner lease's session ended (a database restart or failover), a
// worker took the lease again only at its next heartbeat (10 s), and meanwhile "rescued" its
// own running job every second as a dead owner's. It now re-takes the lease before each
// dead-owner check.
TEST_P(RecoveryTest, AWorkerRetakesItsLeaseBeforeRescuingItsOwnParts) {
  if (GetParam() == Backend::kSqlite) {
    GTEST_SKIP() << "SQLite's owner lease is a file lock of the process: no session to lose";
  }
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0002);  // 1,000,000 cells: running for seconds
  spec.part_cells = 1'000'000;
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const std::string log = dir_.File("w.log");
  testing::Child w({testing::BinaryPath(), "worker"},
                   Env({"WORKER_CHUNK_SIZE=100", "WORKER_POLL_INTERVAL=60000"}), log);
  Job live = RunUntilProgress(w, e->job.id, 0, log);
  ASSERT_TRUE(live.locked_by.has_value());
  const std::string key = "hashtextextended('" + *live.locked_by + "', 0)";
  const std::string lease_holder =
      "FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND classid = ((" + key +
      " >> 32) & 4294967295)::oid AND objid = (" + key + " & 4294967295)::oid";
  testing::ExecSql(url_, "SELECT pg_terminate_backend(pid) " + lease_holder);
  SleepMs(3000);  // three housekeeping rounds
  const std::string text = testing::ReadFile(log);
  EXPECT_EQ(text.find("Rescued"), std::string::npos) << text;
  Job after = Get(e->job.id);
  EXPECT_EQ(after.locked_by, live.locked_by);
  EXPECT_EQ(after.attempts, live.attempts) << "the worker rescued its own job";
  EXPECT_TRUE(JobRowLocked(e->job.id) || after.status == JobStatus::kRunning);
  // The lease is held again (the lock is back in pg_locks).
  EXPECT_NO_THROW(testing::ExecSql(url_, "DO $$ BEGIN IF (SELECT count(*) " + lease_holder +
                                             ") <> 1 THEN RAISE EXCEPTION 'no lease'; END IF; "
                                             "END $$"));
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(20'000), 0);
}

// Clock skew (libfaketime), PostgreSQL: every comparison of times between processes uses the
// database's clock. Regressions: a worker 10 minutes ahead rescued a healthy worker's job
// ("died (or hung)") and parked it in its own future; a worker 10 minutes behind claimed
// nothing for 10 minutes; a worker 8 days ahead pruned every finished job.
class ClockSkewTest : public RecoveryTest {
 protected:
  void SetUp() override {
    RecoveryTest::SetUp();
    if (GetParam() == Backend::kSqlite) {
      GTEST_SKIP() << "SQLite's processes share one machine's clock: no skew between them";
    }
    fake_time_ = FakeTimeLibrary();
    if (fake_time_.empty()) {
      // CI (NBI_REQUIRE_PG) runs scripts/setup.sh, which installs faketime: there it must be.
      if (std::getenv("NBI_REQUIRE_PG")) {
        FAIL() << "NBI_REQUIRE_PG set but no libfaketimeMT.so.1 (Debian package faketime; "
                  "scripts/setup.sh installs it)";
      }
      GTEST_SKIP() << "libfaketimeMT.so.1 not found (Debian package faketime; scripts/setup.sh)";
    }
  }
  // The multi-threaded libfaketime: where the package put it for this machine's architecture
  // (/usr/lib/<triplet>/faketime on Debian), else where dpkg says it is; "" when absent.
  static std::string FakeTimeLibrary() {
    for (const char* pattern :
         {"/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
          "/usr/local/lib/faketime/libfaketimeMT.so.1", "/usr/lib64/faketime/libfaketimeMT.so.1"}) {
      glob_t found{};
      const bool any = glob(pattern, 0, nullptr, &found) == 0 && found.gl_pathc > 0;
      std::string path = any ? found.gl_pathv[0] : "";
      globfree(&found);
      if (!path.empty()) return path;
    }
    std::string listed;
    testing::RunCommand("dpkg -L libfaketime 2>/dev/null", &listed);
    std::istringstream lines(listed);
    for (std::string line; std::getline(lines, line);) {
      const std::string name = "/libfaketimeMT.so.1";
      if (line.size() > name.size() && line.ends_with(name) && std::filesystem::exists(line)) {
        return line;
      }
    }
    return "";
  }
  // The worker environment with this process's clock moved by `offset` ("+10m", "-10m").
  std::vector<std::string> Skewed(const std::string& offset, std::vector<std::string> env = {}) {
    env.push_back("LD_PRELOAD=" + fake_time_);
    env.push_back("FAKETIME=" + offset);
    // Under AddressSanitizer the preloaded library comes before ASan's runtime, which ASan
    // refuses unless told that this order is intended.
    const char* asan = std::getenv("ASAN_OPTIONS");
    env.push_back(std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") +
                  "verify_asan_link_order=0");
    return Env(env);
  }
  std::string fake_time_;  // the libfaketime to preload
};

TEST_P(ClockSkewTest, WorkersTenMinutesOffNeitherRescueHealthyJobsNorStall) {
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0002);  // 1,000,000 cells: running for seconds
  spec.part_cells = 1'000'000;
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  const std::vector<std::string> opts = {"WORKER_CHUNK_SIZE=100", "WORKER_POLL_INTERVAL=60000"};
  const std::string a_log = dir_.File("a.log"), b_log = dir_.File("b.log");
  Job live;
  {
    testing::Child a({testing::BinaryPath(), "worker"}, Env(opts), a_log);
    live = RunUntilProgress(a, e->job.id, 0, a_log);
    testing::Child ahead({testing::BinaryPath(), "worker"}, Skewed("+10m", opts), b_log);
    SleepMs(3000);  // three housekeeping rounds of the worker that is ahead
    const std::string b_text = testing::ReadFile(b_log);
    EXPECT_EQ(b_text.find("Rescued"), std::string::npos) << b_text;
    Job now = Get(e->job.id);
    EXPECT_EQ(now.locked_by, live.locked_by) << "the healthy worker's job was taken";
    EXPECT_EQ(now.attempts, live.attempts);
    ahead.Signal(SIGTERM);
    a.Signal(SIGTERM);
    EXPECT_EQ(ahead.Wait(20'000), 0);
    EXPECT_EQ(a.Wait(20'000), 0);
  }
  // Handed back by the true-clock worker: one 10 minutes behind takes it at once.
  ASSERT_EQ(Get(e->job.id).status, JobStatus::kPending);
  const int64_t index = Get(e->job.id).last_processed_index();
  const std::string c_log = dir_.File("c.log");
  testing::Child behind({testing::BinaryPath(), "worker"}, Skewed("-10m", opts), c_log);
  RunUntilProgress(behind, e->job.id, index, c_log);
  behind.Signal(SIGTERM);
  EXPECT_EQ(behind.Wait(20'000), 0);
}

TEST_P(ClockSkewTest, AWorkerEightDaysAheadPrunesByTheDatabasesClock) {
  auto young = store_->EnqueueHeatmap(JobOver(47.3, 9.5, 0.01, 0.001));
  auto old = store_->EnqueueHeatmap(JobOver(47.4, 9.5, 0.01, 0.001));
  ASSERT_TRUE(young.ok() && old.ok());
  std::string out;
  ASSERT_EQ(Run({"process-jobs"}, &out), 0) << out;
  // Finished a day ago and eight days ago, by the database's clock.
  testing::ExecSql(url_,
                   "UPDATE jobs SET completed_at = (now() AT TIME ZONE 'UTC') - interval "
                   "'1 day' WHERE id = " +
                       std::to_string(young->job.id) +
                       "; UPDATE jobs SET completed_at = (now() AT TIME ZONE 'UTC') - interval "
                       "'8 days' WHERE id = " +
                       std::to_string(old->job.id));
  const std::string log = dir_.File("p.log");
  testing::Child w({testing::BinaryPath(), "process-jobs"}, Skewed("+8d", {"JOB_RETENTION=7d"}),
                   log);
  ASSERT_EQ(w.Wait(30'000), 0) << testing::ReadFile(log);
  EXPECT_TRUE(store_->GetJob(young->job.id).ok()) << "pruned by the worker's clock";
  EXPECT_FALSE(store_->GetJob(old->job.id).ok()) << "older than JOB_RETENTION: pruned";
}

INSTANTIATE_TEST_SUITE_P(Stores, ClockSkewTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

INSTANTIATE_TEST_SUITE_P(Stores, RecoveryTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
