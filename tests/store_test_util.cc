#include "store_test_util.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace nbi::testing {

std::string BackendName(Backend b) { return b == Backend::kSqlite ? "Sqlite" : "Postgres"; }

std::optional<std::string> TestPgUrl() {
  const char* u = std::getenv("NBI_TEST_PG_URL");
  if (u && *u) return std::string(u);
  return std::nullopt;
}

namespace {
void PgExec(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("connect " + url + ": " + e);
  }
  PGresult* r = PQexec(c, sql.c_str());
  auto st = PQresultStatus(r);
  std::string e = PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error("sql: " + e);
}
}  // namespace

std::string FreshStoreUrl(Backend b, const TempDir& dir) {
  static std::atomic<int> counter{0};
  if (b == Backend::kSqlite)
    return "sqlite:" + dir.File("store" + std::to_string(counter++) + ".db");
  std::string base = *TestPgUrl();
  std::string schema = "t" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  PgExec(base, "DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema);
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
}

Result<std::unique_ptr<Store>> OpenFreshStore(Backend b, const TempDir& dir, Clock* clock,
                                              std::string* url) {
  *url = FreshStoreUrl(b, dir);
  return OpenStore(*url, clock);
}

void ExecSql(const std::string& url, const std::string& sql) {
  if (url.rfind("sqlite:", 0) == 0) {
    sqlite3* db = nullptr;
    if (sqlite3_open(url.substr(7).c_str(), &db) != SQLITE_OK) throw std::runtime_error("open");
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string e = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error("sql: " + e);
    return;
  }
  PgExec(url, sql);
}

void SetRunAt(const std::string& url, std::optional<int64_t> job_id, int64_t run_at_ms) {
  const std::string at = std::to_string(run_at_ms);
  const std::string id = job_id ? std::to_string(*job_id) : "";
  if (url.rfind("sqlite:", 0) == 0) {
    ExecSql(url, "UPDATE jobs SET run_at_ms = " + at + ", due_ms = CASE WHEN due_ms IS NULL " +
                     "THEN NULL ELSE " + at + " END" + (job_id ? " WHERE id = " + id : ""));
    return;
  }
  ExecSql(url, "UPDATE jobs SET run_at_ms = " + at + (job_id ? " WHERE id = " + id : "") +
                   "; UPDATE job_parts SET due_ms = " + at + " WHERE due_ms IS NOT NULL" +
                   (job_id ? " AND job_id = " + id : ""));
}

std::string QuerySql(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("connect " + url + ": " + e);
  }
  PGresult* r = PQexec(c, sql.c_str());
  std::string out, e = PQerrorMessage(c);
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  for (int i = 0; ok && i < PQntuples(r); ++i) {
    if (i > 0) out += '\n';
    out += PQgetvalue(r, i, 0);
  }
  PQclear(r);
  // An open transaction is rolled back before the session ends: the server would do so only
  // once it has processed the disconnect, holding its row locks until then.
  if (PQtransactionStatus(c) != PQTRANS_IDLE) PQclear(PQexec(c, "ROLLBACK"));
  PQfinish(c);
  if (!ok) throw std::runtime_error("sql: " + e);
  return out;
}

HeldLock::HeldLock(const std::string& url, int64_t job_id) {
  if (url.rfind("sqlite:", 0) == 0) {
    sqlite3* db = nullptr;
    if (sqlite3_open(url.substr(7).c_str(), &db) != SQLITE_OK ||
        sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      throw std::runtime_error("cannot take the SQLite write lock");
    }
    sqlite_ = db;
    return;
  }
  PGconn* c = PQconnectdb(url.c_str());
  const std::string sql =
      "BEGIN; SELECT id FROM jobs WHERE id = " + std::to_string(job_id) + " FOR UPDATE";
  PGresult* r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql.c_str()) : nullptr;
  const bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
  PQclear(r);
  if (!ok) {
    PQfinish(c);
    throw std::runtime_error("cannot lock the job's row");
  }
  pg_ = c;
}

HeldLock::~HeldLock() {
  if (sqlite_) {
    sqlite3_exec(static_cast<sqlite3*>(sqlite_), "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(static_cast<sqlite3*>(sqlite_));
  }
  if (pg_) {
    PQclear(PQexec(static_cast<PGconn*>(pg_), "ROLLBACK"));
    PQfinish(static_cast<PGconn*>(pg_));
  }
}

}  // namespace nbi::testing
