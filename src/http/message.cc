#include "http/message.h"

#include <algorithm>

namespace nbi::http {

namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const std::string* Find(const Fields& fields, std::string_view name, bool ignore_case) {
  for (const auto& [k, v] : fields) {
    if (ignore_case ? EqualsIgnoreCase(k, name) : k == name) return &v;
  }
  return nullptr;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

Fields ParseQuery(std::string_view query) {
  Fields out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    out.emplace_back(PercentDecode(key, true), PercentDecode(value, true));
  }
  return out;
}

bool Request::has_param(std::string_view name) const {
  return Find(params, name, false) != nullptr;
}

std::string Request::get_param_value(std::string_view name) const {
  const std::string* v = Find(params, name, false);
  return v ? *v : std::string();
}

bool Request::has_header(std::string_view name) const {
  return Find(headers, name, true) != nullptr;
}

std::string Request::get_header_value(std::string_view name) const {
  const std::string* v = Find(headers, name, true);
  return v ? *v : std::string();
}

size_t Request::header_count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(), [&](const auto& f) {
    return EqualsIgnoreCase(f.first, name);
  }));
}

}  // namespace nbi::http
