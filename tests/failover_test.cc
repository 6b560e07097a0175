// Failover: a private primary with a streaming standby made by pg_basebackup -R; a
// worker whose DATABASE_URL lists both hosts with target_session_attrs=read-write runs a job;
// mid-job the standby is promoted and the primary stopped at once. The job must complete with
// the cells of an uninterrupted run, every cell once.
//   - Sync: the standby is synchronous, so every commit the worker saw is on it.
//   - Async: the standby is asynchronous, as in the report: commits the worker saw may be lost
//     with the primary. Only checkpoints that compare the stored position before they write
//     survive that (compare-and-set); without them it ended with 230,000 of 250,000 cells.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "poi/synthetic.h"
#include "score/scorer.h"
#include "store/store.h"
#include "store_test_util.h"
#include "worker_fixture.h"

namespace nbi {
namespace {

// A command run as the owner of the clusters (the server refuses to run as root).
std::string AsOwner(const std::string& cmd) {
  return getuid() == 0 ? "runuser -u postgres -- " + cmd : cmd;
}

std::string Trimmed(std::string s) {
  s.erase(s.find_last_not_of("\n ") + 1);
  return s;
}

// The primary (scripts/pg_test_cluster.sh, with replication on) and its standby, both stopped
// and removed at the end.
class PgFailoverTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (!testing::TestPgUrl()) {
      if (std::getenv("NBI_REQUIRE_PG")) FAIL() << "NBI_REQUIRE_PG set but no PostgreSQL";
      GTEST_SKIP() << "PostgreSQL test skipped: NBI_TEST_PG_URL is not set (run scripts/test.sh)";
    }
    script_ = testing::SourceDir() + "/scripts/pg_test_cluster.sh";
    std::string conf =
        "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nwal_keep_size = 512MB\n";
    if (GetParam()) conf += "synchronous_commit = on\nsynchronous_standby_names = '*'\n";
    setenv("PGTEST_EXTRA_CONF", conf.c_str(), 1);
    std::string out;
    const int rc = testing::RunCommand(script_ + " start 2>&1", &out);
    unsetenv("PGTEST_EXTRA_CONF");
    ASSERT_EQ(rc, 0) << out;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(out, m, std::regex("PGTEST_DIR='([^']+)'")));
    dir_ = m[1];
    bin_ = Trimmed(testing::ReadFile(dir_ + "/bindir")) + "/";
    port1_ = std::stoi(testing::ReadFile(dir_ + "/port"));
    ASSERT_EQ(Sh(bin_ + "pg_basebackup -D " + dir_ + "/standby -h 127.0.0.1 -p " +
                 std::to_string(port1_) + " -U postgres -R -X stream -c fast"),
              0)
        << out_;
    // The standby, once promoted, must not wait for a synchronous standby of its own.
    for (int port = port1_ + 1; port < port1_ + 40 && port2_ == 0; ++port) {
      std::ofstream(dir_ + "/standby/postgresql.conf", std::ios::app)
          << "synchronous_standby_names = ''\nport = " << port << "\n";
      if (Sh(bin_ + "pg_ctl -D " + dir_ + "/standby -l " + dir_ + "/standby.log -w -t 30 start") ==
          0) {
        port2_ = port;
      }
    }
    ASSERT_NE(port2_, 0) << testing::ReadFile(dir_ + "/standby.log");
    primary_ = "postgresql://postgres@127.0.0.1:" + std::to_string(port1_) + "/postgres";
    both_ = "postgresql://postgres@127.0.0.1:" + std::to_string(port1_) +
            ",127.0.0.1:" + std::to_string(port2_) + "/postgres?target_session_attrs=read-write";
    for (int i = 0; i < 300 && Streaming() != "1"; ++i) SleepMs(100);
    ASSERT_EQ(Streaming(), "1") << "the standby does not stream";
  }
  void TearDown() override {
    if (dir_.empty()) return;
    Sh(bin_ + "pg_ctl -D " + dir_ + "/standby -m immediate -w stop");
    Sh(script_ + " stop '" + dir_ + "'");
  }

  int Sh(const std::string& cmd) { return testing::RunCommand(AsOwner(cmd) + " 2>&1", &out_); }
  std::string Streaming() {
    try {
      return testing::QuerySql(primary_,
                               "SELECT count(*) FROM pg_stat_replication WHERE state = "
                               "'streaming'");
    } catch (const std::exception&) {
      return "";
    }
  }

  // Compares the stored cells with an uninterrupted run, cell for cell: every cell once, no
  // other.
  static void ExpectCellsOfACleanRun(Store& s, const HeatmapJobSpec& spec) {
    auto g = GridRegion::Make(spec.bounds, spec.grid_step);
    auto pois = s.LoadPois(spec.bounds.Expanded(MaxRadiusMeters()), -1);
    ASSERT_TRUE(pois.ok()) << pois.status().ToString();
    SpatialIndex index(std::move(pois).value());
    std::vector<uint8_t> want(g->cell_count());
    ScoreCells(index, *g, 0, g->cell_count(), spec.model, want.data());
    auto cells = s.QueryCells(spec.bounds, spec.grid_step, spec.model, 0, 100'000'000);
    ASSERT_TRUE(cells.ok()) << cells.status().ToString();
    std::vector<int> seen(g->cell_count(), 0);
    int64_t mismatches = 0, inside = 0, twice = 0;
    for (const HeatCell& c : *cells) {
      int64_t i = NearestGridIndex(c.lat, spec.grid_step) - g->first_row();
      int64_t j = NearestGridIndex(c.lng, spec.grid_step) - g->first_col();
      if (i < 0 || i >= g->rows() || j < 0 || j >= g->cols()) continue;  // closed query box
      const int64_t n = i * g->cols() + j;
      ++inside;
      twice += seen[n]++ > 0;
      mismatches += c.score != want[n];
    }
    EXPECT_EQ(twice, 0) << "cells stored twice";
    EXPECT_EQ(inside, g->cell_count()) << "cells missing";
    EXPECT_EQ(mismatches, 0);
  }

  std::string script_, dir_, bin_, out_, primary_, both_;
  int port1_ = 0, port2_ = 0;
};

TEST_P(PgFailoverTest, TheJobCompletesWithTheCellsOfACleanRun) {
  testing::TempDir tmp;
  SystemClock clock;
  auto s = OpenStore(both_, &clock);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->UpsertPois(GenerateCity(SmallCity())).ok());
  const HeatmapJobSpec spec = JobOver(47.04, 9.44, 0.2, 0.0004);  // 250,000 cells
  auto e = (*s)->EnqueueHeatmap(spec);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const int64_t id = e->job.id;
  testing::Child w({testing::BinaryPath(), "worker"},
                   {"DATABASE_URL=" + both_, "NBI_TEST_PG_URL=", "WORKER_POLL_INTERVAL=100",
                    "WORKER_CHUNK_SIZE=500"},
                   tmp.File("w.log"));
  for (int i = 0; i < 6000 && (*s)->GetJob(id)->last_processed_index() < 50'000; ++i) SleepMs(5);
  const int64_t before = (*s)->GetJob(id)->last_processed_index();
  // The standby takes over while the worker writes, and the primary goes at once.
  ASSERT_EQ(Sh(bin_ + "pg_ctl -D " + dir_ + "/standby -w promote"), 0) << out_;
  ASSERT_EQ(Sh(bin_ + "pg_ctl -D " + dir_ + "/data -m immediate -w stop"), 0) << out_;
  Job done;
  for (int i = 0; i < 6000; ++i) {  // 60 s
    auto j = (*s)->GetJob(id);      // the test's own store fails over too
    if (j.ok() && (j->status == JobStatus::kCompleted || j->status == JobStatus::kFailed)) {
      done = *j;
      break;
    }
    SleepMs(10);
  }
  ASSERT_EQ(done.status, JobStatus::kCompleted) << testing::ReadFile(tmp.File("w.log"));
  EXPECT_LT(before, done.total_items) << "the failover came after the job finished";
  EXPECT_EQ(done.last_processed_index(), done.total_items);
  auto parts = (*s)->ListParts(id);
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  for (const JobPart& p : *parts) EXPECT_EQ(p.next, p.end) << "part " << p.part;
  ExpectCellsOfACleanRun(**s, spec);
  EXPECT_TRUE(w.Running());
  w.Signal(SIGTERM);
  EXPECT_EQ(w.Wait(10000), 0) << testing::ReadFile(tmp.File("w.log"));
}

const auto kReplication = [](const auto& info) { return info.param ? "Sync" : "Async"; };
INSTANTIATE_TEST_SUITE_P(Pg, PgFailoverTest, ::testing::Values(true, false), kReplication);

}  // namespace
}  // namespace nbi
