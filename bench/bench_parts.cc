// Scaling one job out (job parts): wall time and cells/s of one heatmap job of >= 4 M cells
// over a generated city, run by 1, 2 and 4 `nearbyindex worker` processes and by one process
// running two parts at once (MAX_CONCURRENT_JOBS=2), beside one and two parallel raw COPY
// streams into heat_cells measured in the same run (the database's write ceiling). For each
// run it prints the machine's CPU use (from /proc/stat) and the workers' own CPU time, so the
// figure that caps the speed-up shows: cores, or the database.
//   bench_parts --url URL --binary build/nearbyindex [--cells 4000000] [--part-cells 250000]
// scripts/bench.sh runs it on a throwaway PostgreSQL.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "poi/synthetic.h"
#include "store/store.h"
#include "store/testing.h"

using namespace nbi;
using SteadyClock = std::chrono::steady_clock;

namespace {

void Die(const std::string& what) {
  std::fprintf(stderr, "bench_parts: %s\n", what.c_str());
  std::exit(1);
}
template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}
double Since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

// Busy and total jiffies of the whole machine.
struct CpuSample {
  double busy = 0, total = 0;
};
CpuSample SampleCpu() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  double v[8] = {};
  f >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7];
  CpuSample s;
  for (double x : v) s.total += x;
  s.busy = s.total - v[3] - v[4];  // minus idle and iowait
  return s;
}

pid_t SpawnWorker(const std::string& binary, const std::string& url, int slots) {
  const pid_t pid = fork();
  if (pid < 0) Die("fork failed");
  if (pid == 0) {
    const std::string db = "DATABASE_URL=" + url,
                      max = "MAX_CONCURRENT_JOBS=" + std::to_string(slots);
    const char* env[] = {db.c_str(),         max.c_str(),          "WORKER_POLL_INTERVAL=100",
                         "METRICS_ADDR=off", "PATH=/usr/bin:/bin", nullptr};
    if (FILE* null = std::fopen("/dev/null", "w")) {
      dup2(fileno(null), 1);
      dup2(fileno(null), 2);
    }
    const char* argv[] = {binary.c_str(), "worker", nullptr};
    execve(binary.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(env));
    _exit(127);
  }
  return pid;
}

struct RunResult {
  double seconds = 0, cells_per_s = 0, cpu_busy_cores = 0, worker_cpu_s = 0;
};

// One job of `spec` run by `procs` worker processes with `slots` slots each.
RunResult RunJob(Store* s, const HeatmapJobSpec& spec, const std::string& binary,
                 const std::string& url, int procs, int slots) {
  if (!TruncateCells(s).ok()) Die("truncate");
  std::vector<pid_t> pids;
  for (int k = 0; k < procs; ++k) pids.push_back(SpawnWorker(binary, url, slots));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // started and waiting
  const CpuSample c0 = SampleCpu();
  const auto t0 = SteadyClock::now();
  EnqueueResult e = Must(s->EnqueueHeatmap(spec), "enqueue");
  for (;;) {
    Job j = Must(s->GetJob(e.job.id), "job");
    if (j.status == JobStatus::kCompleted) break;
    if (!j.active()) Die("the job ended " + std::string(JobStatusId(j.status)));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  RunResult r;
  r.seconds = Since(t0);
  const CpuSample c1 = SampleCpu();
  r.cpu_busy_cores = (c1.busy - c0.busy) / (c1.total - c0.total) *
                     static_cast<double>(std::thread::hardware_concurrency());
  r.cells_per_s = static_cast<double>(e.job.total_items) / r.seconds;
  for (pid_t p : pids) kill(p, SIGTERM);
  for (pid_t p : pids) {
    int status = 0;
    rusage ru{};
    wait4(p, &status, 0, &ru);
    r.worker_cpu_s += double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  return r;
}

// `streams` parallel raw COPY streams writing the region's cells in chunks of `chunk`.
double RawStreams(Store* s, const GridRegion& g, int streams, int64_t chunk) {
  if (!TruncateCells(s).ok()) Die("truncate");
  const int64_t total = g.cell_count();
  std::vector<uint8_t> scores(static_cast<size_t>(chunk), 42);
  const auto t0 = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int k = 0; k < streams; ++k) {
    threads.emplace_back([&, k] {
      const int64_t begin = total * k / streams, end = total * (k + 1) / streams;
      for (int64_t at = begin; at < end; at += chunk) {
        const int64_t n = std::min(chunk, end - at);
        Status st = RawInsertCells(s, g, at, std::span<const uint8_t>(scores.data(), size_t(n)));
        if (!st.ok()) Die("raw insert: " + st.ToString());
      }
    });
  }
  for (auto& t : threads) t.join();
  return static_cast<double>(total) / Since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, binary = "build/nearbyindex";
  int64_t cells = 4'000'000, part_cells = 250'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--url")
      url = argv[i + 1];
    else if (a == "--binary")
      binary = argv[i + 1];
    else if (a == "--cells")
      cells = std::atoll(argv[i + 1]);
    else if (a == "--part-cells")
      part_cells = std::atoll(argv[i + 1]);
    else
      Die("unknown option " + a);
  }
  if (url.empty()) Die("give --url");
  auto store = Must(OpenStore(url), "open");
  SyntheticCitySpec city;
  city.centre = {47.10, 9.52};
  city.size_km = 30;
  city.groceries = 2000;
  city.others = 20000;
  city.seed = 11;
  Must(store->UpsertPois(GenerateCity(city)), "pois");
  const double step = 0.0001, span = std::sqrt(static_cast<double>(cells)) * step;
  HeatmapJobSpec spec;
  spec.bounds = {47.10 - span / 2, 9.52 - span / 2, 47.10 + span / 2, 9.52 + span / 2};
  spec.grid_step = step;
  spec.part_cells = part_cells;
  const GridRegion g = Must(GridRegion::Make(spec.bounds, step), "region");
  std::printf("job: %lld cells in %lld parts, %s, %u cores\n", (long long)g.cell_count(),
              (long long)SplitParts(g.cell_count(), part_cells).size(), store->Describe().c_str(),
              std::thread::hardware_concurrency());

  const double raw1 = RawStreams(store.get(), g, 1, 500);
  const double raw2 = RawStreams(store.get(), g, 2, 500);
  std::printf(
      "raw COPY, chunks of 500: 1 stream %.0f cells/s, 2 parallel streams %.0f cells/s "
      "(%.2fx)\n",
      raw1, raw2, raw2 / raw1);
  struct Config {
    int procs, slots;
  };
  double one = 0;
  std::printf("%-28s %9s %12s %8s %14s %12s\n", "workers", "wall s", "cells/s", "vs 1",
              "CPU busy cores", "worker CPU s");
  for (Config c : {Config{1, 1}, Config{2, 1}, Config{4, 1}, Config{1, 2}}) {
    RunResult r = RunJob(store.get(), spec, binary, url, c.procs, c.slots);
    if (c.procs == 1 && c.slots == 1) one = r.cells_per_s;
    const std::string name =
        std::to_string(c.procs) + " process(es) x " + std::to_string(c.slots) + " slot(s)";
    std::printf("%-28s %9.2f %12.0f %7.2fx %14.2f %12.1f\n", name.c_str(), r.seconds, r.cells_per_s,
                r.cells_per_s / one, r.cpu_busy_cores, r.worker_cpu_s);
  }
  if (!TruncateCells(store.get()).ok()) Die("truncate");
  return 0;
}
