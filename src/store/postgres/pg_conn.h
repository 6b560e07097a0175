// libpq plumbing of the PostgreSQL store: one connection with its prepared statements, the
// parameter builder and result reader (both in text format), the binary COPY encoder, the
// RAII transaction and the connection pool. It knows nothing of the schema beyond the
// statements it is handed (pg_sql.h).
//
// Errors (PgFailure in pg_conn.cc): a lost connection (no SQLSTATE, class 08, 57P01..57P03)
// is kTransient and marks the connection broken, so the pool drops it and the next call
// reconnects; serialization failures and deadlocks are kTransient; unique violations are
// kConflict; data exceptions and rejected references are kInvalidArgument; anything else is
// kInternal.
//
// Internal to src/store/postgres: the only files that include libpq are in this folder.
#pragma once

#include <libpq-fe.h>

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/status.h"
#include "store/postgres/pg_sql.h"
#include "store/store.h"

namespace nbi {

struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// Parameters of one statement, in text format.
class PgParams {
 public:
  PgParams& Int(int64_t v) { return Add(std::to_string(v)); }
  PgParams& OptInt(std::optional<int64_t> v) { return v ? Int(*v) : Null(); }
  PgParams& Double(double v) { return Shortest(v); }
  // A float4 value sent as its own shortest text, so the server's ::real is exactly `v`.
  PgParams& Float(float v) { return Shortest(v); }
  PgParams& Bool(bool v) { return Add(v ? "t" : "f"); }
  PgParams& Text(std::string_view v) { return Add(std::string(v)); }
  PgParams& Null() {
    values_.emplace_back();
    return *this;
  }

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* pointers() const {
    ptrs_.clear();
    for (const auto& v : values_) ptrs_.push_back(v ? v->c_str() : nullptr);
    return ptrs_.data();
  }

 private:
  PgParams& Add(std::string v) {
    values_.emplace_back(std::move(v));
    return *this;
  }
  template <typename T>
  PgParams& Shortest(T v) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return Add(std::string(buf, r.ptr));
  }

  std::vector<std::optional<std::string>> values_;
  mutable std::vector<const char*> ptrs_;
};

// A successful result, read in text format.
class PgRows {
 public:
  explicit PgRows(PgResultPtr r) : r_(std::move(r)) {}

  int size() const { return PQntuples(r_.get()); }
  // Rows an INSERT/UPDATE/DELETE touched.
  int64_t affected() const { return ParseInt(PQcmdTuples(r_.get())); }
  std::string_view command_tag() const { return PQcmdStatus(r_.get()); }

  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::string str(int row, int col) const { return std::string(text(row, col)); }
  int64_t i64(int row, int col) const { return ParseInt(text(row, col)); }
  double f64(int row, int col) const { return Parse<double>(text(row, col)); }
  float f32(int row, int col) const { return Parse<float>(text(row, col)); }
  bool boolean(int row, int col) const { return text(row, col) == "t"; }
  std::optional<int64_t> opt_i64(int row, int col) const {
    return null(row, col) ? std::nullopt : std::optional<int64_t>(i64(row, col));
  }
  std::optional<std::string> opt_str(int row, int col) const {
    return null(row, col) ? std::nullopt : std::optional<std::string>(str(row, col));
  }

 private:
  static int64_t ParseInt(std::string_view t) { return Parse<int64_t>(t); }
  template <typename T>
  static T Parse(std::string_view t) {
    T v = 0;
    std::from_chars(t.data(), t.data() + t.size(), v);
    return v;
  }

  PgResultPtr r_;
};

// PostgreSQL's binary COPY format: a fixed header; per row a 16-bit field count, then per
// field a 32-bit byte length (-1 for NULL) and the value in network byte order; -1 ends it.
class PgBinaryCopy {
 public:
  void Header();
  void Trailer() { Put16(0xFFFF); }
  void Row(uint16_t fields) { Put16(fields); }
  void Int4(int32_t v) {
    Put32(4);
    Put32(static_cast<uint32_t>(v));
  }
  void Int8(int64_t v) {
    Put32(8);
    Put64(static_cast<uint64_t>(v));
  }
  void Float4(float v);
  void Float8(double v);
  void Text(std::string_view s) {
    Put32(static_cast<uint32_t>(s.size()));
    buf_.append(s);
  }
  void Null() { Put32(0xFFFFFFFF); }

  std::string& data() { return buf_; }
  void Reserve(size_t n) { buf_.reserve(n); }

 private:
  void Put16(uint16_t v);
  void Put32(uint32_t v);
  void Put64(uint64_t v);

  std::string buf_;
};

// Reads a stream in PostgreSQL's binary COPY format (as PgBinaryCopy writes it): the header,
// then row by row until the trailer. A stream that ends early or breaks the format reads as
// an error (status()), never past its end.
class PgBinaryCopyReader {
 public:
  explicit PgBinaryCopyReader(std::string_view data) : data_(data) {}
  // Checks the header; kInternal when it is not binary COPY's.
  Status Start();
  // The next row into fields(): false at the trailer, at the end, or on an error.
  bool Next();
  // The current row's fields: nullopt for NULL, else the value's bytes (network byte order).
  const std::vector<std::optional<std::string_view>>& fields() const { return fields_; }
  // Ok, or what was wrong with the stream.
  const Status& status() const { return status_; }

 private:
  bool Take(size_t n, std::string_view* out);
  bool Fail(std::string_view what);

  std::string_view data_;
  size_t pos_ = 0;
  std::vector<std::optional<std::string_view>> fields_;
  Status status_ = Status::Ok();
};

// One libpq connection and the statements prepared on it. Used by one thread at a time (the
// pool hands it out); `broken` marks a connection that must not go back to the pool.
class PgConn {
 public:
  explicit PgConn(PGconn* pg) : pg_(pg) {}
  ~PgConn() { PQfinish(pg_); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Connects with a 10 s timeout (the URL may override it); kTransient when it cannot.
  // `setup`: statements run once on the new session ("SET lock_timeout = ...").
  static Result<std::unique_ptr<PgConn>> Connect(const std::string& conninfo,
                                                 const std::string& setup = "");

  // Runs `sql` with `params`; prepares it first on this connection if it is named. With
  // `binary_results` the values come in binary format (read them with PgRows::text as bytes).
  Result<PgRows> Exec(const PgSql& sql, const PgParams& params = PgParams(),
                      bool binary_results = false);
  // Runs constant SQL without parameters (may hold several statements).
  Result<PgRows> Exec(const char* sql, std::string_view what = "exec");

  // One statement of a Pipeline: `params` may be null for none.
  struct Step {
    const PgSql* sql;
    const PgParams* params;
  };
  // Sends every statement at once and reads their answers in order: one round trip instead
  // of one per statement (libpq pipeline mode). The first error stops the rest (the server
  // skips them) and is returned; inside a transaction it aborts the transaction.
  Result<std::vector<PgRows>> Pipeline(std::span<const Step> steps);
  Result<std::vector<PgRows>> Pipeline(std::initializer_list<Step> steps) {
    return Pipeline(std::span<const Step>(steps.begin(), steps.size()));
  }

  // COPY ... FROM STDIN with `data`, a complete binary COPY stream (or a part of one, when
  // fed through CopyStart / CopyPut / CopyFinish).
  Status CopyIn(const char* copy_sql, std::string_view data);
  Status CopyStart(const char* copy_sql);
  Status CopyPut(std::string_view data);
  Status CopyFinish();

  // COPY (...) TO STDOUT: appends the whole stream to `out` (binary COPY's format when the
  // statement asks for FORMAT binary: read it with PgBinaryCopyReader). Rows come as the
  // server sends them, without a result of many small values to build and walk.
  Status CopyOut(const std::string& copy_sql, std::string* out);

  // The session's staging tables: created once per connection, outside any transaction
  // (a temp table created in a transaction that rolls back would vanish behind our back).
  Status EnsureTempTable(bool* ready, const char* create_sql);

  bool idle() const { return PQtransactionStatus(pg_) == PQTRANS_IDLE; }

  bool broken = false;
  // The SQLSTATE of the last failed statement on this connection ("" when it had none):
  // callers that treat one error specially test the code, never the message, which follows
  // the server's language (lc_messages).
  std::string last_sqlstate;
  bool cell_stage_ready = false;
  bool poi_stage_ready = false;
  bool walk_stage_ready = false;

 private:
  Result<PgRows> Check(PgResultPtr r, std::string_view what);
  Status Fail(const PGresult* r, std::string_view what);

  PGconn* const pg_;
  // Names of the statements prepared on this connection (compared by text).
  std::unordered_set<std::string_view> prepared_;
};

// BEGIN ... COMMIT; rolls back on destruction unless committed.
class PgTxn {
 public:
  explicit PgTxn(PgConn& c) : c_(c) {}
  PgTxn(const PgTxn&) = delete;
  PgTxn& operator=(const PgTxn&) = delete;
  ~PgTxn();
  Status Begin();
  // The transaction was begun by a BEGIN inside a Pipeline that succeeded.
  void MarkBegun() { open_ = true; }
  // The transaction was committed by a COMMIT inside a Pipeline that succeeded.
  void MarkCommitted() { open_ = false; }
  // kInternal when the server rolled the transaction back instead.
  Status Commit();
  // Rolls back now when the transaction is open (then it may begin again).
  Status Rollback();

 private:
  PgConn& c_;
  bool open_ = false;
};

class PgPool;

// A pooled connection, handed back to the pool when the lease dies.
class PgLease {
 public:
  PgLease(PgPool* pool, std::unique_ptr<PgConn> c) : pool_(pool), c_(std::move(c)) {}
  PgLease(PgLease&&) = default;
  PgLease& operator=(PgLease&&) = delete;
  ~PgLease();
  PgConn& operator*() { return *c_; }
  PgConn* operator->() { return c_.get(); }

 private:
  PgPool* pool_;
  std::unique_ptr<PgConn> c_;
};

// Connections to one database. Thread-safe. Connects lazily: a bad conninfo or an
// unreachable server surfaces from Acquire.
class PgPool {
 public:
  // Sessions get the lock_timeout and statement_timeout of `opts`.
  PgPool(std::string conninfo, const StoreOptions& opts);
  ~PgPool();

  // An idle connection, or a new one.
  Result<PgLease> Acquire();
  // A new connection, never an idle one (the retry after a broken pooled connection).
  Result<PgLease> AcquireFresh();

 private:
  friend class PgLease;
  void Return(std::unique_ptr<PgConn> c);

  const std::string conninfo_;
  const std::string session_setup_;  // "SET lock_timeout = ...; SET statement_timeout = ..."
  std::string conninfo_error_;       // set when conninfo_ does not parse
  std::mutex mu_;
  std::vector<std::unique_ptr<PgConn>> idle_;  // guarded by mu_
};

// fn(PgConn&) -> Result<T> on a pooled connection, in autocommit mode.
template <typename T, typename F>
Result<T> WithConn(PgPool& pool, F&& fn) {
  NBI_ASSIGN_OR_RETURN(PgLease lease, pool.Acquire());
  return fn(*lease);
}

// WithConn for idempotent reads: when the pooled connection turns out broken (the server
// restarted, the session was terminated), fn runs once more on a fresh connection. (A write
// is never retried so: whether it committed is unknown.)
template <typename T, typename F>
Result<T> WithReadConn(PgPool& pool, F&& fn) {
  {
    NBI_ASSIGN_OR_RETURN(PgLease lease, pool.Acquire());
    Result<T> r = fn(*lease);
    if (r.ok() || !lease->broken) return r;
  }  // the broken lease goes back first: the pool then drops its idle connections
  NBI_ASSIGN_OR_RETURN(PgLease fresh, pool.AcquireFresh());
  return fn(*fresh);
}

// fn(PgConn&) -> Result<T> inside one transaction, committed only when fn succeeds.
template <typename T, typename F>
Result<T> InTransaction(PgPool& pool, F&& fn) {
  NBI_ASSIGN_OR_RETURN(PgLease lease, pool.Acquire());
  PgConn& c = *lease;
  PgTxn txn(c);
  NBI_RETURN_IF_ERROR(txn.Begin());
  Result<T> r = fn(c);
  if (!r.ok()) return r;
  NBI_RETURN_IF_ERROR(txn.Commit());
  return r;
}

// "postgresql://user@host:port/db" for `conninfo` (a URL or key=value string); never the
// password.
std::string DescribeConninfo(const std::string& conninfo);

}  // namespace nbi
