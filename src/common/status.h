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
#include <cstdio>
#include <cstdlib>
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
  Status WithPrefix(const std::string& prefix) const {
    Status s(code_, prefix + message_);
    s.reason_ = reason_;
    return s;
  }
  // An optional machine-readable refinement of the code ("too_many_cells"), which edges such
  // as the HTTP API may show instead of the code's generic name. Empty by default.
  Status WithReason(std::string reason) const {
    Status s = *this;
    s.reason_ = std::move(reason);
    return s;
  }
  const std::string& reason() const { return reason_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string reason_;
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
  // value() on an error is a programming error: it asserts (debug builds) and, in release
  // builds, terminates with the status in the message instead of throwing.
  T& value() & {
    CheckOk();
    return *std::get_if<T>(&v_);
  }
  const T& value() const& {
    CheckOk();
    return *std::get_if<T>(&v_);
  }
  T&& value() && {
    CheckOk();
    return std::move(*std::get_if<T>(&v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void CheckOk() const {
    if (!ok()) {
      std::fprintf(stderr, "fatal: Result::value() on an error: %s\n",
                   std::get<Status>(v_).ToString().c_str());
      assert(false && "Result::value() on an error");
      std::abort();
    }
  }
  std::variant<T, Status> v_;
};

#define NBI_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::nbi::Status nbi_status_ = (expr);        \
    if (!nbi_status_.ok()) return nbi_status_; \
  } while (0)

// NBI_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (a Result<T>); on error returns its
// Status from the enclosing function, else moves the value into `lhs`, which may declare a
// variable ("auto city", "Job job") or name an existing one.
//   NBI_ASSIGN_OR_RETURN(auto city, store->GetCity(slug));
#define NBI_ASSIGN_OR_RETURN(lhs, expr) \
  NBI_ASSIGN_OR_RETURN_IMPL_(NBI_STATUS_CONCAT_(nbi_result_, __LINE__), lhs, expr)
#define NBI_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
#define NBI_STATUS_CONCAT_(a, b) NBI_STATUS_CONCAT_INNER_(a, b)
#define NBI_STATUS_CONCAT_INNER_(a, b) a##b

}  // namespace nbi
