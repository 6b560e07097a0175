// The job layer and the Env seam: the metadata codec on bad input, durations, the one
// timestamp formatter, JSON logs, and the worker's timers (poll, heartbeat, retry backoff)
// driven by a FakeClock on a real store.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/duration.h"
#include "common/log.h"
#include "common/time_format.h"
#include "jobs/runner.h"
#include "jobs/service.h"
#include "poi/synthetic.h"
#include "store/job.h"
#include "store_test_util.h"
#include "worker/worker.h"

namespace nbi {
namespace {

using testing::Backend;

// Polls `cond` for up to `ms` of real time.
bool Eventually(const std::function<bool()>& cond, int ms = 3000) {
  for (int i = 0; i < ms; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

// ---------------------------------------------------------------- metadata codec

Job JobWith(const std::string& metadata_text) {
  Job j;
  j.id = 7;
  j.type = kHeatmapJobType;
  j.metadata = nlohmann::json::parse(metadata_text);
  return j;
}

TEST(MetadataCodec, RoundTripsAndDefaultsTheModel) {
  HeatmapJobSpec spec;
  spec.bounds = {47.1, 9.5, 47.2, 9.6};
  spec.grid_step = 0.001;
  spec.model = HeatModel::kBlend;
  Job j;
  j.metadata = EncodeHeatmapMetadata(spec);
  auto m = DecodeHeatmapMetadata(j);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->bounds, spec.bounds);
  EXPECT_EQ(m->grid_step, 0.001);
  EXPECT_EQ(m->model, HeatModel::kBlend);
  EXPECT_EQ(m->last_processed_index, 0);

  // The original app's jobs carry no model: SEED_JOB_MODEL, blend unless set (SPEC §2a).
  const Job original =
      JobWith(R"({"bounds":{"minLat":1,"minLng":2,"maxLat":1.5,"maxLng":2.5},"gridStep":0.01,)"
              R"("lastProcessedIndex":12})");
  auto seed = DecodeHeatmapMetadata(original);
  ASSERT_TRUE(seed.ok()) << seed.status().ToString();
  EXPECT_EQ(seed->model, HeatModel::kBlend);
  EXPECT_EQ(seed->last_processed_index, 12);
  SetSeedJobModel(HeatModel::kGrocery);
  EXPECT_EQ(DecodeHeatmapMetadata(original)->model, HeatModel::kGrocery);
  SetSeedJobModel(HeatModel::kBlend);
}

TEST(MetadataCodec, BadInputIsAnInvalidArgumentNamingTheProblem) {
  const std::string box = R"("bounds":{"minLat":1,"minLng":2,"maxLat":1.5,"maxLng":2.5})";
  struct Case {
    std::string metadata, want;
  };
  const Case cases[] = {
      {"[]", "not a JSON object"},
      {"{}", "no bounds"},
      {R"({"bounds":"47,9,48,10","gridStep":0.01})", "no bounds"},
      {R"({"bounds":{"minLat":"1","minLng":2,"maxLat":1.5,"maxLng":2.5},"gridStep":0.01})",
       "numeric minLat"},
      {R"({"bounds":{"minLat":1,"minLng":2,"maxLat":1.5},"gridStep":0.01})", "numeric minLat"},
      {R"({"bounds":{"minLat":100,"minLng":2,"maxLat":101,"maxLng":2.5},"gridStep":0.01})",
       "bounds"},
      {R"({"bounds":{"minLat":2,"minLng":2,"maxLat":1,"maxLng":2.5},"gridStep":0.01})", "bounds"},
      {"{" + box + "}", "gridStep"},
      {"{" + box + R"(,"gridStep":"0.01"})", "gridStep"},
      {"{" + box + R"(,"gridStep":0})", "gridStep"},
      {"{" + box + R"(,"gridStep":5})", "gridStep"},
      {"{" + box + R"(,"gridStep":0.01,"model":"bakery"})",
       "model 'bakery' is unknown: use grocery, blend"},
      {"{" + box + R"(,"gridStep":0.01,"model":3})", "model '3' is unknown: use grocery, blend"},
      {"{" + box + R"(,"gridStep":0.01,"lastProcessedIndex":-4})", "lastProcessedIndex"},
      {"{" + box + R"(,"gridStep":0.01,"lastProcessedIndex":"12"})", "lastProcessedIndex"},
      {"{" + box + R"(,"gridStep":0.01,"lastProcessedIndex":1.5})", "lastProcessedIndex"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.metadata);
    Job j = JobWith(c.metadata);
    Result<HeatmapMetadata> m = Status::Internal("not run");
    ASSERT_NO_THROW(m = DecodeHeatmapMetadata(j));
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(m.status().message().find("job 7"), std::string::npos) << m.status().message();
    EXPECT_NE(m.status().message().find(c.want), std::string::npos) << m.status().message();
    // The accessor used by listings never throws either.
    EXPECT_NO_THROW((void)j.last_processed_index());
  }
  EXPECT_EQ(JobWith(R"({"lastProcessedIndex":"12"})").last_processed_index(), 0);
  EXPECT_EQ(JobWith(R"({"lastProcessedIndex":-3})").last_processed_index(), 0);
  EXPECT_EQ(JobWith(R"({"lastProcessedIndex":42})").last_processed_index(), 42);
}

// ---------------------------------------------------------------- Result and Status

Result<int> Half(int v) {
  if (v % 2) return Status::Invalid("odd");
  return v / 2;
}
Result<int> Quarter(int v) {
  NBI_ASSIGN_OR_RETURN(int h, Half(v));
  NBI_ASSIGN_OR_RETURN(h, Half(h));  // assigns an existing variable too
  return h;
}

TEST(ResultHelpers, AssignOrReturnAndValueOnError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  Status tagged = Status::Invalid("m").WithReason("too_many_cells").WithPrefix("p: ");
  EXPECT_EQ(tagged.reason(), "too_many_cells");
  EXPECT_EQ(tagged.message(), "p: m");
  // value() on an error is a programming error: it aborts with the status, never throws.
  EXPECT_DEATH((void)Result<int>(Status::Internal("boom")).value(), "boom");
}

// ---------------------------------------------------------------- durations and times

TEST(Durations, UnitsAndGarbage) {
  struct Good {
    const char* text;
    int64_t ms;
  };
  for (Good g :
       {Good{"600000", 600000}, Good{"250ms", 250}, Good{"600s", 600000}, Good{"10min", 600000},
        Good{"10m", 600000}, Good{"1.5h", 5400000}, Good{"7d", 7 * 86400000LL}}) {
    auto r = ParseDurationMs("X", g.text);
    ASSERT_TRUE(r.ok()) << g.text << ": " << r.status().ToString();
    EXPECT_EQ(*r, g.ms) << g.text;
  }
  for (const char* bad : {"", "abcd", "5xd", "10 s", "-5s", "0", "0s", "nan", "1e300h", "s"}) {
    auto r = ParseDurationMs("STALE_JOB_TIMEOUT", bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "' was accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("STALE_JOB_TIMEOUT='" + std::string(bad) + "'"),
              std::string::npos)
        << r.status().message();
  }
}

TEST(TimeFormat, OneFormatterForEveryStyle) {
  EXPECT_EQ(FormatTimestamp(0, TimeStyle::kIsoUtc), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1'800'000'000'123, TimeStyle::kIsoUtc), "2027-01-15T08:00:00.123Z");
  EXPECT_EQ(FormatTimestamp(-1, TimeStyle::kIsoUtc), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(1'800'000'000'123, TimeStyle::kSqlUtc), "2027-01-15 08:00:00.123");
  EXPECT_EQ(ParseSqlTimestamp("2027-01-15 08:00:00.123"), 1'800'000'000'123);
  EXPECT_EQ(ParseSqlTimestamp("2027-01-15 08:00:00"), 1'800'000'000'000);
  EXPECT_EQ(ParseSqlTimestamp("yesterday"), std::nullopt);
  EXPECT_EQ(FormatTimestamp(1'800'000'000'000, TimeStyle::kLocalSeconds).size(), 19u);
  EXPECT_EQ(FormatTimestamp(1'800'000'000'000, TimeStyle::kLocalClock).size(), 8u);
}

TEST(Logging, JsonLinesEscapeTheMessage) {
  testing::TempDir dir;
  std::string path = dir.File("log.jsonl");
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  {
    auto log = MakeLogger(LogFormat::kJson, f);
    log->info("Job #3 said \"hi\"\nand {} braces");
  }
  std::fclose(f);
  std::string text = testing::ReadFile(path);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["msg"], "Job #3 said \"hi\"\nand {} braces");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["time"].get<std::string>().back(), 'Z');
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("xml"), std::nullopt);
}

TEST(Logging, TheBinaryLogsJsonLinesWithLogFormatJson) {
  testing::TempDir dir;
  const std::string env = "DATABASE_URL=sqlite:" + dir.File("j.db") + " ";
  std::string out;
  ASSERT_EQ(testing::RunCommand(env + testing::BinaryPath() +
                                    " schedule --bbox 47.1,9.5,47.11,9.51 --grid-step 0.001",
                                &out),
            0)
      << out;
  ASSERT_EQ(
      testing::RunCommand(env + "LOG_FORMAT=json " + testing::BinaryPath() + " process-jobs", &out),
      0)
      << out;
  int json_lines = 0;
  size_t pos = 0;
  while ((pos = out.find("{\"level\"", pos)) != std::string::npos) {
    size_t end = out.find('\n', pos);
    auto j = nlohmann::json::parse(out.substr(pos, end - pos));
    EXPECT_TRUE(j.contains("msg"));
    ++json_lines;
    pos = end;
  }
  EXPECT_GE(json_lines, 2) << out;  // started + completed
  EXPECT_NE(out.find("\"msg\":\"Job #1 completed - 100 cells processed\""), std::string::npos)
      << out;
  EXPECT_EQ(
      testing::RunCommand(env + "LOG_FORMAT=xml " + testing::BinaryPath() + " process-jobs", &out),
      2);
  EXPECT_NE(out.find("LOG_FORMAT='xml'"), std::string::npos) << out;
}

// ---------------------------------------------------------------- retry backoff on a FakeClock

TEST(RetryTransient, BacksOffOnTheEnvClock) {
  FakeClock clock;
  Env env{&clock, NullLogger()};
  std::atomic<int> calls{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    auto r = RetryTransient(env, "test", nullptr, [&]() -> Result<int> {
      if (++calls < 4) return Status::Transient("down");
      return 5;
    });
    EXPECT_TRUE(r.ok());
    done = true;
  });
  // Each step waits until the retry is asleep (its deadline fixed) before moving the clock: an
  // advance that came first was lost, and the retry slept forever (seen under TSan).
  const auto asleep = [&](int n) { return Eventually([&] { return clock.waits_entered() == n; }); };
  ASSERT_TRUE(Eventually([&] { return calls == 1; }));
  ASSERT_TRUE(asleep(1));
  // Delays 50, 100, 200 ms of clock time: nothing happens until the clock moves.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(calls, 1);
  clock.Advance(49);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls, 1);
  clock.Advance(1);
  ASSERT_TRUE(Eventually([&] { return calls == 2; }));
  ASSERT_TRUE(asleep(2));
  clock.Advance(99);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls, 2);
  clock.Advance(1);
  ASSERT_TRUE(Eventually([&] { return calls == 3; }));
  ASSERT_TRUE(asleep(3));
  clock.Advance(200);
  ASSERT_TRUE(Eventually([&] { return done.load(); }));
  EXPECT_EQ(calls, 4);
  t.join();
}

// ---------------------------------------------------------------- the worker's timers

class WorkerTimers : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(GetParam());
    auto s = testing::OpenFreshStore(GetParam(), dir_, &clock_, &url_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    SyntheticCitySpec city;
    city.centre = {47.10, 9.52};
    city.size_km = 4;
    city.groceries = 20;
    city.others = 100;
    ASSERT_TRUE(store_->UpsertPois(GenerateCity(city)).ok());
  }
  void TearDown() override {
    if (worker_) worker_->Stop();
    if (run_.joinable()) run_.join();
  }
  void Start(WorkerOptions o) {
    worker_ = std::make_unique<Worker>(store_.get(), testing::TestEnv(&clock_), std::move(o));
    run_ = std::thread([this] { worker_->Run(); });
  }
  Job Enqueue(double lat) {
    HeatmapJobSpec spec;
    spec.bounds = {lat, 9.50, lat + 0.01, 9.51};
    spec.grid_step = 0.001;  // 100 cells
    auto e = store_->EnqueueHeatmap(spec);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e->job;
  }

  testing::TempDir dir_;
  FakeClock clock_;
  std::string url_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Worker> worker_;
  std::thread run_;
};

// Without a wake-up, a new job waits for the next poll, and the poll comes exactly when the
// clock reaches the interval.
TEST_P(WorkerTimers, PollsAtTheIntervalOfItsClock) {
  WorkerOptions o;
  o.poll_interval_ms = 60'000;
  o.log_polls = false;
  std::atomic<int> started{0};
  o.on_job_start = [&](const Job&) { ++started; };
  Start(o);
  // The first (empty) poll ran: the worker waits on the clock after it (the heartbeat thread
  // waits once more). A fixed 200 ms sleep stood here; on a loaded machine the first poll came
  // after the enqueue and claimed the job at once.
  ASSERT_TRUE(Eventually([&] { return clock_.waits_entered() >= 2; }))
      << "the worker never waited for its next poll";
  Enqueue(47.10);  // no Wake()
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(started, 0) << "claimed before the poll interval passed";
  clock_.Advance(59'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(started, 0) << "claimed one second early";
  clock_.Advance(1'000);
  EXPECT_TRUE(Eventually([&] { return started == 1; })) << "not claimed at the poll";
  // A Wake() does not wait for the clock.
  Enqueue(47.20);
  worker_->Wake();
  EXPECT_TRUE(Eventually([&] { return started == 2; })) << "a wake-up was not acted on";
}

// A running job's lease is refreshed every heartbeat interval of the clock, and only then.
TEST_P(WorkerTimers, HeartbeatsEveryIntervalWhileAJobRuns) {
  WorkerOptions o;
  o.poll_interval_ms = 3'600'000;
  o.heartbeat_interval_ms = 30'000;
  o.chunk_size = 10;
  o.log_polls = false;
  // Hold the job after its first chunk, so it stays running while the clock moves.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, held = false;
  o.on_checkpoint = [&](int64_t, int64_t) {
    std::unique_lock<std::mutex> l(mu);
    held = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  };
  Job job = Enqueue(47.10);
  Start(o);
  {
    std::unique_lock<std::mutex> l(mu);
    ASSERT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return held; }));
  }
  // The chunk in flight behind the held one commits (with its heartbeat); none follows it.
  ASSERT_TRUE(Eventually([&] { return store_->GetJob(job.id)->last_processed_index() == 20; }));
  auto heartbeat = [&] { return store_->GetJob(job.id)->heartbeat_at_ms.value_or(0); };
  const int64_t first = heartbeat();
  ASSERT_GT(first, 0);
  clock_.Advance(29'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(heartbeat(), first) << "heartbeat before its interval";
  clock_.Advance(1'000);
  EXPECT_TRUE(Eventually([&] { return heartbeat() == first + 30'000; }))
      << "no heartbeat at the interval: " << heartbeat() - first;
  clock_.Advance(30'000);
  EXPECT_TRUE(Eventually([&] { return heartbeat() == first + 60'000; }));
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
    cv.notify_all();
  }
  EXPECT_TRUE(Eventually([&] { return store_->GetJob(job.id)->status == JobStatus::kCompleted; }));
}

// A retry in backoff starts when its run_at comes, not at the next poll (60 s by default): the
// worker sleeps until the earliest run_at.
TEST_P(WorkerTimers, ARetryStartsAtItsRunAtNotAtThePoll) {
  Job job = Enqueue(47.10);
  ASSERT_TRUE(store_->Claim("crashed-before")->has_value());
  auto failed = store_->FailPart(job.id, 0, "crashed-before", "transient trouble", false);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->run_at_ms, clock_.NowMs() + 5000);
  WorkerOptions o;  // the default poll interval, 60 s
  o.log_polls = false;
  std::atomic<int> started{0};
  o.on_job_start = [&](const Job&) { ++started; };
  Start(o);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  clock_.Advance(4'900);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(started, 0) << "started before its run_at";
  clock_.Advance(100);  // run_at; the poll would come 55 s later
  EXPECT_TRUE(Eventually([&] { return started == 1; }, 2000)) << "not started at its run_at";
}

// Housekeeping: finished jobs older than JOB_RETENTION are pruned at the worker's start and
// then at most once an hour of its clock; each pass is reported.
TEST_P(WorkerTimers, PrunesFinishedJobsOncePerHour) {
  auto finish = [&](double lat) {
    Job j = Enqueue(lat);
    EXPECT_TRUE(store_->Claim("w")->has_value());
    EXPECT_TRUE(store_->CompletePart(j.id, 0, "w").ok());
    return j.id;
  };
  const int64_t old_job = finish(47.10);
  clock_.Advance(2 * 60'000);  // older than the retention below
  WorkerOptions o;
  o.log_polls = false;
  o.job_retention_ms = 60'000;
  std::atomic<int> pruned{0}, passes{0};
  o.on_prune = [&](int n) {
    pruned += n;
    ++passes;
  };
  Start(o);
  ASSERT_TRUE(Eventually([&] { return passes == 1; }));
  EXPECT_EQ(pruned, 1);
  EXPECT_EQ(store_->GetJob(old_job).status().code(), StatusCode::kNotFound);
  const int64_t next = finish(47.20);
  clock_.Advance(2 * 60'000);  // old enough, but the last pass was minutes ago...
  worker_->Wake();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(store_->GetJob(next).ok()) << "pruned again within the hour";
  clock_.Advance(3'600'000 - 2 * 60'000);  // ...an hour after that pass it goes
  worker_->Wake();
  EXPECT_TRUE(Eventually([&] { return passes == 2; }));
  EXPECT_EQ(store_->GetJob(next).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(pruned, 2);
}

INSTANTIATE_TEST_SUITE_P(Stores, WorkerTimers,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

// ---------------------------------------------------------------- JobService rules

TEST(JobServiceRules, ResolveAppliesTheJobCapEverywhere) {
  testing::TempDir dir;
  auto s = OpenStore("sqlite:" + dir.File("s.db"));
  ASSERT_TRUE(s.ok());
  JobService jobs(s->get(), Env{}, JobServiceOptions{1000});
  ScheduleRequest r;
  r.bounds = BBox{47.1, 9.5, 47.2, 9.6};
  r.grid_step = 0.001;  // 10,000 cells
  auto spec = jobs.Resolve(r);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(spec.status().reason(), "too_many_cells");
  EXPECT_NE(spec.status().message().find("over the job cap of 1000"), std::string::npos);
  r.grid_step = 0.005;  // 400 cells
  EXPECT_TRUE(jobs.Resolve(r).ok());
  r.bounds.reset();
  r.city_slug = "atlantis";
  EXPECT_EQ(jobs.Resolve(r).status().code(), StatusCode::kNotFound);
}

TEST(JobServiceRules, CoverageSchedulesOnceAndOnlyWhenAllowed) {
  testing::TempDir dir;
  auto s = OpenStore("sqlite:" + dir.File("s.db"));
  ASSERT_TRUE(s.ok());
  int wakes = 0;
  JobService jobs(s->get(), Env{}, JobServiceOptions{}, [&] { ++wakes; });
  LatLng at{47.1, 9.5};
  auto denied = jobs.EnsureCoverage(at, [] { return false; });
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->covered);
  EXPECT_FALSE(denied->job_id.has_value());
  auto first = jobs.EnsureCoverage(at, [] { return true; });
  ASSERT_TRUE(first.ok() && first->job_id);
  EXPECT_TRUE(first->scheduled);
  EXPECT_EQ(wakes, 1);
  // The active job covers the point: no second job, no token asked.
  auto second = jobs.EnsureCoverage({47.11, 9.51}, [] {
    ADD_FAILURE() << "asked for a token although a job covers the point";
    return true;
  });
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->job_id, first->job_id);
  EXPECT_FALSE(second->scheduled);
  EXPECT_EQ(wakes, 1);
}

}  // namespace
}  // namespace nbi
