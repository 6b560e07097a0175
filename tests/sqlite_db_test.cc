// The SQLite driver plumbing (src/store/sqlite/sqlite_db.h): the RAII write transaction and
// the pool's refusal to reuse a connection that is still inside a transaction.
#include "store/sqlite/sqlite_db.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "test_util.h"

namespace nbi {
namespace {

class SqliteDb : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("db.sqlite");
    auto c = SqliteConn::Open(path_);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    ASSERT_TRUE((*c)->Exec("CREATE TABLE t (v INTEGER)").ok());
  }
  int64_t Rows(SqlitePool& pool) {
    auto lease = pool.Take();
    EXPECT_TRUE(lease.ok());
    int64_t n = -1;
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2((*lease)->db(), "SELECT COUNT(*) FROM t", -1, &st, nullptr);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
  }
  // True when another connection can take the write lock at once (no busy wait).
  bool WriteLockFree() {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE; ROLLBACK;", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc == SQLITE_OK;
  }

  testing::TempDir dir_;
  std::string path_;
};

TEST_F(SqliteDb, TransactionRollsBackUnlessCommitted) {
  SqlitePool pool(path_);
  {
    auto lease = pool.Take();
    ASSERT_TRUE(lease.ok());
    auto txn = Transaction::Begin(**lease);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*lease)->Exec("INSERT INTO t VALUES (1)").ok());
    EXPECT_TRUE((*lease)->in_transaction());
  }  // no Commit: the destructor rolls back
  EXPECT_EQ(Rows(pool), 0);
  EXPECT_TRUE(WriteLockFree());
  {
    auto lease = pool.Take();
    auto txn = Transaction::Begin(**lease);
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE((*lease)->Exec("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(txn->Commit().ok());
    EXPECT_FALSE((*lease)->in_transaction());
  }
  EXPECT_EQ(Rows(pool), 1);
}

TEST_F(SqliteDb, PoolNeverReusesAConnectionInsideATransaction) {
  SqlitePool pool(path_);
  sqlite3* leaked = nullptr;
  {
    auto lease = pool.Take();
    ASSERT_TRUE(lease.ok());
    leaked = (*lease)->db();
    // A transaction opened by hand and never ended (a bug in a caller).
    ASSERT_TRUE((*lease)->Exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (3)").ok());
  }
  // The connection was closed, not pooled: its write lock and its insert are gone.
  EXPECT_TRUE(WriteLockFree());
  auto next = pool.Take();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE((*next)->in_transaction());
  EXPECT_EQ(Rows(pool), 0);
  (void)leaked;
}

}  // namespace
}  // namespace nbi
