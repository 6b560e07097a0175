// Checks every request passes before it reaches a route: who may address the server (the
// Host allow-list against DNS rebinding) and who may write (no cross-site writes), plus the
// cron bearer token. Pure functions; thread-safe.
//
// - Host: when the server is bound to a loopback address, or ALLOWED_HOSTS is set, the Host
//   header's name must be localhost, 127.0.0.1, ::1 or one of ALLOWED_HOSTS (any port;
//   names compare case-insensitively). A page of another site that rebinds its own name to
//   127.0.0.1 sends its own name as Host and is refused (403 forbidden).
// - Writes (POST): a body must be `application/json` (415 unsupported_media_type otherwise);
//   a body-less POST may omit the Content-Type. An `Origin` header, which browsers send with
//   every cross-site POST, must name this server: its host[:port] equals the Host header, or
//   its name is allowed as above (403 forbidden otherwise; "null" is refused). So a form or a
//   `text/plain` fetch from another site can neither enqueue nor cancel anything, and a JSON
//   fetch from another site needs a CORS preflight this server never grants.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/api.h"
#include "http/message.h"

namespace nbi::http {

struct HostPolicy {
  bool enforce = false;              // check the Host header at all
  std::vector<std::string> allowed;  // lower-case names, besides the loopback names
};

// The policy of a server bound to `bind_host` with ALLOWED_HOSTS `allowed_hosts` (names,
// optionally with a port, which is ignored).
HostPolicy MakeHostPolicy(std::string_view bind_host,
                          const std::vector<std::string>& allowed_hosts);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackName(std::string_view host);

// The name part of a Host header value or URL authority: "Example.org:8080" -> "example.org",
// "[::1]:80" -> "::1". Empty when malformed.
std::string HostName(std::string_view authority);

std::optional<ApiError> CheckHost(const Request& req, const HostPolicy& policy);
std::optional<ApiError> CheckWrite(const Request& req, const HostPolicy& policy);

// "Bearer <secret>" with the scheme in any case (RFC 7235) and one or more spaces; the token
// is compared in constant time.
bool BearerMatches(std::string_view authorization, std::string_view secret);

}  // namespace nbi::http
