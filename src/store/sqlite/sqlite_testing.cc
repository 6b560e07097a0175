// SqliteStore's half of the test and benchmark hooks (store/testing.h); only the
// nbi_store_testing library compiles it.
#include <sqlite3.h>

#include <string>

#include "common/time_format.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_store.h"
#include "store/testing.h"

namespace nbi {

namespace {

constexpr const char* kRawInsertCell =
    "INSERT INTO heat_cells (lat, lng, score, grid_step, computed_at) VALUES (?, ?, ?, ?, ?)";
constexpr const char* kTruncateCells = "DELETE FROM heat_cells";

}  // namespace

Status StoreTesting::RawInsertCells(SqliteStore& store, const GridRegion& region, int64_t begin,
                                    std::span<const uint8_t> scores) {
  const std::string ts = FormatTimestamp(store.clock_->NowMs(), TimeStyle::kSqlUtc);
  return InWriteTxnStatus(*store.pool_, [&](SqliteConn& c) -> Status {
    NBI_ASSIGN_OR_RETURN(sqlite3_stmt * s, c.Prepare(kRawInsertCell));
    for (size_t k = 0; k < scores.size(); ++k) {
      LatLng at = region.CellAt(begin + static_cast<int64_t>(k));
      sqlite3_bind_double(s, 1, at.lat);
      sqlite3_bind_double(s, 2, at.lng);
      sqlite3_bind_int(s, 3, scores[k]);
      sqlite3_bind_double(s, 4, region.step());
      sqlite3_bind_text(s, 5, ts.data(), static_cast<int>(ts.size()), SQLITE_STATIC);
      int rc = sqlite3_step(s);
      if (rc != SQLITE_DONE) return SqlError(c.db(), rc, "raw insert");
      sqlite3_reset(s);
    }
    return Status::Ok();
  });
}

Status StoreTesting::TruncateCells(SqliteStore& store) {
  return InWriteTxnStatus(*store.pool_, [&](SqliteConn& c) { return c.Exec(kTruncateCells); });
}

}  // namespace nbi
