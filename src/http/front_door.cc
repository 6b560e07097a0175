#include "http/front_door.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace nbi::http {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool NameAllowed(const std::string& name, const HostPolicy& policy) {
  if (name.empty()) return false;
  if (name == "localhost" || name == "127.0.0.1" || name == "::1") return true;
  return std::find(policy.allowed.begin(), policy.allowed.end(), name) != policy.allowed.end();
}

// "Text/Plain; charset=x" -> "text/plain".
std::string MediaType(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  return Lower(t);
}

}  // namespace

bool IsLoopbackName(std::string_view host) {
  std::string h = Lower(host);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0;
}

HostPolicy MakeHostPolicy(std::string_view bind_host,
                          const std::vector<std::string>& allowed_hosts) {
  HostPolicy p;
  for (const std::string& a : allowed_hosts) {
    std::string name = HostName(a);
    if (!name.empty()) p.allowed.push_back(name);
  }
  p.enforce = IsLoopbackName(bind_host) || !p.allowed.empty();
  return p;
}

std::string HostName(std::string_view authority) {
  if (authority.empty()) return {};
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return {};
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return {};
    return Lower(authority.substr(1, close - 1));
  }
  std::string_view name = authority.substr(0, authority.find(':'));
  if (name.find_first_of(" \t/@") != std::string_view::npos) return {};
  return Lower(name);
}

std::optional<ApiError> CheckHost(const Request& req, const HostPolicy& policy) {
  if (!policy.enforce) return std::nullopt;
  std::string name = HostName(req.get_header_value("Host"));
  if (NameAllowed(name, policy)) return std::nullopt;
  return ApiError::Of("forbidden",
                      "this server answers only to localhost, 127.0.0.1, [::1] and ALLOWED_HOSTS; "
                      "add the name you use to ALLOWED_HOSTS");
}

std::optional<ApiError> CheckWrite(const Request& req, const HostPolicy& policy) {
  if (req.method != "POST") return std::nullopt;
  const bool has_type = req.has_header("Content-Type");
  if (has_type || !req.body.empty()) {
    std::string type = MediaType(req.get_header_value("Content-Type"));
    if (type != "application/json") {
      return ApiError::Of(
          "unsupported_media_type",
          fmt::format("writes take Content-Type: application/json, not '{}'", type.substr(0, 64)));
    }
  }
  if (!req.has_header("Origin")) return std::nullopt;
  std::string origin = Lower(req.get_header_value("Origin"));
  size_t scheme = origin.find("://");
  std::string authority = scheme == std::string::npos ? "" : origin.substr(scheme + 3);
  if (!authority.empty() && authority.find('/') == std::string::npos) {
    if (authority == Lower(req.get_header_value("Host"))) return std::nullopt;
    // A name the operator allowed (a proxy in front of this server serves the pages).
    const std::string name = HostName(authority);
    if (std::find(policy.allowed.begin(), policy.allowed.end(), name) != policy.allowed.end()) {
      return std::nullopt;
    }
  }
  return ApiError::Of("forbidden", "cross-site writes are refused: the Origin is not this server");
}

bool BearerMatches(std::string_view authorization, std::string_view secret) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      !EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme) ||
      authorization[kScheme.size()] != ' ') {
    return false;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  return !secret.empty() && ConstantTimeEquals(token, secret);
}

}  // namespace nbi::http
