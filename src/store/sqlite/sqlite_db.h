// SQLite driver plumbing for the store: the connection (open, pragmas, busy timeout,
// prepared-statement cache), the statement binder/reader, the error mapping, the RAII
// write transaction and the connection pool. Nothing here knows the schema beyond
// sqlite_sql.h's connection statements.
//
// Only files in src/store/sqlite/ include this header (it pulls in <sqlite3.h>).
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"

namespace nbi {

// Maps a SQLite result code to a Status. kTransient for what passes or an operator repairs
// while the program runs: BUSY/LOCKED (another writer), FULL (disk full), READONLY (file or
// directory turned read-only, file moved or deleted), IOERR, CANTOPEN and PROTOCOL.
// UNIQUE/PRIMARY KEY violations -> kConflict; anything else -> kInternal. `db` (may be null)
// supplies the message.
Status SqlError(sqlite3* db, int rc, const char* what);

struct SqliteOpenOptions {
  bool create = true;       // create the file when missing (only the first open should)
  bool query_only = false;  // refuse writes on this connection (the reader pool)
  int busy_timeout_ms = 30'000;
};

// One sqlite3 handle (opened NOMUTEX: used by one thread at a time) with its cache of
// prepared statements.
class SqliteConn {
 public:
  // Opens the file, sets extended result codes, the busy timeout and the connection pragmas
  // (WAL ...). When it cannot be opened: kInvalidArgument with `create` (a wrong path),
  // kTransient without (the file was there and is gone).
  static Result<std::unique_ptr<SqliteConn>> Open(const std::string& path,
                                                  const SqliteOpenOptions& opts = {});
  ~SqliteConn();
  SqliteConn(const SqliteConn&) = delete;
  SqliteConn& operator=(const SqliteConn&) = delete;

  sqlite3* db() const { return db_; }
  // The statement for a SQL constant (sqlite_sql.h), prepared once per connection and cached
  // by the constant's address; returned reset and unbound.
  Result<sqlite3_stmt*> Prepare(const char* sql);
  // Runs one or more statements without results (sqlite3_exec).
  Status Exec(const char* sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int changes() const { return sqlite3_changes(db_); }
  // True while an explicit transaction (BEGIN) is open.
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  // Resets every statement left mid-result. Such a statement keeps a read transaction (an
  // old WAL snapshot) open; the next BEGIN IMMEDIATE would then fail at once with
  // SQLITE_BUSY_SNAPSHOT, which no busy timeout resolves.
  void ResetBusyStatements();

 private:
  SqliteConn() = default;
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// Binds parameters in order and reads columns of one prepared statement (borrowed from the
// connection's cache).
class SqliteStmt {
 public:
  SqliteStmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}

  // ---- binding, in parameter order
  SqliteStmt& Int(int64_t v) {
    sqlite3_bind_int64(s_, next_++, v);
    return *this;
  }
  SqliteStmt& Dbl(double v) {
    sqlite3_bind_double(s_, next_++, v);
    return *this;
  }
  SqliteStmt& Str(const std::string& v) {  // copied (SQLITE_TRANSIENT)
    sqlite3_bind_text(s_, next_++, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqliteStmt& Null() {
    sqlite3_bind_null(s_, next_++);
    return *this;
  }
  SqliteStmt& OptStr(const std::optional<std::string>& v) { return v ? Str(*v) : Null(); }
  SqliteStmt& OptInt(const std::optional<int64_t>& v) { return v ? Int(*v) : Null(); }
  SqliteStmt& OptDbl(const std::optional<double>& v) { return v ? Dbl(*v) : Null(); }

  // ---- running
  // SQLITE_ROW -> true, SQLITE_DONE -> false.
  Result<bool> Step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqlError(db_, rc, "step");
  }
  // Steps once, ignoring any row (statements without results).
  Status Run() { return Step().status(); }
  // Calls f() on each remaining row.
  template <typename F>
  Status Rows(F&& f) {
    for (;;) {
      NBI_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::Ok();
      f();
    }
  }
  // Steps to the end (so a RETURNING statement's write completes before COMMIT).
  Status Drain() {
    for (;;) {
      NBI_ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return Status::Ok();
    }
  }
  // Ends the current execution (bindings are kept).
  void Reset() { sqlite3_reset(s_); }

  // ---- reading the current row
  int64_t I(int c) const { return sqlite3_column_int64(s_, c); }
  double D(int c) const { return sqlite3_column_double(s_, c); }
  bool IsNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string S(int c) const {
    auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return t ? std::string(t, sqlite3_column_bytes(s_, c)) : std::string();
  }
  const char* C(int c) const { return reinterpret_cast<const char*>(sqlite3_column_text(s_, c)); }

  sqlite3* db() const { return db_; }
  sqlite3_stmt* raw() const { return s_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
  int next_ = 1;
};

// Prepares (from the cache) and wraps a SQL constant.
Result<SqliteStmt> Query(SqliteConn& c, const char* sql);
// The first column of the first row of a SQL constant that returns one (a count, a version).
Result<int64_t> QueryInt(SqliteConn& c, const char* sql);

// A write transaction: BEGIN IMMEDIATE in Begin(), COMMIT in Commit(), ROLLBACK in the
// destructor unless committed (so early returns and exceptions roll back). Movable, not
// copyable; the connection must outlive it.
class Transaction {
 public:
  static Result<Transaction> Begin(SqliteConn& c);
  Transaction(Transaction&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  ~Transaction();

  // COMMIT. On failure the transaction is still open and the destructor rolls it back.
  Status Commit();

 private:
  explicit Transaction(SqliteConn* c) : c_(c) {}
  SqliteConn* c_;  // null once committed or moved from
};

// A pool of connections to one file. Take() hands out an idle connection or opens a new
// one; the Lease gives it back on destruction. Thread-safe.
//
// Take() first checks that the path still names the file the pool opened first: a file
// deleted or replaced under a running program is kTransient, never written into unlinked
// (a pooled handle would go on writing to the deleted inode) nor silently recreated empty.
//
// A returned connection first has its unfinished statements reset (no stale read snapshot
// is pooled). A connection still inside a transaction is never reused: it is closed (which
// rolls the transaction back) instead of going back to the idle list.
class SqlitePool {
 public:
  class Lease {
   public:
    Lease(SqlitePool* pool, std::unique_ptr<SqliteConn> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (c_) pool_->Give(std::move(c_));
    }
    SqliteConn* operator->() const { return c_.get(); }
    SqliteConn& operator*() const { return *c_; }

   private:
    SqlitePool* pool_;
    std::unique_ptr<SqliteConn> c_;
  };

  explicit SqlitePool(std::string path, SqliteOpenOptions opts = {}, size_t max_idle = 16)
      : path_(std::move(path)), max_idle_(max_idle), opts_(opts) {}

  Result<Lease> Take();
  // From now on new connections never create the file (call once the schema exists).
  void StopCreating();
  // kTransient when the path no longer names the file this pool opened first.
  Status CheckFile();

 private:
  void Give(std::unique_ptr<SqliteConn> c);

  const std::string path_;
  const size_t max_idle_;
  std::mutex mu_;
  SqliteOpenOptions opts_;                         // guarded by mu_
  bool have_file_ = false;                         // guarded by mu_
  uint64_t file_dev_ = 0, file_ino_ = 0;           // guarded by mu_
  std::vector<std::unique_ptr<SqliteConn>> idle_;  // guarded by mu_
};

// Runs fn(SqliteConn&) -> Result<T> on a pooled connection (reads: autocommit).
template <typename T, typename F>
Result<T> WithConn(SqlitePool& pool, F&& fn) {
  NBI_ASSIGN_OR_RETURN(SqlitePool::Lease conn, pool.Take());
  return fn(*conn);
}

// Runs fn(SqliteConn&) -> Result<T> inside BEGIN IMMEDIATE ... COMMIT on a pooled
// connection; rolls back when fn fails (or throws) or COMMIT fails.
template <typename T, typename F>
Result<T> InWriteTxn(SqlitePool& pool, F&& fn) {
  NBI_ASSIGN_OR_RETURN(SqlitePool::Lease conn, pool.Take());
  NBI_ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*conn));
  Result<T> r = fn(*conn);
  if (!r.ok()) return r;  // ~Transaction rolls back
  NBI_RETURN_IF_ERROR(txn.Commit());
  return r;
}

// InWriteTxn for fn(SqliteConn&) -> Status.
template <typename F>
Status InWriteTxnStatus(SqlitePool& pool, F&& fn) {
  Result<bool> r = InWriteTxn<bool>(pool, [&](SqliteConn& c) -> Result<bool> {
    NBI_RETURN_IF_ERROR(fn(c));
    return true;
  });
  return r.status();
}

}  // namespace nbi
