// The HTTP API end to end: the real `nearbyindex serve` binary as a child process on a fresh
// store of each backend, driven over real HTTP with httplib::Client. Plus unit tests of the
// API building blocks (parsing, error mapping, rate limiter, coverage spec) that need no
// server.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <latch>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "http/api.h"
#include "http/rate_limit.h"
#include "store/store.h"
#include "store_test_util.h"
#include "test_util.h"

extern char** environ;

namespace nbi {
namespace {

using json = nlohmann::json;
using testing::Backend;

// ================================================================ unit tests (no server)

TEST(HttpApi, ParseFiniteDoubleWantsTheWholeFiniteNumber) {
  EXPECT_EQ(*http::ParseFiniteDouble("x", "47.25"), 47.25);
  EXPECT_EQ(*http::ParseFiniteDouble("x", "-1e-3"), -0.001);
  for (const char* bad : {"", "nan", "NaN", "inf", "-inf", "infinity", "1e400", "-1e400", "abc",
                          "1.5x", " 1", "1 ", "+1", "0x10", "1,5", "--1"}) {
    EXPECT_FALSE(http::ParseFiniteDouble("x", bad).ok()) << "'" << bad << "'";
  }
  EXPECT_FALSE(http::ParseFiniteDouble("x", std::string(100, '1')).ok());
  EXPECT_EQ(*http::ParseInt("n", "42", 1, 200), 42);
  EXPECT_FALSE(http::ParseInt("n", "0", 1, 200).ok());
  EXPECT_FALSE(http::ParseInt("n", "4.2", 1, 200).ok());
  EXPECT_FALSE(http::ParseInt("n", "99999999999999999999999", 1, 200).ok());
}

TEST(HttpApi, StatusCodesMapToHttpInOnePlace) {
  struct Case {
    Status status;
    int http;
    const char* code;
  } cases[] = {
      {Status::Invalid("x"), 400, "invalid_argument"}, {Status::NotFound("x"), 404, "not_found"},
      {Status::Conflict("x"), 409, "conflict"},        {Status::Transient("x"), 503, "unavailable"},
      {Status::Internal("x"), 500, "internal"},
  };
  for (const Case& c : cases) {
    http::ApiError e = http::ApiErrorFromStatus(c.status);
    EXPECT_EQ(e.http_status, c.http) << c.code;
    EXPECT_EQ(e.code, c.code);
    EXPECT_EQ(e.Body(), (json{{"error", {{"code", c.code}, {"message", "x"}}}}));
  }
  EXPECT_EQ(http::ApiError::Of("rate_limited", "m").http_status, 429);
  EXPECT_EQ(http::ApiError::Of("payload_too_large", "m").http_status, 413);
  EXPECT_EQ(http::ApiError::Of("method_not_allowed", "m").http_status, 405);
  EXPECT_EQ(http::ApiError::Of("no_such_code", "m").http_status, 500);
  EXPECT_EQ(http::ApiErrorForHttpStatus(413).code, "payload_too_large");
}

TEST(HttpApi, ConstantTimeEquals) {
  EXPECT_TRUE(http::ConstantTimeEquals("Bearer s3cret", "Bearer s3cret"));
  EXPECT_TRUE(http::ConstantTimeEquals("", ""));
  EXPECT_FALSE(http::ConstantTimeEquals("Bearer s3cret", "Bearer s3creT"));
  EXPECT_FALSE(http::ConstantTimeEquals("Bearer s3cret", "Bearer s3cret "));
  EXPECT_FALSE(http::ConstantTimeEquals("Bearer s3cret", "Bearer s3cre"));
  EXPECT_FALSE(http::ConstantTimeEquals("", "x"));
  // A prefix padded with NULs must not compare equal.
  EXPECT_FALSE(http::ConstantTimeEquals(std::string("ab\0", 3), "ab"));
}

TEST(HttpApi, SafeRelativePaths) {
  for (const char* ok : {"index.html", "css/app.css", "images/layers-2x.png", "a..b.js"}) {
    EXPECT_TRUE(http::IsSafeRelativePath(ok)) << ok;
  }
  for (const char* bad :
       {"", "..", "../x", "a/../../x", "a/./b", "/etc/passwd", "a//b", "a/", "a\\b", "."}) {
    EXPECT_FALSE(http::IsSafeRelativePath(bad)) << bad;
  }
  EXPECT_FALSE(http::IsSafeRelativePath(std::string("a\0b", 3)));
  EXPECT_EQ(http::ContentTypeFor("app.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(http::ContentTypeFor("x.svg"), "image/svg+xml");
  EXPECT_EQ(http::ContentTypeFor("x.bin"), "application/octet-stream");
}

TEST(HttpApi, RateLimiterRefillsPerClient) {
  http::RateLimiter rl(/*rate_per_sec=*/2, /*burst=*/3);
  EXPECT_EQ(rl.Acquire("a", 100.0), 0);
  EXPECT_EQ(rl.Acquire("a", 100.0), 0);
  EXPECT_EQ(rl.Acquire("a", 100.0), 0);
  double wait = rl.Acquire("a", 100.0);
  EXPECT_NEAR(wait, 0.5, 1e-9);                           // one token per 0.5 s
  EXPECT_EQ(rl.Acquire("b", 100.0), 0);                   // another client has its own bucket
  EXPECT_GT(rl.Acquire("a", 100.25), 0);                  // half a token is not enough
  EXPECT_EQ(rl.Acquire("a", 100.5), 0);                   // refilled
  EXPECT_EQ(http::RateLimiter(0, 1).Acquire("a", 1), 0);  // disabled
  // Tracking many clients prunes idle (full) buckets instead of growing without bound.
  http::RateLimiter small(1, 1, /*max_clients=*/4);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(small.Acquire("c" + std::to_string(i), 1000.0 + i * 10), 0);
  }
}

TEST(HttpApi, CoverageSpecIsIdenticalWithinACellAndHoldsThePoint) {
  HeatmapJobSpec a = CoverageJobSpec({47.10001, 9.50001});
  HeatmapJobSpec b = CoverageJobSpec({47.10049, 9.49951});
  EXPECT_EQ(DedupeKey(a), DedupeKey(b));
  EXPECT_TRUE(a.bounds.Contains(47.10001, 9.50001));
  EXPECT_NEAR(a.bounds.max_lat - a.bounds.min_lat, 0.15, 1e-9);
  EXPECT_NEAR(a.bounds.max_lng - a.bounds.min_lng, 0.15, 1e-9);
  EXPECT_EQ(a.grid_step, 0.0025);
  EXPECT_EQ(a.model, HeatModel::kGrocery);
  EXPECT_EQ(GridRegion::Make(a.bounds, a.grid_step)->cell_count(), 3600);
  for (LatLng p : {LatLng{90, 180}, LatLng{-90, -180}, LatLng{89.99, -179.99}}) {
    HeatmapJobSpec s = CoverageJobSpec(p);
    EXPECT_TRUE(
        BBox::Make(s.bounds.min_lat, s.bounds.min_lng, s.bounds.max_lat, s.bounds.max_lng).ok());
    EXPECT_EQ(GridRegion::Make(s.bounds, s.grid_step)->cell_count(), 3600);
  }
}

TEST(HttpApi, IsoTimeMs) {
  EXPECT_EQ(http::IsoTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(http::IsoTimeMs(1'800'000'000'123), "2027-01-15T08:00:00.123Z");
}

// ================================================================ the real server

// Three groceries and a cafe around (47.100, 9.500), one grocery far away.
constexpr char kCsv[] =
    "lat,lng,category,name\n"
    "47.1000,9.5000,groceries,Alpha\n"
    "47.1010,9.5010,groceries,Beta\n"
    "47.0990,9.4985,groceries,Gamma\n"
    "47.1002,9.5003,restaurants,Cafe\n"
    "47.2000,9.6000,groceries,Far\n";

std::string Shortest(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(a.sin_port);
}

struct Reply {
  int status = 0;  // 0: no answer
  json body;
  httplib::Headers headers;
  std::string text;
};

Reply ToReply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.headers = r->headers;
  out.text = r->body;
  out.body = json::parse(r->body, nullptr, false);
  return out;
}

// `nearbyindex serve` as a child process, stdout/stderr into a log file.
class ServerProcess {
 public:
  ServerProcess(const std::string& log_path, const std::map<std::string, std::string>& env,
                const std::vector<std::string>& args)
      : log_path_(log_path) {
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) {
      port_ = FreePort();
      std::map<std::string, std::string> all;
      for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      all.erase("CRON_SECRET");
      all.erase("NBI_WEB_DIR");
      all["PORT"] = std::to_string(port_);
      all["HOST"] = "127.0.0.1";
      all["WORKER_POLL_INTERVAL"] = "60000";
      all["WORKER_CHUNK_SIZE"] = "200";
      for (const auto& [k, v] : env) all[k] = v;
      std::vector<std::string> kv;
      for (const auto& [k, v] : all) kv.push_back(k + "=" + v);
      std::vector<char*> envp;
      for (auto& s : kv) envp.push_back(s.data());
      envp.push_back(nullptr);
      std::vector<std::string> argv_s = {testing::BinaryPath(), "serve"};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& s : argv_s) argv.push_back(s.data());
      argv.push_back(nullptr);
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                       0644);
      posix_spawn_file_actions_adddup2(&fa, 1, 2);
      pid_t pid = 0;
      int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
      posix_spawn_file_actions_destroy(&fa);
      if (rc != 0) continue;
      pid_ = pid;
      if (!WaitHealthy()) {
        // Lost the port to someone else, or failed to start: try again on another port.
        Kill();
        pid_ = -1;
      }
    }
  }
  ~ServerProcess() { Kill(); }

  bool running() const { return pid_ > 0 && exit_code_ < 0; }
  int port() const { return port_; }
  std::string Log() const { return testing::ReadFile(log_path_); }

  std::unique_ptr<httplib::Client> Client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(60, 0);
    return c;
  }
  Reply Get(const std::string& path, const httplib::Headers& h = {}) const {
    return ToReply(Client()->Get(path.c_str(), h));
  }
  Reply Post(const std::string& path, const std::string& body) const {
    return ToReply(Client()->Post(path.c_str(), body, "application/json"));
  }

  // SIGTERM, then the exit code (-1 if it did not exit within 30 s).
  int Terminate() {
    if (!running()) return exit_code_;
    kill(pid_, SIGTERM);
    return Wait(30000);
  }
  int Wait(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (exit_code_ < 0) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return exit_code_;
  }

 private:
  bool WaitHealthy() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Wait(0) >= 0) return false;  // exited (port taken?)
      httplib::Client c("127.0.0.1", port_);
      c.set_connection_timeout(0, 200000);
      auto r = c.Get("/healthz");
      if (r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void Kill() {
    if (running()) {
      kill(pid_, SIGKILL);
      Wait(10000);
    }
  }

  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
};

class HttpTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(GetParam());
    url_ = testing::FreshStoreUrl(GetParam(), dir_);
    std::string csv = dir_.File("city.csv");
    testing::WriteFile(csv, kCsv);
    std::string out;
    ASSERT_EQ(testing::RunCommand(
                  "DATABASE_URL='" + url_ + "' " + testing::BinaryPath() + " import " + csv, &out),
              0)
        << out;
  }

  void TearDown() override {
    // Every server must shut down cleanly on SIGTERM.
    for (auto& s : servers_) {
      if (s->running()) {
        EXPECT_EQ(s->Terminate(), 0) << s->Log();
      }
      if (std::getenv("NBI_TEST_SHOW_SERVER_LOG")) std::fprintf(stderr, "%s", s->Log().c_str());
    }
  }

  ServerProcess& Start(std::map<std::string, std::string> env = {},
                       std::vector<std::string> args = {}) {
    env["DATABASE_URL"] = url_;
    std::string log = dir_.File("serve" + std::to_string(servers_.size()) + ".log");
    servers_.push_back(std::make_unique<ServerProcess>(log, env, args));
    ServerProcess& s = *servers_.back();
    EXPECT_TRUE(s.running()) << "server did not start:\n" << s.Log();
    return s;
  }

  // Polls GET /api/jobs/:id until `want` (or a final status); returns the last job JSON.
  json WaitForJob(const ServerProcess& s, int64_t id, const std::string& want, int timeout_s = 60) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
      Reply r = s.Get("/api/jobs/" + std::to_string(id));
      if (r.status == 200) {
        last = r.body;
        if (last["status"] == want) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " did not reach " << want << ": " << last.dump();
    return last;
  }

  static std::string BoundsJson(double a, double b, double c, double d) {
    return json{{"minLat", a}, {"minLng", b}, {"maxLat", c}, {"maxLng", d}}.dump();
  }

  testing::TempDir dir_;
  std::string url_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

std::set<std::string> Keys(const json& o) {
  std::set<std::string> k;
  for (auto it = o.begin(); it != o.end(); ++it) k.insert(it.key());
  return k;
}

const std::set<std::string> kJobKeys = {"id",         "type",
                                        "status",     "progress",
                                        "totalItems", "processedItems",
                                        "error",      "createdAt",
                                        "startedAt",  "completedAt",
                                        "attempts",   "maxAttempts",
                                        "priority",   "cancelRequested",
                                        "metadata"};
const std::regex kIsoMs(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

TEST_P(HttpTest, ReadEndpointsHaveTheirShapes) {
  ServerProcess& s = Start({{"NBI_TILE_URL", "http://tiles.local/{z}/{x}/{y}.png"}});
  EXPECT_EQ(s.Get("/healthz").body, (json{{"status", "ok"}}));
  EXPECT_EQ(s.Get("/readyz").body, (json{{"status", "ready"}}));
  EXPECT_EQ(s.Get("/api/config").body,
            json::parse(R"({"tileUrl": "http://tiles.local/{z}/{x}/{y}.png",
      "gridSteps": [0.0025, 0.001, 0.0005], "defaultGridStep": 0.0025, "models": ["grocery", "blend"],
      "attribution": "© OpenStreetMap contributors"})"));

  Reply cities = s.Get("/api/cities");
  ASSERT_EQ(cities.status, 200) << cities.text;
  ASSERT_EQ(Keys(cities.body), (std::set<std::string>{"cities"}));
  bool found = false;
  for (const json& c : cities.body["cities"]) {
    EXPECT_EQ(Keys(c), (std::set<std::string>{"id", "slug", "name", "country", "bounds"}));
    if (c["slug"] == "cancun") {
      found = true;
      EXPECT_TRUE(c["id"].is_number_integer());
      EXPECT_EQ(c["bounds"],
                (json{{"minLat", 20.8}, {"minLng", -87.2}, {"maxLat", 21.4}, {"maxLng", -86.5}}));
    }
  }
  EXPECT_TRUE(found) << cities.text;

  Reply pois = s.Get("/api/pois?minLat=47.09&minLng=9.49&maxLat=47.11&maxLng=9.51");
  ASSERT_EQ(pois.status, 200) << pois.text;
  EXPECT_EQ(pois.body["truncated"], false);
  ASSERT_EQ(pois.body["pois"].size(), 4u);
  for (const json& p : pois.body["pois"]) {
    EXPECT_EQ(Keys(p), (std::set<std::string>{"id", "name", "lat", "lng", "category"}));
    if (p["name"] == "Cafe") {
      EXPECT_EQ(p["category"], "restaurants");
    }
  }

  EXPECT_EQ(s.Get("/api/jobs").body, json::parse(R"({"jobs": [], "nextCursor": null})"));
  Reply empty = s.Get("/api/heatmap?minLat=47.09&minLng=9.49&maxLat=47.11&maxLng=9.51");
  EXPECT_EQ(empty.body, json::parse(R"({"gridStep": 0.0025, "count": 0, "cells": []})"));

  auto head = s.Client()->Head("/healthz");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);

  Reply m = s.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers.find("Content-Type")->second.find("text/plain"), std::string::npos);
  for (const char* want :
       {"nearbyindex_jobs{status=\"pending\"} 0", "nearbyindex_cells_computed_total 0",
        "nearbyindex_chunk_duration_seconds_bucket{le=\"+Inf\"} 0",
        "nearbyindex_job_claim_latency_seconds_count 0",
        "nearbyindex_http_requests_total{route=\"/api/config\",status=\"200\"} 1"}) {
    EXPECT_NE(m.text.find(want), std::string::npos) << want << "\n" << m.text;
  }
  // One access-log line per request: method path status bytes ms.
  EXPECT_TRUE(std::regex_search(s.Log(), std::regex(R"(HTTP GET /api/config 200 \d+ \d+\.\dms)")))
      << s.Log();
}

TEST_P(HttpTest, ScheduledJobsRunAndTheirCellsMatchPointScores) {
  ServerProcess& s = Start();
  const std::string bounds = BoundsJson(47.08, 9.48, 47.12, 9.52);
  Reply a = s.Post("/api/heatmap/schedule",
                   R"({"bounds": )" + bounds + R"(, "gridStep": 0.0025, "model": "grocery"})");
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(Keys(a.body), (std::set<std::string>{"jobId", "status", "isNew"}));
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
  EXPECT_EQ(Keys(cells.body), (std::set<std::string>{"gridStep", "count", "cells"}));
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

TEST_P(HttpTest, ScheduleDedupesAndJobsCanBeListedCancelledAndRetried) {
  ServerProcess& s = Start({}, {"--no-worker"});
  Reply a = s.Post("/api/heatmap/schedule",
                   R"({"citySlug": "monaco", "gridStep": 0.0025, "priority": 5})");
  ASSERT_EQ(a.status, 201) << a.text;
  EXPECT_EQ(a.body["status"], "pending");
  // Same city, step and model (gridStep defaults to 0.0025): the same job, not a new one.
  Reply again = s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco"})");
  ASSERT_EQ(again.status, 200) << again.text;
  EXPECT_EQ(again.body,
            (json{{"jobId", a.body["jobId"]}, {"status", "pending"}, {"isNew", false}}));
  const int64_t id = a.body["jobId"];
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

// Sends raw bytes and returns the HTTP status of the answer (0: none); its body in *body.
int RawRequest(int port, const std::string& bytes, std::string* body) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return 0;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!write(fd, bytes.data(), bytes.size());
  // Read until the answer is complete (Content-Length), whether or not the server closes.
  std::string resp;
  char buf[4096];
  ssize_t n;
  std::smatch m;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    resp.append(buf, static_cast<size_t>(n));
    auto end = resp.find("\r\n\r\n");
    if (end != std::string::npos &&
        std::regex_search(resp, m, std::regex(R"(Content-Length: (\d+))")) &&
        resp.size() >= end + 4 + std::stoul(m[1].str())) {
      break;
    }
  }
  close(fd);
  if (!std::regex_search(resp, m, std::regex(R"(^HTTP/1\.1 (\d{3}))"))) return 0;
  auto pos = resp.find("\r\n\r\n");
  if (body && pos != std::string::npos) *body = resp.substr(pos + 4);
  return std::stoi(m[1].str());
}

TEST_P(HttpTest, BadInputGetsA4xxWithACode) {
  // Rate limiting off: the table sends more writes than a burst allows.
  ServerProcess& s = Start({{"NBI_RATE_LIMIT_PER_SEC", "0"}},
                           {"--no-worker", "--web-dir", dir_.File("no-such-web-dir")});
  const std::string ok_box = "minLat=47.09&minLng=9.49&maxLat=47.11&maxLng=9.51";
  const std::string world = R"({"minLat": -80, "minLng": -179, "maxLat": 80, "maxLng": 179})";
  struct Case {
    std::string method, path, body;
    int status;
    std::string code;
  };
  const std::vector<Case> cases = {
      // Query numbers: missing, empty, NaN, Infinity, huge, garbage, out of range, inverted.
      {"GET", "/api/heatmap", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?minLat=47.09&minLng=9.49&maxLat=47.11", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?minLat=&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=nan&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=NaN&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=-inf&minLng=9.49&maxLat=inf&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=Infinity&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=1e400&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=47.09abc&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=0x10&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=%2047.09&minLng=9.49&maxLat=47.11&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET",
       "/api/heatmap?minLat=" + std::string(5000, '9') + "&minLng=9.49&maxLat=47.11&maxLng=9.51",
       "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?minLat=95&minLng=9.49&maxLat=96&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=47&minLng=-181&maxLat=47.1&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=47.11&minLng=9.49&maxLat=47.09&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?minLat=47.1&minLng=9.49&maxLat=47.1&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&gridStep=0.00001", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&gridStep=0.5", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&gridStep=nan", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&gridStep=-0.001", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&minScore=101", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&minScore=-1", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&minScore=high", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?minLat=-80&minLng=-179&maxLat=80&maxLng=179&gridStep=0.0001", "", 400,
       "too_many_cells"},
      {"GET", "/api/heatmap?minLat=40&minLng=0&maxLat=42&maxLng=2&gridStep=0.0025", "", 400,
       "too_many_cells"},
      {"GET", "/api/pois", "", 400, "invalid_argument"},
      {"GET", "/api/pois?minLat=47.11&minLng=9.49&maxLat=47.09&maxLng=9.51", "", 400,
       "invalid_argument"},
      {"GET", "/api/score", "", 400, "invalid_argument"},
      {"GET", "/api/score?lat=47.1", "", 400, "invalid_argument"},
      {"GET", "/api/score?lat=91&lng=9.5", "", 400, "invalid_argument"},
      {"GET", "/api/score?lat=47.1&lng=180.5", "", 400, "invalid_argument"},
      {"GET", "/api/score?lat=nan&lng=9.5", "", 400, "invalid_argument"},
      {"GET", "/api/score?lat=47.1&lng=", "", 400, "invalid_argument"},
      {"GET", "/api/score?lat=1e999&lng=9.5", "", 400, "invalid_argument"},
      // Jobs: ids, filters, pagination.
      {"GET", "/api/jobs/abc", "", 400, "invalid_argument"},
      {"GET", "/api/jobs/1.5", "", 400, "invalid_argument"},
      {"GET", "/api/jobs/99999999999999999999999", "", 400, "invalid_argument"},
      {"GET", "/api/jobs/999999", "", 404, "not_found"},
      {"GET", "/api/jobs/0", "", 404, "not_found"},
      {"GET", "/api/jobs/-3", "", 404, "not_found"},
      {"POST", "/api/jobs/999999/cancel", "", 404, "not_found"},
      {"POST", "/api/jobs/abc/cancel", "", 400, "invalid_argument"},
      {"POST", "/api/jobs/999999/retry", "", 404, "not_found"},
      {"GET", "/api/jobs?limit=0", "", 400, "invalid_argument"},
      {"GET", "/api/jobs?limit=201", "", 400, "invalid_argument"},
      {"GET", "/api/jobs?limit=ten", "", 400, "invalid_argument"},
      {"GET", "/api/jobs?status=bogus", "", 400, "invalid_argument"},
      {"GET", "/api/jobs?cursor=-1", "", 400, "invalid_argument"},
      {"GET", "/api/jobs?cursor=x", "", 400, "invalid_argument"},
      // Schedule bodies.
      {"POST", "/api/heatmap/schedule", "", 400, "invalid_json"},
      {"POST", "/api/heatmap/schedule", "{", 400, "invalid_json"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco",})", 400, "invalid_json"},
      {"POST", "/api/heatmap/schedule", R"({"bounds": {"minLat": NaN}})", 400, "invalid_json"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "gridStep": 1e400})", 400,
       "invalid_json"},
      {"POST", "/api/heatmap/schedule", "[]", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", "null", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", "\"monaco\"", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", "{}", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": 5})", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": ""})", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "atlantis"})", 404, "not_found"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "bounds": )" + world + "}", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"bounds": "47,9,48,10"})", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"bounds": {"minLat": 47, "minLng": 9, "maxLat": 48}})",
       400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule",
       R"({"bounds": {"minLat": "47", "minLng": 9, "maxLat": 48, "maxLng": 10}})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule",
       R"({"bounds": {"minLat": 48, "minLng": 9, "maxLat": 47, "maxLng": 10}})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule",
       R"({"bounds": {"minLat": 47, "minLng": 9, "maxLat": 120, "maxLng": 10}})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "gridStep": 0.5})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "gridStep": 0})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "gridStep": "0.001"})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "model": "walkability"})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "model": 1})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "priority": 1.5})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"citySlug": "monaco", "priority": 1e9})", 400,
       "invalid_argument"},
      {"POST", "/api/heatmap/schedule",
       R"({"citySlug": "monaco", "priority": 18446744073709551615})", 400, "invalid_argument"},
      {"POST", "/api/heatmap/schedule", R"({"bounds": )" + world + R"(, "gridStep": 0.0001})", 400,
       "too_many_cells"},
      {"POST", "/api/heatmap/schedule", std::string(100 * 1024, ' ') + "{}", 413,
       "payload_too_large"},
      // Routes and methods.
      {"GET", "/nope", "", 404, "not_found"},
      {"GET", "/api/nope", "", 404, "not_found"},
      {"GET", "/api/jobs/1/nope", "", 404, "not_found"},
      {"POST", "/api/config", "{}", 405, "method_not_allowed"},
      {"DELETE", "/api/jobs/1", "", 405, "method_not_allowed"},
      {"PUT", "/api/jobs", "{}", 405, "method_not_allowed"},
      {"GET", "/api/heatmap/schedule", "", 405, "method_not_allowed"},
      {"GET", "/api/jobs/1/cancel", "", 405, "method_not_allowed"},
      // Disabled cron, missing web pages, traversal.
      {"GET", "/api/cron/process-jobs", "", 404, "not_found"},
      {"GET", "/", "", 404, "not_found"},
      {"GET", "/static/app.js", "", 404, "not_found"},
      {"GET", "/static/../CMakeLists.txt", "", 404, "not_found"},
  };
  auto c = s.Client();
  for (const Case& k : cases) {
    SCOPED_TRACE(k.method + " " + k.path.substr(0, 120) + " " + k.body.substr(0, 120));
    httplib::Result r = k.method == "GET"    ? c->Get(k.path.c_str())
                        : k.method == "POST" ? c->Post(k.path.c_str(), k.body, "application/json")
                        : k.method == "PUT"  ? c->Put(k.path.c_str(), k.body, "application/json")
                                             : c->Delete(k.path.c_str());
    ASSERT_TRUE(r) << "no answer";
    EXPECT_EQ(r->status, k.status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    json body = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r->body;
    EXPECT_EQ(Keys(body), (std::set<std::string>{"error"}));
    EXPECT_EQ(body["error"]["code"], k.code) << r->body;
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
    if (k.status == 405) {
      EXPECT_FALSE(r->get_header_value("Allow").empty());
    }
  }
  Reply allow = ToReply(c->Post("/api/config", "{}", "application/json"));
  EXPECT_EQ(allow.headers.find("Allow")->second, "GET, HEAD");

  // Below the HTTP layer: a malformed request line, a body-less POST, encoded traversal.
  std::string body;
  EXPECT_EQ(RawRequest(s.port(), "GARBAGE\r\n\r\n", &body), 400);
  EXPECT_EQ(json::parse(body, nullptr, false)["error"]["code"], "bad_request") << body;
  EXPECT_EQ(RawRequest(s.port(), "POST /api/jobs/999999/cancel HTTP/1.1\r\nHost: x\r\n\r\n", &body),
            404);
  EXPECT_EQ(
      RawRequest(s.port(), "GET /static/%2e%2e/%2e%2e/CMakeLists.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                 &body),
      404);
  EXPECT_EQ(
      RawRequest(s.port(),
                 "GET /vendor/leaflet/..%2f..%2f..%2fCMakeLists.txt HTTP/1.1\r\nHost: x\r\n\r\n",
                 &body),
      404);

  // Nothing of that hurt the server, and nothing was scheduled.
  EXPECT_EQ(s.Get("/healthz").status, 200);
  EXPECT_EQ(s.Get("/api/jobs").body["jobs"].size(), 0u);
  Reply m = s.Get("/metrics");
  EXPECT_EQ(m.text.find("status=\"500\""), std::string::npos) << m.text;
}

TEST_P(HttpTest, WritesAreRateLimitedPerClient) {
  ServerProcess& s =
      Start({{"NBI_RATE_LIMIT_PER_SEC", "0.5"}, {"NBI_RATE_LIMIT_BURST", "2"}}, {"--no-worker"});
  std::vector<int> statuses;
  Reply limited;
  for (int i = 0; i < 4; ++i) {
    Reply r = s.Post("/api/heatmap/schedule", R"({"citySlug": "monaco"})");
    statuses.push_back(r.status);
    if (r.status == 429) limited = r;
  }
  EXPECT_EQ(statuses, (std::vector<int>{201, 200, 429, 429}));
  EXPECT_EQ(limited.body["error"]["code"], "rate_limited");
  ASSERT_NE(limited.headers.find("Retry-After"), limited.headers.end());
  EXPECT_GE(std::stoi(limited.headers.find("Retry-After")->second), 1);
  EXPECT_EQ(s.Post("/api/jobs/1/cancel", "").status, 429);
  // Reads are not limited.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.Get("/api/jobs/1").status, 200);
}

TEST_P(HttpTest, ServesWebPagesWithTheirContentTypes) {
  std::string web = dir_.File("web");
  std::filesystem::create_directories(web + "/public/img");
  std::filesystem::create_directories(web + "/node_modules/leaflet/dist/images");
  testing::WriteFile(web + "/public/index.html", "<!doctype html><title>map</title>");
  testing::WriteFile(web + "/public/jobs.html", "<!doctype html><title>jobs</title>");
  testing::WriteFile(web + "/public/app.js", "console.log(1)");
  testing::WriteFile(web + "/public/map.mjs", "export {}");
  testing::WriteFile(web + "/public/style.css", "body{}");
  testing::WriteFile(web + "/public/img/logo.svg", "<svg/>");
  testing::WriteFile(web + "/public/img/dot.png", "\x89PNG");
  testing::WriteFile(web + "/public/data.json", "{}");
  testing::WriteFile(web + "/node_modules/leaflet/dist/leaflet.js", "/* leaflet */");
  testing::WriteFile(web + "/node_modules/leaflet/dist/images/marker-icon.png", "\x89PNG");
  testing::WriteFile(web + "/secret.txt", "do not serve");
  ServerProcess& s = Start({}, {"--no-worker", "--web-dir", web});
  struct Case {
    std::string path, type, body;
  } cases[] = {
      {"/", "text/html; charset=utf-8", "<!doctype html><title>map</title>"},
      {"/jobs", "text/html; charset=utf-8", "<!doctype html><title>jobs</title>"},
      {"/static/app.js", "text/javascript; charset=utf-8", "console.log(1)"},
      {"/static/map.mjs", "text/javascript; charset=utf-8", "export {}"},
      {"/static/style.css", "text/css; charset=utf-8", "body{}"},
      {"/static/img/logo.svg", "image/svg+xml", "<svg/>"},
      {"/static/img/dot.png", "image/png", "\x89PNG"},
      {"/static/data.json", "application/json", "{}"},
      {"/vendor/leaflet/leaflet.js", "text/javascript; charset=utf-8", "/* leaflet */"},
      {"/vendor/leaflet/images/marker-icon.png", "image/png", "\x89PNG"},
  };
  for (const Case& c : cases) {
    Reply r = s.Get(c.path);
    EXPECT_EQ(r.status, 200) << c.path;
    EXPECT_EQ(r.headers.find("Content-Type")->second, c.type) << c.path;
    EXPECT_EQ(r.text, c.body) << c.path;
  }
  for (const char* bad : {"/static/../secret.txt", "/static/", "/static/img", "/static/nope.js",
                          "/vendor/leaflet/../../../secret.txt", "/static//etc/passwd"}) {
    Reply r = s.Get(bad);
    EXPECT_EQ(r.status, 404) << bad;
    EXPECT_EQ(r.body["error"]["code"], "not_found") << bad;
  }
  std::string body;
  EXPECT_EQ(
      RawRequest(s.port(), "GET /static/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n", &body),
      404);
  EXPECT_EQ(body.find("do not serve"), std::string::npos);
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

TEST(HttpServe, BadSettingsAndATakenPortAreClearErrors) {
  testing::TempDir dir;
  const std::string env = "DATABASE_URL=sqlite:" + dir.File("s.db") + " ";
  const std::string bin = testing::BinaryPath() + " serve --no-worker";
  std::string out;
  EXPECT_EQ(testing::RunCommand(env + "PORT=abc " + bin, &out), 2) << out;
  EXPECT_NE(out.find("PORT='abc'"), std::string::npos) << out;
  EXPECT_EQ(testing::RunCommand(env + bin + " --port 70000", &out), 2) << out;
  EXPECT_EQ(testing::RunCommand(env + "NBI_HEATMAP_CELL_CAP=0 " + bin, &out), 2) << out;
  EXPECT_EQ(testing::RunCommand(env + "NBI_RATE_LIMIT_PER_SEC=fast " + bin, &out), 2) << out;
  EXPECT_EQ(testing::RunCommand(env + "WORKER_CHUNK_SIZE=0 " + bin, &out), 2) << out;
  // A port someone else listens on: exit 1 naming the address, not a hang.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string port = std::to_string(ntohs(a.sin_port));
  EXPECT_EQ(testing::RunCommand(env + bin + " --port " + port, &out), 1) << out;
  EXPECT_NE(out.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << out;
  close(fd);
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
