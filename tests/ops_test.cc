// The operations endpoints of `worker` and `process-jobs` (METRICS_ADDR, http/ops_server.h)
// and the job metrics of every process (http/metrics.h), on both stores: real binaries, real
// HTTP. A job completed, retried, failed (invalid and out of attempts) and rescued from a
// killed worker each shows in the worker's /metrics; queue lag is the age of the oldest ready
// job; names follow the Prometheus conventions.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http_test_util.h"
#include "store/store.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using testing::Child;
using testing::Reply;
using testing::ToReply;

// `nearbyindex ARGS` as a child on the test's store, stdout+stderr into `log`.
std::unique_ptr<Child> Spawn(const std::vector<std::string>& args,
                             const std::vector<std::string>& env, const std::string& log) {
  std::vector<std::string> argv = {testing::BinaryPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<Child>(argv, env, log);
}

Reply GetAt(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2);
  c.set_read_timeout(10);
  return ToReply(c.Get(path.c_str()));
}

// The value of one sample line ("name{labels} value"); -1 when absent.
double Sample(const std::string& metrics, const std::string& series) {
  size_t at = 0;
  while ((at = metrics.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') return std::stod(metrics.substr(at + series.size()));
    at += series.size();
  }
  return -1;
}

class OpsTest : public testing::HttpTest {
 protected:
  std::vector<std::string> Env(std::vector<std::string> more = {}) {
    more.push_back("DATABASE_URL=" + url_);
    more.push_back("WORKER_POLL_INTERVAL=200");
    return more;
  }
  // Schedules a job over a small box around the test POIs; returns its id.
  int64_t Schedule(const std::string& bbox, double step) {
    std::string out;
    EXPECT_EQ(testing::RunCommand(fmt::format("DATABASE_URL='{}' {} schedule --bbox {} "
                                              "--grid-step {}",
                                              url_, testing::BinaryPath(), bbox, step),
                                  &out),
              0)
        << out;
    auto j = nlohmann::json::parse(out.substr(out.find('{')), nullptr, false);
    return j.is_object() ? j.value("jobId", int64_t{0}) : 0;
  }
  // Scrapes until `done(metrics)` holds (at most 30 s); returns the last scrape.
  std::string ScrapeUntil(int port, const std::function<bool(const std::string&)>& done) {
    std::string text;
    for (int i = 0; i < 300; ++i) {
      Reply r = GetAt(port, "/metrics");
      text = r.text;
      if (r.status == 200 && done(text)) return text;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "metrics never reached the expected state:\n" << text;
    return text;
  }
};

TEST_P(OpsTest, WorkerServesMetricsHealthAndReadiness) {
  const int64_t id = Schedule("47.09,9.49,47.11,9.51", 0.001);  // 20 x 20 cells
  ASSERT_GT(id, 0);
  const int port = testing::FreePort();
  const std::string log = dir_.File("worker.log");
  auto w = Spawn({"worker"}, Env({"METRICS_ADDR=127.0.0.1:" + std::to_string(port)}), log);
  std::string m = ScrapeUntil(port, [](const std::string& t) {
    return Sample(t, "nearbyindex_jobs{status=\"completed\"}") == 1;
  });
  EXPECT_EQ(Sample(m, "nearbyindex_store_up"), 1);
  EXPECT_EQ(Sample(m, "nearbyindex_cells_written_total"), 400) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_job_duration_seconds_count{outcome=\"completed\"}"), 1) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_job_claim_latency_seconds_count"), 1) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_queue_lag_seconds"), 0) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_retried_total"), 0) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_failed_total{cause=\"max_attempts\"}"), 0) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_rescued_total{cause=\"dead_owner\"}"), 0) << m;
  // The gauge of parts running here returns to 0 once the run has ended.
  m = ScrapeUntil(port, [](const std::string& t) {
    return Sample(t, "nearbyindex_parts_in_flight") == 0 &&
           Sample(t, "nearbyindex_job_duration_seconds_count{outcome=\"completed\"}") == 1;
  });

  // Prometheus conventions: counters end in _total, histograms here are times in seconds,
  // gauges are not _total; every sample belongs to a declared family.
  std::set<std::string> families;
  std::smatch t;
  const std::regex type_line(R"(# TYPE (\S+) (\S+))");
  for (auto it = std::sregex_iterator(m.begin(), m.end(), type_line); it != std::sregex_iterator();
       ++it) {
    const std::string name = (*it)[1], type = (*it)[2];
    families.insert(name);
    EXPECT_TRUE(name.rfind("nearbyindex_", 0) == 0) << name;
    if (type == "counter") EXPECT_TRUE(name.ends_with("_total")) << name;
    if (type == "histogram") EXPECT_TRUE(name.ends_with("_seconds")) << name;
    if (type == "gauge") EXPECT_FALSE(name.ends_with("_total")) << name;
  }
  EXPECT_GE(families.size(), 12u) << m;
  const std::regex sample_line(R"((?:^|\n)([a-z_]+?)(?:_bucket|_sum|_count)?(?:\{[^}]*\})? \S+)");
  for (auto it = std::sregex_iterator(m.begin(), m.end(), sample_line);
       it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(families.count((*it)[1])) << "undeclared family of: " << (*it)[0];
  }

  Reply h = GetAt(port, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, (nlohmann::json{{"status", "ok"}}));
  Reply r = GetAt(port, "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, (nlohmann::json{{"status", "ready"}}));
  Reply nf = GetAt(port, "/api/jobs");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body["error"]["code"], "not_found") << nf.text;
  httplib::Client c("127.0.0.1", port);
  Reply post = ToReply(c.Post("/metrics", "", "application/json"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers.find("Allow")->second, "GET, HEAD");

  w->Signal(SIGTERM);
  EXPECT_EQ(w->Wait(30000), 0) << testing::ReadFile(log);
  EXPECT_NE(testing::ReadFile(log).find(fmt::format("Metrics: http://127.0.0.1:{}/metrics", port)),
            std::string::npos)
      << testing::ReadFile(log);
}

// Every write of cells fails while the trigger exists (SQLite: RAISE; PostgreSQL: an
// exception): not a transient error, so each run fails its attempt.
constexpr const char* kSqliteBreakCells =
    "CREATE TRIGGER test_break_cells BEFORE INSERT ON heat_cells "
    "BEGIN SELECT RAISE(ABORT, 'injected cell write failure'); END;";
constexpr const char* kPgBreakCells = R"sql(
CREATE FUNCTION test_break_cells_fn() RETURNS trigger AS $$
BEGIN RAISE EXCEPTION 'injected cell write failure'; END $$ LANGUAGE plpgsql;
CREATE TRIGGER test_break_cells BEFORE INSERT ON heat_cells
  FOR EACH ROW EXECUTE FUNCTION test_break_cells_fn();
)sql";

TEST_P(OpsTest, FailuresRetriesAndInvalidJobsAreCounted) {
  const bool sqlite = url_.rfind("sqlite:", 0) == 0;
  testing::ExecSql(url_, sqlite ? kSqliteBreakCells : kPgBreakCells);
  const int64_t retried = Schedule("47.09,9.49,47.10,9.50", 0.001);
  const int64_t last = Schedule("47.10,9.49,47.11,9.50", 0.001);
  const int64_t invalid = Schedule("47.10,9.50,47.11,9.51", 0.001);
  ASSERT_GT(retried * last * invalid, 0);
  testing::ExecSql(url_, fmt::format("UPDATE jobs SET max_attempts = 1 WHERE id = {}", last));
  testing::ExecSql(
      url_, fmt::format("UPDATE jobs SET metadata = '{{\"bounds\": 1}}' WHERE id = {}", invalid));
  const int port = testing::FreePort();
  const std::string log = dir_.File("worker.log");
  auto w = Spawn({"worker"}, Env({"METRICS_ADDR=127.0.0.1:" + std::to_string(port)}), log);
  std::string m = ScrapeUntil(port, [](const std::string& t) {
    return Sample(t, "nearbyindex_jobs_retried_total") >= 1 &&
           Sample(t, "nearbyindex_jobs_failed_total{cause=\"max_attempts\"}") >= 1 &&
           Sample(t, "nearbyindex_jobs_failed_total{cause=\"invalid_job\"}") >= 1 &&
           Sample(t, "nearbyindex_job_duration_seconds_count{outcome=\"failed\"}") >= 3 &&
           // The store's gauges are read before the counters of the same scrape: a job that
           // fails in between shows in the counters first.
           Sample(t, "nearbyindex_jobs{status=\"failed\"}") >= 2;
  });
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_retried_total"), 1) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_failed_total{cause=\"max_attempts\"}"), 1) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_failed_total{cause=\"invalid_job\"}"), 1) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_job_duration_seconds_count{outcome=\"failed\"}"), 3) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_cells_written_total"), 0) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_jobs{status=\"failed\"}"), 2) << m;
  w->Signal(SIGTERM);
  EXPECT_EQ(w->Wait(30000), 0) << testing::ReadFile(log);
}

TEST_P(OpsTest, RescuesOfADeadWorkersJobAreCountedByCause) {
  // One big chunk: the first worker is killed while it scores or writes it.
  const int64_t id = Schedule("47.0,9.4,47.2,9.6", 0.0002);  // 1,000,000 cells
  ASSERT_GT(id, 0);
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok()) << store.status().message();
  const std::string log_a = dir_.File("a.log");
  auto a = Spawn({"worker"}, Env({"WORKER_CHUNK_SIZE=10000000", "METRICS_ADDR=off"}), log_a);
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    auto j = (*store)->GetJob(id);
    running = j.ok() && j->status == JobStatus::kRunning;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(running) << testing::ReadFile(log_a);
  a->Signal(SIGKILL);
  ASSERT_EQ(a->Wait(5000), 128 + SIGKILL);
  ASSERT_EQ((*store)->GetJob(id)->status, JobStatus::kRunning) << "killed after it finished";

  const int port = testing::FreePort();
  const std::string log_b = dir_.File("b.log");
  auto b = Spawn({"worker"},
                 Env({"WORKER_CHUNK_SIZE=2000", "METRICS_ADDR=127.0.0.1:" + std::to_string(port)}),
                 log_b);
  std::string m = ScrapeUntil(port, [](const std::string& t) {
    return Sample(t, "nearbyindex_jobs_rescued_total{cause=\"dead_owner\"}") >= 1;
  });
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_rescued_total{cause=\"dead_owner\"}"), 1) << m;
  EXPECT_EQ(Sample(m, "nearbyindex_jobs_rescued_total{cause=\"stale\"}"), 0) << m;
  b->Signal(SIGTERM);
  EXPECT_EQ(b->Wait(30000), 0) << testing::ReadFile(log_b);
}

TEST_P(OpsTest, QueueLagIsTheAgeOfTheOldestReadyJob) {
  // serve --no-worker claims nothing: the job waits, and its wait shows as lag.
  testing::ServerProcess& s = Start({}, {"--no-worker"});
  Reply before = s.Get("/metrics");
  EXPECT_EQ(Sample(before.text, "nearbyindex_queue_lag_seconds"), 0) << before.text;
  ASSERT_GT(Schedule("47.09,9.49,47.11,9.51", 0.001), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Reply after = s.Get("/metrics");
  const double lag = Sample(after.text, "nearbyindex_queue_lag_seconds");
  EXPECT_GE(lag, 1.4) << after.text;
  EXPECT_LT(lag, 30) << after.text;
}

TEST_P(OpsTest, ProcessJobsServesMetricsOnlyWhenAsked) {
  std::string out;
  const std::string run =
      fmt::format("DATABASE_URL='{}' {} process-jobs", url_, testing::BinaryPath());
  ASSERT_EQ(testing::RunCommand("METRICS_ADDR= " + run, &out), 0) << out;
  EXPECT_NE(out.find("Metrics: off (METRICS_ADDR)"), std::string::npos) << out;
  const int port = testing::FreePort();
  ASSERT_EQ(testing::RunCommand(fmt::format("METRICS_ADDR=127.0.0.1:{} {}", port, run), &out), 0)
      << out;
  EXPECT_NE(out.find(fmt::format("Metrics: http://127.0.0.1:{}/metrics", port)), std::string::npos)
      << out;
  // Refused: garbage, and an address in use when asked for explicitly.
  EXPECT_EQ(testing::RunCommand("METRICS_ADDR=nonsense " + run, &out), 2) << out;
  EXPECT_NE(out.find("METRICS_ADDR='nonsense'"), std::string::npos) << out;
  testing::ServerProcess& s = Start({}, {"--no-worker"});
  EXPECT_EQ(testing::RunCommand(fmt::format("METRICS_ADDR=127.0.0.1:{} {}", s.port(), run), &out),
            2)
      << out;
  EXPECT_NE(out.find(fmt::format("cannot serve metrics on 127.0.0.1:{}", s.port())),
            std::string::npos)
      << out;
}

TEST_P(OpsTest, WorkerServesMetricsByDefaultOnLoopback9464) {
  const std::string log = dir_.File("worker.log");
  auto w = Spawn({"worker"}, Env({"METRICS_ADDR="}), log);
  std::string text;
  for (int i = 0; i < 100 && text.find("Metrics: ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = testing::ReadFile(log);
  }
  if (text.find("Metrics: off (default address in use)") != std::string::npos) {
    // Another process holds 9464: the worker says so and runs on.
    EXPECT_NE(text.find("set METRICS_ADDR to another address"), std::string::npos) << text;
  } else {
    ASSERT_NE(text.find("Metrics: http://127.0.0.1:9464/metrics"), std::string::npos) << text;
    EXPECT_EQ(GetAt(9464, "/healthz").status, 200);
  }
  w->Signal(SIGTERM);
  EXPECT_EQ(w->Wait(30000), 0) << testing::ReadFile(log);
}

INSTANTIATE_TEST_SUITE_P(Stores, OpsTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         [](const auto& i) { return testing::BackendName(i.param); });

}  // namespace
}  // namespace nbi
