// Store, queue and worker benchmarks on a real database (DATABASE_URL or --url):
//   1. cells/s through the checkpoint path (1 M cells, new and replacing) next to the raw
//      write path (binary COPY / one prepared insert per transaction) measured in this run;
//   2. no-op jobs claimed + completed per second with 1 and 4 workers, and on PostgreSQL the
//      bare limit: the same rows written by key, with no walk, lock or check;
//   3. an end-to-end heatmap job (>= 1 M cells over a generated city, one worker);
//   4. enqueue -> start latency (p50, p99) through the store's wake-up path (PostgreSQL:
//      LISTEN/NOTIFY), with 20,000 finished jobs in the table;
//   5. 20,000 one-cell heatmap jobs through `nearbyindex process-jobs` at its defaults (with
//      --binary PATH).
// Any failure (a claim, a part, a job that does not complete) ends it with exit status 1.
// --queue-only: parts 2, 4 and 5; --small-jobs-only N: part 5 with N jobs; --noop-only BATCH
// WORKERS: one figure of part 2 (BATCH 0: one job per claim) and on PostgreSQL its bare limit
// (BareLimit); --wake-only: part 4. scripts/bench.sh
// runs it on SQLite and on a throwaway PostgreSQL.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "poi/synthetic.h"
#include "score/scorer.h"
#include "store/store.h"
#include "store/testing.h"
#include "worker/worker.h"

using namespace nbi;
using SteadyClock = std::chrono::steady_clock;

namespace {

double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}
template <typename T>
T Must(Result<T> r, const char* what) {
  Check(r.status(), what);
  return std::move(r).value();
}

std::unique_ptr<Store> Fresh(const std::string& url) {
  auto s = Must(OpenStore(url), "open");
  return s;
}

// Writes every cell of `g` through checkpoints of `chunk` cells; returns cells/s.
double CheckpointRun(Store* s, const GridRegion& g, int64_t chunk) {
  HeatmapJobSpec spec;
  spec.bounds = {g.LatOfRow(g.first_row()), g.LngOfCol(g.first_col()),
                 g.LatOfRow(g.first_row() + g.rows()), g.LngOfCol(g.first_col() + g.cols())};
  spec.grid_step = g.step();
  spec.priority = 1000;
  spec.part_cells = g.cell_count();  // one part: the run writes every cell itself
  auto e = Must(s->EnqueueHeatmap(spec), "enqueue");
  auto j = Must(s->Claim("bench"), "claim");
  if (!j || j->id != e.job.id) Check(Status::Internal("claimed another job"), "claim");
  std::vector<uint8_t> scores(chunk);
  for (int64_t k = 0; k < chunk; ++k) scores[k] = uint8_t(k % 101);
  auto t0 = SteadyClock::now();
  for (int64_t b = 0; b < g.cell_count(); b += chunk) {
    Checkpoint cp;
    cp.job_id = j->id;
    cp.worker_id = "bench";
    cp.region = &g;
    cp.begin = b;
    cp.scores = std::span(scores.data(), size_t(std::min(chunk, g.cell_count() - b)));
    Must(s->WriteCheckpoint(cp), "checkpoint");
  }
  double secs = Since(t0);
  Check(s->CompletePart(j->id, 0, "bench").status(), "complete");
  return double(g.cell_count()) / secs;
}

double RawRun(Store* s, const GridRegion& g) {
  Check(TruncateCells(s), "truncate");
  std::vector<uint8_t> scores(g.cell_count());
  for (int64_t k = 0; k < g.cell_count(); ++k) scores[k] = uint8_t(k % 101);
  auto t0 = SteadyClock::now();
  const int64_t batch = 100000;
  for (int64_t b = 0; b < g.cell_count(); b += batch) {
    Check(RawInsertCells(s, g, b,
                         std::span(scores.data() + b, size_t(std::min(batch, g.cell_count() - b)))),
          "raw");
  }
  return double(g.cell_count()) / Since(t0);
}

bool IsPostgres(const std::string& url) { return url.rfind("postgres", 0) == 0; }

// `jobs` no-op jobs (one part, one small area each); returns the first id. Their ids follow
// one another (checked).
int64_t EnqueueNoops(Store* s, int jobs) {
  int64_t first = 0;
  for (int i = 0; i < jobs; ++i) {
    HeatmapJobSpec spec;
    spec.bounds = {-80 + i * 0.001, 10, -80 + i * 0.001 + 0.0005, 10.001};
    spec.grid_step = 0.001;
    const int64_t id = Must(s->EnqueueHeatmap(spec), "enqueue").job.id;
    if (i == 0) first = id;
    if (id != first + i) Check(Status::Internal("job ids not consecutive"), "enqueue");
  }
  return first;
}

// batch == 0: one Claim + one Complete per job; else ClaimBatch(batch) + CompleteBatch.
double NoopJobs(const std::string& url, int workers, int jobs, int batch) {
  auto s = Fresh(url);
  EnqueueNoops(s.get(), jobs);
  std::atomic<int> done{0};
  auto t0 = SteadyClock::now();
  std::vector<std::thread> ts;
  for (int w = 0; w < workers; ++w) {
    ts.emplace_back([&, w] {
      std::string me = "noop-" + std::to_string(w);
      for (;;) {
        if (batch > 0) {
          auto c = Must(s->ClaimBatch(me, batch), "claim batch");
          if (c.empty()) return;
          std::vector<int64_t> ids;
          for (const Job& j : c) ids.push_back(j.id);
          const int n = Must(s->CompleteBatch(ids, me), "complete batch");
          if (n != int(ids.size()))
            Check(Status::Internal("a claimed job did not complete"), me.c_str());
          done += n;
          continue;
        }
        auto c = Must(s->Claim(me), "claim");
        if (!c) return;
        Check(s->CompletePart(c->id, 0, me).status(), "complete");
        ++done;
      }
    });
  }
  for (auto& t : ts) t.join();
  double rate = done / Since(t0);
  if (done != jobs) Check(Status::Internal(std::to_string(done) + " of the jobs ran"), "noop");
  Check(s->PruneFinished(-1000000).status(), "prune");
  return rate;
}

// The bare limit of part 2 on PostgreSQL: the rows a claim and a completion of `batch` no-op jobs
// change (each part and its job set running, then completed: the same columns, tables and
// indexes), written by key in one statement each way, each its own transaction, one round trip
// each, as the store sends them; but no walk of the claim index, no row lock, no SKIP LOCKED, no
// check. The engine's claim and completion cannot beat it on the same server; jobs/s.
// (pg_sql.h's column lists and time conversion, which it keeps to itself.)
#define BARE_TS(p) "(to_timestamp(" p "::bigint / 1000.0) AT TIME ZONE 'UTC')"
#define BARE_MS(c) "(extract(epoch FROM " c ") * 1000)::bigint"
#define BARE_PART_COLUMNS                                                                    \
  "job_id AS c_job, part AS c_part, begin_index AS c_begin, end_index AS c_end, "            \
  "next_index AS c_next, status AS c_status, attempts AS c_attempts, locked_by AS c_owner, " \
  "heartbeat_at_ms AS c_hb, claimed_index AS c_claimed"
#define BARE_JOB_COLUMNS \
  "id, type, status, city_id, progress, total_items, error, metadata::text, " BARE_MS(     \
      "created_at") ", " BARE_MS("started_at") ", " BARE_MS("completed_at") ", attempts, " \
                    "max_attempts, priority, run_at_ms, heartbeat_at_ms, locked_by, "      \
                    "cancel_requested, part_count"
double BareLimit(const std::string& url, int jobs, int batch) {
  auto s = Fresh(url);
  const int64_t first = EnqueueNoops(s.get(), jobs);
  PGconn* c = PQconnectdb(url.c_str());
  auto run = [&](const char* what, PGresult* r, int want) {
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
    const int got = ok ? PQntuples(r) : -1;
    std::string err = ok ? "" : PQresultErrorMessage(r);
    PQclear(r);
    if (!ok || (want >= 0 && got != want))
      Check(Status::Internal(err.empty() ? std::to_string(got) + " rows" : err), what);
  };
  if (PQstatus(c) != CONNECTION_OK) Check(Status::Internal(PQerrorMessage(c)), "bare limit");
  run("prepare",
      PQprepare(
          c, "bare_claim",
          "WITH p AS (UPDATE job_parts SET status = 'running', locked_by = $1::text, "
          "attempts = attempts + 1, heartbeat_at_ms = $2::bigint, "
          "claimed_index = next_index WHERE job_id BETWEEN $3::bigint AND $4::bigint "
          "AND part = 0 RETURNING " BARE_PART_COLUMNS "), "
          "j AS (UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, " BARE_TS(
              "$2") "), ready_parts = 0, locked_by = $1::text, attempts = p.c_attempts, "
                    "heartbeat_at_ms = GREATEST(jobs.heartbeat_at_ms, $2::bigint) FROM p "
                    "WHERE id = p.c_job RETURNING p.*, " BARE_JOB_COLUMNS ") "
                    "SELECT * FROM j",
          0, nullptr),
      -1);
  run("prepare",
      PQprepare(c, "bare_complete",
                "WITH p AS (UPDATE job_parts SET status = 'completed', locked_by = NULL, "
                "next_index = end_index WHERE job_id BETWEEN $1::bigint AND $2::bigint "
                "AND part = 0 RETURNING job_id, attempts), "
                "j AS (UPDATE jobs SET status = 'completed', ready_parts = 0, locked_by = NULL, "
                "attempts = p.attempts, completed_at = " BARE_TS(
                    "$3") ", progress = 100, error = NULL FROM p WHERE id = p.job_id "
                          "RETURNING id) SELECT id FROM j",
                0, nullptr),
      -1);
  const std::string now = std::to_string(s->NowMs());
  auto t0 = SteadyClock::now();
  for (int64_t a = first; a < first + jobs; a += batch) {
    const int n = int(std::min<int64_t>(batch, first + jobs - a));
    const std::string lo = std::to_string(a), hi = std::to_string(a + n - 1);
    const char* claim[] = {"bare", now.c_str(), lo.c_str(), hi.c_str()};
    run("bare claim", PQexecPrepared(c, "bare_claim", 4, claim, nullptr, nullptr, 0), n);
    const char* done[] = {lo.c_str(), hi.c_str(), now.c_str()};
    run("bare completion", PQexecPrepared(c, "bare_complete", 3, done, nullptr, nullptr, 0), n);
  }
  const double rate = jobs / Since(t0);
  PQfinish(c);
  Check(s->PruneFinished(-1000000).status(), "prune");
  return rate;
}

// `n` finished no-op jobs left in the table (the history a long-running queue carries).
void History(Store* s, int n) {
  for (int i = 0; i < n; ++i) {
    HeatmapJobSpec spec;
    spec.bounds = {-60 + i * 0.001, 30, -60 + i * 0.001 + 0.0005, 30.0005};
    spec.grid_step = 0.001;
    Must(s->EnqueueHeatmap(spec), "enqueue");
  }
  for (int done = 0; done < n;) {
    auto c = Must(s->ClaimBatch("history", 100), "claim batch");
    if (c.empty()) Check(Status::Internal("history jobs missing"), "history");
    std::vector<int64_t> ids;
    for (const Job& j : c) ids.push_back(j.id);
    done += Must(s->CompleteBatch(ids, "history"), "complete batch");
  }
}

int64_t Finished(Store* s) {
  int64_t n = 0;
  for (auto [status, count] : Must(s->CountJobsByStatus(), "count")) {
    if (status == JobStatus::kCompleted) n += count;
  }
  return n;
}

void Latency(const std::string& url, int samples, int history) {
  auto s = Fresh(url);
  History(s.get(), history);
  WorkerOptions o;
  o.poll_interval_ms = 60000;
  o.log_polls = false;
  o.worker_id = "latency";
  // The sampling thread sleeps until the worker's hooks wake it: on two cores a thread that spins
  // (or polls the database) while it waits takes the core the worker needs, and the scheduler
  // then holds the worker back for a whole period (12 ms) now and then.
  std::atomic<int64_t> started_ns{0};
  std::atomic<int> ended{0};
  o.on_job_start = [&](const Job&) {
    started_ns = SteadyClock::now().time_since_epoch().count();
    started_ns.notify_one();
  };
  o.on_job_end = [&](const Job&, JobOutcome, double) {
    ended = 1;
    ended.notify_one();
  };
  auto ws = Fresh(url);  // the worker's own store, like a separate process
  Worker w(ws.get(), Env{}, o);
  auto watch = ws->Watch([&] { w.Wake(); });
  std::thread run([&] { w.Run(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<double> ms, enq_ms;
  for (int i = 0; i < samples; ++i) {
    HeatmapJobSpec spec;
    spec.bounds = {-70 + i * 0.001, 20, -70 + i * 0.001 + 0.0005, 20.0005};
    spec.grid_step = 0.001;
    started_ns = 0;
    ended = 0;
    auto t0 = SteadyClock::now();
    auto e = Must(s->EnqueueHeatmap(spec), "enqueue");
    enq_ms.push_back(Since(t0) * 1000);
    started_ns.wait(0);
    ms.push_back((started_ns - t0.time_since_epoch().count()) / 1e6);
    ended.wait(0);
    while (Must(s->GetJob(e.job.id), "job").status != JobStatus::kCompleted)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  w.Stop();
  run.join();
  std::sort(ms.begin(), ms.end());
  std::printf(
      "  enqueue -> start latency over %d jobs, %lld finished jobs in the table: p50 %.2f ms, "
      "p99 %.2f ms, max %.2f ms\n",
      samples, (long long)Finished(s.get()), ms[ms.size() / 2],
      ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back());
  std::printf("  the slowest five: %.2f, %.2f, %.2f, %.2f, %.2f ms\n", ms.end()[-1], ms.end()[-2],
              ms.end()[-3], ms.end()[-4], ms.end()[-5]);
  std::sort(enq_ms.begin(), enq_ms.end());
  std::printf("  of which the enqueue call: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              enq_ms[enq_ms.size() / 2],
              enq_ms[std::min(enq_ms.size() - 1, enq_ms.size() * 99 / 100)], enq_ms.back());
  Check(s->PruneFinished(-1000000).status(), "prune");
}

// 5. `jobs` one-cell heatmap jobs over the generated city, run by `binary process-jobs` at its
// defaults (one process, as an operator runs it); jobs/s from its start to its exit.
void ProcessJobs(const std::string& url, const std::string& binary, int jobs) {
  auto s = Fresh(url);
  SyntheticCitySpec city;
  Must(s->UpsertPois(GenerateCity(city)), "pois");
  const BBox box = SyntheticCityBox(city);
  const double step = 0.001;
  const int cols = int((box.max_lng - box.min_lng) / step) - 1;
  const double lat0 = std::ceil(box.min_lat / step) * step,
               lng0 = std::ceil(box.min_lng / step) * step;
  for (int i = 0; i < jobs; ++i) {
    HeatmapJobSpec spec;
    // A box around one grid point.
    const double lat = lat0 + (i / cols) * step, lng = lng0 + (i % cols) * step;
    spec.bounds = {lat - step / 4, lng - step / 4, lat + step / 4, lng + step / 4};
    spec.grid_step = step;
    auto e = Must(s->EnqueueHeatmap(spec), "enqueue");
    if (e.job.total_items != 1) Check(Status::Internal("not a one-cell job"), "enqueue");
  }
  const std::string cmd = "'" + binary + "' --database-url '" + url + "' process-jobs >/dev/null";
  auto t0 = SteadyClock::now();
  const int rc = std::system(cmd.c_str());
  const double secs = Since(t0);
  if (rc != 0) Check(Status::Internal("process-jobs exited with " + std::to_string(rc)), "e2e");
  const int64_t done = Finished(s.get());
  if (done != jobs) Check(Status::Internal(std::to_string(done) + " jobs completed"), "e2e");
  std::printf("  %d one-cell heatmap jobs through process-jobs (defaults): %.2f s, %8.0f jobs/s\n",
              jobs, secs, jobs / secs);
  Check(s->PruneFinished(-1000000).status(), "prune");
}

// 2. No-op jobs through the queue: claimed and completed one per call (the engine's default:
// one slot) or 100 per call, by 1 and 4 threads.
void QueueBench(const std::string& url) {
  std::printf("2. No-op jobs claimed + completed\n");
  for (int batch : {0, 100}) {
    for (int w : {1, 4}) {
      double rate = NoopJobs(url, w, batch ? 20000 : 5000, batch);
      std::printf("  %d worker%s, %-26s %8.0f jobs/s\n", w, w > 1 ? "s" : " ",
                  batch ? "batched (claim/complete 100):" : "one job per claim/complete:", rate);
    }
  }
  if (!IsPostgres(url)) return;
  for (int batch : {1, 100}) {
    const double rate = BareLimit(url, batch > 1 ? 20000 : 5000, batch);
    std::printf("  bare limit, %-29s %8.0f jobs/s (the same rows by key: no walk, lock or check)\n",
                batch > 1 ? "100 per claim/complete:" : "one per claim/complete:", rate);
  }
}

// 1. cell writes (raw path vs checkpoints) and 2. no-op jobs through the queue.
void StoreBenches(const std::string& url, Store* store, const GridRegion& g,
                  const std::vector<int64_t>& chunks) {
  std::printf("1. Cell writes\n");
  double raw = RawRun(store, g);
  std::printf(
      "  raw path (%s) into an empty table: %10.0f cells/s\n",
      store->Describe().rfind("sqlite:", 0) == 0 ? "prepared INSERT, one txn" : "binary COPY", raw);
  for (int64_t chunk : chunks) {
    Check(TruncateCells(store), "truncate");
    double fresh = CheckpointRun(store, g, chunk);
    double replace = CheckpointRun(store, g, chunk);
    std::printf(
        "  checkpoint path, chunk %5lld: new %10.0f cells/s (%.2f x raw), replacing %10.0f "
        "cells/s (%.2f x raw)\n",
        (long long)chunk, fresh, fresh / raw, replace, replace / raw);
  }
  QueueBench(url);
}

}  // namespace

// 3. An end-to-end heatmap job of ~`cells` cells over the generated city, one worker.
void EndToEnd(Store* store, int64_t cells, const std::vector<int64_t>& chunks) {
  std::printf(
      "3. End-to-end heatmap job, one worker (generated city: 2,000 groceries + 20,000 "
      "POIs)\n");
  Check(TruncateCells(store), "truncate");
  SyntheticCitySpec city;
  Must(store->UpsertPois(GenerateCity(city)), "pois");
  BBox box = SyntheticCityBox(city);
  // ~`cells` cells inside the city.
  double step = std::max(
      0.0001, std::sqrt((box.max_lat - box.min_lat) * (box.max_lng - box.min_lng) / double(cells)));
  step = std::round(step * 1e5) / 1e5;
  for (int64_t chunk : chunks) {
    Check(TruncateCells(store), "truncate");
    HeatmapJobSpec spec;
    spec.bounds = box;
    spec.grid_step = step;
    auto e = Must(store->EnqueueHeatmap(spec), "enqueue");
    WorkerOptions o;
    o.chunk_size = chunk;
    o.exit_when_idle = true;
    o.log_polls = false;
    o.progress_step_percent = 100;
    Worker w(store, Env{}, o);
    auto t0 = SteadyClock::now();
    w.Run();
    double secs = Since(t0);
    auto j = Must(store->GetJob(e.job.id), "job");
    if (j.status != JobStatus::kCompleted) Check(Status::Internal("job did not complete"), "e2e");
    auto eg = Must(GridRegion::Make(box, step), "grid");
    double raw = RawRun(store, eg);
    std::printf(
        "  %lld cells at step %g, chunk %5lld: %10.0f cells/s end to end; raw path %10.0f "
        "cells/s (%.2f x raw)\n",
        (long long)j.total_items, step, (long long)chunk, j.total_items / secs, raw,
        j.total_items / secs / raw);
    Check(store->PruneFinished(-1000000).status(), "prune");
  }
}

int main(int argc, char** argv) {
  const char* env_url = std::getenv("DATABASE_URL");
  std::string url = env_url && *env_url ? env_url : kDefaultDatabaseUrl;
  int64_t cells = 1'000'000;
  std::vector<int64_t> chunks = {500, 5000};
  bool only_e2e = false, only_queue = false, only_small = false, only_wake = false;
  int small_jobs = 20000, noop_batch = -1, noop_workers = 1;
  std::string binary;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--url") && i + 1 < argc)
      url = argv[++i];
    else if (!std::strcmp(argv[i], "--cells") && i + 1 < argc)
      cells = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--e2e-only"))
      only_e2e = true;
    else if (!std::strcmp(argv[i], "--queue-only"))
      only_queue = true;
    else if (!std::strcmp(argv[i], "--binary") && i + 1 < argc)
      binary = argv[++i];
    else if (!std::strcmp(argv[i], "--small-jobs-only") && i + 1 < argc)
      only_small = true, small_jobs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--wake-only"))
      only_wake = true;
    else if (!std::strcmp(argv[i], "--noop-only") && i + 2 < argc)
      noop_batch = std::atoi(argv[i + 1]), noop_workers = std::atoi(argv[i + 2]), i += 2;
    else {
      // Not a silent full run on the default database (it wrote nearbyindex.db where it ran).
      std::fprintf(stderr,
                   "bench_queue: unknown argument '%s'\nusage: bench_queue [--url URL] [--cells N] "
                   "[--e2e-only | --queue-only | --small-jobs-only N | --noop-only BATCH WORKERS | "
                   "--wake-only] "
                   "[--binary PATH]\n",
                   argv[i]);
      return 2;
    }
  }
  auto store = Fresh(url);
  std::printf("Store: %s\n", store->Describe().c_str());
  if (only_small) {
    ProcessJobs(url, binary, small_jobs);
    return 0;
  }
  if (only_wake) {
    Latency(url, 200, 20000);
    return 0;
  }
  if (noop_batch >= 0) {  // one figure of part 2 alone (profiling: pg_stat_statements)
    const double rate =
        NoopJobs(url, std::max(1, noop_workers), noop_batch ? 20000 : 5000, noop_batch);
    std::printf("  %d worker(s), batch %d: %8.0f jobs/s\n", noop_workers, noop_batch, rate);
    if (IsPostgres(url)) {
      const int b = std::max(1, noop_batch);
      std::printf("  bare limit, batch %d: %8.0f jobs/s\n", b,
                  BareLimit(url, b > 1 ? 20000 : 5000, b));
    }
    return 0;
  }
  // A square region holding ~`cells` cells at step 0.0005.
  int64_t side = int64_t(std::sqrt(double(cells)));
  auto g = Must(GridRegion::Make({10.0, 10.0, 10.0 + side * 0.0005, 10.0 + side * 0.0005}, 0.0005),
                "grid");
  std::printf("Region: %lld cells\n", (long long)g.cell_count());

  if (only_queue) {
    QueueBench(url);
  } else if (!only_e2e) {
    StoreBenches(url, store.get(), g, chunks);
  }

  if (!only_queue) EndToEnd(store.get(), cells, chunks);
  std::printf("4. Wake-up latency\n");
  Latency(url, 200, 20000);
  if (!binary.empty()) {
    std::printf("5. Many small jobs through process-jobs\n");
    ProcessJobs(url, binary, small_jobs);
  }
  return 0;
}
