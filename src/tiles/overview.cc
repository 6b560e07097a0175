#include "tiles/overview.h"

#include <algorithm>

namespace nbi::tiles {

IndexRange SegmentAligned(const IndexRange& r) {
  return {r.i0, r.i1, FloorDiv(r.j0, kSegmentCells) * kSegmentCells,
          FloorDiv(r.j1, kSegmentCells) * kSegmentCells + kSegmentCells - 1};
}

void ForEachSegment(const DenseLevel& d,
                    const std::function<void(int64_t, int64_t, const uint8_t*)>& fn) {
  const IndexRange& r = d.range;
  for (int64_t i = r.i0; i <= r.i1; ++i) {
    const uint8_t* row = d.v.data() + static_cast<size_t>((i - r.i0) * r.cols());
    for (int64_t j = r.j0; j <= r.j1; j += kSegmentCells) {
      const uint8_t* seg = row + (j - r.j0);
      if (std::any_of(seg, seg + kSegmentCells, [](uint8_t v) { return v != kNoCell; })) {
        fn(i, FloorDiv(j, kSegmentCells), seg);
      }
    }
  }
}

void PutSegment(DenseLevel* d, int64_t i, int64_t jb, const uint8_t* cells, size_t n) {
  const IndexRange& r = d->range;
  if (i < r.i0 || i > r.i1) return;
  const int64_t j0 = jb * kSegmentCells;
  const int64_t lo = std::max(j0, r.j0);
  const int64_t hi = std::min({j0 + static_cast<int64_t>(n) - 1, r.j1, j0 + kSegmentCells - 1});
  for (int64_t j = lo; j <= hi; ++j) d->At(i, j) = cells[j - j0];
}

namespace {

// Level `level` over `r` from the level below (max of the four children of each cell).
Status FromChildren(OverviewIo* io, int level, const IndexRange& r, DenseLevel* out) {
  DenseLevel child;
  NBI_RETURN_IF_ERROR(io->ReadOverview(level - 1, r.Children(), &child));
  out->Reset(r);
  for (int64_t i = r.i0; i <= r.i1; ++i) {
    for (int64_t j = r.j0; j <= r.j1; ++j) {
      uint8_t m = MaxScore(MaxScore(child.Get(2 * i, 2 * j), child.Get(2 * i, 2 * j + 1)),
                           MaxScore(child.Get(2 * i + 1, 2 * j), child.Get(2 * i + 1, 2 * j + 1)));
      out->At(i, j) = m;
    }
  }
  return Status::Ok();
}

}  // namespace

Status RebuildOverviews(OverviewIo* io, const IndexRange& area, int max_level) {
  if (area.empty()) return Status::Ok();
  for (int level = 1; level <= max_level; ++level) {
    const IndexRange r = area.CoarserBy(level);
    DenseLevel cur;
    if (level == 1) {
      NBI_RETURN_IF_ERROR(io->ReadLevel1FromCells(r, &cur));
    } else {
      NBI_RETURN_IF_ERROR(FromChildren(io, level, r, &cur));
    }
    // Whole segments: the stored values beside the area's columns stay as they are.
    DenseLevel full;
    NBI_RETURN_IF_ERROR(io->ReadOverview(level, SegmentAligned(r), &full));
    for (int64_t i = r.i0; i <= r.i1; ++i) {
      const uint8_t* src = cur.v.data() + static_cast<size_t>((i - r.i0) * r.cols());
      std::copy(src, src + r.cols(), &full.At(i, r.j0));
    }
    NBI_RETURN_IF_ERROR(io->ReplaceSegments(level, full));
  }
  return Status::Ok();
}

}  // namespace nbi::tiles
