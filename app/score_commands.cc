// `score` (from the store, or straight from a POI file with --osm), `heatmap` (from a POI file,
// no database involved) and `generate-city`.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "common/printable.h"
#include "jobs/model_index.h"
#include "jobs/service.h"
#include "poi/import.h"
#include "poi/synthetic.h"

namespace nbi::cli {

namespace {

// The POIs of the file `path`, and for a walking model (SPEC §4a) its own walk network, which
// only OSM files carry (ModelIndex refuses a walking model without one).
Result<std::vector<Poi>> ImportForModel(const std::string& path, HeatModel model,
                                        WalkNetwork* net) {
  return ImportPois(path, nullptr, {}, IsWalkModel(model) ? net : nullptr);
}

// The cells of `grid` scored from the POI file `path`, and how many POIs (groceries) it held.
struct FileCells {
  std::vector<uint8_t> scores;
  size_t pois = 0, groceries = 0;
};
Result<FileCells> ScoreFileCells(const std::string& path, const GridRegion& grid, HeatModel model) {
  FileCells out;
  out.scores.resize(size_t(grid.cell_count()));
  WalkNetwork net;
  NBI_ASSIGN_OR_RETURN(auto pois, ImportForModel(path, model, &net));
  out.pois = pois.size();
  for (const Poi& p : pois) out.groceries += p.category == Category::kGroceries;
  NBI_ASSIGN_OR_RETURN(const ModelIndex index,
                       ModelIndex::ForCells(model, PointsOf(pois), net, "in " + path));
  index.ScoreCells(grid, 0, grid.cell_count(), out.scores.data());
  return out;
}

// The point score at `at` from the POI file `path`, in the shape of the stored one.
Result<nlohmann::json> FilePointScore(const std::string& path, LatLng at,
                                      const std::string& model_name) {
  NBI_ASSIGN_OR_RETURN(HeatModel model, ParseModelName("--model", model_name));
  WalkNetwork net;
  NBI_ASSIGN_OR_RETURN(auto pois, ImportForModel(path, model, &net));
  NBI_ASSIGN_OR_RETURN(const ModelIndex index,
                       ModelIndex::ForPoint(model, at, std::move(pois), net, "in " + path));
  return index.PointJson();
}

// Score bands of the map's colour scale (SPEC §7).
struct Band {
  const char* name;
  int lo, hi;
};
constexpr Band kBands[] = {{"<30 (none)", 0, 29}, {"30-44", 30, 44},  {"45-59", 45, 59},
                           {"60-77", 60, 77},     {"78-83", 78, 83},  {"84-87", 84, 87},
                           {"88-91", 88, 91},     {"92-100", 92, 100}};

std::string ShortestDouble(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

Status WriteCellList(const std::string& out, const std::vector<HeatCell>& cells) {
  bool geojson = out.ends_with(".geojson") || out.ends_with(".json");
  if (!geojson && !out.ends_with(".csv")) {
    return Status::Invalid(fmt::format("--out {}: use a .csv, .geojson or .json file name", out));
  }
  std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status::Invalid(fmt::format("--out {}: cannot open for writing", out));
    if (geojson)
      f << "{\"type\":\"FeatureCollection\",\"features\":[\n";
    else
      f << "lat,lng,score\n";
    for (size_t n = 0; n < cells.size(); ++n) {
      const HeatCell& c = cells[n];
      if (geojson) {
        f << (n ? ",\n" : "") << R"({"type":"Feature","geometry":{"type":"Point","coordinates":[)"
          << ShortestDouble(c.lng) << ',' << ShortestDouble(c.lat)
          << "]},\"properties\":{\"score\":" << c.score << "}}";
      } else {
        f << ShortestDouble(c.lat) << ',' << ShortestDouble(c.lng) << ',' << c.score << '\n';
      }
    }
    if (geojson) f << "\n]}\n";
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      return Status::Internal(fmt::format("--out {}: write failed", out));
    }
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) {
    return Status::Internal(
        fmt::format("--out {}: cannot rename the finished file into place", out));
  }
  return Status::Ok();
}

void PrintScoreSummary(const std::vector<uint8_t>& scores, std::FILE* to) {
  std::array<int64_t, std::size(kBands)> n{};
  int64_t sum = 0;
  for (uint8_t s : scores) {
    sum += s;
    for (size_t b = 0; b < std::size(kBands); ++b) {
      if (s >= kBands[b].lo && s <= kBands[b].hi) ++n[b];
    }
  }
  std::fprintf(to, "Score distribution (mean %.1f):\n",
               scores.empty() ? 0.0 : double(sum) / double(scores.size()));
  for (size_t b = 0; b < std::size(kBands); ++b) {
    double pct = scores.empty() ? 0 : 100.0 * double(n[b]) / double(scores.size());
    std::fprintf(to, "  %-11s %9lld cells %5.1f%%\n", kBands[b].name, (long long)n[b], pct);
  }
}

namespace {

// The point score of `o` from the store: the JSON of GET /api/score (without a coverage
// job: a read schedules nothing), or a table.
struct ScoreOpts {
  std::string osm, model = "grocery";
  double lat = 0, lng = 0;
  bool json = false;
};

void PrintScoreTable(const nlohmann::json& s) {
  std::printf("Score at %s, %s: %d overall; %s heatmap cell %d\n", s["lat"].dump().c_str(),
              s["lng"].dump().c_str(), s["overall"].get<int>(),
              s["model"].get<std::string>().c_str(), s["cellScore"].get<int>());
  if (s.value("distance", "") == "walking") {
    std::printf("  distances are walked along the street network (SPEC §4a)\n");
  }
  std::printf("  %-14s %5s %6s %9s  nearest place\n", "category", "score", "count", "nearest");
  for (const auto& c : s["categories"]) {
    std::string nearest = c["nearestDistance"].is_null()
                              ? "-"
                              : fmt::format("{:.0f} m", c["nearestDistance"].get<double>());
    // A name from the data: printable (no escape sequences reach the terminal).
    std::string place = c["pois"].empty() ? "" : Printable(c["pois"][0]["name"].get<std::string>());
    std::printf("  %-14s %5d %6d %9s  %s\n", c["id"].get<std::string>().c_str(),
                c["score"].get<int>(), c["count"].get<int>(), nearest.c_str(), place.c_str());
  }
  std::printf("Heatmap coverage: %s\n", s["hasHeatmapCoverage"].get<bool>()
                                            ? "yes"
                                            : "no (`serve` schedules it at /api/score)");
}

void ScoreFromStore(const ScoreOpts& o, LatLng at) {
  auto model = ParseModelName("--model", o.model);
  if (!model.ok()) return Fail(model.status());
  auto store = OpenConfiguredStore(StoreRole::kApi);
  if (!store.ok()) return Fail(store.status());
  auto body = StoredPointScore(store->get(), at, *model);
  if (!body.ok()) return Fail(body.status());
  auto covered = (*store)->HasCoverage(at.lat, at.lng, kCoverageGridStep, *model);
  if (!covered.ok()) return Fail(covered.status());
  (*body)["hasHeatmapCoverage"] = *covered;
  if (o.json) {
    std::printf("%s\n", TerminalJson(*body).c_str());
  } else {
    PrintScoreTable(*body);
  }
}

void RegisterScore(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "score", "Print the point score at LAT LNG from the stored POIs (or a POI file with --osm)");
  auto o = std::make_shared<ScoreOpts>();
  cmd->add_option("lat", o->lat, "latitude")->required();
  cmd->add_option("lng", o->lng, "longitude")->required();
  cmd->add_option("--model", o->model,
                  "heatmap model of the cell score: grocery | blend | grocery-walk | blend-walk")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "print the JSON of GET /api/score instead of a table");
  cmd->add_option("--osm", o->osm,
                  "score from this POI file instead of the store, printed as JSON "
                  "(.osm.pbf/.osm/.osm.bz2/.osm.gz/.geojson/.json/.csv)");
  cmd->callback([o] {
    auto at = LatLng::Make(o->lat, o->lng, "point");
    if (!at.ok()) return Fail(at.status());
    if (o->osm.empty()) return ScoreFromStore(*o, *at);
    auto body = FilePointScore(o->osm, *at, o->model);
    if (!body.ok()) return Fail(body.status());
    std::printf("%s\n", TerminalJson(*body).c_str());
  });
}

void RegisterGenerateCity(CLI::App& app) {
  {
    auto* cmd = app.add_subcommand(
        "generate-city",
        "Write a generated city's POIs as CSV (demo data when no extract is available)");
    auto out = std::make_shared<std::string>();
    cmd->add_option("--out", *out, "output .csv")->required();
    cmd->callback([out] {
      SyntheticCitySpec spec;
      auto pois = GenerateCity(spec);
      std::ofstream f(*out);
      f << "lat,lng,category,name\n";
      for (const Poi& p : pois) {
        std::string cat(CategoryId(p.category));
        if (p.sub != HealthSub::kNone) cat += ":" + std::string(HealthSubId(p.sub));
        f << ShortestDouble(p.lat) << ',' << ShortestDouble(p.lng) << ',' << cat << ',' << p.name
          << '\n';
      }
      if (!f) return Fail(Status::Invalid("cannot write " + *out));
      std::printf("Generated city: %zu POIs in %s, written to %s\n", pois.size(),
                  SyntheticCityBox(spec).ToString().c_str(), out->c_str());
    });
  }
}

void RegisterHeatmap(CLI::App& app) {
  {
    auto* cmd =
        app.add_subcommand("heatmap", "Compute a heatmap from a POI file into a CSV/GeoJSON file");
    struct Opts {
      std::string osm, bbox, model = "grocery", out;
      double step = 0.0025;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("--osm", o->osm, "POI file")->required();
    cmd->add_option("--bbox", o->bbox, "minLat,minLng,maxLat,maxLng")->required();
    cmd->add_option("--grid-step", o->step, "grid step in degrees (0.0001..0.1)")
        ->capture_default_str();
    cmd->add_option("--model", o->model, "grocery | blend | grocery-walk | blend-walk")
        ->capture_default_str();
    cmd->add_option("--out", o->out, "output file: .csv (lat,lng,score) or .geojson")->required();
    cmd->callback([o] {
      auto box = BBox::Parse(o->bbox);
      if (!box.ok()) return Fail(box.status());
      auto model = ParseModelName("--model", o->model);
      if (!model.ok()) return Fail(model.status());
      auto grid = GridRegion::Make(*box, o->step);
      if (!grid.ok()) return Fail(grid.status());
      auto scored = ScoreFileCells(o->osm, *grid, *model);
      if (!scored.ok()) return Fail(scored.status());
      const std::vector<uint8_t>& scores = scored->scores;
      std::vector<HeatCell> cells(scores.size());
      for (int64_t n = 0; n < grid->cell_count(); ++n) {
        LatLng at = grid->CellAt(n);
        cells[n] = {at.lat, at.lng, scores[n], o->step};
      }
      Status st = WriteCellList(o->out, cells);
      if (!st.ok()) return Fail(st);
      std::printf(
          "Heatmap (%s model) of %s at gridStep %g: %lld cells (%lld x %lld), %zu POIs (%zu "
          "groceries)\n",
          std::string(HeatModelId(*model)).c_str(), box->ToString().c_str(), o->step,
          (long long)grid->cell_count(), (long long)grid->rows(), (long long)grid->cols(),
          scored->pois, scored->groceries);
      PrintScoreSummary(scores, stdout);
      std::printf("Written to %s\n", o->out.c_str());
    });
  }
}

}  // namespace

void RegisterScoreCommands(CLI::App& app) {
  RegisterScore(app);
  RegisterGenerateCity(app);
  RegisterHeatmap(app);
}

}  // namespace nbi::cli
