// Keeping heatmaps fresh (jobs/refresh.h) on both stores: a generated extract and a modified
// copy (3 groceries removed, 2 added, 1 moved, 1 street cut) imported with --replace and as a
// change file; the refresh jobs recompute exactly the cells the dirty-area rule predicts, and
// afterwards every stored cell equals a computation from scratch on the new data. A property
// test repeats this with random small change sets.
#include "jobs/refresh.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "refresh_fixture.h"

namespace nbi {
namespace {

using namespace refresh_testing;  // NOLINT: the fixture's town, areas and models

class RefreshTest : public RefreshFixture {};

// The dirty-area rule computed independently, by brute force over the area's cells: for each
// model, the cells within 800 m of a changed POI of its categories; for the walking model also
// within 800 m of a changed walk position or of a POI (of the new town) within 800 m of one.
int64_t PredictDirty(const std::vector<PoiPoint>& changed, const std::vector<LatLng>& walk,
                     const OsmTown& after, std::vector<HeatmapJobSpec> areas = {}) {
  if (areas.empty()) {
    for (HeatModel m : kModels) areas.push_back(AreaJob(m));
  }
  int64_t n = 0;
  std::vector<LatLng> after_pois;
  for (const auto& [id, node] : after.nodes) {
    for (const auto& [k, v] : node.tags) {
      if (k == "shop") after_pois.push_back({node.lat, node.lng});
    }
  }
  // The grocery drawn as a way sits at the mean of its distinct corners.
  const OsmTown::Way& hall = after.ways.at(9000);
  LatLng mean{0, 0};
  for (size_t k = 0; k + 1 < hall.refs.size(); ++k) {
    mean.lat += after.nodes.at(hall.refs[k]).lat / double(hall.refs.size() - 1);
    mean.lng += after.nodes.at(hall.refs[k]).lng / double(hall.refs.size() - 1);
  }
  after_pois.push_back(mean);
  for (const HeatmapJobSpec& area : areas) {
    const HeatModel m = area.model;
    std::vector<LatLng> centres;
    for (const PoiPoint& p : changed) {
      if (p.category == Category::kGroceries || !IsGroceryOnly(m))
        centres.push_back({p.lat, p.lng});
    }
    if (IsWalkModel(m)) {
      centres.insert(centres.end(), walk.begin(), walk.end());
      for (const LatLng& p : after_pois) {
        for (const LatLng& w : walk) {
          if (HaversineMeters(p, w) <= 800.01) {
            centres.push_back(p);
            break;
          }
        }
      }
    }
    auto g = GridRegion::Make(area.bounds, area.grid_step);
    for (int64_t k = 0; k < g->cell_count(); ++k) {
      const LatLng c = g->CellAt(k);
      for (const LatLng& x : centres) {
        if (HaversineMeters(c, x) <= 800.01) {
          ++n;
          break;
        }
      }
    }
  }
  return n;
}

// A heat tile of the grocery model at zoom 14 holding the point.
std::string HeatTileAt(LatLng p, double step) {
  constexpr int kZoom = 14;
  const double n = std::ldexp(1, kZoom);
  const double lat = p.lat * 3.14159265358979323846 / 180;
  const auto x = int64_t(std::floor((p.lng + 180) / 360 * n));
  const auto y =
      int64_t(std::floor((1 - std::asinh(std::tan(lat)) / 3.14159265358979323846) / 2 * n));
  return "/tiles/grocery/" + testing::Shortest(step) + "/" + std::to_string(kZoom) + "/" +
         std::to_string(x) + "/" + std::to_string(y) + ".png";
}

std::string HeatmapAround(LatLng p, double step) {
  return "/api/heatmap?minLat=" + testing::Shortest(p.lat - 0.006) +
         "&minLng=" + testing::Shortest(p.lng - 0.006) +
         "&maxLat=" + testing::Shortest(p.lat + 0.006) +
         "&maxLng=" + testing::Shortest(p.lng + 0.006) + "&gridStep=" + testing::Shortest(step) +
         "&model=grocery";
}

TEST_P(RefreshTest, ReplaceRecomputesExactlyTheDirtyCells) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  ImportRun first = Import(before, "old.osm.pbf", false);
  EXPECT_EQ(first.summary.removed, 0);
  ComputeArea();
  // A second grid step of the grocery model, over the town's south-west.
  HeatmapJobSpec fine = AreaJob(HeatModel::kGrocery);
  fine.bounds = {47.104, 9.504, 47.124, 9.524};
  fine.grid_step = 0.001;
  ASSERT_TRUE(store_->EnqueueHeatmap(fine).ok());
  RunJobs();
  ExpectCellsFromScratch(before);
  ExpectCellsFromScratch(before, fine);

  const Modified after = Modify(before);
  // The readers before the change, around the first removed grocery inside the area.
  std::optional<LatLng> near;
  for (const PoiPoint& p : after.changed) {
    if (!near && p.lat > 47.11 && p.lat < 47.138 && p.lng > 9.51 && p.lng < 9.538)
      near = {p.lat, p.lng};
  }
  ASSERT_TRUE(near.has_value());
  testing::ServerProcess server(dir_.File("serve.log"), {{"DATABASE_URL", url_}}, {"--no-worker"});
  ASSERT_TRUE(server.running()) << server.Log();
  const testing::Reply tile_before = server.Get(HeatTileAt(*near, kStep));
  const testing::Reply heat_before = server.Get(HeatmapAround(*near, kStep));
  ASSERT_EQ(tile_before.status, 200) << tile_before.text;
  ASSERT_EQ(heat_before.status, 200) << heat_before.text;
  ASSERT_TRUE(tile_before.headers.count("ETag"));

  const int64_t version = *store_->WalkNetworkVersion();
  const int segments_at_cut = StreetSegmentsAt(after.cut[0]);
  ImportRun run = Import(after.town, "new.osm.pbf", true);
  // Street tiles follow: the network's version moves, the cut segment is no longer drawn.
  EXPECT_GT(*store_->WalkNetworkVersion(), version);
  EXPECT_EQ(StreetSegmentsAt(after.cut[0]), segments_at_cut - 1);
  EXPECT_EQ(run.summary.inserted, 2);
  EXPECT_EQ(run.summary.removed, 3);
  EXPECT_EQ(run.summary.walk_edges_removed, 1);
  EXPECT_EQ(run.summary.walk_nodes_removed, 0);
  ASSERT_TRUE(run.replaced.has_value());
  EXPECT_TRUE(run.stats.header_bounds);
  const int64_t fine_dirty = PredictDirty(after.changed, after.cut, after.town, {fine});
  const int64_t predicted = PredictDirty(after.changed, after.cut, after.town) + fine_dirty;
  EXPECT_EQ(run.refresh.dirty_cells, predicted);
  EXPECT_GT(fine_dirty, 0);
  // The boxes recompute the dirty cells and at most 8% more (kMaxRefreshWaste).
  EXPECT_GE(run.refresh.cells(), predicted);
  EXPECT_LE(double(run.refresh.cells()), double(predicted) / (1 - kMaxRefreshWaste) + 1);
  RunJobs();
  const auto [jobs, cells] = RefreshJobsDone();
  EXPECT_EQ(jobs, int(run.jobs.size()));
  EXPECT_EQ(cells, run.refresh.cells());
  ExpectCellsFromScratch(after.town);
  ExpectCellsFromScratch(after.town, fine);
  // The readers follow: the tile has another ETag, /api/heatmap other cells.
  const testing::Reply tile_after = server.Get(HeatTileAt(*near, kStep));
  const testing::Reply heat_after = server.Get(HeatmapAround(*near, kStep));
  ASSERT_EQ(tile_after.status, 200) << tile_after.text;
  EXPECT_NE(tile_after.headers.find("ETag")->second, tile_before.headers.find("ETag")->second);
  EXPECT_NE(tile_after.text, tile_before.text);
  ASSERT_EQ(heat_after.status, 200) << heat_after.text;
  EXPECT_NE(heat_after.body["cells"], heat_before.body["cells"]);
  EXPECT_EQ(server.Terminate(), 0);

  // The same file again changes nothing: no removal, no recompute.
  ImportRun again = Import(after.town, "new2.osm.pbf", true);
  EXPECT_EQ(again.summary.removed, 0);
  EXPECT_EQ(again.summary.inserted, 0);
  EXPECT_TRUE(again.changes.empty());
  EXPECT_TRUE(again.jobs.empty());
}

TEST_P(RefreshTest, WithoutReplaceNothingIsRemoved) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  const Modified after = Modify(before);
  ImportRun run = Import(after.town, "new.osm.pbf", false);
  EXPECT_EQ(run.summary.removed, 0);
  EXPECT_EQ(run.summary.walk_edges_removed, 0);
  auto pois = store_->LoadPois({47.0, 9.4, 47.3, 9.7}, -1);
  ASSERT_TRUE(pois.ok());
  EXPECT_EQ(pois->size(), 41u + 30 + 15 + 1 + 2);
}

TEST_P(RefreshTest, NoRecomputeEnqueuesNothing) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  ComputeArea();
  const Modified after = Modify(before);
  const std::string path = dir_.File("new.osm.pbf");
  after.town.WritePbf(path);
  ImportOptions o;
  o.replace = true;
  o.recompute = false;
  auto run = RunImport(store_.get(), path, o);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->summary.removed, 3);
  EXPECT_TRUE(run->jobs.empty());
  EXPECT_EQ(RefreshJobsDone().first, 0);
}

TEST_P(RefreshTest, RemovedPoiLeavesThePointScoreAtOnce) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  ComputeArea();
  const Modified after = Modify(before);
  const OsmTown::Node& gone = before.nodes.at(after.removed[0]);
  testing::ServerProcess server(dir_.File("serve.log"), {{"DATABASE_URL", url_}}, {});
  ASSERT_TRUE(server.running()) << server.Log();
  const std::string q =
      "/api/score?lat=" + testing::Shortest(gone.lat) + "&lng=" + testing::Shortest(gone.lng);
  testing::Reply r = server.Get(q);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_NE(r.text.find("\"Grocer 0\""), std::string::npos) << "the grocery scores before";
  Import(after.town, "new.osm.pbf", true);
  r = server.Get(q);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.text.find("\"Grocer 0\""), std::string::npos) << r.text;
  // The API lists the refresh jobs the import enqueued.
  r = server.Get("/api/jobs?type=heatmap_refresh&limit=200");
  ASSERT_EQ(r.status, 200) << r.text;
  ASSERT_TRUE(r.body.contains("jobs")) << r.text;
  EXPECT_GT(r.body["jobs"].size(), 0u) << r.text;
  for (const auto& j : r.body["jobs"]) EXPECT_EQ(j["type"], "heatmap_refresh");
  EXPECT_EQ(server.Terminate(), 0);
}

// One random small change of the town: a POI removed, added, moved or re-categorised, the
// grocery hall's corner moved, a street segment cut, a new bridge, or a street node moved.
void RandomEdit(OsmTown* town, std::mt19937* rng, int64_t* next_id) {
  std::vector<int64_t> pois;
  for (const auto& [id, n] : town->nodes) {
    if (!n.tags.empty()) pois.push_back(id);
  }
  auto pick = [&](int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(*rng); };
  auto jitter = [&](double max_deg) {
    return std::round(std::uniform_real_distribution<double>(-max_deg, max_deg)(*rng) * 1e7) / 1e7;
  };
  const int64_t poi = pois[size_t(pick(int64_t(pois.size())))];
  const int r = int(pick(OsmTown::kRows - 1)), c = int(pick(OsmTown::kCols - 1));
  switch (pick(8)) {
    case 0:
      town->nodes.erase(poi);
      break;
    case 1: {
      static const char* kKinds[][2] = {
          {"shop", "supermarket"}, {"amenity", "restaurant"}, {"leisure", "park"}};
      const auto& kind = kKinds[pick(3)];
      town->AddPoi((*next_id)++, town->RandomPosition(rng), kind[0], kind[1], "Added");
      break;
    }
    case 2:
      town->nodes[poi].lat += jitter(0.003);
      town->nodes[poi].lng += jitter(0.003);
      break;
    case 3:
      town->nodes[poi].tags[0] = town->nodes[poi].tags[0].first == "shop"
                                     ? std::make_pair("amenity", "restaurant")
                                     : std::make_pair("shop", "convenience");
      break;
    case 4:
      town->nodes[400000 + pick(4)].lat += jitter(0.001);
      break;
    case 5:
      town->CutStreet(OsmTown::StreetNode(r, c), OsmTown::StreetNode(r, c + 1), (*next_id)++);
      break;
    case 6:  // a footbridge across the river
      town->ways[(*next_id)++] = {
          {OsmTown::StreetNode(OsmTown::kRiver, c), OsmTown::StreetNode(OsmTown::kRiver + 1, c)},
          {{"highway", "footway"}}};
      break;
    default:
      town->nodes[OsmTown::StreetNode(r, c)].lat += jitter(0.0003);
      break;
  }
}

// Random small change sets, one after the other, each imported with --replace: after the
// refresh jobs, every stored cell equals a computation from scratch. This is what shows the
// dirty-area rule is never too small.
TEST_P(RefreshTest, RandomChangeSetsEqualAFullRecompute) {
  OsmTown town = OsmTown::Generate(30, 25, 10, 11);
  Import(town, "t0.osm.pbf", false);
  ComputeArea();
  std::mt19937 rng(GetParam() == Backend::kSqlite ? 17 : 23);
  int64_t next_id = 700000;
  for (int round = 1; round <= 8; ++round) {
    const int edits = 1 + int(rng() % 3);
    for (int k = 0; k < edits; ++k) RandomEdit(&town, &rng, &next_id);
    ImportRun run = Import(town, "t" + std::to_string(round) + ".osm.pbf", true);
    EXPECT_LE(double(run.refresh.cells()),
              double(run.refresh.dirty_cells) / (1 - kMaxRefreshWaste) + 1);
    RunJobs();
    ExpectCellsFromScratch(town);
    if (HasFailure()) {
      ADD_FAILURE() << "round " << round;
      return;
    }
  }
}

// The change (3 groceries removed, 2 added, 1 moved, 1 street cut) as an OSM change
// file written with libosmium from the difference of the two extracts: the same dirty cells as
// --replace, and afterwards every cell equals a computation from scratch on the new extract; a
// removed grocery leaves GET /api/score.
TEST_P(RefreshTest, ChangeFileRecomputesExactlyTheDirtyCells) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  ComputeArea();
  const Modified after = Modify(before);
  const std::string osc = dir_.File("day.osc");
  OsmTown::WriteChange(before, after.town, osc);
  const OsmTown::Node& gone = before.nodes.at(after.removed[0]);
  // No embedded worker: the coverage job a point score may schedule must not add cells of
  // another grid step before the import plans its refresh.
  testing::ServerProcess server(dir_.File("serve.log"), {{"DATABASE_URL", url_}}, {"--no-worker"});
  ASSERT_TRUE(server.running()) << server.Log();
  const std::string q =
      "/api/score?lat=" + testing::Shortest(gone.lat) + "&lng=" + testing::Shortest(gone.lng);
  testing::Reply r = server.Get(q);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_NE(r.text.find("\"Grocer 0\""), std::string::npos) << "the grocery scores before";
  auto version = store_->WalkNetworkVersion();
  ASSERT_TRUE(version.ok());
  const int segments_at_cut = StreetSegmentsAt(after.cut[0]);
  EXPECT_GE(segments_at_cut, 2);

  ImportRun run = ImportPath(osc, false);
  EXPECT_TRUE(run.change_file);
  EXPECT_EQ(run.summary.inserted, 2);
  EXPECT_EQ(run.summary.updated, 1);
  EXPECT_EQ(run.summary.removed, 3);
  EXPECT_EQ(run.summary.walk_edges_removed, 1);
  EXPECT_EQ(run.summary.walk_nodes_removed, 0);
  EXPECT_GT(*store_->WalkNetworkVersion(), *version) << "street tiles see the cut";
  EXPECT_EQ(StreetSegmentsAt(after.cut[0]), segments_at_cut - 1);
  const int64_t predicted = PredictDirty(after.changed, after.cut, after.town);
  EXPECT_EQ(run.refresh.dirty_cells, predicted);
  r = server.Get(q);
  ASSERT_EQ(r.status, 200) << r.text;
  EXPECT_EQ(r.text.find("\"Grocer 0\""), std::string::npos) << r.text;
  EXPECT_EQ(server.Terminate(), 0);
  RunJobs();
  const auto [jobs, cells] = RefreshJobsDone();
  EXPECT_EQ(jobs, int(run.jobs.size()));
  EXPECT_EQ(cells, run.refresh.cells());
  ExpectCellsFromScratch(after.town);
  // The network equals the new extract's.
  WalkNetwork want;
  const std::string path = dir_.File("want.osm.pbf");
  after.town.WritePbf(path);
  ASSERT_TRUE(ImportPois(path, nullptr, {}, &want).ok());
  auto got = store_->LoadWalkNetwork({47.0, 9.4, 47.3, 9.7});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->edges.size(), want.edges.size());
}

// A node of the grocery drawn as a way moves, and nothing else: the way's POI moves with it
// (its other nodes' positions come from the store).
TEST_P(RefreshTest, ChangeFileMovesAWayPoiWithItsNode) {
  const OsmTown before = OsmTown::Generate(10, 5, 5, 7);
  Import(before, "old.osm.pbf", false);
  OsmTown after = before;
  after.nodes[400001].lat += 0.0004;
  // And a street crossing moves: its four segments are re-measured and drawn from there.
  const int64_t crossing = OsmTown::StreetNode(10, 10);
  const LatLng was{before.nodes.at(crossing).lat, before.nodes.at(crossing).lng};
  after.nodes[crossing].lat = std::round((was.lat + 0.0002) * 1e7) / 1e7;
  const LatLng now{after.nodes.at(crossing).lat, was.lng};
  EXPECT_EQ(StreetSegmentsAt(was), 4);
  OsmTown::WriteChange(before, after, dir_.File("move.osc.gz"));
  ImportRun run = ImportPath(dir_.File("move.osc.gz"), false);
  EXPECT_EQ(run.summary.updated, 1);
  EXPECT_EQ(StreetSegmentsAt(was), 0);
  EXPECT_EQ(StreetSegmentsAt(now), 4);
  WalkNetwork want_net;
  after.WritePbf(dir_.File("net.osm.pbf"));
  ASSERT_TRUE(ImportPois(dir_.File("net.osm.pbf"), nullptr, {}, &want_net).ok());
  auto got_net = store_->LoadWalkNetwork({47.0, 9.4, 47.3, 9.7});
  ASSERT_TRUE(got_net.ok());
  ASSERT_EQ(got_net->edges.size(), want_net.edges.size());
  for (size_t k = 0; k < want_net.edges.size(); ++k) {
    EXPECT_EQ(got_net->edges[k].a, want_net.edges[k].a);
    EXPECT_NEAR(got_net->edges[k].length_m, want_net.edges[k].length_m, 1e-9) << k;
  }
  auto stored = store_->LoadPoisById({"w9000"});
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->size(), 1u);
  after.WritePbf(dir_.File("new.osm.pbf"));
  auto want = ImportPois(dir_.File("new.osm.pbf"));
  ASSERT_TRUE(want.ok());
  for (const Poi& p : *want) {
    if (p.source_id != "w9000") continue;
    EXPECT_DOUBLE_EQ(stored->at(0).lat, p.lat);
    EXPECT_DOUBLE_EQ(stored->at(0).lng, p.lng);
  }
}

// The property test through change files: random small change sets, each applied as the
// .osc of its difference (every third as an extract with --replace); after the refresh jobs
// every stored cell equals a computation from scratch.
TEST_P(RefreshTest, RandomChangeFilesEqualAFullRecompute) {
  OsmTown town = OsmTown::Generate(30, 25, 10, 13);
  Import(town, "t0.osm.pbf", false);
  ComputeArea();
  std::mt19937 rng(GetParam() == Backend::kSqlite ? 29 : 31);
  int64_t next_id = 700000;
  int64_t recomputed = 0;
  for (int round = 1; round <= 12; ++round) {
    const OsmTown before = town;
    const int edits = 1 + int(rng() % 3);
    for (int k = 0; k < edits; ++k) RandomEdit(&town, &rng, &next_id);
    // Change files, with an extract imported with --replace every third round: the stored
    // way lists stay right across both (a street gone from an extract stays gone).
    if (round % 3 == 0) {
      Import(town, "c" + std::to_string(round) + ".osm.pbf", true);
    } else {
      const std::string osc = dir_.File("c" + std::to_string(round) + ".osc");
      OsmTown::WriteChange(before, town, osc);
      recomputed += ImportPath(osc, false).refresh.cells();
    }
    RunJobs();
    ExpectCellsFromScratch(town);
    if (HasFailure()) {
      ADD_FAILURE() << "round " << round;
      return;
    }
  }
  EXPECT_GT(recomputed, 0) << "the change files changed nothing that scores";
}

// A CSV file is read, compared and written in batches (here of 2 POIs): its refresh is
// planned batch by batch and recomputes exactly the dirty cells, as for one list.
TEST_P(RefreshTest, CsvInBatchesRecomputesExactlyTheDirtyCells) {
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  Import(before, "old.osm.pbf", false);
  ComputeArea();
  OsmTown after = before;
  std::vector<PoiPoint> changed;
  std::string csv = "lat,lng,category,name\n";
  std::mt19937 rng(7);
  const std::pair<Category, std::pair<const char*, const char*>> kinds[] = {
      {Category::kGroceries, {"shop", "convenience"}},
      {Category::kRestaurants, {"amenity", "restaurant"}},
      {Category::kGroceries, {"shop", "convenience"}},
      {Category::kParks, {"leisure", "park"}},
      {Category::kGroceries, {"shop", "convenience"}}};
  int64_t id = 160000;
  for (const auto& [category, tag] : kinds) {
    LatLng at = after.RandomPosition(&rng);
    at = {std::round(at.lat * 1e7) / 1e7, std::round(at.lng * 1e7) / 1e7};
    after.AddPoi(id++, at, tag.first, tag.second, "Csv");
    changed.push_back({at.lat, at.lng, category, HealthSub::kNone});
    csv += fmt::format("{:.7f},{:.7f},{},Csv\n", at.lat, at.lng, CategoryId(category));
  }
  const std::string path = dir_.File("more.csv");
  testing::WriteFile(path, csv);
  ImportOptions o;
  o.csv_batch = 2;
  auto run = RunImport(store_.get(), path, o);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->summary.inserted, 5);
  EXPECT_EQ(run->change_points, 5);
  const int64_t predicted = PredictDirty(changed, {}, after);
  EXPECT_GT(predicted, 0);
  EXPECT_EQ(run->refresh.dirty_cells, predicted);
  EXPECT_GE(run->refresh.cells(), predicted);
  EXPECT_LE(double(run->refresh.cells()), double(predicted) / (1 - kMaxRefreshWaste) + 1);
  RunJobs();
  const auto [jobs, cells] = RefreshJobsDone();
  EXPECT_EQ(jobs, int(run->jobs.size()));
  EXPECT_EQ(cells, run->refresh.cells());
  ExpectCellsFromScratch(after);
}

INSTANTIATE_TEST_SUITE_P(Stores, RefreshTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

// The CLI as a user runs it (SQLite): the summary lines, the jobs list, process-jobs, and the
// errors of --replace on a file without bounds and of a change file.
TEST(RefreshCli, ImportReplaceEnqueuesRefreshJobsThatProcessJobsRuns) {
  testing::TempDir dir;
  auto run = [&](const std::string& args, int want_rc = 0) {
    std::string out;
    const int rc = testing::RunCommand(
        "DATABASE_URL=sqlite:" + dir.File("cli.db") + " " + testing::BinaryPath() + " " + args,
        &out);
    EXPECT_EQ(rc, want_rc) << args << "\n" << out;
    return out;
  };
  const OsmTown before = OsmTown::Generate(40, 30, 15, 5);
  before.WritePbf(dir.File("old.osm.pbf"));
  std::string out = run("import " + dir.File("old.osm.pbf"));
  EXPECT_NE(out.find(", 0 removed"), std::string::npos) << out;
  run("schedule --bbox 47.104,9.504,47.144,9.544 --grid-step 0.002");
  run("process-jobs");
  const Modified after = Modify(before);
  after.town.WritePbf(dir.File("new.osm.pbf"));
  out = run("import --replace " + dir.File("new.osm.pbf"));
  EXPECT_NE(out.find("2 new, 84 updated, 3 removed"), std::string::npos) << out;
  EXPECT_NE(out.find("the file's header box"), std::string::npos) << out;
  EXPECT_NE(out.find("1 edges removed"), std::string::npos) << out;
  EXPECT_NE(out.find("heatmap_refresh jobs"), std::string::npos) << out;
  out = run("jobs --type heatmap_refresh");
  EXPECT_NE(out.find("heatmap_refresh  pending"), std::string::npos) << out;
  run("process-jobs");
  out = run("jobs --type heatmap_refresh --status pending");
  EXPECT_EQ(out.find("heatmap_refresh"), std::string::npos) << out;
  testing::WriteFile(dir.File("p.csv"), "lat,lng,category\n47.1,9.5,groceries\n");
  out = run("import --replace " + dir.File("p.csv"), 2);
  EXPECT_NE(out.find("--replace needs an OSM file"), std::string::npos) << out;
  // A change file: the moved grocery goes back, which the summary and the jobs show.
  OsmTown::WriteChange(after.town, before, dir.File("day.osc"));
  out = run("import --replace " + dir.File("day.osc"), 2);
  EXPECT_NE(out.find("--replace applies to an extract"), std::string::npos) << out;
  out = run("import " + dir.File("day.osc"));
  EXPECT_NE(out.find("3 new, 1 updated, 2 removed"), std::string::npos) << out;
  EXPECT_NE(out.find("heatmap_refresh jobs"), std::string::npos) << out;
  testing::WriteFile(dir.File("bad.osc"), "<osmChange version=\"0.6\"><create><node id=");
  out = run("import " + dir.File("bad.osc"), 2);
  EXPECT_NE(out.find("cannot read the OSM change file"), std::string::npos) << out;
}

// CoverCells: boxes are disjoint, hold only allowed cells, cover every dirty cell and waste at
// most kMaxRefreshWaste each.
TEST(CoverCellsTest, DisjointBoxesOfAllowedCellsWithBoundedWaste) {
  std::mt19937 rng(3);
  for (int round = 0; round < 50; ++round) {
    std::set<CellKey> allowed, dirty;
    std::uniform_int_distribution<int> u(0, 60);
    for (int i = 0; i < 60; ++i) {
      for (int j = 0; j < 60; ++j) {
        if (!(i > 20 && j > 45 && round % 2)) allowed.insert({i, j});  // a notch without cells
      }
    }
    for (int k = 0; k < 1 + round % 4; ++k) {
      const int ci = u(rng), cj = u(rng), r = 3 + u(rng) % 12;
      for (const CellKey& c : allowed) {
        if ((c.i - ci) * (c.i - ci) + (c.j - cj) * (c.j - cj) <= r * r) dirty.insert(c);
      }
    }
    const std::vector<CellKey> a(allowed.begin(), allowed.end());
    const auto boxes = CoverCells({dirty.begin(), dirty.end()}, a, 0.001, HeatModel::kGrocery);
    std::set<CellKey> covered;
    int64_t total = 0;
    for (const RefreshBox& b : boxes) {
      int64_t in = 0;
      for (int64_t i = b.i0; i < b.i1; ++i) {
        for (int64_t j = b.j0; j < b.j1; ++j) {
          ASSERT_TRUE(allowed.count({i, j})) << "a box holds a cell that is not stored";
          ASSERT_TRUE(covered.insert({i, j}).second) << "boxes overlap";
          in += dirty.count({i, j});
        }
      }
      EXPECT_LE(double(b.cells() - in), kMaxRefreshWaste * double(b.cells()) + 1e-9);
      total += b.cells();
    }
    for (const CellKey& c : dirty) EXPECT_TRUE(covered.count(c));
    EXPECT_LE(double(total), double(dirty.size()) / (1 - kMaxRefreshWaste) + 1e-9);
  }
}

}  // namespace
}  // namespace nbi
