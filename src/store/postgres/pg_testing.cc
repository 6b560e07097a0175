// PgStore's half of the test and benchmark hooks (store/testing.h); only the nbi_store_testing
// library compiles it.
#include <algorithm>
#include <optional>

#include "store/postgres/pg_codec.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"
#include "store/testing.h"

namespace nbi {

Status StoreTesting::RawInsertCells(PgStore& store, const GridRegion& region, int64_t begin,
                                    std::span<const uint8_t> scores) {
  const int64_t count = static_cast<int64_t>(scores.size());
  if (begin < 0 || begin + count > region.cell_count()) {
    return Status::Invalid("RawInsertCells: cells outside the region");
  }
  const int64_t now = store.clock_->NowMs();
  NBI_ASSIGN_OR_RETURN(PgLease lease, store.pool_->Acquire());
  PgConn& c = *lease;
  // One COPY (its own transaction), streamed in slices so memory stays flat.
  constexpr int64_t kSliceCells = 1 << 16;
  NBI_RETURN_IF_ERROR(c.CopyStart(kCopyCells));
  PgBinaryCopy copy;
  copy.Reserve(kSliceCells * 54 + 32);
  copy.Header();
  for (int64_t k = 0; k < count; k += kSliceCells) {
    const int64_t n = std::min(kSliceCells, count - k);
    EncodeCells(region, begin + k, scores.subspan(k, n), std::nullopt, now, HeatModel::kGrocery,
                &copy);
    if (k + n == count) copy.Trailer();
    NBI_RETURN_IF_ERROR(c.CopyPut(copy.data()));
    copy.data().clear();
  }
  if (count == 0) {
    copy.Trailer();
    NBI_RETURN_IF_ERROR(c.CopyPut(copy.data()));
  }
  return c.CopyFinish();
}

Status StoreTesting::TruncateCells(PgStore& store) {
  auto done = WithConn<bool>(*store.pool_, [&](PgConn& c) -> Result<bool> {
    NBI_RETURN_IF_ERROR(c.Exec("TRUNCATE heat_cells", "truncate").status());
    return true;
  });
  return done.status();
}

}  // namespace nbi
