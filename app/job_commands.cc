// Commands over the queue, through JobService: jobs (list, show, cancel, retry,
// reset-running, prune) and schedule.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include "commands.h"
#include "common/duration.h"
#include "common/printable.h"
#include "common/time_format.h"
#include "config.h"
#include "jobs/job_json.h"
#include "jobs/service.h"

namespace nbi::cli {

namespace {

std::string FormatMs(std::optional<int64_t> ms) {
  return ms ? FormatTimestamp(*ms, TimeStyle::kLocalSeconds) : "-";
}

// "9 parts: 5 completed, 2 running (host-12-ab01, host-13-cd02), 2 pending".
void PrintParts(const Job& j, JobQueue* queue) {
  if (j.part_count <= 1) return;
  auto parts = queue->ListParts(j.id);
  if (!parts.ok()) return;
  int counts[3] = {0, 0, 0};
  std::set<std::string> owners;
  for (const JobPart& p : *parts) {
    ++counts[static_cast<int>(p.status)];
    if (p.status == PartStatus::kRunning && p.locked_by) owners.insert(*p.locked_by);
  }
  std::string who;
  for (const std::string& o : owners) who += (who.empty() ? " (" : ", ") + o;
  if (!who.empty()) who += ")";
  std::printf("  parts:       %d: %d completed, %d running%s, %d pending\n", j.part_count,
              counts[static_cast<int>(PartStatus::kCompleted)],
              counts[static_cast<int>(PartStatus::kRunning)], who.c_str(),
              counts[static_cast<int>(PartStatus::kPending)]);
}

void PrintJob(const Job& j, JobQueue* queue) {
  // Text from the database (an original-app job's type and error, a worker's name) is printed
  // through Printable: no control characters reach the terminal raw.
  std::printf("Job #%lld (%s)\n", (long long)j.id, Printable(j.type).c_str());
  std::printf("  status:      %s%s\n", std::string(JobStatusId(j.status)).c_str(),
              j.cancel_requested && j.status == JobStatus::kRunning ? " (cancel requested)" : "");
  std::printf("  progress:    %d%% (%lld/%lld cells)\n", j.progress,
              (long long)j.last_processed_index(), (long long)j.total_items);
  std::printf("  attempts:    %d of %d, priority %d\n", j.attempts, j.max_attempts, j.priority);
  std::printf("  created:     %s\n  started:     %s\n  completed:   %s\n",
              FormatMs(j.created_at_ms).c_str(), FormatMs(j.started_at_ms).c_str(),
              FormatMs(j.completed_at_ms).c_str());
  if (j.locked_by)
    std::printf("  worker:      %s (heartbeat %s)\n", Printable(*j.locked_by).c_str(),
                FormatMs(j.heartbeat_at_ms).c_str());
  if (j.active() && j.run_at_ms > j.created_at_ms)
    std::printf("  runs at:     %s\n", FormatMs(j.run_at_ms).c_str());
  PrintParts(j, queue);
  if (j.error) std::printf("  error:       %s\n", Printable(*j.error).c_str());
  std::printf(
      "  metadata:    %s\n",
      Printable(j.metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)).c_str());
  auto attempts = queue->ListAttempts(j.id);
  if (!attempts.ok() || attempts->empty()) return;
  std::printf("  history:\n");
  for (const JobAttempt& a : *attempts) {
    std::printf("    %s  part %d attempt %d  %-7s  %s: %s\n", FormatMs(a.at_ms).c_str(), a.part,
                a.attempt, Printable(a.outcome).c_str(),
                a.worker.empty() ? "?" : Printable(a.worker).c_str(), Printable(a.error).c_str());
  }
}

// The job as GET /api/jobs/:id shows it, with its attempt history ("attempts": one object per
// failed or rescued attempt) in place of the attempt count ("attemptCount").
Result<nlohmann::json> JobWithHistoryJson(const Job& j, JobQueue* queue) {
  NBI_ASSIGN_OR_RETURN(std::vector<JobAttempt> attempts, queue->ListAttempts(j.id));
  nlohmann::json out = JobJson(j);
  out["attemptCount"] = j.attempts;
  out["attempts"] = nlohmann::json::array();
  for (const JobAttempt& a : attempts) out["attempts"].push_back(AttemptJson(a));
  return out;
}

Result<int64_t> ParseJobId(const std::string& s) {
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end || v <= 0)
    return Status::Invalid(fmt::format("job id '{}' is not a positive number", s));
  return int64_t(v);
}

// A JobService over the configured store; `store` keeps the store alive.
Result<std::unique_ptr<JobService>> OpenJobService(std::unique_ptr<Store>* store) {
  NBI_ASSIGN_OR_RETURN(*store, OpenConfiguredStore());
  NBI_ASSIGN_OR_RETURN(JobServiceOptions opts, JobServiceConfig());
  return std::make_unique<JobService>(store->get(), Env{}, opts);
}

struct JobsOpts {
  int limit = 20;
  std::string status, id, age = "7d", type, city;
  bool yes = false, json = false;
};

Status ListJobs(const JobsOpts& o) {
  JobFilter f;
  f.limit = std::clamp(o.limit, 1, 10000);
  if (!o.status.empty()) {
    f.status = ParseJobStatus(o.status);
    if (!f.status)
      return Status::Invalid(fmt::format(
          "--status {}: use pending, running, completed, failed or cancelled", o.status));
  }
  if (!o.type.empty()) f.type = o.type;
  std::unique_ptr<Store> store;
  NBI_ASSIGN_OR_RETURN(auto jobs, OpenJobService(&store));
  if (!o.city.empty()) {
    NBI_ASSIGN_OR_RETURN(City city, store->GetCity(o.city));
    f.city_id = city.id;
  }
  NBI_ASSIGN_OR_RETURN(auto list, jobs->List(f));
  if (o.json) {
    nlohmann::json out = {{"jobs", nlohmann::json::array()}};
    for (const Job& j : list) out["jobs"].push_back(JobJson(j));
    std::printf("%s\n", TerminalJson(out).c_str());
  } else {
    PrintJobTable(list);
  }
  return Status::Ok();
}

// A `jobs` subcommand acting on one job id.
void AddJobAction(CLI::App* jobs, std::shared_ptr<JobsOpts> o, const char* name, const char* help,
                  Result<Job> (*action)(JobService*, int64_t)) {
  auto* cmd = jobs->add_subcommand(name, help);
  cmd->callback([o, action] {
    auto id = ParseJobId(o->id);
    if (!id.ok()) return Fail(id.status());
    std::unique_ptr<Store> store;
    auto service = OpenJobService(&store);
    if (!service.ok()) return Fail(service.status());
    auto j = action(service->get(), *id);
    if (!j.ok()) return Fail(j.status());
    if (!o->json) return PrintJob(*j, store.get());
    auto json = JobWithHistoryJson(*j, store.get());
    if (!json.ok()) return Fail(json.status());
    std::printf("%s\n", TerminalJson(*json).c_str());
  });
  cmd->add_option("id", o->id, "job id")->required();
  cmd->add_flag("--json", o->json,
                "print the job as JSON (GET /api/jobs/:id) with its attempt history");
}

Status ResetRunning(const JobsOpts& o) {
  if (!o.yes)
    return Status::Invalid(
        "jobs reset-running needs --yes: it takes jobs away from live workers too");
  std::unique_ptr<Store> store;
  NBI_ASSIGN_OR_RETURN(auto jobs, OpenJobService(&store));
  NBI_ASSIGN_OR_RETURN(int n, jobs->ResetRunning());
  std::printf("Reset %d running job(s) to pending\n", n);
  return Status::Ok();
}

Status Prune(const JobsOpts& o) {
  NBI_ASSIGN_OR_RETURN(int64_t ms, ParseDurationMs("--older-than", o.age, BareNumber::kRefused));
  std::unique_ptr<Store> store;
  NBI_ASSIGN_OR_RETURN(auto jobs, OpenJobService(&store));
  NBI_ASSIGN_OR_RETURN(int n, jobs->PruneFinished(ms));
  std::printf("Pruned %d finished job(s)\n", n);
  return Status::Ok();
}

void RegisterJobs(CLI::App& app) {
  auto* jobs =
      app.add_subcommand("jobs", "Recent jobs as a table; show / cancel / retry / reset-running");
  auto o = std::make_shared<JobsOpts>();
  jobs->add_option("--limit", o->limit, "how many jobs")->capture_default_str();
  jobs->add_option("--status", o->status, "only jobs in this status");
  jobs->add_option("--type", o->type, "only jobs of this type (heatmap_compute, heatmap_refresh)");
  jobs->add_option("--city", o->city, "only jobs of this city (slug)");
  jobs->add_flag("--json", o->json, "print {\"jobs\": [...]} as GET /api/jobs does");
  jobs->callback([jobs, o] {
    if (jobs->get_subcommands().empty()) NBI_STATUS_OR_FAIL(ListJobs(*o));
  });
  AddJobAction(jobs, o, "show", "Show one job",
               [](JobService* s, int64_t id) { return s->Get(id); });
  AddJobAction(jobs, o, "cancel", "Cancel a job (pending: at once; running: at its next chunk)",
               [](JobService* s, int64_t id) { return s->Cancel(id); });
  AddJobAction(jobs, o, "retry", "Put a failed or cancelled job back in the queue",
               [](JobService* s, int64_t id) { return s->Retry(id); });
  auto* reset = jobs->add_subcommand("reset-running",
                                     "Force every running job back to pending (troubleshooting)");
  reset->add_flag("--yes", o->yes, "confirm: workers still running these jobs lose them");
  reset->callback([o] { NBI_STATUS_OR_FAIL(ResetRunning(*o)); });
  auto* prune = jobs->add_subcommand("prune", "Delete finished jobs older than an age");
  prune->add_option("--older-than", o->age, "age: e.g. 3600s, 90min, 24h, 7d")
      ->capture_default_str();
  prune->callback([o] { NBI_STATUS_OR_FAIL(Prune(*o)); });
}

struct ScheduleOpts {
  std::string city, bbox, model = "grocery";
  double step = 0.0025;
  int64_t priority = 0;
  int max_attempts = 3;
  std::string part_cells, run_at, delay;
  bool reset = false, force = false;
};

// --run-at TIME (RFC 3339) or --delay DUR (from now) into the request.
Status ParseStart(const ScheduleOpts& o, ScheduleRequest* req) {
  if (!o.run_at.empty()) {
    auto ms = ParseIsoTimestamp(o.run_at);
    if (!ms) {
      return Status::Invalid(fmt::format(
          "--run-at '{}' is not an RFC 3339 time with a zone, e.g. 2026-12-01T08:00:00Z",
          o.run_at));
    }
    req->run_at_ms = *ms;
  } else if (!o.delay.empty()) {
    NBI_ASSIGN_OR_RETURN(int64_t ms, ParseDurationMs("--delay", o.delay, BareNumber::kRefused));
    req->delay_ms = ms;
  }
  return Status::Ok();
}

Status Schedule(const ScheduleOpts& o) {
  if (o.city.empty() == o.bbox.empty())
    return Status::Invalid("give --city SLUG or --bbox minLat,minLng,maxLat,maxLng");
  ScheduleRequest req;
  req.model = o.model;
  req.grid_step = o.step;
  req.priority = o.priority;
  req.max_attempts = o.max_attempts;
  req.reset = o.reset;
  req.force = o.force;
  NBI_RETURN_IF_ERROR(ParseStart(o, &req));
  if (!o.part_cells.empty()) {
    NBI_ASSIGN_OR_RETURN(req.part_cells,
                         ParseIntSetting("--part-cells", o.part_cells, 1000, kDefaultCellCap));
  }
  if (!o.city.empty()) {
    req.city_slug = o.city;
  } else {
    NBI_ASSIGN_OR_RETURN(req.bounds, BBox::Parse(o.bbox));
  }
  std::unique_ptr<Store> store;
  NBI_ASSIGN_OR_RETURN(auto jobs, OpenJobService(&store));
  NBI_ASSIGN_OR_RETURN(ScheduleOutcome done, jobs->Submit(req));
  const HeatmapJobSpec& spec = done.spec;
  const EnqueueResult& r = done.enqueued;
  if (done.cancelled_job) {
    std::printf("Reset: cancelled job #%lld and waited until it stopped\n",
                (long long)*done.cancelled_job);
  }
  if (done.reset) {
    std::printf("Reset: removed %lld cells of gridStep %g, model %s in %s and its finished jobs\n",
                (long long)done.cells_removed, spec.grid_step,
                std::string(HeatModelId(spec.model)).c_str(), spec.bounds.ToString().c_str());
  }
  const std::string status(JobStatusId(r.job.status));
  const std::string parts =
      r.job.part_count > 1 ? fmt::format(", {} parts", r.job.part_count) : std::string();
  std::printf("Job #%lld %s (%s, %lld cells%s, gridStep %g, model %s)\n", (long long)r.job.id,
              r.is_new ? "scheduled" : "already active - not duplicated", status.c_str(),
              (long long)r.job.total_items, parts.c_str(), spec.grid_step,
              std::string(HeatModelId(spec.model)).c_str());
  if (r.priority_raised) {
    std::printf("Job #%lld: priority raised to %d\n", (long long)r.job.id, r.job.priority);
  }
  if (r.job.run_at_ms > r.job.created_at_ms && r.is_new) {
    std::printf("Job #%lld runs from %s\n", (long long)r.job.id, FormatMs(r.job.run_at_ms).c_str());
  }
  std::printf("{\"jobId\": %lld, \"status\": \"%s\", \"isNew\": %s, \"priorityRaised\": %s}\n",
              (long long)r.job.id, status.c_str(), r.is_new ? "true" : "false",
              r.priority_raised ? "true" : "false");
  return Status::Ok();
}

void RegisterSchedule(CLI::App& app) {
  auto* cmd = app.add_subcommand("schedule", "Schedule a heatmap job for a city or a bbox");
  auto o = std::make_shared<ScheduleOpts>();
  auto* city = cmd->add_option("--city", o->city, "city slug (see `cities list`)");
  auto* bbox = cmd->add_option("--bbox", o->bbox, "minLat,minLng,maxLat,maxLng");
  city->excludes(bbox);
  cmd->add_option("--grid-step", o->step, "grid step in degrees (0.0001..0.1)")
      ->capture_default_str();
  cmd->add_option("--model", o->model, "grocery | blend | grocery-walk | blend-walk")
      ->capture_default_str();
  cmd->add_option("--priority", o->priority,
                  "higher runs first (re-scheduling an active equal job with a higher one raises "
                  "its priority)")
      ->capture_default_str();
  auto* run_at = cmd->add_option("--run-at", o->run_at,
                                 "start no earlier than this RFC 3339 time (2026-12-01T08:00:00Z)");
  auto* delay = cmd->add_option("--delay", o->delay, "start after this delay: 90s, 10min, 2h, 1d");
  run_at->excludes(delay);
  cmd->add_option("--max-attempts", o->max_attempts, "attempts per part before it fails (1..100)")
      ->capture_default_str();
  cmd->add_option("--part-cells", o->part_cells,
                  "split a larger job into parts of this many cells, run in parallel by any "
                  "workers (default JOB_PART_CELLS, 250000)");
  cmd->add_flag("--reset", o->reset,
                "first delete the area's cells of this step and model and its finished jobs "
                "(refused while its job is active)");
  cmd->add_flag("--force", o->force,
                "with --reset: cancel the active job of the area first and wait until it stops");
  cmd->callback([o] { NBI_STATUS_OR_FAIL(Schedule(*o)); });
}

}  // namespace

void PrintJobTable(const std::vector<Job>& jobs) {
  std::printf("%-6s %-16s %-10s %8s %10s  %-19s  %-19s  %-19s  %s\n", "ID", "TYPE", "STATUS",
              "PROGRESS", "ITEMS", "CREATED", "STARTED", "COMPLETED", "ERROR");
  for (const Job& j : jobs) {
    std::string err = Printable(j.error.value_or(""));
    if (err.size() > 60) err = err.substr(0, 57) + "...";
    std::printf("%-6lld %-16s %-10s %7d%% %10lld  %-19s  %-19s  %-19s  %s\n", (long long)j.id,
                Printable(j.type).c_str(), std::string(JobStatusId(j.status)).c_str(), j.progress,
                (long long)j.total_items, FormatMs(j.created_at_ms).c_str(),
                FormatMs(j.started_at_ms).c_str(), FormatMs(j.completed_at_ms).c_str(),
                err.c_str());
  }
  if (jobs.empty()) std::printf("(no jobs)\n");
}

void RegisterJobCommands(CLI::App& app) {
  RegisterJobs(app);
  RegisterSchedule(app);
}

}  // namespace nbi::cli
