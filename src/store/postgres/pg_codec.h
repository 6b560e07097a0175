// Codecs between the schema's rows and the store's types: result rows -> Job / City (column
// orders as in pg_sql.h), cells -> heat_cells' binary COPY rows, and a chunk of cells -> the
// rectangles kDeleteChunkCells takes. Internal to src/store/postgres.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "geo/geo.h"
#include "score/model.h"
#include "store/postgres/pg_conn.h"
#include "store/store.h"

namespace nbi {

// A row in NBI_JOB_COLUMNS order, from column `col` on. Unknown statuses read as failed (not
// runnable); metadata that is not a JSON object reads as {}.
Job ReadJob(const PgRows& r, int row, int col = 0);
// Reads a row of NBI_PART_COLUMNS, from column `col` on.
inline constexpr int kPgPartColumns = 10;  // the number of NBI_PART_COLUMNS
JobPart ReadPart(const PgRows& r, int row, int col = 0);
// A row in NBI_CITY_COLUMNS order.
City ReadCity(const PgRows& r, int row);

// Appends cells begin .. begin+scores.size()-1 of `region` in heat_cells' COPY column order
// (lat, lng, score, grid_step, city_id, computed_at, model). Stored coordinates are the
// floats of the grid coordinates, computed from integer indices exactly as GridRegion::CellAt
// does.
void EncodeCells(const GridRegion& region, int64_t begin, std::span<const uint8_t> scores,
                 std::optional<int32_t> city_id, int64_t now_ms, HeatModel model,
                 PgBinaryCopy* out);

// A bigint / float8 value of a binary-format result (network byte order); a value of another
// size (never sent for these types) reads as 0.
int64_t PgBinaryInt8(std::string_view v);
double PgBinaryFloat8(std::string_view v);

// A bigint[] (or int[]) parameter in text form: {1,2,3}.
std::string PgIdArray(const std::vector<int64_t>& ids);

// Inclusive float ranges of one rectangle of cells; empty when lat_lo > lat_hi.
struct CellRect {
  float lat_lo = 1, lat_hi = 0, lng_lo = 1, lng_hi = 0;
};

// Cells [begin, end) of `g` as at most three rectangles (see kDeleteChunkCells).
std::array<CellRect, 3> ChunkRects(const GridRegion& g, int64_t begin, int64_t end);

}  // namespace nbi
