// The database is the truth (the reliability round of SPEC §9): what the engine says when the
// database it is given cannot be written.
#include <gtest/gtest.h>

#include <string>

#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using testing::Backend;

// Regression: a read-only standby as DATABASE_URL answered "cannot execute CREATE TABLE in a
// read-only transaction" with no hint. The message now names target_session_attrs and the
// primary. (A session with default_transaction_read_only stands in for the standby: the
// server answers both with the same SQLSTATE 25006.)
TEST(ReadOnlyDatabase, MigrateNamesThePrimaryAndTargetSessionAttrs) {
  NBI_REQUIRE_BACKEND(Backend::kPostgres);
  testing::TempDir dir;
  const std::string url =
      testing::FreshStoreUrl(Backend::kPostgres, dir) + "%20-cdefault_transaction_read_only%3Don";
  std::string out;
  const int rc =
      testing::RunCommand("env DATABASE_URL='" + url + "' NBI_TEST_PG_URL= DB_WAIT_TIMEOUT=1s " +
                              testing::BinaryPath() + " migrate 2>&1",
                          &out);
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("read-only"), std::string::npos) << out;
  EXPECT_NE(out.find("target_session_attrs=read-write"), std::string::npos) << out;
  EXPECT_NE(out.find("primary"), std::string::npos) << out;
}

}  // namespace
}  // namespace nbi
