// Unit tests of the HTTP API building blocks that need no server: number parsing, the one
// place where Status codes map to HTTP statuses, constant-time secret comparison, safe static
// paths and content types, the per-client rate limiter, the on-demand coverage job spec and
// timestamps. The real server is tested end to end in http_test and http_jobs_test.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "http/api.h"
#include "http/front_door.h"
#include "http/message.h"
#include "http/rate_limit.h"
#include "store/store.h"

namespace nbi {
namespace {

using json = nlohmann::json;

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
    if (c.http < 500) {
      EXPECT_EQ(e.Body(), (json{{"error", {{"code", c.code}, {"message", "x"}}}}));
    } else {
      EXPECT_NE(e.message, "x") << "a 5xx tells the client nothing of the cause";
      EXPECT_EQ(e.log_detail, "x") << "the cause goes to the log";
    }
  }
  // A database address or a path in a store error never reaches the client.
  http::ApiError down = http::ApiErrorFromStatus(Status::Transient(
      "connection to server at \"10.1.2.3\", port 5432 failed: /var/run/postgresql"));
  EXPECT_EQ(down.http_status, 503);
  EXPECT_EQ(down.Body().dump().find("5432"), std::string::npos) << down.Body();
  EXPECT_EQ(down.Body().dump().find("10.1.2.3"), std::string::npos) << down.Body();
  EXPECT_NE(down.log_detail.find("10.1.2.3"), std::string::npos);
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
  // Tracking many clients never grows past the bound.
  http::RateLimiter small(1, 1, /*max_clients=*/4);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(small.Acquire("c" + std::to_string(i), 1000.0 + i * 10), 0);
    EXPECT_LE(small.size(), 4u);
  }
}

TEST(HttpApi, AnAddressFloodDoesNotResetALimitedClient) {
  // 10,000 fresh addresses against a table of 1,000: the full table evicts its least
  // recently used entry, one at a time, so a limited client that keeps asking stays limited.
  http::RateLimiter rl(/*rate_per_sec=*/0.001, /*burst=*/2, /*max_clients=*/1000);
  EXPECT_EQ(rl.Acquire("victim-of-limit", 0), 0);
  EXPECT_EQ(rl.Acquire("victim-of-limit", 0), 0);
  EXPECT_GT(rl.Acquire("victim-of-limit", 0), 0);
  for (int i = 0; i < 10'000; ++i) {
    rl.Acquire("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), 0);
    if (i % 100 == 0) {
      EXPECT_GT(rl.Acquire("victim-of-limit", 0), 0) << "reset after " << i;
    }
    ASSERT_LE(rl.size(), 1000u);
  }
  EXPECT_GT(rl.Acquire("victim-of-limit", 0), 0);
  // The least recently used entry is the one that goes: an address not seen for 1,000
  // newer ones starts with a full bucket again.
  EXPECT_EQ(rl.Acquire("10.0.0.0", 0), 0);
}

TEST(HttpApi, JsonNestingDepth) {
  EXPECT_EQ(http::JsonNestingDepth("{}"), 1u);
  EXPECT_EQ(http::JsonNestingDepth("[[1],{\"a\":[2]}]"), 3u);
  EXPECT_EQ(http::JsonNestingDepth("{\"s\":\"[[[[\\\"[[\"}"), 1u);  // brackets in strings
  EXPECT_EQ(http::JsonNestingDepth("5"), 0u);
  json out;
  std::string deep = "{\"a\":" + std::string(100'000, '[') + std::string(100'000, ']') + "}";
  auto err = http::ParseJsonObject(deep, &out);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code, "invalid_json");
  std::string ok = "{\"a\":" + std::string(63, '[') + std::string(63, ']') + "}";
  EXPECT_FALSE(http::ParseJsonObject(ok, &out).has_value());
  std::string over = "{\"a\":" + std::string(64, '[') + std::string(64, ']') + "}";
  EXPECT_TRUE(http::ParseJsonObject(over, &out).has_value());
}

TEST(HttpApi, HostAllowListAndCrossSiteWrites) {  // layout: test table
  const http::HostPolicy loopback = http::MakeHostPolicy("127.0.0.1", {});
  const http::HostPolicy proxied = http::MakeHostPolicy("127.0.0.1", {"Maps.Example.org:443"});
  const http::HostPolicy open = http::MakeHostPolicy("0.0.0.0", {});
  EXPECT_TRUE(loopback.enforce);
  EXPECT_FALSE(open.enforce);
  EXPECT_TRUE(http::MakeHostPolicy("0.0.0.0", {"a.example"}).enforce);
  auto req = [](std::string method, http::Fields headers, std::string body = "") {
    http::Request r;
    r.method = std::move(method);
    r.headers = std::move(headers);
    r.body = std::move(body);
    return r;
  };
  for (const char* host : {"localhost", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST:1"}) {
    EXPECT_FALSE(http::CheckHost(req("GET", {{"Host", host}}), loopback)) << host;
  }
  for (const char* host :
       {"evil.example", "evil.example:8080", "127.0.0.1.evil.example", "", "maps.example.org"}) {
    auto e = http::CheckHost(req("GET", {{"host", host}}), loopback);
    ASSERT_TRUE(e) << host;
    EXPECT_EQ(e->http_status, 403);
  }
  EXPECT_FALSE(http::CheckHost(req("GET", {{"Host", "maps.example.org"}}), proxied));
  EXPECT_FALSE(http::CheckHost(req("GET", {{"Host", "anything"}}), open));

  const std::string js = "{}";
  auto write = [&](http::Fields h, std::string body) {
    auto e = http::CheckWrite(req("POST", std::move(h), std::move(body)), proxied);
    return e ? e->http_status : 0;
  };
  EXPECT_EQ(write({{"Host", "127.0.0.1:8080"}, {"Content-Type", "application/json"}}, js), 0);
  EXPECT_EQ(write({{"Content-Type", "Application/JSON; charset=utf-8"}}, js), 0);
  EXPECT_EQ(write({}, ""), 0);  // a body-less POST (cancel, retry)
  EXPECT_EQ(write({{"Content-Type", "text/plain"}}, js), 415);
  EXPECT_EQ(write({{"Content-Type", "application/x-www-form-urlencoded"}}, "a=1"), 415);
  EXPECT_EQ(write({{"Content-Type", "text/plain"}}, ""), 415);
  EXPECT_EQ(write({}, js), 415);
  const http::Fields json_type = {{"Content-Type", "application/json"}};
  auto with = [&](std::string host, std::string origin) {
    http::Fields h = json_type;
    h.emplace_back("Host", std::move(host));
    h.emplace_back("Origin", std::move(origin));
    return write(std::move(h), js);
  };
  EXPECT_EQ(with("127.0.0.1:8080", "http://127.0.0.1:8080"), 0);
  EXPECT_EQ(with("127.0.0.1:8080", "https://maps.example.org"), 0);  // allowed name
  EXPECT_EQ(with("127.0.0.1:8080", "http://evil.example"), 403);
  EXPECT_EQ(with("127.0.0.1:8080", "http://127.0.0.1:9999"), 403);
  EXPECT_EQ(with("127.0.0.1:8080", "null"), 403);
  EXPECT_EQ(with("127.0.0.1:8080", "http://127.0.0.1:8080/x"), 403);
  EXPECT_FALSE(http::CheckWrite(req("GET", {{"Origin", "http://evil.example"}}), proxied));
}

TEST(HttpApi, BearerSchemeIsCaseInsensitive) {
  EXPECT_TRUE(http::BearerMatches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(http::BearerMatches("bearer s3cret", "s3cret"));
  EXPECT_TRUE(http::BearerMatches("BEARER   s3cret", "s3cret"));
  EXPECT_FALSE(http::BearerMatches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(http::BearerMatches("Bearers3cret", "s3cret"));
  EXPECT_FALSE(http::BearerMatches("Basic s3cret", "s3cret"));
  EXPECT_FALSE(http::BearerMatches("Bearer ", ""));
}

TEST(HttpApi, QueryStringsArePercentDecoded) {
  http::Fields q = http::ParseQuery("a=1&b=x%20y+z&c&&d=%zz&e=%41");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q[1].second, "x y z");
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_EQ(q[3].second, "%zz");
  EXPECT_EQ(q[4].second, "A");
  EXPECT_EQ(http::PercentDecode("/a+b%2F", false), "/a+b/");
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

}  // namespace
}  // namespace nbi
