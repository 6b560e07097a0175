// Taking over the original app's live database (SPEC §2a), as a user of it would: its
// database built by tests/original_app_db (its migrations' schema, its rows as it writes
// them), then the real binary's `migrate`, `process-jobs`, `schedule` and `import` on it,
// and the original's own queries (its duplicate check, its cell reads) after them.
// PostgreSQL only: the original app never ran on SQLite.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "original_app_db.h"
#include "store/store.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using testing::Backend;
using testing::kEngineJobCount;
using testing::kJobArea;
using testing::kOldArea;
using testing::OriginalPlaces;
using testing::QueryOne;
using testing::QueryRows;
using Rows = std::vector<std::vector<std::string>>;

// SPEC §2a's mapping of the categories the fixture uses, written out (not the engine's table).
const std::map<std::string, std::string> kMapped = {
    {"supermarket", "groceries"},
    {"convenience_store", "groceries"},
    {"grocery_store", "groceries"},
    {"greengrocer", "groceries"},
    {"restaurant", "restaurants"},
    {"cafe", "restaurants"},
    {"fast_food_restaurant", "restaurants"},
    {"bar", "restaurants"},
    {"park", "parks"},
    {"gym", "parks"},
    {"playground", "parks"},
    {"pharmacy", "healthcare:pharmacy"},
    {"dentist", "healthcare:dental"},
    {"hospital", "healthcare:medical"},
    {"bus_stop", "transit"},
    {"school", "education"},
    {"cinema", "entertainment"},
    {"clothing_store", "shopping"},
};

std::string Box(const BBox& b) {
  return fmt::format("{},{},{},{}", b.min_lat, b.min_lng, b.max_lat, b.max_lng);
}

class TakeoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NBI_REQUIRE_BACKEND(Backend::kPostgres);
    url_ = testing::FreshStoreUrl(Backend::kPostgres, dir_);
    testing::BuildOriginalAppDatabase(url_, data_);
  }

  // Runs the binary on `url`; expects exit code `want` (-1: any).
  std::string Run(const std::string& url, const std::string& args, int want = 0,
                  const std::string& env = "") {
    std::string out;
    const int rc = testing::RunCommand(
        env + " DATABASE_URL='" + url + "' " + testing::BinaryPath() + " " + args, &out);
    if (want >= 0) {
      EXPECT_EQ(rc, want) << args << "\n" << out;
    }
    return out;
  }

  // The blend cells of step 0.0025 around the job's area (not the old Tulum cells).
  static Rows JobAreaCells(const std::string& url) {
    return QueryRows(url,
                     "SELECT lat, lng, score FROM heat_cells WHERE model = 'blend' AND grid_step "
                     "= 0.0025::real AND lat > 20.5 ORDER BY lat, lng");
  }

  // A fresh engine database with the fixture's places imported from `file`, and the engine's
  // own blend job over the job's area run on it: its cells.
  Rows EngineBlendCells(const std::string& file, std::string* import_out = nullptr,
                        std::string* url_out = nullptr) {
    const std::string url = testing::FreshStoreUrl(Backend::kPostgres, dir_);
    if (url_out) *url_out = url;
    std::string out = Run(url, "import " + file);
    if (import_out) *import_out = out;
    Run(url, "schedule --bbox " + Box(kJobArea) + " --grid-step 0.0025 --model blend");
    out = Run(url, "process-jobs");
    EXPECT_NE(out.find("completed - 64 cells processed"), std::string::npos) << out;
    return JobAreaCells(url);
  }

  testing::TempDir dir_;
  std::string url_;
  testing::OriginalAppData data_;
};

// Rows of the original's tables in every column it reads.
std::vector<Rows> Snapshot(const std::string& url) {
  return {
      QueryRows(url,
                "SELECT id, slug, name, country, lat, lng, min_lat, max_lat, min_lng, max_lng, "
                "population, timezone, created_at, updated_at FROM cities ORDER BY id"),
      QueryRows(url,
                "SELECT id, lat, lng, score, grid_step, city_id, computed_at FROM heat_cells "
                "ORDER BY id"),
      QueryRows(url,
                "SELECT id, type, status, city_id, progress, total_items, error, metadata::text, "
                "created_at, started_at, completed_at FROM jobs ORDER BY id"),
      QueryRows(url, "SELECT * FROM overture_pois ORDER BY id"),
  };
}

TEST_F(TakeoverTest, MigrateKeepsEveryRow) {
  const std::vector<Rows> before = Snapshot(url_);
  Run(url_, "migrate");
  const std::vector<Rows> after = Snapshot(url_);
  // Cities: the original's unchanged; the engine's presets fill its NOT NULL columns.
  ASSERT_GE(after[0].size(), before[0].size());
  for (size_t i = 0; i < before[0].size(); ++i) EXPECT_EQ(after[0][i], before[0][i]);
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(after[i], before[i]) << "table " << i;
  EXPECT_EQ(QueryOne(url_,
                     "SELECT lat || ',' || lng || ',' || country FROM cities "
                     "WHERE slug = 'monaco'"),
            "43.74,7.42,MC");
  // A city added later: its centre and an empty country.
  Run(url_, "cities add playa --name Playa --bbox 20.6,-87.1,20.7,-87.0");
  EXPECT_EQ(QueryOne(url_,
                     "SELECT lat || ',' || lng || ',[' || country || ']' FROM cities "
                     "WHERE slug = 'playa'"),
            "20.65,-87.05,[]");
  // Its cells are now cells of SEED_JOB_MODEL (blend), unique per model; its index is gone.
  EXPECT_EQ(QueryOne(url_, "SELECT string_agg(DISTINCT model, ',') FROM heat_cells"), "blend");
  EXPECT_EQ(QueryOne(url_,
                     "SELECT count(*) FROM pg_indexes WHERE indexname = "
                     "'heat_cells_coords_step_idx' AND schemaname = current_schema()"),
            "0");
  // The original's cell read still answers.
  EXPECT_EQ(QueryOne(url_,
                     "SELECT count(*) FROM heat_cells WHERE lat BETWEEN 20.19 AND 20.22 "
                     "AND lng BETWEEN -87.48 AND -87.45 AND score >= 0"),
            "25");
  // And every command starts.
  Run(url_, "jobs");
}

// The job the original enqueued (no model, its own count of 81) runs as blend over the
// places in overture_pois, with the engine's count, and equals the engine's own blend job over
// the same places loaded from a CSV file.
TEST_F(TakeoverTest, ModelLessJobComputesBlendLikeTheEnginesOwnJob) {
  std::string out = Run(url_, "process-jobs");
  EXPECT_NE(out.find("Started job #3 (heatmap_compute) - 64 items"), std::string::npos) << out;
  EXPECT_NE(out.find("Job #3 completed - 64 cells processed"), std::string::npos) << out;
  EXPECT_EQ(QueryOne(url_,
                     "SELECT status || ',' || total_items || ',' || progress || ',' || "
                     "(metadata->>'model') FROM jobs WHERE id = 3"),
            "completed,64,100,blend");
  const Rows cells = JobAreaCells(url_);
  ASSERT_EQ(cells.size(), size_t(kEngineJobCount));
  int scored = 0;
  for (const auto& c : cells) scored += c[2] != "0";
  EXPECT_GT(scored, 10);
  // The original's own read of the area (SPEC §2a: BETWEEN over the box, score >= a minimum,
  // no model filter) returns these cells: its upper edges hold no cell of the engine's. Its
  // driver sends the bounds as untyped parameters, which PostgreSQL takes as the column's type
  // (real); quoted literals do the same (a float8 bound would drop the lower edge's cells, as
  // the float4 of -87.08 is below -87.08: the original's own cells alike).
  EXPECT_EQ(QueryRows(url_, fmt::format("SELECT lat, lng, score FROM heat_cells WHERE lat "
                                        "BETWEEN '{}' AND '{}' AND lng BETWEEN '{}' AND '{}' AND "
                                        "score >= '0' ORDER BY lat, lng",
                                        kJobArea.min_lat, kJobArea.max_lat, kJobArea.min_lng,
                                        kJobArea.max_lng)),
            cells);

  std::string csv = "lat,lng,category,name\n";
  for (const testing::OverturePlace& p : OriginalPlaces()) {
    auto it = kMapped.find(p.category);
    if (it != kMapped.end()) csv += fmt::format("{},{},{},{}\n", p.lat, p.lng, it->second, p.name);
  }
  testing::WriteFile(dir_.File("places.csv"), csv);
  EXPECT_EQ(EngineBlendCells(dir_.File("places.csv")), cells);
}

// overture_pois read through the mapping equals the same places imported from an Overture
// places file (GeoJSONSeq), for cells and for point scores.
TEST_F(TakeoverTest, OverturePoisEqualTheSamePlacesImportedAsAFile) {
  const Rows places = Snapshot(url_)[3];
  ASSERT_EQ(places.size(), OriginalPlaces().size());
  Run(url_, "process-jobs");
  std::string seq;
  for (const testing::OverturePlace& p : OriginalPlaces()) {
    seq += fmt::format(
        R"({{"type": "Feature", "id": "{}", "geometry": {{"type": "Point", "coordinates": )"
        R"([{}, {}]}}, "properties": {{"names": {{"primary": "{}"}}, "categories": )"
        R"({{"primary": "{}"}}, "confidence": 0.9}}}})"
        "\n",
        p.id, p.lng, p.lat, p.name, p.category);
  }
  testing::WriteFile(dir_.File("places.geojsonseq"), seq);
  std::string import_out, file_url;
  EXPECT_EQ(EngineBlendCells(dir_.File("places.geojsonseq"), &import_out, &file_url),
            JobAreaCells(url_));
  EXPECT_NE(import_out.find(fmt::format("{} POIs", testing::PlacedCount())), std::string::npos)
      << import_out;
  EXPECT_NE(import_out.find(fmt::format("{} features skipped",
                                        OriginalPlaces().size() - testing::PlacedCount())),
            std::string::npos)
      << import_out;
  // The point score reads overture_pois too: the same answer as from the file's POIs.
  const std::string score = Run(url_, "score 20.61 -87.07 --model blend");
  EXPECT_NE(score.find("Place "), std::string::npos) << score;
  EXPECT_EQ(score, Run(file_url, "score 20.61 -87.07 --model blend"));
  // Read-only: the jobs and the point score left every place as it was.
  EXPECT_EQ(Snapshot(url_)[3], places);
}

TEST_F(TakeoverTest, SecondModelIsWrittenOverTheOriginalsCells) {
  Run(url_, "migrate");
  const Rows blend_before =
      QueryRows(url_, "SELECT lat, lng, score FROM heat_cells WHERE lat < 20.5 ORDER BY lat, lng");
  ASSERT_EQ(blend_before.size(), 25u);
  Run(url_, "schedule --bbox " + Box(kOldArea) + " --grid-step 0.0025 --model grocery");
  std::string out = Run(url_, "process-jobs");
  EXPECT_NE(out.find("completed - 16 cells processed"), std::string::npos) << out;
  EXPECT_EQ(QueryRows(url_,
                      "SELECT lat, lng, score FROM heat_cells WHERE lat < 20.5 AND "
                      "model = 'blend' ORDER BY lat, lng"),
            blend_before);
  EXPECT_EQ(QueryOne(url_,
                     "SELECT count(*) FROM heat_cells WHERE lat < 20.5 AND model = "
                     "'grocery'"),
            "16");
  EXPECT_EQ(QueryOne(url_, "SELECT count(*) FROM jobs WHERE status <> 'completed'"), "1");
}

// A database error while writing cells (here the original's unique index, put back by hand)
// fails the attempt with that error, in the job and the log; never "lost its lease".
TEST_F(TakeoverTest, UniqueViolationShowsInTheJobsError) {
  Run(url_, "migrate");
  QueryRows(url_,
            "CREATE UNIQUE INDEX heat_cells_coords_step_idx ON heat_cells (lat, lng, "
            "grid_step)");
  std::string out = Run(url_, "schedule --bbox " + Box(kOldArea) +
                                  " --grid-step 0.0025 --model grocery --max-attempts 1");
  out = Run(url_, "process-jobs", -1);
  EXPECT_NE(out.find("heat_cells_coords_step_idx"), std::string::npos) << out;
  EXPECT_EQ(out.find("lost its lease"), std::string::npos) << out;
  const std::string job = QueryOne(url_, "SELECT max(id) FROM jobs");
  EXPECT_EQ(QueryOne(url_, "SELECT status FROM jobs WHERE id = " + job), "failed");
  const std::string error = QueryOne(url_, "SELECT error FROM jobs WHERE id = " + job);
  EXPECT_NE(error.find("duplicate key value violates unique constraint "
                       "\"heat_cells_coords_step_idx\""),
            std::string::npos)
      << error;
}

// Its finished jobs, 9 and 10 days old, are no engine's to prune; the engine's own are.
TEST_F(TakeoverTest, HistorySurvivesProcessJobs) {
  std::string out = Run(url_, "process-jobs");
  EXPECT_EQ(QueryOne(url_, "SELECT count(*) FROM jobs WHERE id IN (1, 2)"), "2") << out;
  FakeClock clock(SystemClock::Get()->NowMs() + 30LL * 86'400'000);
  auto store = OpenStore(url_, &clock);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto pruned = (*store)->PruneFinished(7LL * 86'400'000);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 0);  // job 3 existed before the first migrate, too
  HeatmapJobSpec spec;
  spec.bounds = kOldArea;
  spec.grid_step = 0.0025;
  auto e = (*store)->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*store)->Cancel(e->job.id).ok());
  clock.Advance(8LL * 86'400'000);
  EXPECT_EQ(*(*store)->PruneFinished(7LL * 86'400'000), 1);
  EXPECT_EQ(QueryOne(url_, "SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs"), "1,2,3");
}

TEST_F(TakeoverTest, DuplicateDetectionBothWays) {
  Run(url_, "migrate");
  // The original's check finds the engine's pending job.
  std::string out = Run(url_, "schedule --city cancun --grid-step 0.0025");
  EXPECT_NE(out.find("\"isNew\": true"), std::string::npos) << out;
  const std::string cancun = QueryOne(url_, "SELECT id FROM cities WHERE slug = 'cancun'");
  const std::string mine = QueryOne(url_, "SELECT max(id) FROM jobs");
  EXPECT_EQ(testing::OriginalDuplicateQuery(url_, cancun, "0.0025"),
            std::vector<int64_t>{std::stoll(mine)});
  // The engine finds the original's pending job (#3: no model, so blend) ...
  out = Run(url_, "schedule --bbox " + Box(kJobArea) + " --grid-step 0.0025 --model blend");
  EXPECT_NE(out.find("{\"jobId\": 3, \"status\": \"pending\", \"isNew\": false"), std::string::npos)
      << out;
  // ... and a reset of its area waits for it.
  out = Run(url_, "schedule --reset --bbox " + Box(kJobArea) + " --grid-step 0.0025 --model blend",
            2);
  EXPECT_NE(out.find("job #3"), std::string::npos) << out;
  // ... which is not a grocery job.
  out = Run(url_, "schedule --bbox " + Box(kJobArea) + " --grid-step 0.0025 --model grocery");
  EXPECT_NE(out.find("\"isNew\": true"), std::string::npos) << out;
  // And once it is taken over (claimed), by its dedupe key: one enqueued while it runs.
  const int64_t next = testing::InsertOriginalJob(url_, {20.7, -87.08, 20.72, -87.06}, 0.0025);
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok());
  std::optional<Job> claimed;
  for (int i = 0; i < 5 && (!claimed || claimed->id != next); ++i) {
    auto c = (*store)->Claim("w1");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    claimed = *c;
  }
  ASSERT_TRUE(claimed && claimed->id == next);
  EXPECT_EQ(claimed->total_items, kEngineJobCount);
  EXPECT_EQ(claimed->part_end, kEngineJobCount);
  HeatmapJobSpec spec;
  spec.bounds = {20.7, -87.08, 20.72, -87.06};
  spec.grid_step = 0.0025;
  spec.model = HeatModel::kBlend;
  auto again = (*store)->EnqueueHeatmap(spec);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->is_new);
  EXPECT_EQ(again->job.id, next);
}

// SEED_JOB_MODEL (flag --seed-job-model) names the model of the original's cells and jobs;
// a bad value is refused, quoted.
TEST_F(TakeoverTest, SeedJobModelIsConfigurable) {
  std::string out = Run(url_, "process-jobs", 0, "SEED_JOB_MODEL=grocery");
  EXPECT_EQ(QueryOne(url_, "SELECT string_agg(DISTINCT model, ',') FROM heat_cells"), "grocery");
  EXPECT_EQ(QueryOne(url_, "SELECT metadata->>'model' FROM jobs WHERE id = 3"), "grocery") << out;
  out = Run(url_, "jobs", 2, "SEED_JOB_MODEL=nope");
  EXPECT_NE(out.find("SEED_JOB_MODEL 'nope' is unknown"), std::string::npos) << out;
  out = Run(url_, "--help");
  EXPECT_NE(out.find("SEED_JOB_MODEL"), std::string::npos) << out;
}

// A job its web app inserts wakes the engine's workers at once (no wait for the next poll).
TEST_F(TakeoverTest, AJobItInsertsWakesTheWorkers) {
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::atomic<int> wakes{0};
  auto watch = (*store)->Watch([&] { ++wakes; });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // LISTEN is up (and its
  const int before = wakes.load();                              // first wake-up is over)
  testing::InsertOriginalJob(url_, {20.7, -87.08, 20.72, -87.06}, 0.0025);
  for (int i = 0; i < 100 && wakes.load() == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(wakes.load(), before);
  watch.reset();
}

class OwnerlessRunningJob : public TakeoverTest {
 protected:
  void SetUp() override {
    data_.pending_job = false;
    data_.running_job_started_min_ago = 3;
    TakeoverTest::SetUp();
  }
};

// A job the original's worker left running is taken over only once STALE_JOB_TIMEOUT has
// passed since its started_at (its worker may still be on it).
TEST_F(OwnerlessRunningJob, IsRescuedOnlyAfterTheStaleTimeout) {
  std::string out = Run(url_, "process-jobs");
  EXPECT_EQ(QueryOne(url_, "SELECT status FROM jobs WHERE id = 3"), "running") << out;
  out = Run(url_, "process-jobs", 0, "STALE_JOB_TIMEOUT=2min");
  EXPECT_NE(out.find("Job #3 completed - 64 cells processed"), std::string::npos) << out;
  EXPECT_EQ(QueryOne(url_, "SELECT status || ',' || total_items FROM jobs WHERE id = 3"),
            "completed,64");
}

}  // namespace
}  // namespace nbi
