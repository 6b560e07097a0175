#include "store/sqlite/sqlite_db.h"

#include <fmt/format.h>

#include "store/sqlite/sqlite_sql.h"

namespace nbi {

namespace {
// How long a connection waits for another writer's lock before SQLITE_BUSY (kTransient).
constexpr int kBusyTimeoutMs = 30000;
}  // namespace

Status SqlError(sqlite3* db, int rc, const char* what) {
  std::string msg =
      fmt::format("sqlite {}: {}", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Transient(msg);
  if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return Status::Conflict(msg);
  return Status::Internal(msg);
}

// ------------------------------------------------------------------ connection
Result<std::unique_ptr<SqliteConn>> SqliteConn::Open(const std::string& path) {
  std::unique_ptr<SqliteConn> c(new SqliteConn());
  int rc =
      sqlite3_open_v2(path.c_str(), &c->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    return Status::Invalid(fmt::format("cannot open SQLite database {}: {}", path,
                                       c->db_ ? sqlite3_errmsg(c->db_) : sqlite3_errstr(rc)));
  }
  sqlite3_extended_result_codes(c->db_, 1);
  sqlite3_busy_timeout(c->db_, kBusyTimeoutMs);
  NBI_RETURN_IF_ERROR(c->Exec(sql::kConnectionPragmas));
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
Result<SqlitePool::Lease> SqlitePool::Take() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  NBI_ASSIGN_OR_RETURN(auto c, SqliteConn::Open(path_));
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
