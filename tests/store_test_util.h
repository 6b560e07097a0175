// Opening real stores for tests: a SQLite file in a temp dir, or a fresh schema on the
// PostgreSQL server named by NBI_TEST_PG_URL (scripts/test.sh starts a throwaway one).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "store/store.h"
#include "test_util.h"

namespace nbi::testing {

enum class Backend { kSqlite, kPostgres };
std::string BackendName(Backend b);

// The PostgreSQL server for tests, or nullopt (tests then GTEST_SKIP saying why). When
// NBI_REQUIRE_PG=1 (CI) a missing server is a failure instead.
std::optional<std::string> TestPgUrl();

// A database URL for a fresh, empty store of the backend: a new SQLite file in `dir`, or a
// new PostgreSQL schema (search_path set through the URL's options).
std::string FreshStoreUrl(Backend b, const TempDir& dir);

// Opens (and migrates) a fresh store of the backend; *url receives its URL.
Result<std::unique_ptr<Store>> OpenFreshStore(Backend b, const TempDir& dir, Clock* clock,
                                              std::string* url);

// Runs raw SQL (setup of legacy schemas etc.) on the store behind `url`.
void ExecSql(const std::string& url, const std::string& sql);

// Moves the run_at of job `job_id` (nullopt: of every job) to `run_at_ms`, and the due time of
// its parts that wait outside the claim (a delayed job, a retry's backoff) with it, as the
// store keeps them: on PostgreSQL in its parts, on SQLite in the job.
void SetRunAt(const std::string& url, std::optional<int64_t> job_id, int64_t run_at_ms);

// Runs raw SQL (possibly several statements) on the PostgreSQL store behind `url`, in one
// session that then ends (a transaction left open is rolled back first): the first column of
// the last statement's rows, one per line.
std::string QuerySql(const std::string& url, const std::string& sql);

// Another session holding a lock until destroyed: on SQLite the write lock (BEGIN
// IMMEDIATE), on PostgreSQL the row of job `job_id` (SELECT ... FOR UPDATE).
class HeldLock {
 public:
  HeldLock(const std::string& url, int64_t job_id);
  ~HeldLock();
  HeldLock(const HeldLock&) = delete;
  HeldLock& operator=(const HeldLock&) = delete;

 private:
  void* sqlite_ = nullptr;  // sqlite3*
  void* pg_ = nullptr;      // PGconn*
};

}  // namespace nbi::testing

// Skips (or fails in CI) a PostgreSQL test when no server is available.
#define NBI_REQUIRE_BACKEND(b)                                                                     \
  do {                                                                                             \
    if ((b) == ::nbi::testing::Backend::kPostgres && !::nbi::testing::TestPgUrl()) {               \
      if (std::getenv("NBI_REQUIRE_PG"))                                                           \
        FAIL() << "NBI_REQUIRE_PG set but NBI_TEST_PG_URL is not";                                 \
      GTEST_SKIP() << "PostgreSQL test skipped: NBI_TEST_PG_URL is not set (run scripts/test.sh)"; \
    }                                                                                              \
  } while (0)

namespace nbi::testing {
inline void PrintTo(Backend b, std::ostream* os) { *os << BackendName(b); }
}  // namespace nbi::testing
