// Test and benchmark hooks of the stores, kept off the storage interface (store/store.h): the
// fastest raw path into heat_cells (one binary COPY on PostgreSQL, one prepared insert per
// transaction on SQLite) into an empty table, for comparison with the checkpoint path, and
// emptying the table between runs.
//
// The nbi_store_testing library (CMakeLists.txt) compiles these and only tests/ and bench/ link
// it: the nearbyindex binary holds none of it (ctest testing_hooks_not_in_binary).
#pragma once

#include <cstdint>
#include <span>

#include "common/status.h"
#include "geo/geo.h"
#include "store/store.h"

namespace nbi {

class SqliteStore;
class PgStore;

// Writes the scores of cells begin .. begin+scores.size()-1 of `region` (model grocery).
// kInvalidArgument for a store of neither backend (a wrapping test store: pass the store it
// wraps).
Status RawInsertCells(CellStore* store, const GridRegion& region, int64_t begin,
                      std::span<const uint8_t> scores);
// Deletes every stored cell.
Status TruncateCells(CellStore* store);

// The backends' halves (store/sqlite/sqlite_testing.cc, store/postgres/pg_testing.cc): friends
// of their stores, so the hooks reach the connection pools without a public accessor.
struct StoreTesting {
  static Status RawInsertCells(SqliteStore& store, const GridRegion& region, int64_t begin,
                               std::span<const uint8_t> scores);
  static Status TruncateCells(SqliteStore& store);
  static Status RawInsertCells(PgStore& store, const GridRegion& region, int64_t begin,
                               std::span<const uint8_t> scores);
  static Status TruncateCells(PgStore& store);
};

}  // namespace nbi
