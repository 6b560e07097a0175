// Building blocks of the HTTP API (SPEC §6) that need no server: the error mapping, checked
// parsing of query and body values, the JSON shapes of jobs and cities and a few request
// checks. src/http/server.cc wires them to routes.
//
// Every failure the API reports is an ApiError: an HTTP status, a stable machine-readable
// `code` and a human message, sent as {"error": {"code": ..., "message": ...}}. The table of
// codes -> HTTP statuses lives in one place (api.cc); store errors reach it only through
// ApiErrorFromStatus, so a StatusCode means the same HTTP status on every route.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "geo/geo.h"
#include "jobs/service.h"
#include "store/store.h"

namespace nbi::http {

struct ApiError {
  int http_status = 500;
  std::string code;  // "invalid_argument", "not_found", "rate_limited", ...
  std::string message;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. Allow, Retry-After
  // What the server logs but does not tell the client (a database address, a path).
  std::string log_detail;

  ApiError WithLogDetail(std::string detail) && {
    log_detail = std::move(detail);
    return std::move(*this);
  }

  // An error of a known `code` (see kErrorCodes in api.cc); its HTTP status comes from the
  // table. Unknown codes are a programming error and become 500 "internal".
  static ApiError Of(std::string_view code, std::string message);
  // {"error": {"code": code, "message": message}}
  nlohmann::json Body() const;
};

// The one mapping of store/library errors to HTTP:
//   kInvalidArgument -> 400 invalid_argument   kNotFound  -> 404 not_found
//   kConflict        -> 409 conflict           kTransient -> 503 unavailable
//   kInternal        -> 500 internal
// The message of a 5xx is generic; the status's own message goes to log_detail only.
ApiError ApiErrorFromStatus(const Status& s);

// The error for a status the transport produced itself (malformed request 400, 408, 413,
// 414, 431, ...), when no handler ran.
ApiError ApiErrorForHttpStatus(int http_status);

// ---------------------------------------------------------------- parsing
// A finite decimal number; the whole text must be the number (std::from_chars, no spaces,
// no "nan"/"inf", no overflow). Errors name `what`.
Result<double> ParseFiniteDouble(std::string_view what, std::string_view text);
// A decimal integer in [lo, hi]; the whole text must be the number.
Result<int64_t> ParseInt(std::string_view what, std::string_view text, int64_t lo, int64_t hi);

// Query-string access: `get(name)` returns the parameter's value or nullopt when absent.
using ParamGetter = std::function<std::optional<std::string>(std::string_view name)>;
// Required minLat, minLng, maxLat, maxLng -> a valid BBox (range-checked, min < max).
Result<BBox> ParseBoxParams(const ParamGetter& get);
// Optional number with a default, then range [lo, hi].
Result<double> ParseOptionalDouble(const ParamGetter& get, std::string_view name, double def,
                                   double lo, double hi);

// The deepest nesting of arrays and objects in JSON text (strings are skipped; the text need
// not be valid JSON). "[[1],{}]" -> 2.
size_t JsonNestingDepth(std::string_view text);
inline constexpr size_t kMaxJsonDepth = 64;

// Parses a JSON request body that must be an object into *out. Returns the error, if any:
// "invalid_json" (unparsable, empty, or nested deeper than kMaxJsonDepth), "invalid_argument"
// (valid JSON but not an object).
std::optional<ApiError> ParseJsonObject(std::string_view body, nlohmann::json* out);

// A schedule request (POST /api/heatmap/schedule), read but not yet resolved: either a city
// slug or bounds, plus gridStep (default 0.0025, validated), model (default grocery) and
// priority (a whole number, default 0). kInvalidArgument for wrong types and missing or
// conflicting fields; unknown fields are ignored. JobService::Resolve checks the rest (the
// model's name, the priority's range, force only with reset) for the CLI and the API alike.
Result<ScheduleRequest> ParseScheduleRequest(const nlohmann::json& body);

// ---------------------------------------------------------------- JSON shapes
// "2026-11-28T21:05:00.123Z" (UTC, milliseconds).
std::string IsoTimeMs(int64_t ms);
// The shapes of a job and an attempt: jobs/job_json.h (the CLI prints them too).
// {"id","slug","name","country","bounds":{"minLat","minLng","maxLat","maxLng"}}
nlohmann::json CityJson(const City& city);

// ---------------------------------------------------------------- request checks
// Equality that takes the same time wherever the inputs differ: always runs over the full
// length of the longer input, no early exit (for the cron bearer token).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// A static-file path below a web root: `rel` ("css/app.css") must be non-empty and made of
// plain segments (no "..", ".", empty segments, backslashes or NUL). Returns false otherwise.
bool IsSafeRelativePath(std::string_view rel);
// Content type by file extension (.html, .js/.mjs, .css, .png, .svg, .json, .map, ...).
std::string_view ContentTypeFor(std::string_view path);

}  // namespace nbi::http
