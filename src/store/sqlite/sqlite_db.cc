#include "store/sqlite/sqlite_db.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include "store/sqlite/sqlite_sql.h"

namespace nbi {

Status SqlError(sqlite3* db, int rc, const char* what) {
  std::string msg =
      fmt::format("sqlite {}: {}", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return Status::Transient(msg);
    default:
      break;
  }
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return Status::Conflict(msg);
  return Status::Internal(msg);
}

// ------------------------------------------------------------------ connection
Result<std::unique_ptr<SqliteConn>> SqliteConn::Open(const std::string& path,
                                                     const SqliteOpenOptions& opts) {
  std::unique_ptr<SqliteConn> c(new SqliteConn());
  const int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (opts.create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &c->db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = fmt::format("cannot open SQLite database {}: {}", path,
                                  c->db_ ? sqlite3_errmsg(c->db_) : sqlite3_errstr(rc));
    return opts.create ? Status::Invalid(msg) : Status::Transient(msg);
  }
  sqlite3_extended_result_codes(c->db_, 1);
  sqlite3_busy_timeout(c->db_, opts.busy_timeout_ms);
  NBI_RETURN_IF_ERROR(c->Exec(sql::kConnectionPragmas));
  if (opts.query_only) NBI_RETURN_IF_ERROR(c->Exec(sql::kQueryOnly));
  return c;
}

SqliteConn::~SqliteConn() {
  for (auto& [_, s] : cache_) sqlite3_finalize(s);
  if (db_) sqlite3_close_v2(db_);
}

Result<sqlite3_stmt*> SqliteConn::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    sqlite3_reset(it->second);
    sqlite3_clear_bindings(it->second);
    return it->second;
  }
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql, -1, &s, nullptr);
  if (rc != SQLITE_OK) return SqlError(db_, rc, "prepare");
  cache_[sql] = s;
  return s;
}

Status SqliteConn::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    Status s = SqlError(db_, rc, err ? err : "exec");
    sqlite3_free(err);
    return s;
  }
  return Status::Ok();
}

void SqliteConn::ResetBusyStatements() {
  for (sqlite3_stmt* st = sqlite3_next_stmt(db_, nullptr); st; st = sqlite3_next_stmt(db_, st)) {
    if (sqlite3_stmt_busy(st)) sqlite3_reset(st);
  }
}

Result<SqliteStmt> Query(SqliteConn& c, const char* sql) {
  NBI_ASSIGN_OR_RETURN(sqlite3_stmt * s, c.Prepare(sql));
  return SqliteStmt(c.db(), s);
}

Result<int64_t> QueryInt(SqliteConn& c, const char* sql) {
  NBI_ASSIGN_OR_RETURN(SqliteStmt q, Query(c, sql));
  NBI_ASSIGN_OR_RETURN(bool row, q.Step());
  if (!row) return Status::Internal(fmt::format("no row from: {}", sql));
  const int64_t v = q.I(0);
  q.Reset();
  return v;
}

// ------------------------------------------------------------------ transaction
Result<Transaction> Transaction::Begin(SqliteConn& c) {
  NBI_RETURN_IF_ERROR(c.Exec(sql::kBeginImmediate));
  return Transaction(&c);
}

Transaction::~Transaction() {
  // Straight to the C API (no Status, no allocation): a destructor must not throw. An error
  // is ignored: the pool discards a connection left inside a transaction.
  if (c_) sqlite3_exec(c_->db(), sql::kRollback, nullptr, nullptr, nullptr);
}

Status Transaction::Commit() {
  if (!c_) return Status::Internal("commit of a finished transaction");
  NBI_RETURN_IF_ERROR(c_->Exec(sql::kCommit));
  c_ = nullptr;
  return Status::Ok();
}

// ------------------------------------------------------------------ pool
Status SqlitePool::CheckFile() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    std::lock_guard<std::mutex> l(mu_);
    if (!have_file_) return Status::Ok();  // not opened yet: Open decides
    return Status::Transient(fmt::format("the SQLite database {} is gone", path_));
  }
  std::lock_guard<std::mutex> l(mu_);
  if (!have_file_) return Status::Ok();
  if (st.st_dev != file_dev_ || st.st_ino != file_ino_) {
    return Status::Transient(
        fmt::format("the SQLite database {} was replaced by another file", path_));
  }
  return Status::Ok();
}

void SqlitePool::StopCreating() {
  std::lock_guard<std::mutex> l(mu_);
  opts_.create = false;
}

Result<SqlitePool::Lease> SqlitePool::Take() {
  NBI_RETURN_IF_ERROR(CheckFile());
  SqliteOpenOptions opts;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
    opts = opts_;
  }
  NBI_ASSIGN_OR_RETURN(auto c, SqliteConn::Open(path_, opts));
  struct stat st {};
  std::lock_guard<std::mutex> l(mu_);
  if (!have_file_ && ::stat(path_.c_str(), &st) == 0) {
    have_file_ = true;
    file_dev_ = st.st_dev;
    file_ino_ = st.st_ino;
  }
  return Lease(this, std::move(c));
}

void SqlitePool::Give(std::unique_ptr<SqliteConn> c) {
  c->ResetBusyStatements();
  // Still inside a transaction (a missed COMMIT/ROLLBACK, or a ROLLBACK that failed): never
  // hand it to the next caller, whose statements would run in this transaction. Closing the
  // handle rolls it back.
  if (c->in_transaction()) return;
  std::lock_guard<std::mutex> l(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(c));
}

}  // namespace nbi
