// Queue features of issue 16 on both stores: delayed jobs (run_at) and per-job max_attempts;
// listing filters by type and city; the attempt history (failed and rescued attempts of each
// part, deleted with the job); re-scheduling an equal active job with a higher priority raises
// it. Then the same through the CLI (schedule --run-at/--delay/--max-attempts, jobs --type
// --city --json, jobs show --json) and the parts-in-flight gauge of the worker metrics.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/time_format.h"
#include "http/metrics.h"
#include "store/store.h"
#include "store_fixture.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using testing::Spec;

class JobFeaturesTest : public testing::StoreTest {
 protected:
  // Runs the binary on this test's store; returns its output, expecting exit code `want_rc`.
  std::string Cli(const std::string& args, int want_rc = 0) {
    std::string out;
    const int rc = testing::RunCommand(
        "DATABASE_URL='" + url_ + "' " + testing::BinaryPath() + " " + args + " 2>&1", &out);
    EXPECT_EQ(rc, want_rc) << args << "\n" << out;
    return out;
  }
};

TEST_P(JobFeaturesTest, RunAtDelaysTheClaimAndMaxAttemptsIsPerJob) {
  JobQueue* q = store_.get();
  auto spec = Spec();
  spec.run_at_ms = clock_.NowMs() + 60'000;
  spec.max_attempts = 1;
  Job j = Enqueue(spec);
  EXPECT_EQ(j.run_at_ms, clock_.NowMs() + 60'000);
  EXPECT_EQ(j.max_attempts, 1);
  EXPECT_FALSE(q->Claim("w")->has_value()) << "claimed before its run_at";
  auto next = q->NextPending();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->run_at_ms, j.run_at_ms);
  clock_.Advance(60'000);
  EXPECT_EQ(MustClaim("w").id, j.id);
  // One attempt only: the first failure ends the job.
  auto f = q->FailPart(j.id, 0, "w", "boom", false);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->status, JobStatus::kFailed);
}

TEST_P(JobFeaturesTest, ListFiltersByTypeCityAndStatus) {
  JobQueue* q = store_.get();
  auto city = store_->GetCity("monaco");
  ASSERT_TRUE(city.ok()) << city.status().ToString();
  auto in_city = Spec(47.0);
  in_city.city_id = city->id;
  Job a = Enqueue(in_city);
  Job b = Enqueue(Spec(47.2));
  JobFilter f;
  f.city_id = city->id;
  auto only_a = q->ListJobs(f);
  ASSERT_TRUE(only_a.ok()) << only_a.status().ToString();
  ASSERT_EQ(only_a->size(), 1u);
  EXPECT_EQ(only_a->front().id, a.id);
  f = {};
  f.type = "heatmap_compute";
  EXPECT_EQ(q->ListJobs(f)->size(), 2u);
  f.type = "some_other_type";
  EXPECT_TRUE(q->ListJobs(f)->empty());
  // Filters combine: the city's job is pending, not running.
  f = {};
  f.city_id = city->id;
  f.status = JobStatus::kRunning;
  EXPECT_TRUE(q->ListJobs(f)->empty());
  f.status = JobStatus::kPending;
  f.type = "heatmap_compute";
  ASSERT_EQ(q->ListJobs(f)->size(), 1u);
  EXPECT_NE(q->ListJobs(f)->front().id, b.id);
}

TEST_P(JobFeaturesTest, AttemptHistoryKeepsFailuresAndRescuesAndGoesWithTheJob) {
  JobQueue* q = store_.get();
  auto spec = Spec();
  spec.part_cells = 10;  // 25 cells: 3 parts
  spec.max_attempts = 2;
  Job j = Enqueue(spec);
  ASSERT_EQ(j.part_count, 3);
  Job p0 = MustClaim("w1");
  EXPECT_EQ(p0.part, 0);
  Job p1 = MustClaim("w2");
  ASSERT_EQ(p1.part, 1);
  ASSERT_TRUE(q->FailPart(j.id, 0, "w1", "disk full", false).ok());
  clock_.Advance(11 * 60 * 1000);  // w2 stops heartbeating
  auto rescued = q->RescueStale(10 * 60 * 1000);
  ASSERT_TRUE(rescued.ok());
  EXPECT_EQ(*rescued, 1);
  auto h = q->ListAttempts(j.id);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ((*h)[0].part, 0);
  EXPECT_EQ((*h)[0].attempt, 1);
  EXPECT_EQ((*h)[0].worker, "w1");
  EXPECT_EQ((*h)[0].error, "disk full");
  EXPECT_EQ((*h)[0].outcome, "retry");
  EXPECT_EQ((*h)[1].part, 1);
  EXPECT_EQ((*h)[1].worker, "w2");
  EXPECT_EQ((*h)[1].outcome, "rescued");
  EXPECT_NE((*h)[1].error.find("w2"), std::string::npos) << (*h)[1].error;
  EXPECT_EQ((*h)[1].at_ms, clock_.NowMs());
  EXPECT_LT((*h)[0].at_ms, (*h)[1].at_ms);
  // A permanent failure ends the job: outcome "failed". Pruning the job prunes its history.
  Job again = MustClaim("w3");
  ASSERT_TRUE(q->FailPart(j.id, again.part, "w3", "bad input", true).ok());
  h = q->ListAttempts(j.id);
  ASSERT_EQ(h->size(), 3u);
  EXPECT_EQ(h->back().outcome, "failed");
  EXPECT_EQ(h->back().worker, "w3");
  EXPECT_TRUE(q->ListAttempts(999999)->empty());
  clock_.Advance(2000);
  ASSERT_EQ(*q->PruneFinished(1000), 1);
  EXPECT_TRUE(q->ListAttempts(j.id)->empty());
}

TEST_P(JobFeaturesTest, RescheduleWithHigherPriorityRaisesTheEqualActiveJob) {
  JobQueue* q = store_.get();
  Job first = Enqueue(Spec(47.0));
  Job second = Enqueue(Spec(47.2));
  auto lower = Spec(47.2);
  lower.priority = -5;
  auto same = q->EnqueueHeatmap(lower);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->is_new);
  EXPECT_FALSE(same->priority_raised);
  EXPECT_EQ(same->job.priority, 0);
  auto higher = Spec(47.2);
  higher.priority = 7;
  auto raised = q->EnqueueHeatmap(higher);
  ASSERT_TRUE(raised.ok()) << raised.status().ToString();
  EXPECT_FALSE(raised->is_new);
  EXPECT_TRUE(raised->priority_raised);
  EXPECT_EQ(raised->job.id, second.id);
  EXPECT_EQ(raised->job.priority, 7);
  EXPECT_EQ(q->GetJob(second.id)->priority, 7);
  EXPECT_FALSE(q->EnqueueHeatmap(higher)->priority_raised) << "already at 7";
  // Its parts are now claimed before the older job's.
  EXPECT_EQ(MustClaim("w").id, second.id);
  EXPECT_EQ(MustClaim("w").id, first.id);
}

TEST_P(JobFeaturesTest, CliSchedulesDelayedJobsFiltersAndShowsHistory) {
  std::string out = Cli("schedule --city monaco --grid-step 0.01 --delay 1h --max-attempts 4");
  EXPECT_NE(out.find("\"isNew\": true"), std::string::npos) << out;
  EXPECT_NE(out.find("runs from"), std::string::npos) << out;
  auto listed = store_->ListJobs({});
  ASSERT_TRUE(listed.ok() && listed->size() == 1u);
  const Job city_job = listed->front();
  EXPECT_EQ(city_job.max_attempts, 4);
  EXPECT_GE(city_job.run_at_ms - city_job.created_at_ms, 3'540'000);
  EXPECT_LE(city_job.run_at_ms - city_job.created_at_ms, 3'600'000);
  out = Cli("schedule --city monaco --grid-step 0.01 --priority 5");
  EXPECT_NE(out.find("priority raised to 5"), std::string::npos) << out;
  EXPECT_NE(out.find("\"priorityRaised\": true"), std::string::npos) << out;
  EXPECT_EQ(store_->GetJob(city_job.id)->priority, 5);
  // Bad values are refused with a message.
  out = Cli("schedule --city monaco --run-at 2000-01-01T00:00:00Z", 2);
  EXPECT_NE(out.find("in the past"), std::string::npos) << out;
  out = Cli("schedule --city monaco --run-at tomorrow", 2);
  EXPECT_NE(out.find("RFC 3339"), std::string::npos) << out;
  out = Cli("schedule --city monaco --max-attempts 0", 2);
  EXPECT_NE(out.find("1..100"), std::string::npos) << out;
  Cli("schedule --city monaco --max-attempts 101", 2);
  Cli("schedule --city monaco --delay soon", 2);
  std::string both;
  EXPECT_NE(testing::RunCommand("DATABASE_URL='" + url_ + "' " + testing::BinaryPath() +
                                    " schedule --city monaco --delay 1h "
                                    "--run-at 2030-01-01T00:00:00Z 2>&1",
                                &both),
            0)
      << both;

  // A job with a failed attempt, through the store (its clock, past the CLI job's run_at: the
  // higher priority makes this one claimed first).
  auto boxed_spec = Spec(47.0);
  boxed_spec.priority = 10;
  Job boxed = Enqueue(boxed_spec);
  ASSERT_EQ(MustClaim("w1").id, boxed.id);
  ASSERT_TRUE(store_->FailPart(boxed.id, 0, "w1", "out of memory", false).ok());

  auto all = nlohmann::json::parse(Cli("jobs --json"));
  EXPECT_EQ(all["jobs"].size(), 2u) << all.dump();
  auto city = nlohmann::json::parse(Cli("jobs --city monaco --json"));
  ASSERT_EQ(city["jobs"].size(), 1u) << city.dump();
  EXPECT_EQ(city["jobs"][0]["id"], city_job.id);
  EXPECT_EQ(city["jobs"][0]["maxAttempts"], 4);
  EXPECT_EQ(nlohmann::json::parse(Cli("jobs --type nope --json"))["jobs"].size(), 0u);
  EXPECT_EQ(nlohmann::json::parse(Cli("jobs --type heatmap_compute --json"))["jobs"].size(), 2u);
  Cli("jobs --city atlantis", 2);

  auto shown = nlohmann::json::parse(Cli("jobs show " + std::to_string(boxed.id) + " --json"));
  EXPECT_EQ(shown["id"], boxed.id);
  EXPECT_EQ(shown["attemptCount"], 1);
  ASSERT_EQ(shown["attempts"].size(), 1u) << shown.dump();
  EXPECT_EQ(shown["attempts"][0]["worker"], "w1");
  EXPECT_EQ(shown["attempts"][0]["error"], "out of memory");
  EXPECT_EQ(shown["attempts"][0]["part"], 0);
  EXPECT_EQ(shown["attempts"][0]["outcome"], "retry");
  EXPECT_EQ(shown["attempts"][0]["at"], FormatTimestamp(clock_.NowMs(), TimeStyle::kIsoUtc));
  out = Cli("jobs show " + std::to_string(boxed.id));
  EXPECT_NE(out.find("history:"), std::string::npos) << out;
  EXPECT_NE(out.find("w1: out of memory"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Stores, JobFeaturesTest, testing::BothBackends(),
                         testing::BackendParamName);

// The parts-in-flight gauge follows the runner's hooks: +1 at a part's start, -1 at its end;
// an end without its start (a run that failed before starting) changes nothing.
TEST(PartsInFlight, GaugeFollowsStartsAndEnds) {
  http::Metrics m;
  JobRunOptions opts;
  m.Instrument(&opts);
  Job a;
  a.id = 1;
  a.part = 0;
  Job b = a;
  b.part = 1;
  opts.on_job_start(a);
  opts.on_job_start(b);
  EXPECT_EQ(m.parts_in_flight(), 2);
  EXPECT_NE(m.Render({}).find("nearbyindex_parts_in_flight 2\n"), std::string::npos);
  opts.on_job_end(a, JobOutcome::kCompleted, 0.1);
  EXPECT_EQ(m.parts_in_flight(), 1);
  opts.on_job_end(a, JobOutcome::kFailed, 0.1);  // no second start: ignored
  EXPECT_EQ(m.parts_in_flight(), 1);
  opts.on_job_end(b, JobOutcome::kHandedBack, 0.1);
  EXPECT_EQ(m.parts_in_flight(), 0);
  EXPECT_NE(m.Render({}).find("nearbyindex_parts_in_flight 0\n"), std::string::npos);
}

}  // namespace
}  // namespace nbi
