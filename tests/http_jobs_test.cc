// The HTTP API end to end, part 2: scheduling and running heatmap jobs through the real
// `nearbyindex serve` (tests/http_test_util.h) on each backend. Scheduled jobs run and their
// cells match the point scores; scheduling dedupes; jobs are listed, cancelled and retried;
// concurrent scores at an uncovered point schedule one job; the cron endpoint needs its
// secret and keeps to its budget; SIGTERM lets work in flight hand its job back and exits 0.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <latch>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/time_format.h"
#include "geo/geo.h"
#include "http_test_util.h"
#include "store/store.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using json = nlohmann::json;
using testing::Backend;
using testing::HttpTest;
using testing::Keys;
using testing::kIsoMs;
using testing::kJobKeys;
using testing::Reply;
using testing::ServerProcess;
using testing::Shortest;
using testing::ToReply;

// /api/heatmap answers carry an ETag (the version of the blocks under the box) and are
// kept by the server while it holds: a view asked for again is answered from the cache, a
// client with the answer gets a 304, and any cell written under the box gives a new answer.
TEST_P(HttpTest, HeatmapAnswersAreReusedOnlyWhileTheirCellsAreUnchanged) {
  ServerProcess& s = Start();
  const std::string view = "/api/heatmap?minLat=47.08&minLng=9.48&maxLat=47.12&maxLng=9.52";
  auto etag = [](const Reply& r) {
    auto it = r.headers.find("ETag");
    return it == r.headers.end() ? std::string() : it->second;
  };
  Reply empty = s.Get(view);
  ASSERT_EQ(empty.status, 200) << empty.text;
  EXPECT_EQ(empty.body["count"], 0);
  const std::string e0 = etag(empty);
  ASSERT_FALSE(e0.empty());
  Reply again = s.Get(view);
  EXPECT_EQ(again.text, empty.text);
  EXPECT_EQ(etag(again), e0);
  EXPECT_EQ(s.Get(view, {{"If-None-Match", e0}}).status, 304);

  // Computes the cells of a box and waits for them.
  auto compute = [&](double min_lat, double max_lat) {
    Reply r = s.Post(
        "/api/heatmap/schedule",
        R"({"bounds": )" + BoundsJson(min_lat, 9.48, max_lat, 9.52) + R"(, "gridStep": 0.0025})");
    ASSERT_EQ(r.status, 201) << r.text;
    WaitForJob(s, r.body["jobId"], "completed");
  };
  // The south half of the view is computed: the same query now answers its cells.
  compute(47.08, 47.10);
  Reply half = s.Get(view);
  ASSERT_EQ(half.status, 200) << half.text;
  EXPECT_EQ(half.body["count"], 128);
  const std::string e1 = etag(half);
  EXPECT_NE(e1, e0);
  EXPECT_EQ(s.Get(view, {{"If-None-Match", e0}}).status, 200);
  EXPECT_EQ(s.Get(view, {{"If-None-Match", e1}}).status, 304);

  // Then the north half.
  compute(47.10, 47.12);
  Reply full = s.Get(view);
  EXPECT_EQ(full.body["count"], 256);
  EXPECT_NE(etag(full), e1);
  // Another query over the same cells is its own answer.
  Reply high = s.Get(view + "&minScore=50");
  ASSERT_EQ(high.status, 200) << high.text;
  int at_least_50 = 0;
  for (const json& c : full.body["cells"]) at_least_50 += c["score"].get<int>() >= 50;
  EXPECT_EQ(high.body["count"], at_least_50);
}

TEST_P(HttpTest, ScheduledJobsRunAndTheirCellsMatchPointScores) {
  ServerProcess& s = Start();
  const std::string bounds = BoundsJson(47.08, 9.48, 47.12, 9.52);
  Reply a = s.Post("/api/heatmap/schedule",
                   R"({"bounds": )" + bounds + R"(, "gridStep": 0.0025, "model": "grocery"})");
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(Keys(a.body), (std::set<std::string>{"jobId", "status", "isNew", "priorityRaised",
                                                 "priority", "runAt"}));
  EXPECT_EQ(a.body["isNew"], true);
  // gridStep is honoured (seed bug 3): another step is another job.
  Reply b = s.Post("/api/heatmap/schedule", R"({"bounds": )" + bounds + R"(, "gridStep": 0.001})");
  ASSERT_EQ(b.status, 201) << b.text;
  ASSERT_NE(a.body["jobId"], b.body["jobId"]);

  json ja = WaitForJob(s, a.body["jobId"], "completed");
  json jb = WaitForJob(s, b.body["jobId"], "completed");
  EXPECT_EQ(Keys(ja), kJobKeys);
  EXPECT_EQ(ja["type"], "heatmap_compute");
  EXPECT_EQ(ja["progress"], 100);
  EXPECT_EQ(ja["totalItems"], 256);
  EXPECT_EQ(ja["processedItems"], 256);
  EXPECT_TRUE(ja["error"].is_null());
  EXPECT_EQ(ja["metadata"]["gridStep"], 0.0025);
  for (const char* k : {"createdAt", "startedAt", "completedAt"}) {
    ASSERT_TRUE(ja[k].is_string()) << k;
    EXPECT_TRUE(std::regex_match(ja[k].get<std::string>(), kIsoMs)) << ja[k];
  }
  EXPECT_EQ(jb["totalItems"], 1600);

  const std::string box = "minLat=47.08&minLng=9.48&maxLat=47.12&maxLng=9.52";
  Reply fine = s.Get("/api/heatmap?" + box + "&gridStep=0.001");
  ASSERT_EQ(fine.status, 200) << fine.text;
  EXPECT_EQ(fine.body["count"], 1600);
  Reply cells = s.Get("/api/heatmap?" + box);
  ASSERT_EQ(cells.status, 200) << cells.text;
  EXPECT_EQ(Keys(cells.body),
            (std::set<std::string>{"gridStep", "level", "cellStep", "model", "count", "cells"}));
  EXPECT_EQ(cells.body["gridStep"], 0.0025);
  ASSERT_EQ(cells.body["count"], 256);
  ASSERT_EQ(cells.body["cells"].size(), 256u);

  // Each cell equals the point score's grocery score at its position (one engine, SPEC §4).
  int checked_nonzero = 0, checked_zero = 0, at_least_40 = 0;
  for (const json& c : cells.body["cells"]) {
    ASSERT_EQ(Keys(c), (std::set<std::string>{"lat", "lng", "score"}));
    double lat = c["lat"], lng = c["lng"];
    // Snapped to the grid: exactly i * step.
    EXPECT_EQ(lat, static_cast<double>(NearestGridIndex(lat, 0.0025)) * 0.0025);
    EXPECT_EQ(lng, static_cast<double>(NearestGridIndex(lng, 0.0025)) * 0.0025);
    int score = c["score"];
    at_least_40 += score >= 40;
    bool check = (score > 0 && checked_nonzero < 8) || (score == 0 && checked_zero < 2);
    if (!check) continue;
    (score > 0 ? checked_nonzero : checked_zero)++;
    Reply p = s.Get("/api/score?lat=" + Shortest(lat) + "&lng=" + Shortest(lng));
    ASSERT_EQ(p.status, 200) << p.text;
    ASSERT_EQ(p.body["categories"][0]["id"], "groceries");
    EXPECT_EQ(p.body["categories"][0]["score"], score) << "cell " << c.dump();
    EXPECT_EQ(p.body["hasHeatmapCoverage"], true);
    EXPECT_FALSE(p.body.contains("coverageJobId"));
  }
  EXPECT_EQ(checked_nonzero, 8);
  EXPECT_EQ(checked_zero, 2);
  Reply hi = s.Get("/api/heatmap?" + box + "&minScore=40");
  ASSERT_EQ(hi.status, 200);
  EXPECT_EQ(hi.body["count"], at_least_40);
  for (const json& c : hi.body["cells"]) EXPECT_GE(c["score"].get<int>(), 40);

  Reply m = s.Get("/metrics");
  EXPECT_NE(m.text.find("nearbyindex_cells_computed_total 1856"), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("nearbyindex_jobs{status=\"completed\"} 2"), std::string::npos) << m.text;
  EXPECT_NE(m.text.find("nearbyindex_chunk_duration_seconds_count 10"), std::string::npos)
      << m.text;
  EXPECT_NE(m.text.find("nearbyindex_job_claim_latency_seconds_count 2"), std::string::npos)
      << m.text;
}

// A grocery job and a blend job over one area and step: both sets of cells are stored (the
// second does not overwrite the first) and /api/heatmap serves each by its model.
TEST_P(HttpTest, GroceryAndBlendCellsAreStoredAndServedApart) {
  ServerProcess& s = Start();
  const std::string bounds = BoundsJson(47.08, 9.48, 47.12, 9.52);
  Reply g = s.Post("/api/heatmap/schedule", R"({"bounds": )" + bounds + R"(, "model": "grocery"})");
  ASSERT_EQ(g.status, 201) << g.text;
  WaitForJob(s, g.body["jobId"], "completed");
  Reply b = s.Post("/api/heatmap/schedule", R"({"bounds": )" + bounds + R"(, "model": "blend"})");
  ASSERT_EQ(b.status, 201) << b.text;
  WaitForJob(s, b.body["jobId"], "completed");
  const std::string box = "minLat=47.08&minLng=9.48&maxLat=47.12&maxLng=9.52";
  Reply grocery = s.Get("/api/heatmap?" + box + "&model=grocery");
  Reply blend = s.Get("/api/heatmap?" + box + "&model=blend");
  Reply plain = s.Get("/api/heatmap?" + box);
  ASSERT_EQ(grocery.status, 200) << grocery.text;
  ASSERT_EQ(blend.status, 200) << blend.text;
  EXPECT_EQ(grocery.body["model"], "grocery");
  EXPECT_EQ(blend.body["model"], "blend");
  EXPECT_EQ(grocery.body["count"], 256);
  EXPECT_EQ(blend.body["count"], 256);
  EXPECT_EQ(plain.body, grocery.body) << "the default model is grocery";
  int differing = 0;
  for (size_t i = 0; i < 256; ++i) {
    differing += grocery.body["cells"][i]["score"] != blend.body["cells"][i]["score"];
  }
  EXPECT_GT(differing, 0) << "blend cells replaced grocery cells (or the reverse)";
  Reply bad = s.Get("/api/heatmap?" + box + "&model=bakery");
  EXPECT_EQ(bad.status, 400) << bad.text;
  EXPECT_EQ(bad.body["error"]["code"], "invalid_argument");
}

TEST_P(HttpTest, ScheduleDedupesAndJobsCanBeListedCancelledAndRetried) {
  ServerProcess& s = Start({}, {"--no-worker"});
  Reply a = s.Post("/api/heatmap/schedule",
                   R"({"citySlug": "monaco", "gridStep": 0.0025, "priority": 5})");
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(a.body["status"], "pending");
  // Same city, step and model (gridStep defaults to 0.0025): the same job, not a new one.
  Reply again = s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco"})");
  ASSERT_EQ(again.status, 200) << again.text;
  EXPECT_EQ(again.body["jobId"], a.body["jobId"]);
  EXPECT_EQ(again.body["isNew"], false);
  EXPECT_EQ(again.body["priorityRaised"], false);  // priority 0 < 5: left alone
  EXPECT_EQ(again.body["priority"], 5);
  int64_t id = a.body["jobId"];
  const std::string path = "/api/jobs/" + std::to_string(id);
  Reply job = s.Get(path);
  EXPECT_EQ(job.body["priority"], 5);
  EXPECT_EQ(job.body["totalItems"], 256);
  EXPECT_TRUE(job.body["startedAt"].is_null());

  Reply cancelled = s.Post(path + "/cancel", "");
  ASSERT_EQ(cancelled.status, 200) << cancelled.text;
  EXPECT_EQ(Keys(cancelled.body), kJobKeys);
  EXPECT_EQ(cancelled.body["status"], "cancelled");
  Reply twice = s.Post(path + "/cancel", "");
  EXPECT_EQ(twice.status, 409) << twice.text;
  EXPECT_EQ(twice.body["error"]["code"], "conflict");
  Reply retried = s.Post(path + "/retry", "");
  ASSERT_EQ(retried.status, 200) << retried.text;
  EXPECT_EQ(retried.body["status"], "pending");
  EXPECT_EQ(retried.body["attempts"], 0);
  Reply retry_pending = s.Post(path + "/retry", "");
  EXPECT_EQ(retry_pending.status, 409) << retry_pending.text;
  EXPECT_EQ(retry_pending.body["error"]["code"], "conflict");

  // A reset while the area's job is active: 409 naming the job; with force it is cancelled
  // first and a new job takes its place.
  Reply reset = s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "reset": true})");
  EXPECT_EQ(reset.status, 409) << reset.text;
  EXPECT_EQ(reset.body["error"]["code"], "conflict");
  EXPECT_NE(reset.text.find("#" + std::to_string(id)), std::string::npos) << reset.text;
  EXPECT_EQ(s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "force": true})").status,
            400);
  Reply forced =
      s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "reset": true, "force": true})");
  ASSERT_EQ(forced.status, 201) << forced.text;
  EXPECT_NE(forced.body["jobId"], id);
  EXPECT_EQ(s.Get(path).status, 404);  // cancelled, then removed with the area's finished jobs
  id = forced.body["jobId"];

  // Pagination: newest first, cursor = the last id of the page.
  std::vector<int64_t> ids = {id};
  for (double lat : {10.0, 11.0}) {
    Reply r = s.Post("/api/heatmap/schedule",
                     R"({"bounds": )" + BoundsJson(lat, 10, lat + 0.01, 10.01) + "}");
    ASSERT_EQ(r.status, 201) << r.text;
    ids.push_back(r.body["jobId"]);
  }
  Reply page1 = s.Get("/api/jobs?limit=2");
  ASSERT_EQ(page1.status, 200) << page1.text;
  ASSERT_EQ(page1.body["jobs"].size(), 2u);
  EXPECT_EQ(page1.body["jobs"][0]["id"], ids[2]);
  EXPECT_EQ(page1.body["jobs"][1]["id"], ids[1]);
  EXPECT_EQ(Keys(page1.body["jobs"][0]), kJobKeys);
  ASSERT_EQ(page1.body["nextCursor"], ids[1]);
  Reply page2 = s.Get("/api/jobs?limit=2&cursor=" + std::to_string(ids[1]));
  ASSERT_EQ(page2.body["jobs"].size(), 1u);
  EXPECT_EQ(page2.body["jobs"][0]["id"], ids[0]);
  EXPECT_TRUE(page2.body["nextCursor"].is_null());
  Reply cancelled_list = s.Get("/api/jobs?status=cancelled");
  EXPECT_EQ(cancelled_list.body["jobs"].size(), 0u);
  EXPECT_EQ(s.Get("/api/jobs?status=pending").body["jobs"].size(), 3u);
}

TEST_P(HttpTest, ConcurrentScoresAtAnUncoveredPointScheduleExactlyOneJob) {
  ServerProcess& s = Start({}, {"--no-worker"});
  constexpr int kClients = 20;
  std::vector<Reply> replies(kClients);
  std::vector<std::thread> threads;
  std::latch start(kClients);
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto c = s.Client();
      start.arrive_and_wait();  // all at once
      replies[i] = ToReply(c->Get("/api/score?lat=10.0001&lng=20.0001"));
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> job_ids;
  for (const Reply& r : replies) {
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["hasHeatmapCoverage"], false);
    ASSERT_TRUE(r.body.contains("coverageJobId")) << r.text;
    job_ids.insert(r.body["coverageJobId"].get<int64_t>());
    EXPECT_EQ(r.body["categories"].size(), 8u);
    EXPECT_TRUE(r.body.contains("overall"));
    EXPECT_TRUE(r.body.contains("computedAt"));
  }
  EXPECT_EQ(job_ids.size(), 1u);
  Reply jobs = s.Get("/api/jobs");
  ASSERT_EQ(jobs.body["jobs"].size(), 1u) << jobs.text;
  const json& job = jobs.body["jobs"][0];
  EXPECT_EQ(job["id"], *job_ids.begin());
  EXPECT_EQ(job["totalItems"], 3600);
  EXPECT_EQ(job["metadata"]["gridStep"], 0.0025);
  EXPECT_EQ(job["metadata"]["model"], "grocery");
  BBox b{job["metadata"]["bounds"]["minLat"], job["metadata"]["bounds"]["minLng"],
         job["metadata"]["bounds"]["maxLat"], job["metadata"]["bounds"]["maxLng"]};
  EXPECT_TRUE(b.Contains(10.0001, 20.0001));
  EXPECT_NEAR(b.max_lat - b.min_lat, 0.15, 1e-9);
  // Another point the active job covers reuses it.
  Reply near = s.Get("/api/score?lat=10.05&lng=19.95");
  EXPECT_EQ(near.body["coverageJobId"], *job_ids.begin());
  EXPECT_EQ(s.Get("/api/jobs").body["jobs"].size(), 1u);
}

TEST_P(HttpTest, CronEndpointNeedsTheSecretAndProcessesJobs) {
  ServerProcess& plain = Start({}, {"--no-worker"});
  Reply disabled = plain.Get("/api/cron/process-jobs", {{"Authorization", "Bearer anything"}});
  EXPECT_EQ(disabled.status, 404) << disabled.text;
  EXPECT_EQ(disabled.body["error"]["code"], "not_found");

  ServerProcess& s = Start({{"CRON_SECRET", "s3cret-token"}}, {"--no-worker"});
  Reply r = s.Post("/api/heatmap/schedule",
                   R"({"bounds": )" + BoundsJson(47.09, 9.49, 47.11, 9.51) + "}");
  ASSERT_EQ(r.status, 201) << r.text;
  for (const httplib::Headers& h :
       std::vector<httplib::Headers>{{},
                                     {{"Authorization", "Bearer wrong"}},
                                     {{"Authorization", "Bearer s3cret-tokenX"}},
                                     {{"Authorization", "Bearer s3cret-toke"}},
                                     {{"Authorization", "Basic s3cret-token"}},
                                     {{"Authorization", "s3cret-token"}}}) {
    Reply denied = s.Get("/api/cron/process-jobs", h);
    EXPECT_EQ(denied.status, 401) << denied.text;
    EXPECT_EQ(denied.body["error"]["code"], "unauthorized");
  }
  EXPECT_EQ(s.Get("/api/jobs/" + std::to_string(r.body["jobId"].get<int64_t>())).body["status"],
            "pending");
  Reply ok = s.Get("/api/cron/process-jobs", {{"Authorization", "Bearer s3cret-token"}});
  ASSERT_EQ(ok.status, 200) << ok.text;
  json want = {{"processed", 1}, {"hasMore", false}, {"staleReset", 0}};
  want["jobs"] = json::array({json{{"id", r.body["jobId"]}, {"status", "completed"}}});
  EXPECT_EQ(ok.body, want);
  Reply cells = s.Get("/api/heatmap?minLat=47.09&minLng=9.49&maxLat=47.11&maxLng=9.51");
  EXPECT_EQ(cells.body["count"], 64);
  Reply idle = s.Get("/api/cron/process-jobs", {{"Authorization", "Bearer s3cret-token"}});
  EXPECT_EQ(idle.body["processed"], 0);
}

TEST_P(HttpTest, CronStopsAtItsBudgetAndReportsMore) {
  // A 1 ms budget: a call runs its job until the first chunk boundary past the budget, hands
  // it back and says hasMore; repeated calls finish it.
  ServerProcess& s = Start({{"CRON_SECRET", "tok"}, {"NBI_CRON_BUDGET_MS", "1"}}, {"--no-worker"});
  Reply r =
      s.Post("/api/heatmap/schedule", R"({"bounds": )" + BoundsJson(47.0, 9.4, 47.15, 9.55) + "}");
  ASSERT_EQ(r.status, 201) << r.text;  // 3,600 cells = 18 chunks of 200
  const int64_t id = r.body["jobId"];
  const std::string path = "/api/jobs/" + std::to_string(id);
  Reply first = s.Get("/api/cron/process-jobs", {{"Authorization", "Bearer tok"}});
  ASSERT_EQ(first.status, 200) << first.text;
  EXPECT_EQ(first.body["processed"], 1);
  EXPECT_EQ(first.body["jobs"][0]["status"], "pending");
  EXPECT_EQ(first.body["hasMore"], true);
  int64_t done = s.Get(path).body["processedItems"];
  EXPECT_GT(done, 0);
  EXPECT_LT(done, 3600);
  EXPECT_EQ(done % 200, 0);
  Reply last;
  for (int call = 0; call < 40 && done < 3600; ++call) {
    last = s.Get("/api/cron/process-jobs", {{"Authorization", "Bearer tok"}});
    ASSERT_EQ(last.status, 200) << last.text;
    int64_t now = s.Get(path).body["processedItems"];
    EXPECT_GT(now, done) << "each call makes progress";
    done = now;
  }
  EXPECT_EQ(last.body["jobs"][0]["status"], "completed") << last.text;
  EXPECT_EQ(last.body["hasMore"], false);
  EXPECT_EQ(s.Get(path).body["status"], "completed");
}

TEST_P(HttpTest, SigtermLetsTheCronRequestInFlightFinishAndExitsZero) {
  ServerProcess& s =
      Start({{"CRON_SECRET", "tok"}, {"NBI_CRON_BUDGET_MS", "120000"}}, {"--no-worker"});
  // 1,000,000 cells at 200 per chunk: seconds of work, stopped early by the SIGTERM.
  Reply r = s.Post("/api/heatmap/schedule", R"({"bounds": )" + BoundsJson(47.0, 9.4, 47.1, 9.5) +
                                                R"(, "gridStep": 0.0001})");
  ASSERT_EQ(r.status, 201) << r.text;
  const int64_t id = r.body["jobId"];
  Reply cron;
  std::thread t([&] { cron = s.Get("/api/cron/process-jobs", {{"Authorization", "Bearer tok"}}); });
  json job = WaitForJob(s, id, "running");
  ASSERT_EQ(job["status"], "running");
  EXPECT_EQ(s.Terminate(), 0) << s.Log();
  t.join();
  // The request in flight got its answer: the job was handed back at a chunk boundary.
  ASSERT_EQ(cron.status, 200) << cron.text << "\n" << s.Log();
  EXPECT_EQ(cron.body["jobs"][0]["id"], id);
  EXPECT_EQ(cron.body["jobs"][0]["status"], "pending");
  EXPECT_EQ(cron.body["hasMore"], true);
  // The listener is gone.
  EXPECT_FALSE(s.Client()->Get("/healthz"));
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok());
  auto after = (*store)->GetJob(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, JobStatus::kPending);
  EXPECT_LT(after->last_processed_index(), 1'000'000);
  EXPECT_EQ(after->last_processed_index() % 200, 0);
}

TEST_P(HttpTest, SigtermHandsTheEmbeddedWorkersJobBackAndExitsZero) {
  ServerProcess& s = Start();
  Reply r = s.Post("/api/heatmap/schedule", R"({"bounds": )" + BoundsJson(47.0, 9.4, 47.1, 9.5) +
                                                R"(, "gridStep": 0.0001})");
  ASSERT_EQ(r.status, 201) << r.text;
  const int64_t id = r.body["jobId"];
  // The enqueue woke the embedded worker in-process: no poll interval (60 s) to wait for.
  json job = WaitForJob(s, id, "running", 10);
  ASSERT_EQ(job["status"], "running");
  EXPECT_EQ(s.Terminate(), 0) << s.Log();
  EXPECT_NE(s.Log().find("handed back"), std::string::npos) << s.Log();
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok());
  auto after = (*store)->GetJob(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, JobStatus::kPending);
  EXPECT_FALSE(after->locked_by.has_value());
}

// runAt and maxAttempts are stored and checked; re-scheduling with a higher priority raises
// the equal active job; the job list filters by type and city.
TEST_P(HttpTest, RunAtMaxAttemptsPriorityRaiseAndListFilters) {
  ServerProcess& s = Start();
  const int64_t in_an_hour = SystemClock::Get()->NowMs() + 3'600'000;
  const std::string run_at = FormatTimestamp(in_an_hour, TimeStyle::kIsoUtc);
  Reply a = s.Post("/api/heatmap/schedule",
                   R"({"citySlug": "monaco", "runAt": ")" + run_at + R"(", "maxAttempts": 7})");
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(a.body["runAt"], run_at);
  EXPECT_EQ(a.body["priorityRaised"], false);
  const std::string path = "/api/jobs/" + std::to_string(a.body["jobId"].get<int64_t>());
  Reply job = s.Get(path);
  EXPECT_EQ(job.body["maxAttempts"], 7);
  EXPECT_EQ(job.body["runAt"], run_at);
  EXPECT_TRUE(job.body["cityId"].is_number_integer()) << job.text;
  // An offset is honoured: the same instant written in +02:00.
  const int64_t in_a_day = (SystemClock::Get()->NowMs() / 1000 + 86'400) * 1000;
  std::string local = FormatTimestamp(in_a_day + 2 * 3'600'000, TimeStyle::kIsoUtc);
  local = local.substr(0, local.size() - 5) + "+02:00";  // drop ".000Z"
  Reply b = s.Post("/api/heatmap/schedule", R"({"bounds": )" + BoundsJson(10, 10, 10.01, 10.01) +
                                                R"(, "runAt": ")" + local + R"("})");
  ASSERT_EQ(b.status, 201) << b.text;
  EXPECT_EQ(b.body["runAt"], FormatTimestamp(in_a_day, TimeStyle::kIsoUtc)) << local;
  // Still pending: the worker of this server leaves it alone until its runAt.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(s.Get(path).body["status"], "pending");

  for (const char* bad :
       {R"("runAt": "tomorrow")", R"("runAt": "2030-06-01T12:00:00")",
        R"("runAt": "2000-01-01T00:00:00Z")", R"("runAt": "3000-01-01T00:00:00Z")", R"("runAt": 5)",
        R"("maxAttempts": 0)", R"("maxAttempts": 101)", R"("maxAttempts": "3")",
        R"("maxAttempts": 2.5)"}) {
    Reply r =
        s.Post("/api/heatmap/schedule", std::string(R"({"citySlug": "monaco", )") + bad + "}");
    EXPECT_EQ(r.status, 400) << bad << ": " << r.text;
    EXPECT_EQ(r.body["error"]["code"], "invalid_argument") << bad;
  }
  Reply past =
      s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "runAt": "2000-01-01T00:00:00Z"})");
  EXPECT_NE(past.text.find("in the past"), std::string::npos) << past.text;

  Reply raised = s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "priority": 9})");
  ASSERT_EQ(raised.status, 200) << raised.text;
  EXPECT_EQ(raised.body["jobId"], a.body["jobId"]);
  EXPECT_EQ(raised.body["priorityRaised"], true);
  EXPECT_EQ(raised.body["priority"], 9);
  EXPECT_EQ(s.Get(path).body["priority"], 9);
  Reply same = s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco", "priority": 9})");
  EXPECT_EQ(same.body["priorityRaised"], false);

  Reply city = s.Get("/api/jobs?city=monaco");
  ASSERT_EQ(city.status, 200) << city.text;
  ASSERT_EQ(city.body["jobs"].size(), 1u) << city.text;
  EXPECT_EQ(city.body["jobs"][0]["id"], a.body["jobId"]);
  EXPECT_EQ(s.Get("/api/jobs?type=heatmap_compute").body["jobs"].size(), 2u);
  EXPECT_EQ(s.Get("/api/jobs?type=other").body["jobs"].size(), 0u);
  EXPECT_EQ(s.Get("/api/jobs?city=monaco&status=completed").body["jobs"].size(), 0u);
  Reply unknown = s.Get("/api/jobs?city=atlantis");
  EXPECT_EQ(unknown.status, 404) << unknown.text;
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
