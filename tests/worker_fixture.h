// The shared fixture of the worker suites (worker_test, recovery_test): a fresh store of the
// backend with a small generated city, and helpers to compare stored cells with an
// uninterrupted run, to run the real binary and to wait for a job's state.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "poi/synthetic.h"
#include "score/scorer.h"
#include "store/store.h"
#include "store_test_util.h"

namespace nbi {

using testing::Backend;
using Clock_ = std::chrono::steady_clock;

inline SyntheticCitySpec SmallCity() {
  SyntheticCitySpec s;
  s.centre = {47.10, 9.52};
  s.size_km = 12;
  s.groceries = 300;
  s.others = 3000;
  s.seed = 7;
  return s;
}

inline HeatmapJobSpec JobOver(double lat0, double lng0, double span, double step) {
  HeatmapJobSpec s;
  s.bounds = {lat0, lng0, lat0 + span, lng0 + span};
  s.grid_step = step;
  return s;
}

inline void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

class WorkerTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(GetParam());
    auto s = testing::OpenFreshStore(GetParam(), dir_, &clock_, &url_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    ASSERT_TRUE(store_->UpsertPois(GenerateCity(SmallCity())).ok());
  }

  // The cells an uninterrupted run must produce, computed in this process.
  std::vector<uint8_t> Expected(const HeatmapJobSpec& spec) {
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    auto pois = store_->LoadPois(spec.bounds.Expanded(MaxRadiusMeters()), -1);
    SpatialIndex index(std::move(pois).value());
    std::vector<uint8_t> out(g->cell_count());
    ScoreCells(index, *g, 0, g->cell_count(), spec.model, out.data());
    return out;
  }

  // Compares stored cells with an uninterrupted run, cell for cell; no duplicates, no extras.
  void ExpectCellsEqual(const HeatmapJobSpec& spec) {
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    std::vector<uint8_t> want = Expected(spec);
    auto cells = store_->QueryCells(spec.bounds, spec.grid_step, spec.model, 0, 100'000'000);
    ASSERT_TRUE(cells.ok()) << cells.status().ToString();
    std::vector<int> seen(g->cell_count(), 0);
    int64_t mismatches = 0, inside = 0;
    for (const HeatCell& c : *cells) {
      int64_t i = NearestGridIndex(c.lat, spec.grid_step) - g->first_row();
      int64_t j = NearestGridIndex(c.lng, spec.grid_step) - g->first_col();
      // The query box is closed; the region is half-open: skip the neighbours' edge cells.
      if (i < 0 || i >= g->rows() || j < 0 || j >= g->cols()) continue;
      int64_t n = i * g->cols() + j;
      ++inside;
      ASSERT_EQ(seen[n]++, 0) << "duplicate cell " << c.lat << "," << c.lng;
      mismatches += c.score != want[n];
    }
    EXPECT_EQ(inside, g->cell_count());
    EXPECT_EQ(mismatches, 0);
  }

  std::vector<std::string> Env(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> env = {"DATABASE_URL=" + url_, "NBI_TEST_PG_URL="};
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
  }

  Job WaitForJob(int64_t id, std::function<bool(const Job&)> pred, int timeout_ms) {
    auto deadline = Clock_::now() + std::chrono::milliseconds(timeout_ms);
    Job last;
    while (Clock_::now() < deadline) {
      auto j = store_->GetJob(id);
      if (j.ok()) {
        last = *j;
        if (pred(last)) return last;
      }
      SleepMs(2);
    }
    return last;
  }

  // The job's parts, as a copy: a range-for over `*store_->ListParts(id)` reads the list after
  // its Result is destroyed (AddressSanitizer: stack-use-after-scope).
  std::vector<JobPart> Parts(int64_t id) {
    auto parts = store_->ListParts(id);
    EXPECT_TRUE(parts.ok()) << parts.status().ToString();
    return parts.ok() ? *parts : std::vector<JobPart>{};
  }

  // The job, retrying while the test's own connection is being killed by a fault test.
  Job Get(int64_t id) {
    for (int i = 0;; ++i) {
      auto j = store_->GetJob(id);
      if (j.ok() || i > 100) return j.ok() ? *j : Job{};
      SleepMs(20);
    }
  }

  testing::TempDir dir_;
  SystemClock clock_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

}  // namespace nbi
