// A request head through the API's pure request checks, the way transport.cc and server.cc
// use them. The input is an HTTP/1.1-like head:
//   GET /api/heatmap?minLat=47.1&minLng=9.5&maxLat=47.2&maxLng=9.6&limit=5
//   Host: localhost:8080
//   Origin: http://localhost:8080
//   Content-Type: application/json
//   Authorization: Bearer s3cret
// (first line "METHOD target", then "Name: value" lines, then an optional blank line and a
// body). Covered: PercentDecode, ParseQuery (src/http/message.h); ParseBoxParams,
// ParseOptionalDouble, ParseFiniteDouble, ParseInt (src/http/api.h); HostName, CheckHost,
// CheckWrite, BearerMatches (src/http/front_door.h).
#include <cmath>
#include <limits>
#include <string>

#include "fuzz_check.h"
#include "http/api.h"
#include "http/front_door.h"
#include "http/message.h"

namespace {

using nbi::http::Request;

std::string_view NextLine(std::string_view* text) {
  const size_t nl = text->find('\n');
  std::string_view line = text->substr(0, nl);
  *text = nl == std::string_view::npos ? std::string_view() : text->substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

Request ParseHead(std::string_view text) {
  Request req;
  std::string_view line = NextLine(&text);
  const size_t sp = line.find(' ');
  req.method = std::string(line.substr(0, sp));
  req.target = sp == std::string_view::npos ? "" : std::string(line.substr(sp + 1));
  const size_t q = req.target.find('?');
  req.path = nbi::http::PercentDecode(std::string_view(req.target).substr(0, q), false);
  if (q != std::string::npos) {
    req.params = nbi::http::ParseQuery(std::string_view(req.target).substr(q + 1));
  }
  while (!text.empty()) {
    line = NextLine(&text);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  req.body = std::string(text);
  return req;
}

// The query parameters as the API's handlers read them.
void CheckParams(const Request& req) {
  nbi::http::ParamGetter get = [&req](std::string_view name) -> std::optional<std::string> {
    if (!req.has_param(name)) return std::nullopt;
    return req.get_param_value(name);
  };
  if (auto box = nbi::http::ParseBoxParams(get); box.ok()) {
    NBI_FUZZ_CHECK(box->min_lat < box->max_lat && box->min_lng < box->max_lng);
  }
  if (auto v = nbi::http::ParseOptionalDouble(get, "minScore", 0, 0, 100); v.ok()) {
    NBI_FUZZ_CHECK(*v >= 0 && *v <= 100);
  }
  for (const auto& [name, value] : req.params) {
    if (auto d = nbi::http::ParseFiniteDouble(name, value); d.ok())
      NBI_FUZZ_CHECK(std::isfinite(*d));
    if (auto i = nbi::http::ParseInt(name, value, 1, 200); i.ok()) {
      NBI_FUZZ_CHECK(*i >= 1 && *i <= 200);
    }
    (void)nbi::http::ParseInt(name, value, std::numeric_limits<int64_t>::min(),
                              std::numeric_limits<int64_t>::max());
  }
}

void CheckFrontDoor(const Request& req) {
  const std::string name = nbi::http::HostName(req.get_header_value("Host"));
  for (char c : name) NBI_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
  const nbi::http::HostPolicy loopback = nbi::http::MakeHostPolicy("127.0.0.1", {});
  const nbi::http::HostPolicy allowed =
      nbi::http::MakeHostPolicy("0.0.0.0", {"Example.org:8080", "[::1]"});
  NBI_FUZZ_CHECK(loopback.enforce && allowed.enforce);
  for (const auto* policy : {&loopback, &allowed}) {
    if (auto e = nbi::http::CheckHost(req, *policy)) NBI_FUZZ_CHECK(e->http_status == 403);
    if (auto e = nbi::http::CheckWrite(req, *policy)) {
      NBI_FUZZ_CHECK(e->http_status == 403 || e->http_status == 415);
    }
  }
  const std::string auth = req.get_header_value("Authorization");
  (void)nbi::http::BearerMatches(auth, "s3cret");
  NBI_FUZZ_CHECK(!nbi::http::BearerMatches(auth, ""));
  // Any token without spaces is accepted behind "Bearer " and refused when one byte differs.
  std::string token = req.get_header_value("X-Token");
  if (!token.empty() && token.find(' ') == std::string::npos) {
    NBI_FUZZ_CHECK(nbi::http::BearerMatches("bEaReR  " + token, token));
    std::string other = token;
    other.back() = static_cast<char>(other.back() ^ 1);
    NBI_FUZZ_CHECK(!nbi::http::BearerMatches("Bearer " + other, token));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = nbi::fuzz::AsText(data, size);
  // Decoding never grows the text.
  NBI_FUZZ_CHECK(nbi::http::PercentDecode(text, true).size() <= text.size());
  NBI_FUZZ_CHECK(nbi::http::PercentDecode(text, false).size() <= text.size());
  const Request req = ParseHead(text);
  CheckParams(req);
  CheckFrontDoor(req);
  return 0;
}
