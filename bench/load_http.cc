// HTTP load benchmark: N keep-alive clients against the API while a heatmap job computes.
//
// Builds what `nearbyindex serve` builds (ApiServer + embedded Worker + metrics) in this
// process on the store of --url (default: a fresh SQLite file), loads a generated city,
// computes a small heatmap for /api/heatmap to read, then schedules a large job and, while
// the worker computes it, runs --clients threads (each one httplib::Client with keep-alive)
// for --seconds, alternating GET /api/jobs/:id and GET /api/heatmap (a ~2,400-cell view).
// Prints requests/s, p50/p99/max latency per endpoint, errors, and the worker's cells/s
// during the load.
//
//   build/load_http [--url URL] [--clients 50] [--seconds 10] [--access-log]
//                   [--store-concurrency 8]
#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "http/metrics.h"
#include "http/server.h"
#include "poi/synthetic.h"
#include "store/store.h"
#include "worker/worker.h"

using namespace nbi;
using SteadyClock = std::chrono::steady_clock;

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "load_http: %s\n", what.c_str());
  std::exit(1);
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

nlohmann::json GetJson(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path.c_str());
  if (!r || r->status != 200) Die("GET " + path + " failed");
  return nlohmann::json::parse(r->body);
}

int64_t Schedule(httplib::Client& c, const BBox& b, double step, int priority) {
  nlohmann::json body = {{"bounds",
                          {{"minLat", b.min_lat},
                           {"minLng", b.min_lng},
                           {"maxLat", b.max_lat},
                           {"maxLng", b.max_lng}}},
                         {"gridStep", step},
                         {"priority", priority}};
  auto r = c.Post("/api/heatmap/schedule", body.dump(), "application/json");
  if (!r || (r->status != 201 && r->status != 200)) {
    Die("schedule failed: " + (r ? r->body : "no answer"));
  }
  return nlohmann::json::parse(r->body)["jobId"];
}

struct Sample {
  std::vector<double> ms;
  int64_t errors = 0;
};

struct Args {
  std::string url;
  int clients = 50;
  double seconds = 10;
  bool access_log = false;
  int store_slots = http::ServerOptions().store_concurrency;
};

Args ParseArgs(int argc, char** argv) {
  Args o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--url" && i + 1 < argc) {
      o.url = argv[++i];
    } else if (a == "--clients" && i + 1 < argc) {
      o.clients = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--seconds" && i + 1 < argc) {
      o.seconds = std::max(1.0, std::atof(argv[++i]));
    } else if (a == "--access-log") {
      o.access_log = true;
    } else if (a == "--store-concurrency" && i + 1 < argc) {
      o.store_slots = std::max(1, std::atoi(argv[++i]));
    } else {
      Die("usage: load_http [--url URL] [--clients N] [--seconds S] [--access-log] "
          "[--store-concurrency N]");
    }
  }
  return o;
}

// `clients` keep-alive clients alternate GET job_path / heat_path for `seconds`; returns the
// elapsed seconds.
double RunClients(int port, int clients, double seconds, const std::string& job_path,
                  const std::string& heat_path, std::vector<Sample>* jobs_s,
                  std::vector<Sample>* heat_s) {
  jobs_s->assign(clients, {});
  heat_s->assign(clients, {});
  std::atomic<bool> go{false}, done{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_read_timeout(30, 0);
      while (!go.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      for (int64_t n = i; !done.load(); ++n) {
        bool heat = n % 2 == 1;
        auto t0 = SteadyClock::now();
        auto r = c.Get(heat ? heat_path.c_str() : job_path.c_str());
        double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
        Sample& s = heat ? (*heat_s)[i] : (*jobs_s)[i];
        if (!r || r->status != 200) {
          ++s.errors;
        } else {
          s.ms.push_back(ms);
        }
      }
    });
  }
  auto t0 = SteadyClock::now();
  go = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  done = true;
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

std::pair<size_t, int64_t> Report(const char* name, std::vector<Sample>& per_client,
                                  double elapsed) {
  std::vector<double> all;
  int64_t errors = 0;
  for (Sample& s : per_client) {
    all.insert(all.end(), s.ms.begin(), s.ms.end());
    errors += s.errors;
  }
  size_t n = all.size();
  double p50 = Percentile(all, 0.50), p99 = Percentile(all, 0.99);
  double mx = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  std::printf(
      "  %-16s %8zu ok %6lld errors %9.0f req/s   p50 %6.2f ms   p99 %6.2f ms   max %7.2f ms\n",
      name, n, (long long)errors, static_cast<double>(n) / elapsed, p50, p99, mx);
  return {n, errors};
}

// Waits until the job reaches `status` (dies when it fails).
void AwaitStatus(httplib::Client& admin, int64_t id, const char* status) {
  for (;;) {
    auto j = GetJson(admin, "/api/jobs/" + std::to_string(id));
    if (j["status"] == status) return;
    if (j["status"] == "failed") Die("job failed");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int Load(const Args& args, Store* store, int port, const http::ServerOptions& so) {
  const BBox box = SyntheticCityBox(SyntheticCitySpec{});
  httplib::Client admin("127.0.0.1", port);
  admin.set_read_timeout(120, 0);
  // A computed view for /api/heatmap to read: 0.06 x 0.1 degrees at 0.0025 = 24 x 40 cells.
  const double lat0 = (box.min_lat + box.max_lat) / 2, lng0 = (box.min_lng + box.max_lng) / 2;
  const BBox view{lat0, lng0, lat0 + 0.06, lng0 + 0.1};
  AwaitStatus(admin, Schedule(admin, view, 0.0025, 10), "completed");
  // The job computing during the load: the whole city at 0.0001 (~ 7.3 M cells).
  int64_t big = Schedule(admin, box, 0.0001, 0);
  AwaitStatus(admin, big, "running");
  const std::string job_path = "/api/jobs/" + std::to_string(big);
  const std::string heat_path =
      fmt::format("/api/heatmap?minLat={:.6f}&minLng={:.6f}&maxLat={:.6f}&maxLng={:.6f}",
                  view.min_lat, view.min_lng, view.max_lat, view.max_lng);
  const size_t heat_cells = GetJson(admin, heat_path)["count"];
  // The worker alone first (same job, same process, no clients), as the reference.
  const int64_t solo_before = GetJson(admin, job_path)["processedItems"];
  const auto solo_t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const int64_t solo_after = GetJson(admin, job_path)["processedItems"];
  const double solo =
      static_cast<double>(solo_after - solo_before) /
      std::chrono::duration<double>(std::chrono::steady_clock::now() - solo_t0).count();
  const int64_t cells_before = GetJson(admin, job_path)["processedItems"];
  std::printf(
      "load_http: %s, %d clients x %.0f s, server pool %d threads, %d store slots, "
      "access log %s\n",
      store->Describe().c_str(), args.clients, args.seconds, so.threads, so.store_concurrency,
      args.access_log ? "on" : "off");
  std::printf("  GET %s (job computing, %lld cells)\n  GET /api/heatmap (%zu cells per answer)\n",
              job_path.c_str(), (long long)GetJson(admin, job_path)["totalItems"].get<int64_t>(),
              heat_cells);
  std::vector<Sample> jobs_s, heat_s;
  double elapsed =
      RunClients(port, args.clients, args.seconds, job_path, heat_path, &jobs_s, &heat_s);
  const int64_t cells_after = GetJson(admin, job_path)["processedItems"];
  auto a = Report("/api/jobs/:id", jobs_s, elapsed);
  auto b = Report("/api/heatmap", heat_s, elapsed);
  std::printf("  %-16s %8zu ok %6lld errors %9.0f req/s\n", "total", a.first + b.first,
              (long long)(a.second + b.second), static_cast<double>(a.first + b.first) / elapsed);
  const double loaded = static_cast<double>(cells_after - cells_before) / elapsed;
  std::printf(
      "  worker during the load: %.0f cells/s (job #%lld, %lld -> %lld cells); alone just "
      "before: %.0f cells/s (%.2f x; target >= 0.30 x)\n",
      loaded, (long long)big, (long long)cells_before, (long long)cells_after, solo,
      solo > 0 ? loaded / solo : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  std::string url = args.url;
  std::string tmp_dir;
  if (url.empty()) {
    char tmpl[] = "/tmp/nbi-load-XXXXXX";
    if (!mkdtemp(tmpl)) Die("mkdtemp");
    tmp_dir = tmpl;
    url = "sqlite:" + tmp_dir + "/load.db";
  }
  auto opened = OpenStore(url);
  if (!opened.ok()) Die(opened.status().ToString());
  std::unique_ptr<Store> store = std::move(opened).value();

  SyntheticCitySpec city;  // 30 km square, 22,000 POIs
  auto pois = store->UpsertPois(GenerateCity(city));
  if (!pois.ok()) Die(pois.status().ToString());

  // What `serve` runs: metrics, an embedded worker woken by enqueues, the API.
  http::Metrics metrics;
  WorkerOptions wo;
  wo.poll_interval_ms = 60000;
  wo.chunk_size = 500;
  wo.log_polls = false;
  wo.progress_step_percent = 100;
  metrics.Instrument(&wo);
  // With --access-log the server logs a line per request to stdout, as `serve` does.
  Env env{SystemClock::Get(), args.access_log ? MakeLogger(LogFormat::kText) : NullLogger()};
  Worker worker(store.get(), env, wo);
  JobService jobs(store.get(), env, JobServiceOptions{}, [&] { worker.Wake(); });
  http::ServerOptions so;
  so.port = 0;
  so.access_log = args.access_log;
  so.rate_limit_per_sec = 0;
  so.store_concurrency = args.store_slots;
  http::ApiServer server(&jobs, so, &metrics);
  if (Status s = server.Bind(); !s.ok()) Die(s.ToString());
  std::thread worker_thread([&] { worker.Run(); });
  std::thread server_thread([&] { server.Serve(); });
  const int port = server.port();

  Load(args, store.get(), port, so);
  server.Stop();
  worker.Stop();
  server_thread.join();
  worker_thread.join();
  if (!tmp_dir.empty()) std::filesystem::remove_all(tmp_dir);
  return 0;
}
