// The HTTP API end to end, part 1: the real `nearbyindex serve` binary as a child process
// on a fresh store of each backend, driven over real HTTP (tests/http_test_util.h). The read
// endpoints and their shapes, bad input (one table of requests, each a 4xx with an error
// code), rate limits, the web pages, and bad settings. Scheduling, cron and shutdown are in
// http_jobs_test; the server-less unit tests in http_api_test.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

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
using testing::RawRequest;
using testing::Reply;
using testing::ServerProcess;
using testing::ToReply;

TEST_P(HttpTest, ReadEndpointsHaveTheirShapes) {
  ServerProcess& s = Start({{"NBI_TILE_URL", "http://tiles.local/{z}/{x}/{y}.png"}});
  EXPECT_EQ(s.Get("/healthz").body, (json{{"status", "ok"}}));
  EXPECT_EQ(s.Get("/readyz").body, (json{{"status", "ready"}}));
  EXPECT_EQ(s.Get("/api/config").body,
            json::parse(R"({"tileUrl": "http://tiles.local/{z}/{x}/{y}.png",
      "gridSteps": [0.0025, 0.001, 0.0005], "defaultGridStep": 0.0025, "models": ["grocery", "blend", "grocery-walk", "blend-walk"],
      "heatTiles": "/tiles/{model}/{gridStep}/{z}/{x}/{y}.png",
      "streetTiles": "/tiles/streets/{z}/{x}/{y}.png", "streetMinZoom": 11,
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
  EXPECT_EQ(empty.body,
            json::parse(R"({"gridStep": 0.0025, "level": 0, "cellStep": 0.0025, "model": "grocery",
                            "count": 0, "cells": []})"));

  auto head = s.Client()->Head("/healthz");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);

  Reply m = s.Get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers.find("Content-Type")->second.find("text/plain"), std::string::npos);
  for (const char* want :
       {"nearbyindex_jobs{status=\"pending\"} 0", "nearbyindex_cells_computed_total 0",
        "nearbyindex_jobs_pruned_total 0",
        "nearbyindex_chunk_duration_seconds_bucket{le=\"+Inf\"} 0",
        "nearbyindex_job_claim_latency_seconds_count 0",
        "nearbyindex_http_requests_total{route=\"/api/config\",status=\"200\"} 1"}) {
    EXPECT_NE(m.text.find(want), std::string::npos) << want << "\n" << m.text;
  }
  // One access-log line per request: method path status bytes ms.
  EXPECT_TRUE(std::regex_search(s.Log(), std::regex(R"(HTTP GET /api/config 200 \d+ \d+\.\dms)")))
      << s.Log();
}

TEST_P(HttpTest, BadInputGetsA4xxWithACode) {  // layout: test table
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
      // Overview levels and tiles (http/tile_routes.h).
      {"GET", "/api/heatmap?" + ok_box + "&level=99", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?" + ok_box + "&level=fine", "", 400, "invalid_argument"},
      {"GET", "/api/heatmap?minLat=40&minLng=0&maxLat=42&maxLng=2&gridStep=0.0025&level=0", "", 400,
       "too_many_cells"},
      {"GET", "/api/heatmap/extent?model=nope", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/21/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/-1/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/z/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/8/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/0/8.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/-1/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/0/1.5.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/0/0.jpg", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/0/0", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.001/3/0/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/walking/0.001/3/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.5/3/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/0.00001/3/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery/nan/3/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/grocery//3/0/0.png", "", 400, "invalid_argument"},
      {"GET", "/tiles/", "", 400, "invalid_argument"},
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
  EXPECT_EQ(RawRequest(s.port(), "POST /api/jobs/999999/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                       &body),
            404);
  EXPECT_EQ(
      RawRequest(s.port(),
                 "GET /static/%2e%2e/%2e%2e/CMakeLists.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                 &body),
      404);
  EXPECT_EQ(
      RawRequest(
          s.port(),
          "GET /vendor/leaflet/..%2f..%2f..%2fCMakeLists.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
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

// An error the transport answers itself, after a HEAD on the same connection, still carries
// its body (nothing of the previous request shapes it).
TEST_P(HttpTest, AnErrorAfterAHeadRequestCarriesItsBody) {
  ServerProcess& s = Start({}, {"--no-worker"});
  const std::string big(40 * 1024, 'v');
  std::string answer;
  RawRequest(s.port(),
             "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
             "GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " +
                 big + "\r\n\r\n",
             &answer);
  // RawRequest returns the first answer's body: the HEAD answer has none, so what follows
  // its head is the whole second answer.
  auto second = answer.find("HTTP/1.1 431");
  ASSERT_NE(second, std::string::npos) << answer.substr(0, 300);
  auto body = answer.find("\r\n\r\n", second);
  ASSERT_NE(body, std::string::npos);
  EXPECT_NE(answer.find("header_fields_too_large", body), std::string::npos)
      << answer.substr(second);
}

TEST_P(HttpTest, AnAddressFloodDoesNotResetALimitedClient) {
  ServerProcess& s = Start(
      {{"NBI_RATE_LIMIT_PER_SEC", "0.01"}, {"NBI_RATE_LIMIT_BURST", "2"}, {"NBI_ACCESS_LOG", "0"}},
      {"--no-worker"});
  const std::string cancel =
      "POST /api/jobs/999999/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(RawRequest(s.port(), cancel, nullptr), 404);
  EXPECT_EQ(RawRequest(s.port(), cancel, nullptr), 404);
  EXPECT_EQ(RawRequest(s.port(), cancel, nullptr), 429);
  // Writes from 10,000 other addresses (all of 127.0.0.0/8 is this machine).
  int answered = 0;
  for (int i = 0; i < 10'000; ++i) {
    std::string from = fmt::format("127.1.{}.{}", i / 250, 1 + i % 250);
    answered += RawRequest(s.port(), cancel, nullptr, from) == 404;
  }
  EXPECT_EQ(answered, 10'000);
  EXPECT_EQ(RawRequest(s.port(), cancel, nullptr), 429) << "the flood reset a limited client";
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
  EXPECT_EQ(RawRequest(s.port(),
                       "GET /static/%2e%2e/secret.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &body),
            404);
  EXPECT_EQ(body.find("do not serve"), std::string::npos);
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
