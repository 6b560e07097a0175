// Commands over the store: migrate, import, cities, jobs, schedule.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "poi/import.h"
#include "store/store.h"

namespace nbi::cli {

Result<std::unique_ptr<Store>> OpenConfiguredStore() {
  std::string url = DatabaseUrlFromEnv();
  auto s = OpenStore(url);
  if (!s.ok())
    return s.status().WithPrefix(
        fmt::format("opening {}: ", url.rfind("sqlite:", 0) == 0 ? url : "DATABASE_URL"));
  return s;
}

std::string FormatMs(std::optional<int64_t> ms) {
  if (!ms) return "-";
  std::time_t t = *ms / 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void PrintJobTable(const std::vector<Job>& jobs) {
  std::printf("%-6s %-16s %-10s %8s %10s  %-19s  %-19s  %-19s  %s\n", "ID", "TYPE", "STATUS",
              "PROGRESS", "ITEMS", "CREATED", "STARTED", "COMPLETED", "ERROR");
  for (const Job& j : jobs) {
    std::string err = j.error.value_or("");
    if (err.size() > 60) err = err.substr(0, 57) + "...";
    std::printf("%-6lld %-16s %-10s %7d%% %10lld  %-19s  %-19s  %-19s  %s\n", (long long)j.id,
                j.type.c_str(), std::string(JobStatusId(j.status)).c_str(), j.progress,
                (long long)j.total_items, FormatMs(j.created_at_ms).c_str(),
                FormatMs(j.started_at_ms).c_str(), FormatMs(j.completed_at_ms).c_str(),
                err.c_str());
  }
  if (jobs.empty()) std::printf("(no jobs)\n");
}

void PrintJob(const Job& j) {
  std::printf("Job #%lld (%s)\n", (long long)j.id, j.type.c_str());
  std::printf("  status:      %s%s\n", std::string(JobStatusId(j.status)).c_str(),
              j.cancel_requested && j.status == JobStatus::kRunning ? " (cancel requested)" : "");
  std::printf("  progress:    %d%% (%lld/%lld cells)\n", j.progress,
              (long long)j.last_processed_index(), (long long)j.total_items);
  std::printf("  attempts:    %d of %d, priority %d\n", j.attempts, j.max_attempts, j.priority);
  std::printf("  created:     %s\n  started:     %s\n  completed:   %s\n",
              FormatMs(j.created_at_ms).c_str(), FormatMs(j.started_at_ms).c_str(),
              FormatMs(j.completed_at_ms).c_str());
  if (j.locked_by)
    std::printf("  worker:      %s (heartbeat %s)\n", j.locked_by->c_str(),
                FormatMs(j.heartbeat_at_ms).c_str());
  if (j.error) std::printf("  error:       %s\n", j.error->c_str());
  std::printf("  metadata:    %s\n", j.metadata.dump().c_str());
}

namespace {

Result<int64_t> ParseJobId(const std::string& s) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || v <= 0)
    return Status::Invalid(fmt::format("job id '{}' is not a positive number", s));
  return int64_t(v);
}

// Non-OSM files number their POIs per file: prefix with the file name so two files don't
// collide and re-importing the same file updates instead of duplicating.
void QualifySourceIds(const std::string& path, std::vector<Poi>* pois) {
  auto fmt_ = DetectPoiFormat(path);
  if (fmt_.ok() && *fmt_ == PoiFormat::kOsm) return;
  std::string base = std::filesystem::path(path).filename().string();
  for (Poi& p : *pois) p.source_id = base + ":" + p.source_id;
}

}  // namespace

void RegisterStoreCommands(CLI::App& app) {
  app.add_subcommand("migrate", "Create or upgrade the database schema (also done at every start)")
      ->callback([] {
        auto s = OpenConfiguredStore();
        if (!s.ok()) return Fail(s.status());
        std::printf("%s: schema at version %d\n", (*s)->Describe().c_str(), *(*s)->SchemaVersion());
      });

  {
    auto* cmd = app.add_subcommand(
        "import", "Load POIs from OSM (.osm.pbf/.osm/.osm.bz2/.osm.gz), GeoJSON or CSV files");
    auto files = std::make_shared<std::vector<std::string>>();
    cmd->add_option("files", *files, "files to import")->required();
    cmd->callback([files] {
      auto s = OpenConfiguredStore();
      if (!s.ok()) return Fail(s.status());
      bool tty = isatty(STDERR_FILENO);
      for (const std::string& f : *files) {
        ImportStats stats;
        uint64_t last_pct = 101;
        auto pois = ImportPois(f, &stats, [&](uint64_t done, uint64_t total) {
          if (!tty || total == 0) return;
          uint64_t pct = 100 * done / total;
          if (pct != last_pct) {
            std::fprintf(stderr, "\rReading %s: %3llu%%", f.c_str(), (unsigned long long)pct);
            last_pct = pct;
          }
        });
        if (tty && last_pct != 101) std::fprintf(stderr, "\n");
        if (!pois.ok()) return Fail(pois.status());
        QualifySourceIds(f, &*pois);
        auto sum = (*s)->UpsertPois(*pois);
        if (!sum.ok()) return Fail(sum.status().WithPrefix(f + ": storing POIs: "));
        std::array<int64_t, kCategoryCount> per{};
        for (const Poi& p : *pois) ++per[static_cast<int>(p.category)];
        std::printf(
            "Imported %s: %zu POIs (%llu from nodes, %llu from ways), %lld new, %lld updated\n",
            f.c_str(), pois->size(), (unsigned long long)stats.nodes,
            (unsigned long long)stats.ways, (long long)sum->inserted, (long long)sum->updated);
        for (Category c : kAllCategories) {
          std::printf("  %-14s %8lld\n", std::string(CategoryId(c)).c_str(),
                      (long long)per[static_cast<int>(c)]);
        }
      }
    });
  }

  {
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
        std::printf("%-16s %-24s %-4s %s\n", c.slug.c_str(), c.name.c_str(), c.country.c_str(),
                    c.bounds.ToString().c_str());
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
      bool slug_ok = !o->slug.empty() && o->slug.size() <= 100;
      for (char ch : o->slug)
        slug_ok &= (std::isalnum((unsigned char)ch) && !std::isupper((unsigned char)ch)) ||
                   ch == '-' || ch == '_';
      if (!slug_ok)
        return Fail(Status::Invalid(
            fmt::format("slug '{}': use lower-case letters, digits, - and _", o->slug)));
      auto box = BBox::Parse(o->bbox);
      if (!box.ok()) return Fail(box.status());
      auto s = OpenConfiguredStore();
      if (!s.ok()) return Fail(s.status());
      auto c =
          (*s)->UpsertCity({0, o->slug, o->name.empty() ? o->slug : o->name, o->country, *box});
      if (!c.ok()) return Fail(c.status());
      std::printf("City %s (#%lld): %s\n", c->slug.c_str(), (long long)c->id,
                  c->bounds.ToString().c_str());
    });
  }

  {
    auto* jobs =
        app.add_subcommand("jobs", "Recent jobs as a table; show / cancel / retry / reset-running");
    struct Opts {
      int limit = 20;
      std::string status, id;
      bool yes = false;
    };
    auto o = std::make_shared<Opts>();
    jobs->add_option("--limit", o->limit, "how many jobs")->capture_default_str();
    jobs->add_option("--status", o->status, "only jobs in this status");
    jobs->callback([jobs, o] {
      if (!jobs->get_subcommands().empty()) return;
      JobFilter f;
      f.limit = std::clamp(o->limit, 1, 10000);
      if (!o->status.empty()) {
        f.status = ParseJobStatus(o->status);
        if (!f.status)
          return Fail(Status::Invalid(fmt::format(
              "--status {}: use pending, running, completed, failed or cancelled", o->status)));
      }
      auto s = OpenConfiguredStore();
      if (!s.ok()) return Fail(s.status());
      auto list = (*s)->ListJobs(f);
      if (!list.ok()) return Fail(list.status());
      PrintJobTable(*list);
    });
    auto with_job = [o](std::function<Result<Job>(Store*, int64_t)> fn) {
      return [o, fn] {
        auto id = ParseJobId(o->id);
        if (!id.ok()) return Fail(id.status());
        auto s = OpenConfiguredStore();
        if (!s.ok()) return Fail(s.status());
        auto j = fn(s->get(), *id);
        if (!j.ok()) return Fail(j.status());
        PrintJob(*j);
      };
    };
    jobs->add_subcommand("show", "Show one job")
        ->callback(with_job([](Store* s, int64_t id) { return s->GetJob(id); }))
        ->add_option("id", o->id, "job id")
        ->required();
    jobs->add_subcommand("cancel", "Cancel a job (pending: at once; running: at its next chunk)")
        ->callback(with_job([](Store* s, int64_t id) { return s->Cancel(id); }))
        ->add_option("id", o->id, "job id")
        ->required();
    jobs->add_subcommand("retry", "Put a failed or cancelled job back in the queue")
        ->callback(with_job([](Store* s, int64_t id) { return s->Retry(id); }))
        ->add_option("id", o->id, "job id")
        ->required();
    auto* reset = jobs->add_subcommand("reset-running",
                                       "Force every running job back to pending (troubleshooting)");
    reset->add_flag("--yes", o->yes, "confirm: workers still running these jobs lose them");
    reset->callback([o] {
      if (!o->yes)
        return Fail(Status::Invalid(
            "jobs reset-running needs --yes: it takes jobs away from live workers too"));
      auto s = OpenConfiguredStore();
      if (!s.ok()) return Fail(s.status());
      auto n = (*s)->ResetRunning();
      if (!n.ok()) return Fail(n.status());
      std::printf("Reset %d running job(s) to pending\n", *n);
    });
    auto* prune = jobs->add_subcommand("prune", "Delete finished jobs older than an age");
    auto age = std::make_shared<std::string>("7d");
    prune->add_option("--older-than", *age, "age: e.g. 3600s, 90min, 24h, 7d")
        ->capture_default_str();
    prune->callback([age] {
      std::string a = *age;
      if (!a.empty() && a.back() == 'd') a = std::to_string(std::atof(a.c_str()) * 24) + "h";
      auto ms = ParseDurationMsForCli("--older-than", a);
      if (!ms.ok()) return Fail(ms.status());
      auto s = OpenConfiguredStore();
      if (!s.ok()) return Fail(s.status());
      auto n = (*s)->PruneFinished(*ms);
      if (!n.ok()) return Fail(n.status());
      std::printf("Pruned %d finished job(s)\n", *n);
    });
  }

  {
    auto* cmd = app.add_subcommand(
        "export", "Write stored heatmap cells of a city or bbox to CSV/GeoJSON, with a summary");
    struct Opts {
      std::string city, bbox, out;
      double step = 0.0025;
    };
    auto o = std::make_shared<Opts>();
    cmd->add_option("--city", o->city, "city slug");
    cmd->add_option("--bbox", o->bbox, "minLat,minLng,maxLat,maxLng");
    cmd->add_option("--grid-step", o->step, "grid step of the cells")->capture_default_str();
    cmd->add_option("--out", o->out, "output .csv or .geojson")->required();
    cmd->callback([o] {
      if (o->city.empty() == o->bbox.empty())
        return Fail(Status::Invalid("give --city SLUG or --bbox minLat,minLng,maxLat,maxLng"));
      auto s = OpenConfiguredStore();
      if (!s.ok()) return Fail(s.status());
      BBox box;
      if (!o->city.empty()) {
        auto c = (*s)->GetCity(o->city);
        if (!c.ok()) return Fail(c.status());
        box = c->bounds;
      } else {
        auto b = BBox::Parse(o->bbox);
        if (!b.ok()) return Fail(b.status());
        box = *b;
      }
      NBI_STATUS_OR_FAIL(ValidateGridStep(o->step));
      auto cells = (*s)->QueryCells(box, o->step, 0, kDefaultCellCap);
      if (!cells.ok()) return Fail(cells.status());
      auto pois = (*s)->LoadPois(box, -1);
      if (!pois.ok()) return Fail(pois.status());
      size_t groceries = 0;
      for (const Poi& p : *pois) groceries += p.category == Category::kGroceries;
      std::vector<uint8_t> scores;
      scores.reserve(cells->size());
      for (const HeatCell& c : *cells) scores.push_back(uint8_t(c.score));
      Status st = WriteCellList(o->out, *cells);
      if (!st.ok()) return Fail(st);
      std::printf("Heatmap of %s at gridStep %g: %zu cells, %zu POIs in the area (%zu groceries)\n",
                  o->city.empty() ? box.ToString().c_str() : o->city.c_str(), o->step,
                  cells->size(), pois->size(), groceries);
      PrintScoreSummary(scores, stdout);
      std::printf("Written to %s\n", o->out.c_str());
    });
  }

  {
    auto* cmd = app.add_subcommand("schedule", "Schedule a heatmap job for a city or a bbox");
    struct Opts {
      std::string city, bbox, model = "grocery";
      double step = 0.0025;
      int priority = 0;
      bool reset = false;
    };
    auto o = std::make_shared<Opts>();
    auto* city = cmd->add_option("--city", o->city, "city slug (see `cities list`)");
    auto* bbox = cmd->add_option("--bbox", o->bbox, "minLat,minLng,maxLat,maxLng");
    city->excludes(bbox);
    cmd->add_option("--grid-step", o->step, "grid step in degrees (0.0001..0.1)")
        ->capture_default_str();
    cmd->add_option("--model", o->model, "grocery | blend")->capture_default_str();
    cmd->add_option("--priority", o->priority, "higher runs first")->capture_default_str();
    cmd->add_flag("--reset", o->reset,
                  "first delete the area's cells of this step and its finished jobs");
    cmd->callback([o] {
      if (o->city.empty() == o->bbox.empty())
        return Fail(Status::Invalid("give --city SLUG or --bbox minLat,minLng,maxLat,maxLng"));
      auto model = ParseHeatModel(o->model);
      if (!model)
        return Fail(Status::Invalid(fmt::format("--model {}: use grocery or blend", o->model)));
      auto s = OpenConfiguredStore();
      if (!s.ok()) return Fail(s.status());
      HeatmapJobSpec spec;
      spec.grid_step = o->step;
      spec.model = *model;
      spec.priority = o->priority;
      if (!o->city.empty()) {
        auto c = (*s)->GetCity(o->city);
        if (!c.ok()) return Fail(c.status());
        spec.bounds = c->bounds;
        spec.city_id = c->id;
      } else {
        auto b = BBox::Parse(o->bbox);
        if (!b.ok()) return Fail(b.status());
        spec.bounds = *b;
      }
      auto g = GridRegion::Make(spec.bounds, spec.grid_step);
      if (!g.ok()) return Fail(g.status());
      if (o->reset) {
        auto n = (*s)->ResetArea(spec.bounds, spec.grid_step);
        if (!n.ok()) return Fail(n.status());
        std::printf("Reset: removed %lld cells of gridStep %g in %s and its finished jobs\n",
                    (long long)*n, spec.grid_step, spec.bounds.ToString().c_str());
      }
      auto r = (*s)->EnqueueHeatmap(spec);
      if (!r.ok()) return Fail(r.status());
      std::printf("Job #%lld %s (%s, %lld cells, gridStep %g, model %s)\n", (long long)r->job.id,
                  r->is_new ? "scheduled" : "already active - not duplicated",
                  std::string(JobStatusId(r->job.status)).c_str(), (long long)r->job.total_items,
                  spec.grid_step, std::string(HeatModelId(spec.model)).c_str());
      std::printf("{\"jobId\": %lld, \"status\": \"%s\", \"isNew\": %s}\n", (long long)r->job.id,
                  std::string(JobStatusId(r->job.status)).c_str(), r->is_new ? "true" : "false");
    });
  }
}

}  // namespace nbi::cli
