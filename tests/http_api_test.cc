// Unit tests of the HTTP API building blocks that need no server: number parsing, the one
// place where Status codes map to HTTP statuses, constant-time secret comparison, safe static
// paths and content types, the per-client rate limiter, the on-demand coverage job spec and
// timestamps. The real server is tested end to end in http_test and http_jobs_test.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "http/api.h"
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

}  // namespace
}  // namespace nbi
