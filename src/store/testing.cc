// The test and benchmark hooks (store/testing.h): each call goes to its backend's half.
#include "store/testing.h"

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace nbi {

Status RawInsertCells(CellStore* store, const GridRegion& region, int64_t begin,
                      std::span<const uint8_t> scores) {
  if (auto* s = dynamic_cast<SqliteStore*>(store)) {
    return StoreTesting::RawInsertCells(*s, region, begin, scores);
  }
  if (auto* s = dynamic_cast<PgStore*>(store)) {
    return StoreTesting::RawInsertCells(*s, region, begin, scores);
  }
  return Status::Invalid("RawInsertCells: not a SQLite or PostgreSQL store");
}

Status TruncateCells(CellStore* store) {
  if (auto* s = dynamic_cast<SqliteStore*>(store)) return StoreTesting::TruncateCells(*s);
  if (auto* s = dynamic_cast<PgStore*>(store)) return StoreTesting::TruncateCells(*s);
  return Status::Invalid("TruncateCells: not a SQLite or PostgreSQL store");
}

}  // namespace nbi
