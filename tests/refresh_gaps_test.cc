// Keeping heatmaps fresh when an import meets the queue (jobs/refresh.h), on both stores:
// a heatmap job that began before the import writes its cells from the old data afterwards;
// a refresh job that began is not folded into; an import whose write committed but whose
// refresh could not be enqueued says how to recover; a change file counts the ways it cannot
// place.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "fault_store.h"
#include "refresh_fixture.h"

namespace nbi {
namespace {

using namespace refresh_testing;  // NOLINT: the fixture's town, areas and models

class RefreshGapsTest : public RefreshFixture {
 protected:
  // Writes the cells of the part `job` (as claimed by `worker`) from `scores` (the whole
  // region's, row-major) and completes the part: what a runner holding an index of older
  // data does after the import.
  void WritePart(const Job& job, const std::string& worker, const std::vector<uint8_t>& scores) {
    auto meta = DecodeHeatmapMetadata(job);
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    auto g = GridRegion::Make(meta->bounds, meta->grid_step);
    ASSERT_TRUE(g.ok());
    const int64_t end = job.part_end < 0 ? g->cell_count() : job.part_end;
    Checkpoint cp;
    cp.job_id = job.id;
    cp.part = job.part;
    cp.worker_id = worker;
    cp.region = &*g;
    cp.begin = job.part_begin;
    cp.scores = std::span<const uint8_t>(scores).subspan(size_t(job.part_begin),
                                                         size_t(end - job.part_begin));
    cp.model = meta->model;
    CheckpointCompletion done;
    cp.complete = &done;
    auto w = store_->WriteCheckpoint(cp);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    if (!done.done) {
      auto c = store_->CompletePart(job.id, job.part, worker, end);
      ASSERT_TRUE(c.ok()) << c.status().ToString();
    }
  }

  // The town's grocery area at a step no earlier job computed (0.001).
  static HeatmapJobSpec GroceryAt0001() {
    HeatmapJobSpec s = AreaJob(HeatModel::kGrocery);
    s.grid_step = 0.001;
    return s;
  }

  HeatmapJobSpec SpecOf(const Job& job) {
    auto meta = DecodeHeatmapMetadata(job);
    EXPECT_TRUE(meta.ok());
    HeatmapJobSpec s;
    s.bounds = meta->bounds;
    s.grid_step = meta->grid_step;
    s.model = meta->model;
    return s;
  }

  static bool HasStep(const RefreshPlan& plan, double step) {
    for (const RefreshBox& b : plan.boxes) {
      if (b.grid_step == step) return true;
    }
    return false;
  }
};

// A user job over cells never computed before is running when the import comes: its worker
// keeps the index of the old data and writes its cells afterwards. The import's refresh covers
// them (no cell was stored when it planned), runs after them, and the cells end right. A job
// still pending when the import comes loads the new data: the refresh leaves it alone.
TEST_P(RefreshGapsTest, CellsOfAJobRunningDuringTheImportAreRefreshed) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  const HeatmapJobSpec running = GroceryAt0001();
  auto enq = store_->EnqueueHeatmap(running);
  ASSERT_TRUE(enq.ok()) << enq.status().ToString();
  auto claimed = store_->Claim("old-index");
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  ASSERT_EQ((*claimed)->id, enq->job.id);
  HeatmapJobSpec pending = AreaJob(HeatModel::kBlendWalk);
  pending.grid_step = 0.0025;
  ASSERT_TRUE(store_->EnqueueHeatmap(pending).ok());
  const std::vector<uint8_t> old_scores = ScoresFromScratch(before, running);

  const Modified after = Modify(before);
  ImportRun run = Import(after.town, "new.osm.pbf", true);
  EXPECT_TRUE(HasStep(run.refresh, 0.001)) << "the running job's cells are not planned";
  EXPECT_FALSE(HasStep(run.refresh, 0.0025)) << "a pending job loads the new data itself";
  EXPECT_GT(run.refresh.dirty_per_model[size_t(HeatModel::kGrocery)], 0);
  EXPECT_EQ(run.refresh.dirty_per_model[size_t(HeatModel::kBlendWalk)], 0);
  WritePart(**claimed, "old-index", old_scores);  // after the import, from the old data
  RunJobs();
  ExpectCellsFromScratch(after.town, running);
  ExpectCellsFromScratch(after.town, pending);
}

// The race of an import with a job already running on another worker: its index was loaded
// before the import; the import's refresh jobs run elsewhere and finish first; then the job's
// checkpoint arrives with cells of the old data. It is refused (the data version moved), the
// part is handed back, and its next claim scores from the new data, so no cell the refresh
// wrote is overwritten from the old data.
TEST_P(RefreshGapsTest, ARunningJobDoesNotOverwriteTheCellsOfARefreshThatFinishedFirst) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  const HeatmapJobSpec running = GroceryAt0001();
  auto enq = store_->EnqueueHeatmap(running);
  ASSERT_TRUE(enq.ok()) << enq.status().ToString();
  const Modified after = Modify(before);
  testing::FaultStore hooked(store_.get(), url_);
  int checkpoints = 0;
  hooked.before_checkpoint = [&](const Checkpoint& cp) {
    if (checkpoints++ > 0) return;
    EXPECT_EQ(cp.job_id, enq->job.id);
    ImportRun run = Import(after.town, "new.osm.pbf", true);
    EXPECT_TRUE(HasStep(run.refresh, 0.001)) << "the running job's cells are not planned";
    RunJobs();  // another worker: the refresh jobs, while the job's part is claimed here
  };
  WorkerOptions o;
  o.exit_when_idle = true;
  o.log_polls = false;
  o.chunk_size = 1'000'000;  // the part in one chunk: scored from the old data, then written
  Worker w(&hooked, testing::TestEnv(), o);
  w.Run();
  EXPECT_GE(checkpoints, 2) << "the part was not run again";
  auto job = store_->GetJob(enq->job.id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->status, JobStatus::kCompleted);
  EXPECT_EQ(job->attempts, 1) << "a hand-back is no failed attempt";
  ExpectCellsFromScratch(after.town, running);
}

// A second import that dirties the same boxes while the first one's refresh job runs (with the
// first import's data): its refresh is a new job behind the running one, not folded into it;
// the refresh jobs still waiting are folded into as before.
TEST_P(RefreshGapsTest, RefreshFoldsOnlyIntoAJobThatHasNotBegun) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  ComputeArea();
  const Modified after = Modify(before);
  ImportRun first = Import(after.town, "new.osm.pbf", true);
  ASSERT_GE(first.jobs.size(), 2u);
  auto claimed = store_->Claim("first-data");
  ASSERT_TRUE(claimed.ok() && claimed->has_value());
  const Job begun = **claimed;
  EXPECT_EQ(begun.type, kHeatmapRefreshJobType);
  const std::vector<uint8_t> first_scores = ScoresFromScratch(after.town, SpecOf(begun));

  ImportRun second = Import(before, "back.osm.pbf", true);  // the change undone
  int folded = 0, behind = 0;
  for (const EnqueueResult& r : second.jobs) {
    EXPECT_NE(r.job.id, begun.id) << "folded into a refresh job that has begun";
    folded += !r.is_new;
    behind += r.is_new && DedupeKey(SpecOf(r.job)) == DedupeKey(SpecOf(begun));
  }
  EXPECT_EQ(behind, 1) << "no new job over the begun job's box";
  EXPECT_GT(folded, 0) << "equal refresh jobs still pending are folded into";

  WritePart(begun, "first-data", first_scores);
  RunJobs();
  ExpectCellsFromScratch(before);
}

// The write commits, then enqueueing the refresh fails (the jobs table refuses inserts): the
// import exits 1 naming the commands that recompute the cells; importing again finds no
// change, and running the commands brings every cell right.
TEST_P(RefreshGapsTest, EnqueueFailureAfterTheWritePrintsTheRecovery) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  ComputeArea();
  const Modified after = Modify(before);
  after.town.WritePbf(dir_.File("new.osm.pbf"));
  const bool pg = GetParam() == Backend::kPostgres;
  testing::ExecSql(url_, pg ? "CREATE FUNCTION jobs_refused() RETURNS trigger LANGUAGE plpgsql "
                              "AS $$ BEGIN RAISE EXCEPTION 'jobs refused'; END $$; "
                              "CREATE TRIGGER jobs_refused BEFORE INSERT ON jobs "
                              "FOR EACH ROW EXECUTE FUNCTION jobs_refused();"
                            : "CREATE TRIGGER jobs_refused BEFORE INSERT ON jobs "
                              "BEGIN SELECT RAISE(ABORT, 'jobs refused'); END;");
  std::string out = Cli("import --replace " + dir_.File("new.osm.pbf"), 1);
  EXPECT_NE(out.find("the import is stored (2 new, "), std::string::npos) << out;
  EXPECT_NE(out.find("jobs refused"), std::string::npos) << out;
  std::vector<std::string> commands;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const std::string prefix = "  nearbyindex schedule --reset --bbox ";
    if (line.rfind(prefix, 0) == 0) commands.push_back(line.substr(14));
  }
  EXPECT_GT(commands.size(), 0u) << out;
  out = Cli("import --replace " + dir_.File("new.osm.pbf"));
  EXPECT_NE(out.find("nothing to recompute"), std::string::npos) << out;
  testing::ExecSql(url_, pg ? "DROP TRIGGER jobs_refused ON jobs" : "DROP TRIGGER jobs_refused");
  for (const std::string& c : commands) Cli(c);
  Cli("process-jobs");
  ExpectCellsFromScratch(after.town);
}

// The write commits, then planning the refresh fails (the jobs table is gone for a moment):
// the import exits 1 naming the area the changes reach; scheduling it for each grid step and
// model computed there brings every cell right.
TEST_P(RefreshGapsTest, PlanningFailureAfterTheWritePrintsTheArea) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  ComputeArea();
  const Modified after = Modify(before);
  after.town.WritePbf(dir_.File("new.osm.pbf"));
  testing::ExecSql(url_, "ALTER TABLE jobs RENAME TO jobs_away");
  std::string out = Cli("import --replace " + dir_.File("new.osm.pbf"), 1);
  testing::ExecSql(url_, "ALTER TABLE jobs_away RENAME TO jobs");
  EXPECT_NE(out.find("but planning the recompute failed"), std::string::npos) << out;
  const std::string prefix = "  nearbyindex schedule --reset --bbox ";
  const size_t at = out.find(prefix);
  ASSERT_NE(at, std::string::npos) << out;
  const size_t from = at + prefix.size();
  const std::string box = out.substr(from, out.find(' ', from) - from);
  EXPECT_NE(out.find("--grid-step STEP --model MODEL"), std::string::npos) << out;
  auto reach = BBox::Parse(box);
  ASSERT_TRUE(reach.ok()) << box;
  for (const PoiPoint& p : after.changed) {
    EXPECT_TRUE(p.lat > reach->min_lat && p.lat < reach->max_lat && p.lng > reach->min_lng &&
                p.lng < reach->max_lng);
  }
  for (HeatModel m : kModels) {
    Cli("schedule --reset --bbox " + box + " --grid-step " + testing::Shortest(kStep) +
        " --model " + std::string(HeatModelId(m)));
  }
  Cli("process-jobs");
  ExpectCellsFromScratch(after.town);
}

// A change file tags a building a shop; the extract held the building without a category,
// so its node list and node positions are not stored: the way cannot be placed, and the
// import says so. The next extract imported with --replace brings it.
TEST_P(RefreshGapsTest, ChangeFileCountsWaysItCannotPlace) {
  OsmTown before = OsmTown::Generate(10, 5, 5, 7);
  const double lat = OsmTown::kLat0 + 0.01, lng = OsmTown::kLng0 + 0.01;
  const std::vector<int64_t> corners = {410000, 410001, 410002, 410003};
  for (size_t k = 0; k < corners.size(); ++k) {
    before.nodes[corners[k]] = {lat + 0.0002 * double(k / 2), lng + 0.0002 * double(k % 2), {}};
  }
  before.ways[9100] = {{410000, 410001, 410003, 410002, 410000}, {{"building", "yes"}}};
  Import(before, "old.osm.pbf", false);
  OsmTown after = before;
  after.ways[9100].tags.push_back({"shop", "supermarket"});
  OsmTown::WriteChange(before, after, dir_.File("day.osc"));
  std::string out = Cli("import " + dir_.File("day.osc"));
  EXPECT_NE(out.find("  1 way not placed: node positions unknown; import the extract with "
                     "--replace"),
            std::string::npos)
      << out;
  EXPECT_TRUE(store_->LoadPoisById({"w9100"})->empty());
  after.WritePbf(dir_.File("new.osm.pbf"));
  out = Cli("import --replace " + dir_.File("new.osm.pbf"));
  EXPECT_EQ(out.find("not placed"), std::string::npos) << out;
  EXPECT_EQ(store_->LoadPoisById({"w9100"})->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, RefreshGapsTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
