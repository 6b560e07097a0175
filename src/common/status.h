// Status and Result: expected failures are values, not exceptions.
//
// A Status carries one of a few codes that decide what a caller does next:
//   kInvalidArgument  bad input: HTTP 4xx, job fails permanently, CLI error.
//   kNotFound         the named thing does not exist: HTTP 404.
//   kConflict         someone else owns / changed it: retry the step or give up quietly.
//   kTransient        the database or network hiccuped: retry the call with backoff.
//   kInternal         a bug or an unexpected state: HTTP 500, job attempt fails, logged.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace nbi {

enum class StatusCode { kOk, kInvalidArgument, kNotFound, kConflict, kTransient, kInternal };

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status Invalid(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status Transient(std::string m) { return {StatusCode::kTransient, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // Adds context in front of the message ("file.osm: " + message).
  Status WithPrefix(const std::string& prefix) const { return {code_, prefix + message_}; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

const char* StatusCodeName(StatusCode code);

inline std::string Status::ToString() const {
  return ok() ? "OK" : std::string(StatusCodeName(code_)) + ": " + message_;
}

inline const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kInvalidArgument:
      return "invalid_argument";
    case StatusCode::kNotFound:
      return "not_found";
    case StatusCode::kConflict:
      return "conflict";
    case StatusCode::kTransient:
      return "transient";
    case StatusCode::kInternal:
      return "internal";
  }
  return "unknown";
}

// Result<T>: a T on success, a non-OK Status otherwise.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define NBI_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::nbi::Status nbi_status_ = (expr);        \
    if (!nbi_status_.ok()) return nbi_status_; \
  } while (0)

}  // namespace nbi
