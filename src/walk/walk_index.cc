#include "walk/walk_index.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>
#include <thread>

namespace nbi {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs fn(task, scratch) for tasks 0..n-1 on up to `threads` threads, each with its own
// Scratch. An exception (bad_alloc) in a task is rethrown here once all threads are joined,
// as on one thread.
template <typename F>
void RunTasks(size_t n, unsigned threads, F&& fn) {
  threads = static_cast<unsigned>(std::min<size_t>(std::max(threads, 1u), n));
  if (threads <= 1) {
    WalkGraph::Scratch scratch;
    for (size_t t = 0; t < n; ++t) fn(t, &scratch);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned k = 0; k < threads; ++k) {
    pool.emplace_back([&, k] {
      try {
        WalkGraph::Scratch scratch;
        for (size_t t; (t = next.fetch_add(1)) < n;) fn(t, &scratch);
      } catch (...) {
        errors[k] = std::current_exception();
        next = n;  // the others stop after their current task
      }
    });
  }
  for (std::thread& t : pool) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace

struct WalkIndex::Reach {
  int32_t node;
  uint32_t poi;
  double dist;
};

WalkIndex::Options WalkIndex::ForModel(HeatModel model) {
  Options o;
  o.categories[static_cast<int>(Category::kGroceries)] = true;
  if (!IsGroceryOnly(model)) {
    o.categories[static_cast<int>(Category::kRestaurants)] = true;
    o.categories[static_cast<int>(Category::kParks)] = true;
  }
  return o;
}

WalkIndex::Options WalkIndex::ForPoint(LatLng at) {
  Options o;
  o.categories.fill(true);
  o.keep_pois = true;
  o.only_at = at;
  return o;
}

WalkIndex::WalkIndex(const WalkNetwork& net, const std::vector<PoiPoint>& pois,
                     const Options& opts) {
  auto t0 = std::chrono::steady_clock::now();
  graph_ = WalkGraph(net);
  graph_seconds_ = SecondsSince(t0);
  for (Category c : kAllCategories) {
    if (opts.categories[static_cast<int>(c)]) {
      max_radius_m_ = std::max(max_radius_m_, ParamsOf(c).radius_m);
    }
  }
  t0 = std::chrono::steady_clock::now();
  WalkGraph::Snapped only;  // a point score: the point's node (none: nothing counts)
  if (opts.only_at) {
    only = graph_.Snap(*opts.only_at, max_radius_m_);
    if (only.node < 0) return;
  }
  std::vector<Category> todo;
  for (Category c : kAllCategories) {
    if (opts.categories[static_cast<int>(c)]) todo.push_back(c);
  }
  Prepare(todo, pois, opts, only);
  search_seconds_ = SecondsSince(t0);
}

void WalkIndex::Prepare(const std::vector<Category>& todo, const std::vector<PoiPoint>& pois,
                        const Options& opts, const WalkGraph::Snapped& only) {
  // The searches in runs of a few dozen POIs, shared by as many threads as there are cores:
  // a category a thread each left one core with the largest category alone at the end. A
  // node's list is sorted, so the order in which runs finish does not show in it.
  constexpr size_t kRun = 48;
  struct Run {
    Category c;
    std::span<const uint32_t> numbers;
  };
  std::array<std::vector<uint32_t>, kCategoryCount> numbers;
  for (uint32_t i = 0; i < pois.size(); ++i) {
    const int k = static_cast<int>(pois[i].category);
    if (opts.categories[k]) numbers[k].push_back(i);
  }
  std::vector<Run> runs;
  std::vector<size_t> first_run;  // per entry of todo, its first run; then runs.size()
  for (Category c : todo) {
    first_run.push_back(runs.size());
    const std::vector<uint32_t>& of = numbers[static_cast<int>(c)];
    for (size_t b = 0; b < of.size(); b += kRun) {
      runs.push_back({c, std::span<const uint32_t>(of).subspan(b, std::min(kRun, of.size() - b))});
    }
  }
  first_run.push_back(runs.size());
  // A point score searches until its one node only: not worth a thread.
  const unsigned threads = only.node >= 0 ? 1 : std::thread::hardware_concurrency();
  std::vector<std::vector<Reach>> found(runs.size());
  RunTasks(runs.size(), threads, [&](size_t t, WalkGraph::Scratch* scratch) {
    Search(runs[t].c, runs[t].numbers, pois, opts, only, scratch, &found[t]);
  });
  RunTasks(todo.size(), threads, [&](size_t k, WalkGraph::Scratch*) {
    const std::span<const std::vector<Reach>> parts(found);
    Place(todo[k], parts.subspan(first_run[k], first_run[k + 1] - first_run[k]), pois, opts);
  });
}

void WalkIndex::Search(Category c, std::span<const uint32_t> numbers,
                       const std::vector<PoiPoint>& pois, const Options& opts,
                       const WalkGraph::Snapped& only, WalkGraph::Scratch* scratch,
                       std::vector<Reach>* out) const {
  const double radius = ParamsOf(c).radius_m;
  // For a point score: only POIs within the radius in a straight line can be within it on
  // foot (a walk is never shorter), and a search needs to go no farther than the radius less
  // the point's own leg (slack: the sums round differently).
  constexpr double kSlackM = 1e-6;
  const double bound = only.node >= 0 ? radius - only.dist_m + kSlackM : radius;
  for (uint32_t i : numbers) {
    const PoiPoint& p = pois[i];
    if (only.node >= 0 && HaversineMeters(*opts.only_at, {p.lat, p.lng}) > radius + kSlackM) {
      continue;
    }
    const WalkGraph::Snapped s = graph_.Snap({p.lat, p.lng}, radius);
    graph_.Search(s.node, s.dist_m, bound, scratch, [&](int32_t v, double d) {
      if (only.node >= 0 && v != only.node) return true;
      out->push_back({v, i, d});
      return only.node < 0;  // a point score needs its own node only
    });
  }
}

void WalkIndex::Place(Category c, std::span<const std::vector<Reach>> parts,
                      const std::vector<PoiPoint>& pois, const Options& opts) {
  size_t total = 0;
  for (const std::vector<Reach>& part : parts) total += part.size();
  if (total == 0) return;
  // Placed by node (a counting sort), then each node's short list sorted nearest first, equal
  // distances in POI order, so lists are reproducible.
  NodeLists& l = lists_[static_cast<int>(c)];
  l.start.assign(size_t(graph_.size()) + 1, 0);
  for (const std::vector<Reach>& part : parts) {
    for (const Reach& r : part) ++l.start[size_t(r.node) + 1];
  }
  std::partial_sum(l.start.begin(), l.start.end(), l.start.begin());
  std::vector<std::pair<double, uint32_t>> placed(total);
  {
    std::vector<uint32_t> fill(l.start.begin(), l.start.end() - 1);
    for (const std::vector<Reach>& part : parts) {
      for (const Reach& r : part) placed[fill[size_t(r.node)]++] = {r.dist, r.poi};
    }
  }
  for (size_t v = 0; v + 1 < l.start.size(); ++v) {
    if (l.start[v + 1] - l.start[v] > 1) {
      std::sort(placed.begin() + l.start[v], placed.begin() + l.start[v + 1]);
    }
  }
  l.dist.reserve(placed.size());
  for (const auto& [d, poi] : placed) l.dist.push_back(d);
  if (opts.keep_pois) {
    l.poi.reserve(placed.size());
    for (const auto& [d, poi] : placed) l.poi.push_back(poi);
  }
  if (c == Category::kHealthcare) {
    l.sub.reserve(placed.size());
    for (const auto& [d, poi] : placed) l.sub.push_back(pois[poi].sub);
  }
}

CategoryStats WalkIndex::StatsAt(Category c, const WalkGraph::Snapped& s) const {
  CategoryStats out;
  const NodeLists& l = lists_[static_cast<int>(c)];
  if (s.node < 0 || l.start.empty()) return out;
  const double radius = ParamsOf(c).radius_m;
  const bool subs = !l.sub.empty();
  for (uint32_t i = l.start[s.node]; i < l.start[s.node + 1]; ++i) {
    const double d = s.dist_m + l.dist[i];
    if (d > radius) break;  // sorted: the rest are farther
    if (out.count++ == 0) out.nearest_m = d;
    if (subs) ++out.sub_count[static_cast<int>(l.sub[i])];
  }
  return out;
}

size_t WalkIndex::MemoryBytes() const {
  size_t bytes = sizeof(*this) + graph_.MemoryBytes();
  for (const NodeLists& l : lists_) {
    bytes += l.start.capacity() * sizeof(uint32_t) + l.dist.capacity() * sizeof(double) +
             l.poi.capacity() * sizeof(uint32_t) + l.sub.capacity() * sizeof(HealthSub);
  }
  return bytes;
}

namespace {

int CellAt(const WalkIndex& index, const WalkGraph::Snapped& s, HeatModel model) {
  auto raw = [&](Category c) { return RawScore(c, index.StatsAt(c, s)); };
  if (IsGroceryOnly(model)) return CellScore(model, raw(Category::kGroceries), 0, 0);
  return CellScore(model, raw(Category::kGroceries), raw(Category::kRestaurants),
                   raw(Category::kParks));
}

}  // namespace

int ScoreCellWalk(const WalkIndex& index, LatLng at, HeatModel model) {
  return CellAt(index, index.graph().Snap(at, index.max_radius_m()), model);
}

void ScoreCellsWalk(const WalkIndex& index, const GridRegion& region, int64_t begin, int64_t end,
                    HeatModel model, uint8_t* out) {
  if (begin >= end) return;
  const int64_t cols = region.cols();
  // cos/sin of each column's longitude once (ToUnitVec's exact expressions), as ScoreCells.
  const int64_t col_lo = begin / cols == (end - 1) / cols ? begin % cols : 0;
  const int64_t col_hi = begin / cols == (end - 1) / cols ? (end - 1) % cols : cols - 1;
  std::vector<double> cos_lng(size_t(col_hi - col_lo + 1)), sin_lng(cos_lng.size());
  for (int64_t j = col_lo; j <= col_hi; ++j) {
    const double lo = region.LngOfCol(region.first_col() + j) * kDegToRad;
    cos_lng[size_t(j - col_lo)] = std::cos(lo);
    sin_lng[size_t(j - col_lo)] = std::sin(lo);
  }
  const double max_m = index.max_radius_m();
  for (int64_t n = begin; n < end;) {
    const int64_t row = n / cols;
    const double lat = region.LatOfRow(region.first_row() + row);
    const double cl = std::cos(lat * kDegToRad), sl = std::sin(lat * kDegToRad);
    for (const int64_t row_end = std::min(end, (row + 1) * cols); n < row_end; ++n) {
      const int64_t j = n % cols;
      const UnitVec uv{cl * cos_lng[size_t(j - col_lo)], cl * sin_lng[size_t(j - col_lo)], sl};
      const LatLng at{lat, region.LngOfCol(region.first_col() + j)};
      out[n - begin] =
          static_cast<uint8_t>(CellAt(index, index.graph().Snap(at, uv, max_m), model));
    }
  }
}

PointScore ScorePointWalk(const WalkIndex& index, LatLng at, int max_pois) {
  PointScore ps;
  ps.at = at;
  const WalkGraph::Snapped s = index.graph().Snap(at, index.max_radius_m());
  std::array<int, kCategoryCount> scores{};
  for (Category c : kAllCategories) {
    const int k = static_cast<int>(c);
    const CategoryStats stats = index.StatsAt(c, s);
    CategoryScoreDetail& d = ps.categories[k];
    d.category = c;
    d.count = stats.count;
    d.radius_m = ParamsOf(c).radius_m;
    if (stats.count > 0) d.nearest_m = stats.nearest_m;
    ps.raw[k] = RawScore(c, stats);
    d.score = CategoryScore(ps.raw[k]);
    scores[k] = d.score;
    index.ForEachWithin(c, s, [&](uint32_t poi, double dist) {
      if (static_cast<int>(d.nearest.size()) < max_pois) d.nearest.push_back({poi, dist});
    });
  }
  ps.overall = OverallScore(scores);
  return ps;
}

}  // namespace nbi
