// The shared fixture of the store conformance suites (store_conformance_test and one suite
// per role: city_store_test, poi_store_test, cell_store_test, job_queue_test). Every test gets
// a fresh, migrated store of its backend (a new SQLite file, or a new PostgreSQL schema on
// the server named by NBI_TEST_PG_URL; PostgreSQL variants skip without one) and a FakeClock.
//
// A role suite derives its own fixture name from StoreTest and instantiates it over both
// backends:
//   class CityStoreTest : public testing::StoreTest {};
//   INSTANTIATE_TEST_SUITE_P(Stores, CityStoreTest, testing::BothBackends(),
//                            testing::BackendParamName);
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "store/store.h"
#include "store_test_util.h"

namespace nbi::testing {

// A valid 5 x 5 heatmap job spec (0.05 degrees at step 0.01 by default) at (lat0, lng0).
inline HeatmapJobSpec Spec(double lat0 = 47.10, double lng0 = 9.50, double step = 0.01,
                           HeatModel m = HeatModel::kGrocery) {
  HeatmapJobSpec s;
  s.bounds = {lat0, lng0, lat0 + 0.05, lng0 + 0.05};
  s.grid_step = step;
  s.model = m;
  return s;
}

// The backends every conformance suite runs on, and their names in test ids.
inline auto BothBackends() { return ::testing::Values(Backend::kSqlite, Backend::kPostgres); }
inline std::string BackendParamName(const ::testing::TestParamInfo<Backend>& info) {
  return BackendName(info.param);
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(GetParam());
    auto s = OpenFreshStore(GetParam(), dir_, &clock_, &url_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // Enqueues a job that must be new.
  Job Enqueue(const HeatmapJobSpec& spec) {
    auto r = store_->EnqueueHeatmap(spec);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->is_new);
    return r->job;
  }
  // Claims a job that must be there.
  Job MustClaim(const std::string& worker) {
    auto r = store_->Claim(worker);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->has_value()) << "no job to claim";
    return r->value_or(Job{});
  }
  // Scores (begin + k + bias) % 101 for cells begin .. begin+count-1.
  static std::vector<uint8_t> Scores(int64_t begin, int64_t count, int bias = 0) {
    std::vector<uint8_t> scores(count);
    for (int64_t k = 0; k < count; ++k) scores[k] = uint8_t((begin + k + bias) % 101);
    return scores;
  }
  // Writes cells [begin, begin+count) of the job's region with score = (n + bias) % 101, as
  // a checkpoint of `worker` (through `via` when given, e.g. a testing::FaultStore).
  Result<bool> Write(const Job& j, const std::string& worker, const GridRegion& g, int64_t begin,
                     int64_t count, int bias = 0, JobQueue* via = nullptr) {
    std::vector<uint8_t> scores = Scores(begin, count, bias);
    Checkpoint cp;
    cp.job_id = j.id;
    cp.worker_id = worker;
    cp.region = &g;
    cp.begin = begin;
    cp.scores = scores;
    auto meta = DecodeHeatmapMetadata(j);  // the cells' model follows the job's
    cp.model = meta.ok() ? meta->model : HeatModel::kGrocery;
    return (via ? via : store_.get())->WriteCheckpoint(cp);
  }

  TempDir dir_;
  FakeClock clock_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

}  // namespace nbi::testing
