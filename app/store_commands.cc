// Commands over the store: migrate, import, cities, export.
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common/printable.h"
#include "config.h"
#include "jobs/refresh.h"
#include "poi/import.h"
#include "store/store.h"

namespace nbi::cli {

Result<std::unique_ptr<Store>> OpenConfiguredStore(StoreRole role) {
  std::string url = DatabaseUrl();
  NBI_ASSIGN_OR_RETURN(StoreOptions opts, StoreConfig(role));
  auto s = OpenStore(url, SystemClock::Get(), opts);
  if (!s.ok())
    return s.status().WithPrefix(
        fmt::format("opening {}: ", url.rfind("sqlite:", 0) == 0 ? url : "DATABASE_URL"));
  return s;
}

namespace {

void RegisterMigrate(CLI::App& app) {
  app.add_subcommand("migrate", "Create or upgrade the database schema (also done at every start)")
      ->callback([] {
        auto s = OpenConfiguredStore();
        if (!s.ok()) return Fail(s.status());
        auto version = (*s)->SchemaVersion();
        if (!version.ok()) return Fail(version.status());
        std::printf("%s: schema at version %d\n", (*s)->Describe().c_str(), *version);
      });
}

// The summary line of the walk network an import stored (SPEC §4a).
std::string WalkNetworkLine(const WalkNetwork& network, const PoiImportSummary& sum, bool osm) {
  if (!osm) return "  no walk network (GeoJSON/CSV carry none)\n";
  std::string removed =
      sum.walk_nodes_removed == 0 && sum.walk_edges_removed == 0
          ? ""
          : fmt::format(", {} nodes, {} edges removed", fmt::group_digits(sum.walk_nodes_removed),
                        fmt::group_digits(sum.walk_edges_removed));
  return fmt::format("  walk network: {} nodes, {} edges ({} nodes, {} edges new{})\n",
                     fmt::group_digits(network.nodes.size()),
                     fmt::group_digits(network.edges.size()),
                     fmt::group_digits(sum.walk_nodes_inserted),
                     fmt::group_digits(sum.walk_edges_inserted), removed);
}

// The lines about the recompute an import enqueued (jobs/refresh.h).
void PrintRefresh(const ImportRun& run, bool recompute) {
  if (run.change_points == 0) {
    std::printf("  no change that scores: nothing to recompute\n");
    return;
  }
  if (!recompute) {
    std::printf("  recompute skipped (--no-recompute)\n");
    return;
  }
  int64_t fresh = 0;
  for (const EnqueueResult& r : run.jobs) fresh += r.is_new;
  std::printf("  recompute: %lld cells dirty, %lld cells in %zu heatmap_refresh job%s (%lld new)\n",
              (long long)run.refresh.dirty_cells, (long long)run.refresh.cells(), run.jobs.size(),
              run.jobs.size() == 1 ? "" : "s", (long long)fresh);
}

struct ImportOpts {
  std::vector<std::string> files;
  bool replace = false, no_recompute = false;
};

Status ImportFile(Store* store, const std::string& f, const ImportOpts& o) {
  bool tty = isatty(STDERR_FILENO);
  uint64_t last_pct = 101;
  ImportOptions opts;
  opts.replace = o.replace;
  opts.recompute = !o.no_recompute;
  opts.progress = [&](uint64_t done, uint64_t total) {
    if (!tty || total == 0) return;
    uint64_t pct = 100 * done / total;
    if (pct != last_pct) {
      std::fprintf(stderr, "\rReading %s: %3llu%%", f.c_str(), (unsigned long long)pct);
      last_pct = pct;
    }
  };
  auto run = RunImport(store, f, opts);
  if (tty && last_pct != 101) std::fprintf(stderr, "\n");
  if (!run.ok()) return run.status();
  const PoiImportSummary& sum = run->summary;
  const ImportStats& stats = run->stats;
  const std::array<int64_t, kCategoryCount>& per = run->per_category;
  // Records that were one POI (same OSM id, or the same CSV/GeoJSON content) are merged.
  std::string merged = stats.duplicates == 0
                           ? ""
                           : fmt::format(", {} duplicate{} merged", stats.duplicates,
                                         stats.duplicates == 1 ? "" : "s");
  std::printf(
      "Imported %s: %lld POIs (%llu from nodes, %llu from ways%s), %lld new, %lld updated, %lld "
      "removed\n",
      f.c_str(), (long long)run->poi_count, (unsigned long long)stats.nodes,
      (unsigned long long)stats.ways, merged.c_str(), (long long)sum.inserted,
      (long long)sum.updated, (long long)sum.removed);
  if (run->replaced) {
    std::printf("  replaced OSM data inside %s (%s)\n", run->replaced->ToString().c_str(),
                stats.header_bounds ? "the file's header box" : "the extent of its nodes");
  }
  for (Category c : kAllCategories) {
    std::printf("  %-14s %8lld\n", std::string(CategoryId(c)).c_str(),
                (long long)per[static_cast<int>(c)]);
  }
  if (stats.unplaced > 0) {
    std::printf(
        "  %llu feature%s skipped: no category of ours (none, or outside the Overture "
        "mapping)\n",
        (unsigned long long)stats.unplaced, stats.unplaced == 1 ? "" : "s");
  }
  if (stats.ways_not_placed > 0) {
    std::printf(
        "  %llu way%s not placed: node positions unknown; import the extract with --replace\n",
        (unsigned long long)stats.ways_not_placed, stats.ways_not_placed == 1 ? "" : "s");
  }
  std::fputs(WalkNetworkLine(run->network, sum, run->osm).c_str(), stdout);
  PrintRefresh(*run, opts.recompute);
  return Status::Ok();
}

void RegisterImport(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "import",
      "Load POIs from OSM (.osm.pbf/.osm/.osm.bz2/.osm.gz), OSM change files (.osc/.osc.gz), "
      "GeoJSON (also Overture places, .geojsonseq) or CSV files");
  auto o = std::make_shared<ImportOpts>();
  cmd->add_option("files", o->files, "files to import")->required();
  cmd->add_flag("--replace", o->replace,
                "the OSM extract is authoritative for its bounds: remove the OSM POIs and walk "
                "network stored there that it no longer holds");
  cmd->add_flag("--no-recompute", o->no_recompute,
                "enqueue no heatmap_refresh jobs for the cells the changes reach");
  cmd->callback([o] {
    auto s = OpenConfiguredStore();
    if (!s.ok()) return Fail(s.status());
    for (const std::string& f : o->files) NBI_STATUS_OR_FAIL(ImportFile(s->get(), f, *o));
  });
}

bool ValidSlug(const std::string& slug) {
  bool ok = !slug.empty() && slug.size() <= 100;
  for (char ch : slug)
    ok &= (std::isalnum((unsigned char)ch) && !std::isupper((unsigned char)ch)) || ch == '-' ||
          ch == '_';
  return ok;
}

void RegisterCities(CLI::App& app) {
  auto* cities = app.add_subcommand("cities", "List or add cities (slug, name, bounds)");
  cities->require_subcommand(1);
  cities->add_subcommand("list", "List cities")->callback([] {
    auto s = OpenConfiguredStore();
    if (!s.ok()) return Fail(s.status());
    auto all = (*s)->ListCities();
    if (!all.ok()) return Fail(all.status());
    std::printf("%-16s %-24s %-4s %s\n", "SLUG", "NAME", "CC",
                "BOUNDS (minLat,minLng,maxLat,maxLng)");
    for (const City& c : *all) {
      std::printf("%-16s %-24s %-4s %s\n", Printable(c.slug).c_str(), Printable(c.name).c_str(),
                  Printable(c.country).c_str(), c.bounds.ToString().c_str());
    }
  });
  auto* add = cities->add_subcommand("add", "Add or update a city");
  struct Opts {
    std::string slug, name, country, bbox;
  };
  auto o = std::make_shared<Opts>();
  add->add_option("slug", o->slug, "short id, e.g. vaduz")->required();
  add->add_option("--name", o->name, "display name");
  add->add_option("--country", o->country, "country code");
  add->add_option("--bbox", o->bbox, "minLat,minLng,maxLat,maxLng")->required();
  add->callback([o] {
    if (!ValidSlug(o->slug))
      return Fail(Status::Invalid(
          fmt::format("slug '{}': use lower-case letters, digits, - and _", o->slug)));
    auto box = BBox::Parse(o->bbox);
    if (!box.ok()) return Fail(box.status());
    auto s = OpenConfiguredStore();
    if (!s.ok()) return Fail(s.status());
    auto c = (*s)->UpsertCity({0, o->slug, o->name.empty() ? o->slug : o->name, o->country, *box});
    if (!c.ok()) return Fail(c.status());
    std::printf("City %s (#%lld): %s\n", c->slug.c_str(), (long long)c->id,
                c->bounds.ToString().c_str());
  });
}

struct ExportOpts {
  std::string city, bbox, out, model = "grocery";
  double step = 0.0025;
};

Status RunExport(const ExportOpts& o) {
  if (o.city.empty() == o.bbox.empty())
    return Status::Invalid("give --city SLUG or --bbox minLat,minLng,maxLat,maxLng");
  NBI_ASSIGN_OR_RETURN(auto s, OpenConfiguredStore());
  BBox box;
  if (!o.city.empty()) {
    NBI_ASSIGN_OR_RETURN(City c, s->GetCity(o.city));
    box = c.bounds;
  } else {
    NBI_ASSIGN_OR_RETURN(box, BBox::Parse(o.bbox));
  }
  NBI_ASSIGN_OR_RETURN(const double step, CanonicalGridStep(o.step));
  NBI_ASSIGN_OR_RETURN(const HeatModel model, ParseModelName("--model", o.model));
  NBI_ASSIGN_OR_RETURN(auto cells, s->QueryCells(box, step, model, 0, kDefaultCellCap));
  NBI_ASSIGN_OR_RETURN(auto pois, s->LoadPois(box, -1));
  size_t groceries = 0;
  for (const Poi& p : pois) groceries += p.category == Category::kGroceries;
  std::vector<uint8_t> scores;
  scores.reserve(cells.size());
  for (const HeatCell& c : cells) scores.push_back(uint8_t(c.score));
  NBI_RETURN_IF_ERROR(WriteCellList(o.out, cells));
  std::printf(
      "Heatmap (%s model) of %s at gridStep %g: %zu cells, %zu POIs in the area (%zu "
      "groceries)\n",
      o.model.c_str(), o.city.empty() ? box.ToString().c_str() : o.city.c_str(), step, cells.size(),
      pois.size(), groceries);
  PrintScoreSummary(scores, stdout);
  std::printf("Written to %s\n", o.out.c_str());
  return Status::Ok();
}

void RegisterExport(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export", "Write stored heatmap cells of a city or bbox to CSV/GeoJSON, with a summary");
  auto o = std::make_shared<ExportOpts>();
  cmd->add_option("--city", o->city, "city slug");
  cmd->add_option("--bbox", o->bbox, "minLat,minLng,maxLat,maxLng");
  cmd->add_option("--grid-step", o->step, "grid step of the cells")->capture_default_str();
  cmd->add_option("--model", o->model, "grocery | blend | grocery-walk | blend-walk")
      ->capture_default_str();
  cmd->add_option("--out", o->out, "output .csv or .geojson")->required();
  cmd->callback([o] { NBI_STATUS_OR_FAIL(RunExport(*o)); });
}

}  // namespace

void RegisterStoreCommands(CLI::App& app) {
  RegisterMigrate(app);
  RegisterImport(app);
  RegisterCities(app);
  RegisterExport(app);
  RegisterJobCommands(app);
}

}  // namespace nbi::cli
