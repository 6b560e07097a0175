// The OpenAPI document (web/openapi.json, GET /api/openapi.json) against the real server on
// both stores: every route and operation is exercised over real HTTP, each answer (status,
// content type, JSON body) is recorded, and tests/openapi_check.py (Debian's python3-jsonschema)
// checks the document (OpenAPI 3.1 structure, JSON Schema 2020-12 schemas, references), its
// coverage of the server's routes and error codes (read from src/http), and validates every
// recorded answer against the operation's documented response.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/time_format.h"
#include "http_test_util.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using json = nlohmann::json;
using testing::Reply;
using testing::ServerProcess;
using testing::ToReply;

constexpr const char* kPython = "/usr/bin/python3";

class OpenApiTest : public testing::HttpTest {
 protected:
  // Sends a request and records it with its answer.
  Reply Send(const ServerProcess& s, const std::string& method, const std::string& target,
             const std::string& body = "", const httplib::Headers& headers = {},
             const std::string& type = "application/json") {
    httplib::Client c("127.0.0.1", s.port());
    c.set_read_timeout(30);
    httplib::Headers h = headers;
    if (h.find("Host") == h.end()) h.emplace("Host", "127.0.0.1");
    httplib::Result r = method == "GET"      ? c.Get(target.c_str(), h)
                        : method == "DELETE" ? c.Delete(target.c_str(), h)
                                             : c.Post(target.c_str(), h, body, type.c_str());
    Reply reply = ToReply(r);
    std::string path = target.substr(0, target.find('?'));
    auto ct = reply.headers.find("Content-Type");
    // A binary body (a PNG tile) is recorded by its size: the record is JSON text.
    if (ct != reply.headers.end() && ct->second.rfind("image/", 0) == 0) {
      reply.text = std::to_string(reply.text.size()) + " bytes of " + ct->second;
    }
    exchanges_.push_back({{"method", method},
                          {"path", path},
                          {"status", reply.status},
                          {"contentType", ct == reply.headers.end() ? "" : ct->second},
                          {"body", reply.body.is_discarded() || reply.body.is_null()
                                       ? json(reply.text.substr(0, 200))
                                       : reply.body},
                          {"json", !reply.body.is_discarded() && !reply.body.is_null()}});
    return reply;
  }
  std::string JobRequests(const ServerProcess& s);
  void ReadRequests(const ServerProcess& s);
  void ExpectStatus(const Reply& r, int status, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.text.substr(0, 300);
  }
  json exchanges_ = json::array();
};

// Schedules, cancels and retries jobs and lists them; returns the id of the large job.
std::string OpenApiTest::JobRequests(const ServerProcess& s) {
  // A small job that completes, and a large one that stays active (200, cancel, retry).
  const std::string small =
      R"({"bounds": {"minLat": 47.09, "minLng": 9.49, "maxLat": 47.11, "maxLng": 9.51}, "gridStep": 0.001})";
  Reply a = Send(s, "POST", "/api/heatmap/schedule", small);
  ExpectStatus(a, 201, "schedule");
  WaitForJob(s, a.body.value("jobId", int64_t{0}), "completed");
  const std::string big =
      R"({"bounds": {"minLat": 47.0, "minLng": 9.4, "maxLat": 47.2, "maxLng": 9.6}, "gridStep": 0.0002, "priority": -5})";
  Reply b = Send(s, "POST", "/api/heatmap/schedule", big);
  ExpectStatus(b, 201, "schedule big");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", big), 200, "schedule equal");
  const std::string id = std::to_string(b.body.value("jobId", int64_t{0}));
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule",
                    big.substr(0, big.size() - 1) + R"(, "reset": true})"),
               409, "reset while active");
  ExpectStatus(Send(s, "POST", "/api/jobs/" + id + "/cancel"), 200, "cancel");
  WaitForJob(s, std::stoll(id), "cancelled");
  ExpectStatus(Send(s, "POST", "/api/jobs/" + id + "/cancel"), 409, "cancel again");
  ExpectStatus(Send(s, "POST", "/api/jobs/" + id + "/retry"), 200, "retry");
  ExpectStatus(Send(s, "POST", "/api/jobs/" + id + "/cancel"), 200, "cancel the retry");
  ExpectStatus(Send(s, "POST", "/api/jobs/999999/retry"), 404, "retry unknown");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", R"({"citySlug": "atlantis"})"), 404,
               "unknown city");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", "{nope"), 400, "invalid json");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", R"({"gridStep": 1})"), 400, "bad body");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", small, {}, "text/plain"), 415, "415");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", std::string(70 * 1024, ' ')), 413, "413");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", small, {{"Origin", "http://evil.test"}}),
               403, "cross-site write");

  ExpectStatus(Send(s, "GET", "/api/jobs?status=completed&limit=1"), 200, "list");
  Reply page = Send(s, "GET", "/api/jobs?limit=1");
  ExpectStatus(page, 200, "list page");
  ExpectStatus(Send(s, "GET", "/api/jobs?cursor=" + page.body["nextCursor"].dump()), 200, "next");
  ExpectStatus(Send(s, "GET", "/api/jobs?status=sleeping"), 400, "bad status");
  // A delayed job with its own attempts, raised by an equal request of higher priority.
  const std::string later =
      R"({"citySlug": "monaco", "runAt": ")" +
      FormatTimestamp(SystemClock::Get()->NowMs() + 30 * 86'400'000LL, TimeStyle::kIsoUtc) + "\", ";
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", later + R"("maxAttempts": 5})"), 201,
               "schedule delayed");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", later + R"("priority": 3})"), 200,
               "raise priority");
  ExpectStatus(Send(s, "POST", "/api/heatmap/schedule", later + R"("maxAttempts": 0})"), 400,
               "bad maxAttempts");
  ExpectStatus(Send(s, "GET", "/api/jobs?type=heatmap_compute&city=monaco"), 200, "filtered");
  ExpectStatus(Send(s, "GET", "/api/jobs?city=atlantis"), 404, "unknown city filter");
  ExpectStatus(Send(s, "GET", "/api/jobs/" + id), 200, "job");
  ExpectStatus(Send(s, "GET", "/api/jobs/999999"), 404, "unknown job");
  ExpectStatus(Send(s, "GET", "/api/jobs/abc"), 400, "bad id");
  ExpectStatus(Send(s, "DELETE", "/api/jobs/" + id), 405, "405");
  return id;
}

// The read routes, the operations endpoints, the pages, and errors of the front door.
void OpenApiTest::ReadRequests(const ServerProcess& s) {
  ExpectStatus(Send(s, "GET", "/api/openapi.json"), 200, "openapi");
  ExpectStatus(Send(s, "GET", "/api/config"), 200, "config");
  ExpectStatus(Send(s, "GET", "/api/cities"), 200, "cities");
  ExpectStatus(Send(s, "GET", "/api/score?lat=47.1&lng=9.5&model=blend"), 200, "score");
  ExpectStatus(Send(s, "GET", "/api/score?lat=10&lng=10"), 200, "score uncovered");
  ExpectStatus(Send(s, "GET", "/api/score?lat=95&lng=9.5"), 400, "bad lat");
  ExpectStatus(Send(s, "GET", "/api/score?lat=47&lng=9&model=x"), 400, "bad model");
  ExpectStatus(Send(s, "GET",
                    "/api/heatmap?minLat=47.09&minLng=9.49&maxLat=47.11&maxLng=9.51&"
                    "gridStep=0.001&minScore=10"),
               200, "heatmap");
  ExpectStatus(
      Send(s, "GET", "/api/heatmap?minLat=40&minLng=0&maxLat=50&maxLng=20&gridStep=0.0001"), 400,
      "too many cells");
  ExpectStatus(Send(s, "GET",
                    "/api/heatmap?minLat=40&minLng=0&maxLat=50&maxLng=20&gridStep=0.001"
                    "&level=auto"),
               200, "heatmap at an overview level");
  ExpectStatus(Send(s, "GET", "/api/heatmap/extent"), 200, "extent");
  ExpectStatus(Send(s, "GET", "/api/heatmap/extent?model=x"), 400, "extent of a bad model");
  // The small job's tile at z 14 over (47.1, 9.5): drawn, so 200 (a 204 has no content type).
  ExpectStatus(Send(s, "GET", "/tiles/grocery/0.001/14/8624/5756.png"), 200, "tile");
  ExpectStatus(Send(s, "GET", "/tiles/grocery/0.001/21/0/0.png"), 400, "tile zoom 21");
  ExpectStatus(Send(s, "GET", "/tiles/grocery/0.001/14/8624/5756.png?low=1"), 200, "tile, low");
  ExpectStatus(Send(s, "GET", "/tiles/grocery/0.001/14/8624/5756.png?low=x"), 400, "bad low");
  ExpectStatus(Send(s, "GET", "/tiles/streets/21/0/0.png"), 400, "street tile zoom 21");
  ExpectStatus(Send(s, "GET", "/api/heatmap/cities?model=grocery&gridStep=0.001"), 200,
               "cities with cells");
  ExpectStatus(Send(s, "GET", "/api/heatmap/cities?model=grocery"), 400, "cities without step");
  ExpectStatus(Send(s, "GET", "/api/pois?minLat=47&minLng=9.4&maxLat=47.2&maxLng=9.6"), 200,
               "pois");
  ExpectStatus(Send(s, "GET", "/api/pois?minLat=47"), 400, "pois without box");

  ExpectStatus(Send(s, "GET", "/api/cron/process-jobs"), 401, "cron without token");
  ExpectStatus(Send(s, "GET", "/api/cron/process-jobs", "", {{"Authorization", "Bearer s3cret"}}),
               200, "cron");
  ExpectStatus(Send(s, "GET", "/healthz"), 200, "healthz");
  ExpectStatus(Send(s, "GET", "/readyz"), 200, "readyz");
  ExpectStatus(Send(s, "GET", "/metrics"), 200, "metrics");
  ExpectStatus(Send(s, "GET", "/"), 200, "map page");
  ExpectStatus(Send(s, "GET", "/jobs"), 200, "jobs page");
  ExpectStatus(Send(s, "GET", "/static/map.js"), 200, "script");
  ExpectStatus(Send(s, "GET", "/static/nope.js"), 404, "no script");
  ExpectStatus(Send(s, "GET", "/vendor/leaflet/leaflet.css"), 200, "leaflet");
  ExpectStatus(Send(s, "GET", "/nope"), 404, "no route");
  ExpectStatus(Send(s, "GET", "/api/config", "", {{"Host", "evil.test"}}), 403, "foreign host");
  ExpectStatus(Send(s, "GET", "/api/config?" + std::string(9000, 'a')), 414, "414");
  httplib::Headers many;
  for (int i = 0; i < 120; ++i) many.emplace(fmt::format("X-H{}", i), "1");
  ExpectStatus(Send(s, "GET", "/api/config", "", many), 431, "431");
}

TEST_P(OpenApiTest, RealAnswersMatchTheDocument) {
  ServerProcess& s = Start({{"CRON_SECRET", "s3cret"}, {"WORKER_POLL_INTERVAL", "200"}});
  const std::string id = JobRequests(s);
  ReadRequests(s);

  // A server without the cron secret answers 404; a strict rate limit answers 429.
  ServerProcess& strict =
      Start({{"NBI_RATE_LIMIT_PER_SEC", "0.01"}, {"NBI_RATE_LIMIT_BURST", "1"}}, {"--no-worker"});
  ExpectStatus(Send(strict, "GET", "/api/cron/process-jobs"), 404, "cron disabled");
  ExpectStatus(Send(strict, "POST", "/api/jobs/999999/cancel"), 404, "first write");
  ExpectStatus(Send(strict, "POST", "/api/jobs/" + id + "/retry"), 429, "rate limited");

  const std::string file = dir_.File("exchanges.json");
  testing::WriteFile(file, exchanges_.dump(1));
  std::string out;
  const int rc = testing::RunCommand(
      fmt::format("{} {}/tests/openapi_check.py {}/web/openapi.json {} {}", kPython,
                  testing::SourceDir(), testing::SourceDir(), file, testing::SourceDir()),
      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(fmt::format("{} answers valid", exchanges_.size())), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Stores, OpenApiTest,
                         ::testing::Values(testing::Backend::kSqlite, testing::Backend::kPostgres),
                         [](const auto& i) { return testing::BackendName(i.param); });

}  // namespace
}  // namespace nbi
