// The worker end to end, on both stores: in-process runs with a fake clock, and the real
// binary killed with SIGKILL, stopped with SIGTERM, run several at once, cut off from its
// database, and woken by NOTIFY.
#include "worker/worker.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "jobs/service.h"
#include "poi/synthetic.h"
#include "score/scorer.h"
#include "store/store.h"
#include "store_test_util.h"
#include "worker/cron.h"
#include "worker_fixture.h"

namespace nbi {
namespace {

// ---------------------------------------------------------------- in-process

TEST_P(WorkerTest, RunsJobToCompletionInChunks) {
  auto spec = JobOver(47.05, 9.45, 0.05, 0.001);
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  WorkerOptions o;
  o.chunk_size = 333;
  o.exit_when_idle = true;
  o.log_polls = false;
  std::vector<int64_t> checkpoints;
  o.on_checkpoint = [&](int64_t, int64_t idx) { checkpoints.push_back(idx); };
  Worker w(store_.get(), testing::TestEnv(), o);
  EXPECT_EQ(w.Run(), 1);
  Job j = *store_->GetJob(e->job.id);
  EXPECT_EQ(j.status, JobStatus::kCompleted);
  EXPECT_EQ(j.progress, 100);
  EXPECT_EQ(j.last_processed_index(), 2500);
  ASSERT_EQ(checkpoints.size(), 8u);  // ceil(2500 / 333)
  EXPECT_EQ(checkpoints.front(), 333);
  ExpectCellsEqual(spec);
  EXPECT_EQ(*store_->CountCells(spec.grid_step), 2500);
}

TEST_P(WorkerTest, ConcurrentJobsEachOwnTheirIndex) {
  // Three regions far apart with different POIs, run at once: each job's cells must match
  // its own region (a shared or evicted POI cache would mix them up).
  std::vector<HeatmapJobSpec> specs = {JobOver(47.05, 9.45, 0.04, 0.0005),
                                       JobOver(47.12, 9.55, 0.04, 0.0005),
                                       JobOver(47.08, 9.50, 0.04, 0.0005)};
  specs[2].model = HeatModel::kBlend;
  for (auto& s : specs) ASSERT_TRUE(store_->EnqueueHeatmap(s).ok());
  WorkerOptions o;
  o.chunk_size = 500;
  o.max_concurrent_jobs = 3;
  o.exit_when_idle = true;
  o.log_polls = false;
  std::atomic<int> max_running{0};
  Worker* wp = nullptr;
  o.on_checkpoint = [&](int64_t, int64_t) {
    max_running = std::max(max_running.load(), wp->running());
  };
  Worker w(store_.get(), testing::TestEnv(), o);
  wp = &w;
  EXPECT_EQ(w.Run(), 3);
  EXPECT_GE(max_running.load(), 2) << "the jobs did not run concurrently";
  for (auto& s : specs) ExpectCellsEqual(s);
}

// Regression: a job force-reset to pending while this worker still ran it was claimed again
// by the same worker, which started a second thread for it (std::terminate). The running
// thread now simply carries on and the job completes once, with correct cells.
TEST_P(WorkerTest, ReclaimingAJobItStillRunsDoesNotStartItTwice) {
  auto spec = JobOver(47.05, 9.45, 0.05, 0.0005);  // 10,000 cells
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  WorkerOptions o;
  o.chunk_size = 100;
  o.max_concurrent_jobs = 2;  // a free slot to claim the reset job into
  o.poll_interval_ms = 5;
  o.exit_when_idle = true;
  o.log_polls = false;
  std::atomic<int> resets{0};
  o.on_checkpoint = [&](int64_t, int64_t idx) {
    if (idx == 1000) {
      ASSERT_TRUE(store_->ResetRunning().ok());
      ++resets;
      SleepMs(50);  // the worker loop polls meanwhile and claims the job again
    }
  };
  Worker w(store_.get(), testing::TestEnv(), o);
  EXPECT_EQ(w.Run(), 1);
  EXPECT_EQ(resets.load(), 1);
  Job j = *store_->GetJob(e->job.id);
  EXPECT_EQ(j.status, JobStatus::kCompleted);
  EXPECT_EQ(j.attempts, 2);  // it was claimed twice, run once
  ExpectCellsEqual(spec);
}

TEST_P(WorkerTest, CancelStopsAtChunkBoundaryAndBadJobFailsPermanently) {
  auto spec = JobOver(47.05, 9.45, 0.05, 0.0005);  // 10,000 cells
  auto e = store_->EnqueueHeatmap(spec);
  WorkerOptions o;
  o.chunk_size = 100;
  o.exit_when_idle = true;
  o.log_polls = false;
  o.on_checkpoint = [&](int64_t id, int64_t idx) {
    if (idx == 300) {
      ASSERT_TRUE(store_->Cancel(id).ok());
    }
  };
  Worker w(store_.get(), testing::TestEnv(), o);
  w.Run();
  Job j = *store_->GetJob(e->job.id);
  EXPECT_EQ(j.status, JobStatus::kCancelled);
  // The run stops at the chunk that sees the cancel: the chunk committing when it came
  // (300-400), or the one after it when that one had already committed (400-500). The chunk
  // in flight behind it rolls back.
  EXPECT_TRUE(j.last_processed_index() == 400 || j.last_processed_index() == 500)
      << j.last_processed_index();
  EXPECT_EQ(*store_->CountCells(spec.grid_step), j.last_processed_index());

  // A job whose metadata cannot be run fails at once with its error, without retries.
  testing::ExecSql(
      url_,
      "INSERT INTO jobs (type, status, progress, total_items, metadata, created_at, max_attempts)"
      " VALUES ('heatmap_compute', 'pending', 0, 10, '{\"gridStep\": 0.001}', CURRENT_TIMESTAMP, "
      "3)");
  Worker w2(store_.get(), testing::TestEnv(), o);
  w2.Run();
  auto failed = store_->ListJobs({JobStatus::kFailed, 10, std::nullopt});
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_NE((*failed)[0].error->find("bounds"), std::string::npos) << *(*failed)[0].error;
  EXPECT_EQ((*failed)[0].attempts, 1);
}

// Stale rescue on a fake clock: a dead worker's job is rescued and finished elsewhere; a
// healthy job heartbeating for five hours of fake time is never rescued.
TEST_P(WorkerTest, StaleRescueUsesHeartbeatsOnAFakeClock) {
  FakeClock fake;
  testing::TempDir d2;
  std::string url = testing::FreshStoreUrl(GetParam(), d2);
  auto s = OpenStore(url, &fake);
  ASSERT_TRUE(s.ok());
  Store* st = s->get();
  ASSERT_TRUE(st->UpsertPois(GenerateCity(SmallCity())).ok());
  const int64_t timeout = 10 * 60 * 1000;

  auto dead = st->EnqueueHeatmap(JobOver(47.05, 9.45, 0.01, 0.001));
  ASSERT_TRUE(st->Claim("dead-worker")->has_value());  // claimed, then its worker vanished
  auto healthy = st->EnqueueHeatmap(JobOver(47.10, 9.50, 0.3, 0.001));  // 90,000 cells
  WorkerOptions o;
  o.chunk_size = 300;  // 300 chunks: one fake minute each = five hours
  o.stale_timeout_ms = timeout;
  o.exit_when_idle = true;
  o.log_polls = false;
  o.worker_id = "healthy-worker";
  int rescued_during = 0;
  o.on_checkpoint = [&](int64_t id, int64_t) {
    if (id != healthy->job.id) return;
    fake.Advance(60 * 1000);
    rescued_during += *st->RescueStale(timeout);  // another worker's periodic check
  };
  fake.Advance(timeout + 1);  // the dead worker's heartbeat is now older than the timeout
  Worker w(st, testing::TestEnv(&fake), o);
  EXPECT_EQ(w.Run(), 2);  // rescued the dead worker's job at start, ran both
  EXPECT_EQ(rescued_during, 0);
  EXPECT_EQ(st->GetJob(healthy->job.id)->status, JobStatus::kCompleted);
  EXPECT_EQ(st->GetJob(healthy->job.id)->attempts, 1);
  Job d = *st->GetJob(dead->job.id);
  EXPECT_EQ(d.status, JobStatus::kCompleted);
  EXPECT_EQ(d.attempts, 2);
  EXPECT_GE(fake.NowMs() - 1'800'000'000'000, 5 * 3600 * 1000);
}

// ---------------------------------------------------------------- processes

// The worker binary is killed with SIGKILL at random moments, at least 20 times during one
// job, and restarted each time: the job completes with exactly the cells of an uninterrupted
// run, and lastProcessedIndex never goes backwards.
TEST_P(WorkerTest, SurvivesRepeatedKillDashNine) {
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0005);  // 400 x 400 = 160,000 cells
  // Kills may land before a run's first checkpoint, and such a rescue counts as an attempt:
  // this test is about resuming, so the job may take them all.
  spec.max_attempts = 1000;
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  uint64_t seed = testing::TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> pause(5, 40);
  // The default STALE_JOB_TIMEOUT (10 min): each restarted worker finds its dead
  // predecessor's job through the owner lease, not the heartbeat.
  auto env = Env({"WORKER_POLL_INTERVAL=20", "WORKER_CHUNK_SIZE=100"});
  int kills = 0;   // SIGKILLs that hit the worker mid-job (claimed, committing chunks)
  int rounds = 0;  // all kill rounds
  int64_t last_index = 0;
  std::vector<int64_t> seen;
  for (int round = 0; round < 200; ++round) {
    Job j = Get(e->job.id);
    ASSERT_GE(j.last_processed_index(), last_index) << "lastProcessedIndex went backwards";
    last_index = j.last_processed_index();
    if (j.status == JobStatus::kCompleted) break;
    testing::Child w({testing::BinaryPath(), "worker"}, env, dir_.File("worker.log"));
    if (kills < 25 && rounds < 60) {
      // Let it (re)claim the job and commit a chunk, then kill it at a random moment.
      Job live = WaitForJob(
          e->job.id,
          [&](const Job& x) {
            return x.status == JobStatus::kRunning && x.last_processed_index() > last_index;
          },
          3000);
      SleepMs(pause(rng));
      w.Signal(SIGKILL);
      ASSERT_EQ(w.Wait(5000), 128 + SIGKILL);
      ++rounds;
      Job after = Get(e->job.id);
      if (live.status == JobStatus::kRunning && live.last_processed_index() > last_index &&
          after.status == JobStatus::kRunning) {
        ++kills;
      }
      seen.push_back(after.last_processed_index());
    } else {
      Job done = WaitForJob(
          e->job.id, [](const Job& x) { return x.status == JobStatus::kCompleted; }, 60000);
      ASSERT_EQ(done.status, JobStatus::kCompleted) << testing::ReadFile(dir_.File("worker.log"));
      w.Signal(SIGTERM);
      EXPECT_EQ(w.Wait(10000), 0);
    }
  }
  Job j = Get(e->job.id);
  ASSERT_EQ(j.status, JobStatus::kCompleted);
  EXPECT_GE(kills, 20) << "only " << kills << " of " << rounds << " kills hit the running job";
  for (size_t i = 1; i < seen.size(); ++i) ASSERT_GE(seen[i], seen[i - 1]);
  ExpectCellsEqual(spec);
}

// SIGTERM mid-chunk: exit 0, checkpoint kept, job back to pending, finished by the next one.
TEST_P(WorkerTest, SigtermHandsTheJobBack) {
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0002);  // 1000 x 1000 = 1,000,000 cells
  auto e = store_->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  auto env = Env({"WORKER_POLL_INTERVAL=60000", "WORKER_CHUNK_SIZE=20000"});
  testing::Child w({testing::BinaryPath(), "worker"}, env, dir_.File("w1.log"));
  Job running = WaitForJob(
      e->job.id, [](const Job& x) { return x.last_processed_index() >= 40000; }, 30000);
  ASSERT_GE(running.last_processed_index(), 40000) << testing::ReadFile(dir_.File("w1.log"));
  auto t0 = Clock_::now();
  w.Signal(SIGTERM);
  int rc = w.Wait(10000);
  double secs = std::chrono::duration<double>(Clock_::now() - t0).count();
  ASSERT_EQ(rc, 0) << testing::ReadFile(dir_.File("w1.log"));
  EXPECT_LT(secs, 5.0);
  Job back = *store_->GetJob(e->job.id);
  EXPECT_EQ(back.status, JobStatus::kPending);
  EXPECT_FALSE(back.locked_by.has_value());
  EXPECT_GE(back.last_processed_index(), running.last_processed_index());
  EXPECT_LT(back.last_processed_index(), back.total_items);
  EXPECT_EQ(*store_->CountCells(spec.grid_step), back.last_processed_index());
  std::string log = testing::ReadFile(dir_.File("w1.log"));
  EXPECT_NE(log.find("handed back"), std::string::npos) << log;
  // The next worker resumes from the checkpoint and finishes.
  std::string out;
  std::string cmd = "DATABASE_URL='" + url_ + "' WORKER_CHUNK_SIZE=20000 " + testing::BinaryPath() +
                    " process-jobs";
  ASSERT_EQ(testing::RunCommand(cmd, &out), 0) << out;
  EXPECT_NE(out.find("resuming at " + std::to_string(back.last_processed_index())),
            std::string::npos)
      << out;
  EXPECT_EQ(store_->GetJob(e->job.id)->status, JobStatus::kCompleted);
  ExpectCellsEqual(spec);
}

// Several worker processes on one database over 50 jobs: every job completes, and no job
// was ever started by two workers (each start is logged; each job is started once).
TEST_P(WorkerTest, SeveralWorkersNeverRunAJobTwice) {
  const int workers = GetParam() == Backend::kPostgres ? 4 : 2;
  auto env = Env({"WORKER_POLL_INTERVAL=50", "WORKER_CHUNK_SIZE=100", "MAX_CONCURRENT_JOBS=2"});
  std::vector<std::unique_ptr<testing::Child>> kids;
  for (int k = 0; k < workers; ++k) {
    kids.push_back(
        std::make_unique<testing::Child>(std::vector<std::string>{testing::BinaryPath(), "worker"},
                                         env, dir_.File("w" + std::to_string(k) + ".log")));
  }
  // Every worker is up (its banner printed) before the jobs arrive, so all of them compete
  // for the jobs even on a loaded machine.
  for (int k = 0; k < workers; ++k) {
    for (int i = 0; i < 500; ++i) {
      if (testing::ReadFile(dir_.File("w" + std::to_string(k) + ".log")).find("Worker id:") !=
          std::string::npos) {
        break;
      }
      SleepMs(10);
    }
  }
  SleepMs(100);
  std::vector<int64_t> ids;
  for (int i = 0; i < 50; ++i) {
    auto e = store_->EnqueueHeatmap(JobOver(47.04 + 0.004 * i, 9.44, 0.02, 0.0005));
    ASSERT_TRUE(e.ok());
    ids.push_back(e->job.id);
  }
  for (int64_t id : ids) {
    Job j = WaitForJob(
        id, [](const Job& x) { return x.status == JobStatus::kCompleted; }, 120000);
    ASSERT_EQ(j.status, JobStatus::kCompleted) << "job " << id;
    if (j.attempts != 1) {  // what the workers said about it
      std::string said;
      for (int k = 0; k < workers; ++k) {
        std::istringstream in(testing::ReadFile(dir_.File("w" + std::to_string(k) + ".log")));
        for (std::string line; std::getline(in, line);) {
          if (line.find("#" + std::to_string(id) + " ") != std::string::npos) {
            said += "w" + std::to_string(k) + ": " + line + "\n";
          }
        }
      }
      ADD_FAILURE() << "job " << id << " was claimed " << j.attempts << " times:\n" << said;
    }
  }
  std::map<int64_t, int> starts;
  std::set<int> workers_used;
  std::regex started(R"(Started job #(\d+))");
  for (int k = 0; k < workers; ++k) {
    kids[k]->Signal(SIGTERM);
    EXPECT_EQ(kids[k]->Wait(10000), 0);
    std::string log = testing::ReadFile(dir_.File("w" + std::to_string(k) + ".log"));
    for (std::sregex_iterator it(log.begin(), log.end(), started), end; it != end; ++it) {
      ++starts[std::stoll((*it)[1])];
      workers_used.insert(k);
    }
  }
  ASSERT_EQ(starts.size(), ids.size());
  for (auto [id, n] : starts) EXPECT_EQ(n, 1) << "job " << id << " started " << n << " times";
  EXPECT_GE(workers_used.size(), 2u) << "only one worker did all the work";
  for (int i = 0; i < 50; i += 7) ExpectCellsEqual(JobOver(47.04 + 0.004 * i, 9.44, 0.02, 0.0005));
}

// A job enqueued while the worker sleeps a 60 s poll interval starts at once: NOTIFY on
// PostgreSQL, the data_version watch on SQLite.
TEST_P(WorkerTest, PicksUpANewJobWithoutWaitingForThePoll) {
  auto env = Env({"WORKER_POLL_INTERVAL=60000"});
  testing::Child w({testing::BinaryPath(), "worker"}, env, dir_.File("w.log"));
  // Wait until the worker is idle in its poll wait (it logs a line per poll).
  for (int i = 0;
       i < 500 && testing::ReadFile(dir_.File("w.log")).find("Worker id") == std::string::npos; ++i)
    SleepMs(10);
  SleepMs(300);
  std::vector<double> latencies;
  for (int k = 0; k < 5; ++k) {
    auto t0 = Clock_::now();
    auto e = store_->EnqueueHeatmap(JobOver(47.04 + 0.01 * k, 9.44, 0.005, 0.001));
    ASSERT_TRUE(e.ok());
    Job j = WaitForJob(
        e->job.id, [](const Job& x) { return x.status != JobStatus::kPending; }, 5000);
    double ms = std::chrono::duration<double, std::milli>(Clock_::now() - t0).count();
    ASSERT_NE(j.status, JobStatus::kPending) << testing::ReadFile(dir_.File("w.log"));
    latencies.push_back(ms);
    WaitForJob(
        e->job.id, [](const Job& x) { return x.status == JobStatus::kCompleted; }, 5000);
    SleepMs(50);
  }
  std::sort(latencies.begin(), latencies.end());
  if (auto bound = testing::PromptnessBoundMs(1000)) {
    EXPECT_LT(latencies[2], static_cast<double>(*bound))
        << "median pickup " << latencies[2] << " ms";
  }
  std::printf("pickup latency median %.1f ms, max %.1f ms\n", latencies[2], latencies.back());
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(10000), 0);
}

INSTANTIATE_TEST_SUITE_P(Stores, WorkerTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

// The cron route runs this same loop (worker/cron.h): one job after another, returning once a
// claim finds nothing ready. A job waiting out its backoff is left for a later call, not
// waited for inside the request (the budget here would allow it).
TEST_P(WorkerTest, CronRunRunsTheReadyJobAndLeavesTheOneInBackoff) {
  auto waiting = store_->EnqueueHeatmap(JobOver(47.05, 9.45, 0.01, 0.001));
  ASSERT_TRUE(waiting.ok());
  auto claimed = store_->Claim("w");
  ASSERT_TRUE(claimed.ok() && *claimed);
  auto failed = store_->FailPart(waiting->job.id, 0, "w", "transient trouble", false);
  ASSERT_TRUE(failed.ok()) << failed.status().ToString();
  ASSERT_EQ(failed->status, JobStatus::kPending);  // retried after a 5 s backoff
  auto ready = store_->EnqueueHeatmap(JobOver(47.07, 9.47, 0.02, 0.001));
  ASSERT_TRUE(ready.ok());

  JobService service(store_.get(), testing::TestEnv(), JobServiceOptions{});
  CronOptions opts;
  opts.budget_ms = 60'000;
  opts.run.chunk_size = 100;
  auto report = RunCron(&service, opts, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->jobs.size(), 1u);
  EXPECT_EQ(report->jobs[0].id, ready->job.id);
  EXPECT_EQ(report->jobs[0].status, "completed");
  EXPECT_FALSE(report->has_more);  // the budget was not spent
  EXPECT_EQ(store_->GetJob(waiting->job.id)->status, JobStatus::kPending);
  EXPECT_EQ(store_->GetJob(waiting->job.id)->last_processed_index(), 0);
}

// ---------------------------------------------------------------- PostgreSQL faults

// Connections killed with pg_terminate_backend, and the server restarted, mid-job: the
// worker reconnects with backoff and the job completes with correct cells.
class PgFaultTest : public WorkerTest {};

void PgCommand(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  PQclear(r);
  PQfinish(c);
}

TEST_P(PgFaultTest, SurvivesTerminatedConnections) {
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0004);  // 250,000 cells
  auto e = store_->EnqueueHeatmap(spec);
  // The worker's connections carry their own application_name, so only they are killed
  // (other tests share the server).
  const std::string app = "nbi-fault-" + std::to_string(getpid());
  auto env = Env({"WORKER_POLL_INTERVAL=100", "WORKER_CHUNK_SIZE=500", "PGAPPNAME=" + app});
  testing::Child w({testing::BinaryPath(), "worker"}, env, dir_.File("w.log"));
  std::string base = *testing::TestPgUrl();
  int kills = 0;
  for (int k = 0; k < 8; ++k) {
    int64_t at = std::max<int64_t>(1, Get(e->job.id).last_processed_index());
    Job j = WaitForJob(
        e->job.id,
        [&](const Job& x) {
          return x.last_processed_index() > at || x.status == JobStatus::kCompleted;
        },
        20000);
    if (j.status == JobStatus::kCompleted) break;
    PgCommand(base,
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
                  app + "'");
    ++kills;
    SleepMs(30);
  }
  EXPECT_GE(kills, 3);
  Job done = WaitForJob(
      e->job.id, [](const Job& x) { return x.status == JobStatus::kCompleted; }, 120000);
  ASSERT_EQ(done.status, JobStatus::kCompleted) << testing::ReadFile(dir_.File("w.log"));
  EXPECT_TRUE(w.Running()) << "the worker exited instead of reconnecting";
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(10000), 0);
  EXPECT_NE(testing::ReadFile(dir_.File("w.log")).find("Database error"), std::string::npos)
      << "no connection of the worker was killed";
  ExpectCellsEqual(spec);
}

INSTANTIATE_TEST_SUITE_P(Pg, PgFaultTest, ::testing::Values(Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

// A private server (so other tests keep theirs) restarted mid-job.
TEST(PgRestart, WorkerFinishesAcrossADatabaseRestart) {
  if (!testing::TestPgUrl()) {
    if (std::getenv("NBI_REQUIRE_PG")) FAIL() << "NBI_REQUIRE_PG set but no PostgreSQL";
    GTEST_SKIP() << "PostgreSQL test skipped: NBI_TEST_PG_URL is not set (run scripts/test.sh)";
  }
  testing::TempDir dir;
  std::string script = testing::SourceDir() + "/scripts/pg_test_cluster.sh";
  std::string out;
  ASSERT_EQ(testing::RunCommand(script + " start 2>/dev/null", &out), 0) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex("PGTEST_DIR='([^']+)'")));
  std::string pgdir = m[1];
  ASSERT_TRUE(std::regex_search(out, m, std::regex("DATABASE_URL='([^']+)'")));
  std::string url = m[1];
  struct Stop {
    std::string s, d;
    ~Stop() { std::system((s + " stop '" + d + "' >/dev/null 2>&1").c_str()); }
  } stop{script, pgdir};
  SystemClock clock;
  auto s = OpenStore(url, &clock);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->UpsertPois(GenerateCity(SmallCity())).ok());
  auto spec = JobOver(47.04, 9.44, 0.2, 0.0004);
  auto e = (*s)->EnqueueHeatmap(spec);
  testing::Child w({testing::BinaryPath(), "worker"},
                   {"DATABASE_URL=" + url, "WORKER_POLL_INTERVAL=100", "WORKER_CHUNK_SIZE=500"},
                   dir.File("w.log"));
  for (int i = 0; i < 2000 && (*s)->GetJob(e->job.id)->last_processed_index() < 20000; ++i)
    SleepMs(5);
  std::string bindir = testing::ReadFile(pgdir + "/bindir");
  bindir.erase(bindir.find_last_not_of("\n") + 1);
  std::string restart = "runuser -u postgres -- " + bindir + "/pg_ctl -D " + pgdir +
                        "/data -m fast -w restart -o '-p " +
                        testing::ReadFile(pgdir + "/port").substr(0, 5) + "' >/dev/null 2>&1";
  if (getuid() != 0) restart = restart.substr(std::string("runuser -u postgres -- ").size());
  int64_t before = (*s)->GetJob(e->job.id)->last_processed_index();
  ASSERT_EQ(std::system(restart.c_str()), 0);
  Job done;
  for (int i = 0; i < 24000; ++i) {
    auto j = (*s)->GetJob(e->job.id);  // the test's own store reconnects too
    if (j.ok() && j->status == JobStatus::kCompleted) {
      done = *j;
      break;
    }
    SleepMs(5);
  }
  ASSERT_EQ(done.status, JobStatus::kCompleted) << testing::ReadFile(dir.File("w.log"));
  EXPECT_LT(before, done.total_items) << "the restart came after the job finished";
  std::string log = testing::ReadFile(dir.File("w.log"));
  EXPECT_NE(log.find("Database error"), std::string::npos) << "the restart was not noticed:\n"
                                                           << log;
  EXPECT_TRUE(w.Running());
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(10000), 0);
  EXPECT_EQ(*(*s)->CountCells(spec.grid_step), done.total_items);
}

}  // namespace
}  // namespace nbi
