// Row and COPY codecs of the PostgreSQL store. See pg_codec.h.
#include "store/postgres/pg_codec.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace nbi {

namespace {
// Binary timestamps count microseconds from 2000-01-01 00:00:00.
constexpr int64_t kPgEpochUnixMs = 946'684'800'000;
}  // namespace

Job ReadJob(const PgRows& r, int row, int c) {
  Job j;
  j.id = r.i64(row, c + 0);
  j.type = r.str(row, c + 1);
  // The seed app's databases hold only the statuses we know; anything else is not runnable.
  j.status = ParseJobStatus(r.text(row, c + 2)).value_or(JobStatus::kFailed);
  j.city_id = r.opt_i64(row, c + 3);
  j.progress = r.null(row, c + 4) ? 0 : static_cast<int>(r.i64(row, c + 4));
  j.total_items = r.null(row, c + 5) ? 0 : r.i64(row, c + 5);
  j.error = r.opt_str(row, c + 6);
  if (!r.null(row, c + 7)) {
    j.metadata = nlohmann::json::parse(r.text(row, c + 7), nullptr, /*allow_exceptions=*/false);
  }
  if (j.metadata.is_discarded() || !j.metadata.is_object()) {
    j.metadata = nlohmann::json::object();
  }
  j.created_at_ms = r.opt_i64(row, c + 8).value_or(0);
  j.started_at_ms = r.opt_i64(row, c + 9);
  j.completed_at_ms = r.opt_i64(row, c + 10);
  j.attempts = static_cast<int>(r.i64(row, c + 11));
  j.max_attempts = static_cast<int>(r.i64(row, c + 12));
  j.priority = static_cast<int>(r.i64(row, c + 13));
  j.run_at_ms = r.i64(row, c + 14);
  j.heartbeat_at_ms = r.opt_i64(row, c + 15);
  j.locked_by = r.opt_str(row, c + 16);
  j.cancel_requested = r.boolean(row, c + 17);
  j.part_count = static_cast<int>(r.i64(row, c + 18));
  return j;
}

JobPart ReadPart(const PgRows& r, int row, int c) {
  JobPart p;
  p.job_id = r.i64(row, c + 0);
  p.part = static_cast<int>(r.i64(row, c + 1));
  p.begin = r.i64(row, c + 2);
  p.end = r.i64(row, c + 3);
  p.next = r.i64(row, c + 4);
  p.status = ParsePartStatus(r.text(row, c + 5)).value_or(PartStatus::kPending);
  p.attempts = static_cast<int>(r.i64(row, c + 6));
  p.locked_by = r.opt_str(row, c + 7);
  p.heartbeat_at_ms = r.opt_i64(row, c + 8);
  p.claimed_index = r.opt_i64(row, c + 9);
  return p;
}

City ReadCity(const PgRows& r, int row) {
  return City{r.i64(row, 0), r.str(row, 1), r.str(row, 2), r.str(row, 3),
              BBox{r.f64(row, 4), r.f64(row, 5), r.f64(row, 6), r.f64(row, 7)}};
}

void EncodeCells(const GridRegion& region, int64_t begin, std::span<const uint8_t> scores,
                 std::optional<int32_t> city_id, int64_t now_ms, HeatModel model,
                 PgBinaryCopy* out) {
  const std::string_view model_id = HeatModelId(model);
  const float step = static_cast<float>(region.step());
  const int64_t computed_at_us = (now_ms - kPgEpochUnixMs) * 1000;
  const int64_t cols = region.cols();
  int64_t row = begin / cols, col = begin % cols;
  float lat = static_cast<float>(region.LatOfRow(region.first_row() + row));
  for (uint8_t score : scores) {
    out->Row(7);
    out->Float4(lat);
    out->Float4(static_cast<float>(region.LngOfCol(region.first_col() + col)));
    out->Int4(score);
    out->Float4(step);
    if (city_id) {
      out->Int4(*city_id);
    } else {
      out->Null();
    }
    out->Int8(computed_at_us);
    out->Text(model_id);
    if (++col == cols) {
      col = 0;
      ++row;
      lat = static_cast<float>(region.LatOfRow(region.first_row() + row));
    }
  }
}

int64_t PgBinaryInt8(std::string_view v) {
  if (v.size() != 8) return 0;
  uint64_t bits = 0;
  for (unsigned char byte : v) bits = (bits << 8) | byte;
  return static_cast<int64_t>(bits);
}

double PgBinaryFloat8(std::string_view v) {
  if (v.size() != 8) return 0;
  const uint64_t bits = static_cast<uint64_t>(PgBinaryInt8(v));
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// A bigint[] parameter in text form: {1,2,3}.
std::string PgIdArray(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

std::array<CellRect, 3> ChunkRects(const GridRegion& g, int64_t begin, int64_t end) {
  auto lat = [&](int64_t r) { return static_cast<float>(g.LatOfRow(g.first_row() + r)); };
  auto lng = [&](int64_t c) { return static_cast<float>(g.LngOfCol(g.first_col() + c)); };
  const int64_t cols = g.cols();
  const int64_t r0 = begin / cols, c0 = begin % cols;
  const int64_t r1 = (end - 1) / cols, c1 = (end - 1) % cols;
  std::array<CellRect, 3> rects;
  if (r0 == r1) {
    rects[0] = {lat(r0), lat(r0), lng(c0), lng(c1)};
    return rects;
  }
  rects[0] = {lat(r0), lat(r0), lng(c0), lng(cols - 1)};
  if (r1 - r0 > 1) rects[1] = {lat(r0 + 1), lat(r1 - 1), lng(0), lng(cols - 1)};
  rects[2] = {lat(r1), lat(r1), lng(0), lng(c1)};
  return rects;
}

}  // namespace nbi
