// The request and response of one HTTP exchange as the API's handlers see them, independent
// of the transport (http/transport.h) that parses and writes them.
//
// A Request holds the method, the raw target, its percent-decoded path and query parameters,
// the header fields as received (names compared case-insensitively), the body and the peer
// address. A Response is a status, extra header fields and a body with its content type.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nbi::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // "/api/jobs?status=failed" as sent
  std::string path;    // "/api/jobs": the target's path, percent-decoded
  Fields params;       // the query string, percent-decoded ('+' is a space), in order
  Fields headers;      // as received
  std::string body;
  std::string remote_addr;  // peer IP address

  // The first query parameter of that name.
  bool has_param(std::string_view name) const;
  std::string get_param_value(std::string_view name) const;  // "" when absent
  // Header fields by case-insensitive name: presence, first value ("" when absent), count.
  bool has_header(std::string_view name) const;
  std::string get_header_value(std::string_view name) const;
  size_t header_count(std::string_view name) const;
};

struct Response {
  int status = 200;
  Fields headers;  // besides Content-Type and Content-Length
  std::string content_type;
  std::string body;
  // The route pattern that answered ("/api/jobs/:id"), for the access log and metrics;
  // nullptr: no route matched.
  const char* route = nullptr;
  // What the log gets beside the access line and the client does not (see ApiError).
  std::string log_detail;

  void set_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
  void set_content(std::string b, std::string type) {
    body = std::move(b);
    content_type = std::move(type);
  }
};

// ASCII case-insensitive equality (header names, media types, auth schemes).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Percent-decodes `in`; with `plus_is_space`, '+' becomes ' ' (query strings). A '%' not
// followed by two hex digits is kept as it is.
std::string PercentDecode(std::string_view in, bool plus_is_space);

// "a=1&b=x%20y&c" -> {{"a","1"},{"b","x y"},{"c",""}}.
Fields ParseQuery(std::string_view query);

}  // namespace nbi::http
