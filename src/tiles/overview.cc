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

Status OverviewIo::ReadOverviews(const std::vector<LevelRange>& wants,
                                 std::vector<DenseLevel>* out) {
  out->assign(wants.size(), DenseLevel{});
  for (size_t k = 0; k < wants.size(); ++k) {
    NBI_RETURN_IF_ERROR(ReadOverview(wants[k].level, wants[k].range, &(*out)[k]));
  }
  return Status::Ok();
}

Status OverviewIo::ReplaceLevels(const std::vector<std::pair<int, const DenseLevel*>>& levels) {
  for (const auto& [level, d] : levels) NBI_RETURN_IF_ERROR(ReplaceSegments(level, *d));
  return Status::Ok();
}

namespace {

// Level `r` from `child` (the level below, covering r.Children()): max of four children.
void FromChildren(const DenseLevel& child, const IndexRange& r, DenseLevel* out) {
  out->Reset(r);
  for (int64_t i = r.i0; i <= r.i1; ++i) {
    for (int64_t j = r.j0; j <= r.j1; ++j) {
      uint8_t m = MaxScore(MaxScore(child.Get(2 * i, 2 * j), child.Get(2 * i, 2 * j + 1)),
                           MaxScore(child.Get(2 * i + 1, 2 * j), child.Get(2 * i + 1, 2 * j + 1)));
      out->At(i, j) = m;
    }
  }
}

// The smallest range holding both.
IndexRange Hull(const IndexRange& a, const IndexRange& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return {std::min(a.i0, b.i0), std::max(a.i1, b.i1), std::min(a.j0, b.j0), std::max(a.j1, b.j1)};
}

// The values of `from` (whose range holds r) over r.
DenseLevel Extract(const DenseLevel& from, const IndexRange& r) {
  DenseLevel d;
  d.Reset(r);
  const IndexRange& f = from.range;
  for (int64_t i = r.i0; i <= r.i1; ++i) {
    const uint8_t* src = from.v.data() + static_cast<size_t>((i - f.i0) * f.cols() + (r.j0 - f.j0));
    std::copy(src, src + r.cols(), &d.At(i, r.j0));
  }
  return d;
}

}  // namespace

Status RebuildOverviews(OverviewIo* io, const IndexRange& area, int max_level) {
  if (area.empty() || max_level < 1) return Status::Ok();
  // Each level is read once: its whole segments over the area (they are written back whole:
  // the stored values beside the area's columns stay as they are) and the children of the
  // level above (its cells on the area's edge also cover stored cells outside the area).
  std::vector<LevelRange> wants;
  for (int level = 1; level <= max_level; ++level) {
    IndexRange r = SegmentAligned(area.CoarserBy(level));
    if (level < max_level) r = SegmentAligned(Hull(r, area.CoarserBy(level + 1).Children()));
    wants.push_back({level, r});
  }
  std::vector<DenseLevel> stored;
  NBI_RETURN_IF_ERROR(io->ReadOverviews(wants, &stored));
  std::vector<DenseLevel> full(static_cast<size_t>(max_level));
  DenseLevel cur;
  for (int level = 1; level <= max_level; ++level) {
    const IndexRange r = area.CoarserBy(level);
    if (level == 1) {
      NBI_RETURN_IF_ERROR(io->ReadLevel1FromCells(r, &cur));
    } else {
      FromChildren(stored[static_cast<size_t>(level - 2)], r, &cur);
    }
    // The rebuilt values replace the stored ones: the level above is built from them.
    DenseLevel& st = stored[static_cast<size_t>(level - 1)];
    for (int64_t i = r.i0; i <= r.i1; ++i) {
      const uint8_t* src = cur.v.data() + static_cast<size_t>((i - r.i0) * r.cols());
      std::copy(src, src + r.cols(), &st.At(i, r.j0));
    }
    full[static_cast<size_t>(level - 1)] = Extract(st, SegmentAligned(r));
  }
  std::vector<std::pair<int, const DenseLevel*>> writes;
  for (int level = 1; level <= max_level; ++level) {
    writes.emplace_back(level, &full[static_cast<size_t>(level - 1)]);
  }
  return io->ReplaceLevels(writes);
}

}  // namespace nbi::tiles
