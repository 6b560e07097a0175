#include "http/api.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include "common/time_format.h"

namespace nbi::http {

namespace {

// The one table of API error codes and their HTTP statuses.
struct ErrorCode {
  std::string_view code;
  int http_status;
};
constexpr ErrorCode kErrorCodes[] = {
    {"bad_request", 400},              // malformed request line, headers or Content-Length
    {"invalid_argument", 400},         // a value is wrong (StatusCode::kInvalidArgument)
    {"invalid_json", 400},             // the body is not JSON
    {"too_many_cells", 400},           // a box or job over the cell cap
    {"unauthorized", 401},             // cron: missing or wrong bearer token
    {"forbidden", 403},                // a foreign Host (DNS rebinding) or a cross-site write
    {"not_found", 404},                // unknown route, id or slug (StatusCode::kNotFound)
    {"method_not_allowed", 405},       // known route, other method (with an Allow header)
    {"request_timeout", 408},          // the request did not arrive in time
    {"conflict", 409},                 // the job's state forbids it (StatusCode::kConflict)
    {"payload_too_large", 413},        // body over the limit
    {"uri_too_long", 414},             // request line too long
    {"unsupported_media_type", 415},   // a write whose body is not application/json
    {"rate_limited", 429},             // write rate of this client (with Retry-After)
    {"queue_full", 429},               // over a cap of queued cells (with Retry-After)
    {"header_fields_too_large", 431},  // too many or too large header fields
    {"internal", 500},                 // a bug (StatusCode::kInternal, exceptions)
    {"unavailable", 503},              // the database is unreachable (StatusCode::kTransient)
};

}  // namespace

ApiError ApiError::Of(std::string_view code, std::string message) {
  for (const ErrorCode& e : kErrorCodes) {
    if (e.code == code) return {e.http_status, std::string(code), std::move(message), {}, {}};
  }
  return {500, "internal", fmt::format("unknown error code '{}': {}", code, message), {}, {}};
}

nlohmann::json ApiError::Body() const {
  return {{"error", {{"code", code}, {"message", message}}}};
}

ApiError ApiErrorFromStatus(const Status& s) {
  // A refinement the library named ("too_many_cells") wins when it is a known code of the
  // same HTTP status class as the generic mapping.
  if (!s.reason().empty() && s.code() == StatusCode::kInvalidArgument) {
    ApiError e = ApiError::Of(s.reason(), s.message());
    if (e.http_status == 400) return e;
  }
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return ApiError::Of("invalid_argument", s.message());
    case StatusCode::kNotFound:
      return ApiError::Of("not_found", s.message());
    case StatusCode::kConflict:
      return ApiError::Of("conflict", s.message());
    case StatusCode::kTransient:
      // The detail names the database (host, port, file) or the server's internals: it goes
      // to the log (see log_detail), never to the client.
      {
        ApiError e = ApiError::Of("unavailable", "the database is unavailable; try again shortly")
                         .WithLogDetail(s.message());
        e.headers.emplace_back("Retry-After", "2");
        return e;
      }
    case StatusCode::kOk:  // a caller bug: an OK status is not an error
    case StatusCode::kInternal:
      break;
  }
  return ApiError::Of("internal", "internal server error").WithLogDetail(s.message());
}

ApiError ApiErrorForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return ApiError::Of("bad_request", "malformed HTTP request");
    case 404:
      return ApiError::Of("not_found", "no such route");
    case 413:
      return ApiError::Of("payload_too_large", "request body is too large");
    case 408:
      return ApiError::Of("request_timeout", "the request did not arrive in time");
    case 414:
      return ApiError::Of("uri_too_long", "request line is too long");
    case 431:
      return ApiError::Of("header_fields_too_large", "too many or too large header fields");
    default:
      break;
  }
  ApiError e{http_status, fmt::format("http_{}", http_status), "request failed", {}, {}};
  if (http_status >= 500) e = ApiError::Of("internal", "request failed");
  return e;
}

// ---------------------------------------------------------------- parsing

Result<double> ParseFiniteDouble(std::string_view what, std::string_view text) {
  if (text.empty()) return Status::Invalid(fmt::format("{} is empty; expected a number", what));
  if (text.size() > 64) return Status::Invalid(fmt::format("{} is too long to be a number", what));
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return Status::Invalid(fmt::format("{} '{}' is out of range", what, text));
  }
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
    return Status::Invalid(fmt::format("{} '{}' is not a finite number", what, text));
  }
  return v;
}

Result<int64_t> ParseInt(std::string_view what, std::string_view text, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::Invalid(fmt::format("{} '{}' is not a whole number", what, text.substr(0, 64)));
  }
  if (v < lo || v > hi) {
    return Status::Invalid(fmt::format("{} {} is outside {}..{}", what, v, lo, hi));
  }
  return v;
}

Result<BBox> ParseBoxParams(const ParamGetter& get) {
  double v[4];
  const char* names[4] = {"minLat", "minLng", "maxLat", "maxLng"};
  for (int i = 0; i < 4; ++i) {
    auto text = get(names[i]);
    if (!text) {
      return Status::Invalid(
          fmt::format("query parameter {} is required (minLat, minLng, maxLat, maxLng)", names[i]));
    }
    auto d = ParseFiniteDouble(names[i], *text);
    if (!d.ok()) return d.status();
    v[i] = *d;
  }
  return BBox::Make(v[0], v[1], v[2], v[3]);
}

Result<double> ParseOptionalDouble(const ParamGetter& get, std::string_view name, double def,
                                   double lo, double hi) {
  auto text = get(name);
  if (!text) return def;
  auto d = ParseFiniteDouble(name, *text);
  if (!d.ok()) return d.status();
  if (*d < lo || *d > hi) {
    return Status::Invalid(fmt::format("{} {} is outside {}..{}", name, *d, lo, hi));
  }
  return *d;
}

size_t JsonNestingDepth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<ApiError> ParseJsonObject(std::string_view body, nlohmann::json* out) {
  // Checked before parsing: a deeply nested value would be destroyed, compared and printed
  // by recursion.
  if (JsonNestingDepth(body) > kMaxJsonDepth) {
    *out = nlohmann::json();
    return ApiError::Of("invalid_json", fmt::format("the request body is nested deeper than {} "
                                                    "levels",
                                                    kMaxJsonDepth));
  }
  *out = nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    return ApiError::Of("invalid_json", body.empty()
                                            ? "the request body is empty; expected a JSON object"
                                            : "the request body is not valid JSON");
  }
  if (!out->is_object()) {
    return ApiError::Of(
        "invalid_argument",
        fmt::format("the request body must be a JSON object, not {}", out->type_name()));
  }
  return std::nullopt;
}

namespace {

// A JSON value as text for an error message, cut to a readable length.
std::string Excerpt(const nlohmann::json& v) {
  std::string text = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return text.size() <= 64 ? text : text.substr(0, 61) + "...";
}

Result<double> JsonNumber(const nlohmann::json& o, const char* key, const char* where) {
  if (!o.contains(key)) return Status::Invalid(fmt::format("{}.{} is required", where, key));
  const auto& v = o[key];
  if (!v.is_number()) {
    return Status::Invalid(
        fmt::format("{}.{} must be a number, not {}", where, key, v.type_name()));
  }
  double d = v.get<double>();
  if (!std::isfinite(d)) return Status::Invalid(fmt::format("{}.{} must be finite", where, key));
  return d;
}

// The queue fields of a schedule request: runAt (RFC 3339 time) and maxAttempts (1..100).
// JobService::Resolve checks runAt against the clock.
Status ParseQueueFields(const nlohmann::json& body, ScheduleRequest* r) {
  if (body.contains("runAt") && !body["runAt"].is_null()) {
    const auto& t = body["runAt"];
    auto ms = t.is_string() ? ParseIsoTimestamp(t.get<std::string>()) : std::nullopt;
    if (!ms) {
      return Status::Invalid(fmt::format(
          "runAt {} is not an RFC 3339 time with a zone, e.g. 2026-12-01T08:00:00Z", Excerpt(t)));
    }
    r->run_at_ms = *ms;
  }
  if (body.contains("maxAttempts") && !body["maxAttempts"].is_null()) {
    const auto& m = body["maxAttempts"];
    const bool in_range = m.is_number_integer() && !m.is_number_unsigned()
                              ? m.get<int64_t>() >= 1 && m.get<int64_t>() <= kMaxJobAttempts
                              : m.is_number_unsigned() && m.get<uint64_t>() >= 1 &&
                                    m.get<uint64_t>() <= kMaxJobAttempts;
    if (!in_range) {
      return Status::Invalid(fmt::format("maxAttempts must be a whole number in 1..{}, not {}",
                                         kMaxJobAttempts, Excerpt(m)));
    }
    r->max_attempts = m.get<int>();
  }
  return Status::Ok();
}

}  // namespace

Result<ScheduleRequest> ParseScheduleRequest(const nlohmann::json& body) {
  if (!body.is_object()) return Status::Invalid("the request body must be a JSON object");
  ScheduleRequest r;
  const bool has_city = body.contains("citySlug") && !body["citySlug"].is_null();
  const bool has_bounds = body.contains("bounds") && !body["bounds"].is_null();
  if (has_city == has_bounds) {
    return Status::Invalid("give either citySlug or bounds {minLat, minLng, maxLat, maxLng}");
  }
  if (has_city) {
    const auto& c = body["citySlug"];
    if (!c.is_string()) {
      return Status::Invalid(fmt::format("citySlug must be a string, not {}", c.type_name()));
    }
    std::string slug = c.get<std::string>();
    if (slug.empty() || slug.size() > 100) {
      return Status::Invalid("citySlug must be 1..100 characters");
    }
    r.city_slug = std::move(slug);
  } else {
    const auto& b = body["bounds"];
    if (!b.is_object()) {
      return Status::Invalid(fmt::format("bounds must be an object, not {}", b.type_name()));
    }
    double v[4];
    const char* names[4] = {"minLat", "minLng", "maxLat", "maxLng"};
    for (int i = 0; i < 4; ++i) {
      auto d = JsonNumber(b, names[i], "bounds");
      if (!d.ok()) return d.status();
      v[i] = *d;
    }
    auto box = BBox::Make(v[0], v[1], v[2], v[3]);
    if (!box.ok()) return box.status();
    r.bounds = *box;
  }
  if (body.contains("gridStep") && !body["gridStep"].is_null()) {
    auto d = JsonNumber(body, "gridStep", "body");
    if (!d.ok()) return d.status();
    r.grid_step = *d;
  }
  NBI_ASSIGN_OR_RETURN(r.grid_step, CanonicalGridStep(r.grid_step));
  if (body.contains("model") && !body["model"].is_null()) {
    const auto& m = body["model"];
    // JobService::Resolve parses the name (one parser, one message for the CLI and the API).
    r.model = m.is_string() ? m.get<std::string>() : Excerpt(m);
  }
  if (body.contains("priority") && !body["priority"].is_null()) {
    const auto& p = body["priority"];
    if (!p.is_number_integer()) {
      return Status::Invalid(fmt::format("priority must be a whole number, not {}", Excerpt(p)));
    }
    // JobService::Resolve checks the range. Unsigned JSON integers above INT64_MAX would read
    // as negative int64: they stay out of range as INT64_MAX.
    r.priority = p.is_number_unsigned() && p.get<uint64_t>() > uint64_t(INT64_MAX)
                     ? INT64_MAX
                     : p.get<int64_t>();
  }
  for (auto [name, dst] : {std::pair<const char*, bool*>{"reset", &r.reset},
                           std::pair<const char*, bool*>{"force", &r.force}}) {
    if (body.contains(name) && !body[name].is_null()) {
      if (!body[name].is_boolean()) {
        return Status::Invalid(
            fmt::format("{} must be true or false, not {}", name, Excerpt(body[name])));
      }
      *dst = body[name].get<bool>();
    }
  }
  NBI_RETURN_IF_ERROR(ParseQueueFields(body, &r));
  return r;
}

// ---------------------------------------------------------------- JSON shapes

std::string IsoTimeMs(int64_t ms) { return FormatTimestamp(ms, TimeStyle::kIsoUtc); }

nlohmann::json CityJson(const City& c) {
  return {{"id", c.id},
          {"slug", c.slug},
          {"name", c.name},
          {"country", c.country},
          {"bounds",
           {{"minLat", c.bounds.min_lat},
            {"minLng", c.bounds.min_lng},
            {"maxLat", c.bounds.max_lat},
            {"maxLng", c.bounds.max_lng}}}};
}

// ---------------------------------------------------------------- request checks

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  // volatile: keep the compiler from turning the loop into an early-exit memcmp.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool IsSafeRelativePath(std::string_view rel) {
  if (rel.empty() || rel.size() > 1024) return false;
  if (rel.find('\0') != std::string_view::npos || rel.find('\\') != std::string_view::npos) {
    return false;
  }
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    if (slash == std::string_view::npos) slash = rel.size();
    std::string_view seg = rel.substr(pos, slash - pos);
    if (seg.empty() || seg == "." || seg == "..") return false;
    pos = slash + 1;
  }
  return true;
}

std::string_view ContentTypeFor(std::string_view path) {
  struct Type {
    std::string_view ext, type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  };
  for (const Type& t : kTypes) {
    if (path.ends_with(t.ext)) return t.type;
  }
  return "application/octet-stream";
}

}  // namespace nbi::http
