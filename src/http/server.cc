#include "http/server.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <regex>
#include <semaphore>
#include <sstream>
#include <thread>
#include <vector>

#include "http/api.h"
#include "http/assets.h"
#include "http/front_door.h"
#include "http/pages.h"
#include "http/rate_limit.h"
#include "http/tile_routes.h"
#include "http/transport.h"
#include "jobs/cron.h"
#include "jobs/job_json.h"
#include "jobs/model_index.h"
#include "score/model.h"
#include "score/score_json.h"
#include "score/scorer.h"
#include "tiles/streets.h"

namespace nbi::http {

namespace {

using Clock = std::chrono::steady_clock;

// The grid steps the map offers (/api/config).
const std::vector<double> kGridSteps = {0.0025, 0.001, 0.0005};

// JSON text; invalid UTF-8 (from a POI name or echoed input) is replaced, never thrown on.
std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void SendJson(Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void SendError(Response& res, const ApiError& e) {
  res.status = e.http_status;
  res.log_detail = e.log_detail;
  for (const auto& [name, value] : e.headers) res.set_header(name, value);
  res.set_content(Dump(e.Body()), "application/json");
}

void SendStatus(Response& res, const Status& s) { SendError(res, ApiErrorFromStatus(s)); }

// A store slot, waited for at most `wait`: a handler never waits without end for one (reads
// and writes wait on their own handler pools, see MakeTransport), and the request is then
// answered 503 busy.
constexpr std::chrono::milliseconds kSlotWait{2000};
// The coverage job of a point score: the score does not wait long for it.
constexpr std::chrono::milliseconds kCoverageSlotWait{250};
class SlotLease {
 public:
  SlotLease(std::counting_semaphore<>* s, std::chrono::milliseconds wait)
      : s_(s->try_acquire_for(wait) ? s : nullptr) {}
  ~SlotLease() {
    if (s_) s_->release();
  }
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  bool held() const { return s_ != nullptr; }

 private:
  std::counting_semaphore<>* s_;
};

void SendBusy(Response& res) {
  ApiError e = ApiError::Of("unavailable", "the server is busy; try again shortly");
  e.headers.emplace_back("Retry-After", "1");
  SendError(res, e);
}

// Control characters of a path would forge log lines.
std::string LoggablePath(const std::string& path) {
  std::string out = path.substr(0, 200);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (path.size() > 200) out += "...";
  return out;
}

}  // namespace

// ---------------------------------------------------------------- the server

struct ApiServer::Impl {
  using Handler = std::function<void(const Request&, Response&, const std::smatch&)>;
  struct Route {
    std::string method;   // GET routes also answer HEAD
    const char* pattern;  // label in logs and metrics
    std::regex re;
    bool rate_limited;
    bool uses_store;  // runs under a read or write slot (see read_slots)
    bool head_ok;     // a GET route that also answers HEAD
    Handler handler;
  };

  Impl(JobService* j, ServerOptions o, Metrics* m)
      : jobs(j),
        store(j->store()),
        env(j->env()),
        opts(std::move(o)),
        metrics(m),
        host_policy(MakeHostPolicy(opts.host, opts.allowed_hosts)),
        pages(opts.web_dir),
        limiter(opts.rate_limit_per_sec, opts.rate_limit_burst),
        read_slots(std::max(1, opts.store_concurrency)),
        write_slots(std::max(1, opts.store_concurrency)),
        tile_routes(store, opts.tile_cache_bytes, kGridSteps, opts.heatmap_cell_cap) {}

  void Setup();
  void AddRoutes();
  void MakeTransport();
  // Route flags.
  static constexpr int kPlain = 0;
  static constexpr int kWrite = 1;   // takes a rate-limit token of the client
  static constexpr int kStore = 2;   // queries the store: runs under a store slot
  static constexpr int kNoHead = 4;  // a GET with effects: HEAD is not allowed
  void AddRoute(const char* method, const char* pattern, const char* regex, int flags, Handler h) {
    routes.push_back({method, pattern, std::regex(regex), (flags & kWrite) != 0,
                      (flags & kStore) != 0, (flags & kNoHead) == 0, std::move(h)});
  }
  void Dispatch(const Request& req, Response& res);
  void RouteRequest(const Request& req, Response& res);
  void Log(const Request& req, const Response& res, double ms);
  // Takes a write token of the client; false (and a 429 in `res`) when it has none.
  bool TakeWriteToken(const Request& req, Response* res);

  // Handlers.
  void Config(Response& res);
  void Cities(Response& res);
  void Heatmap(const Request& req, Response& res);
  void Pois(const Request& req, Response& res);
  void Score(const Request& req, Response& res);
  void Schedule(const Request& req, Response& res);
  void ListJobs(const Request& req, Response& res);
  void JobAction(const std::string& id_text, Response& res,
                 const std::function<Result<Job>(int64_t)>& action);
  void Cron(const Request& req, Response& res);
  void Ready(Response& res);
  void MetricsText(Response& res);
  void StaticFile(PageSource::Root root, const std::string& rel, Response& res);
  void OpenApi(Response& res);

  // Constant after construction / Setup.
  JobService* const jobs;
  Store* const store;
  const Env env;
  const ServerOptions opts;
  Metrics* const metrics;
  std::vector<Route> routes;
  const HostPolicy host_policy;
  const PageSource pages;
  std::unique_ptr<Transport> transport;

  RateLimiter limiter;  // thread-safe
  // At most opts.store_concurrency reading and as many writing handlers query the store at
  // once; the others wait here. Connections are then reused from the store's pool instead of
  // opened per request.
  std::counting_semaphore<> read_slots, write_slots;
  std::atomic<bool> stop_flag{false};  // set by Stop(): cron runs hand their job back
  TileRoutes tile_routes;              // thread-safe
};

void ApiServer::Impl::Setup() {
  AddRoutes();
  MakeTransport();
}

void ApiServer::Impl::AddRoutes() {
  AddRoute("GET", "/api/config", "/api/config", kPlain,
           [this](auto&, auto& res, auto&) { Config(res); });
  AddRoute("GET", "/api/cities", "/api/cities", kStore,
           [this](auto&, auto& res, auto&) { Cities(res); });
  AddRoute("GET", "/api/heatmap", "/api/heatmap", kStore,
           [this](auto& q, auto& res, auto&) { Heatmap(q, res); });
  AddRoute("GET", "/api/heatmap/extent", "/api/heatmap/extent", kStore,
           [this](auto& q, auto& res, auto&) { tile_routes.Extent(q, res); });
  AddRoute("GET", "/api/heatmap/cities", "/api/heatmap/cities", kStore,
           [this](auto& q, auto& res, auto&) { tile_routes.CitiesWithCells(q, res); });
  AddRoute("GET", "/tiles/*", "/tiles/(.*)", kStore,
           [this](auto& q, auto& res, auto& m) { tile_routes.Tile(q, res, m[1].str()); });
  AddRoute("GET", "/api/pois", "/api/pois", kStore,
           [this](auto& q, auto& res, auto&) { Pois(q, res); });
  // Takes its read and write slots itself (Score): the coverage job is a write.
  AddRoute("GET", "/api/score", "/api/score", kPlain,
           [this](auto& q, auto& res, auto&) { Score(q, res); });
  AddRoute("POST", "/api/heatmap/schedule", "/api/heatmap/schedule", kWrite | kStore,
           [this](auto& q, auto& res, auto&) { Schedule(q, res); });
  AddRoute("GET", "/api/jobs", "/api/jobs", kStore,
           [this](auto& q, auto& res, auto&) { ListJobs(q, res); });
  AddRoute("GET", "/api/jobs/:id", "/api/jobs/([^/]+)", kStore, [this](auto&, auto& res, auto& m) {
    JobAction(m[1].str(), res, [this](int64_t id) { return jobs->Get(id); });
  });
  AddRoute("POST", "/api/jobs/:id/cancel", "/api/jobs/([^/]+)/cancel", kWrite | kStore,
           [this](auto&, auto& res, auto& m) {
             JobAction(m[1].str(), res, [this](int64_t id) -> Result<Job> {
               auto j = jobs->Cancel(id);
               // The store says kInvalidArgument for a finished job: the job's state conflicts.
               if (!j.ok() && j.status().code() == StatusCode::kInvalidArgument) {
                 return Status::Conflict(j.status().message());
               }
               return j;
             });
           });
  AddRoute("POST", "/api/jobs/:id/retry", "/api/jobs/([^/]+)/retry", kWrite | kStore,
           [this](auto&, auto& res, auto& m) {
             JobAction(m[1].str(), res, [this](int64_t id) -> Result<Job> {
               auto j = jobs->Retry(id);
               if (!j.ok() && j.status().code() == StatusCode::kInvalidArgument) {
                 return Status::Conflict(j.status().message());
               }
               return j;
             });
           });
  // A cron run holds its call for seconds and paces itself: no store slot.
  AddRoute("GET", "/api/cron/process-jobs", "/api/cron/process-jobs", kNoHead,
           [this](auto& q, auto& res, auto&) { Cron(q, res); });
  AddRoute("GET", "/healthz", "/healthz", kPlain, [](auto&, auto& res, auto&) {
    SendJson(res, 200, {{"status", "ok"}});
  });
  AddRoute("GET", "/readyz", "/readyz", kStore, [this](auto&, auto& res, auto&) { Ready(res); });
  AddRoute("GET", "/metrics", "/metrics", kStore,
           [this](auto&, auto& res, auto&) { MetricsText(res); });
  AddRoute("GET", "/api/openapi.json", "/api/openapi.json", kPlain,
           [this](auto&, auto& res, auto&) { OpenApi(res); });
  using Root = PageSource::Root;
  AddRoute("GET", "/", "/", kPlain,
           [this](auto&, auto& res, auto&) { StaticFile(Root::kPages, "index.html", res); });
  AddRoute("GET", "/jobs", "/jobs", kPlain,
           [this](auto&, auto& res, auto&) { StaticFile(Root::kPages, "jobs.html", res); });
  AddRoute("GET", "/static/*", "/static/(.*)", kPlain,
           [this](auto&, auto& res, auto& m) { StaticFile(Root::kPages, m[1].str(), res); });
  AddRoute("GET", "/vendor/leaflet/*", "/vendor/leaflet/(.*)", kPlain,
           [this](auto&, auto& res, auto& m) { StaticFile(Root::kLeaflet, m[1].str(), res); });
}

void ApiServer::Impl::MakeTransport() {
  TransportOptions t;
  t.max_body_bytes = opts.max_body_bytes;
  t.head_timeout_ms = opts.head_timeout_ms;
  t.body_timeout_ms = opts.head_timeout_ms;
  t.write_timeout_ms = opts.head_timeout_ms;
  t.idle_timeout_ms = opts.idle_timeout_ms;
  t.max_connections = opts.max_connections;
  t.handler_threads = opts.threads;
  transport = std::make_unique<Transport>(
      t, [this](const Request& req, Response& res) { Dispatch(req, res); },
      // Writes (and cron runs) and reads wait for the store on separate handler pools;
      // health and files are answered on the I/O thread.
      [](const Request& req) {
        using Lane = Transport::Lane;
        const bool api = req.path.rfind("/api/", 0) == 0;
        if (api && (req.method != "GET" && req.method != "HEAD")) return Lane::kWrite;
        if (req.path.rfind("/api/cron/", 0) == 0) return Lane::kWrite;
        const bool tiles = req.path.rfind("/tiles/", 0) == 0;
        if (api || tiles || req.path == "/readyz" || req.path == "/metrics") return Lane::kRead;
        return Lane::kInline;
      },
      [](int status, Response& res) { SendError(res, ApiErrorForHttpStatus(status)); },
      [this](const Request& req, const Response& res, double ms) { Log(req, res, ms); });
}

void ApiServer::Impl::Dispatch(const Request& req, Response& res) {
  try {
    if (auto e = CheckHost(req, host_policy)) return SendError(res, *e);
    if (auto e = CheckWrite(req, host_policy)) return SendError(res, *e);
    RouteRequest(req, res);
  } catch (const std::exception& e) {
    const char* route = res.route;
    res = Response{};
    res.route = route;
    SendError(res, ApiError::Of("internal", "internal server error").WithLogDetail(e.what()));
  }
}

void ApiServer::Impl::RouteRequest(const Request& req, Response& res) {
  std::string allow;
  std::smatch m;
  for (const Route& r : routes) {
    if (!std::regex_match(req.path, m, r.re)) continue;
    // HEAD answers as GET would, except where GET has effects (cron runs).
    if (r.method == req.method || (r.method == "GET" && req.method == "HEAD" && r.head_ok)) {
      res.route = r.pattern;
      if (r.rate_limited && !TakeWriteToken(req, &res)) return;
      if (!r.uses_store) return r.handler(req, res, m);
      // Writes and reads wait for separate slots: writes stuck behind a database lock can
      // never take the slots reads need.
      SlotLease slot(r.rate_limited ? &write_slots : &read_slots, kSlotWait);
      if (!slot.held()) return SendBusy(res);
      r.handler(req, res, m);
      return;
    }
    if (!res.route) res.route = r.pattern;  // label a 405 by the path's route
    if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
    if (r.method == "GET" && r.head_ok && allow.find("HEAD") == std::string::npos) {
      allow += ", HEAD";
    }
  }
  if (!allow.empty()) {
    ApiError e = ApiError::Of("method_not_allowed",
                              fmt::format("{} is not allowed on {}; use {}",
                                          LoggablePath(req.method), LoggablePath(req.path), allow));
    e.headers.emplace_back("Allow", allow);
    return SendError(res, e);
  }
  SendError(res, ApiError::Of("not_found", fmt::format("no route {} {}", LoggablePath(req.method),
                                                       LoggablePath(req.path))));
}

void ApiServer::Impl::Log(const Request& req, const Response& res, double ms) {
  const char* route = res.route ? res.route : "unmatched";
  if (metrics) metrics->CountRequest(route, res.status);
  if (!res.log_detail.empty()) {
    env.log->info(fmt::format("HTTP {} {}: {} {}", LoggablePath(req.method), LoggablePath(req.path),
                              res.status, res.log_detail));
  }
  if (!opts.access_log) return;
  env.log->info(fmt::format("HTTP {} {} {} {} {:.1f}ms", LoggablePath(req.method),
                            LoggablePath(req.path), res.status, res.body.size(), ms));
}

bool ApiServer::Impl::TakeWriteToken(const Request& req, Response* res) {
  double now = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  double wait = limiter.Acquire(req.remote_addr, now);
  if (wait <= 0) return true;
  ApiError e = ApiError::Of(
      "rate_limited", fmt::format("too many writes from this client; retry in {:.1f} s", wait));
  e.headers.emplace_back("Retry-After", std::to_string(static_cast<int64_t>(std::ceil(wait))));
  SendError(*res, e);
  return false;
}

// ---------------------------------------------------------------- handlers

namespace {
nlohmann::json ModelIds() {
  nlohmann::json ids = nlohmann::json::array();
  for (HeatModel m : kAllHeatModels) ids.push_back(std::string(HeatModelId(m)));
  return ids;
}
}  // namespace

void ApiServer::Impl::Config(Response& res) {
  SendJson(res, 200,
           {{"tileUrl", opts.tile_url},
            {"gridSteps", kGridSteps},
            {"heatTiles", "/tiles/{model}/{gridStep}/{z}/{x}/{y}.png"},
            // The offline base layer, used when tileUrl is empty (SPEC §7).
            {"streetTiles", "/tiles/streets/{z}/{x}/{y}.png"},
            {"streetMinZoom", tiles::kStreetMinZoom},
            {"defaultGridStep", 0.0025},
            {"models", ModelIds()},
            {"attribution", "© OpenStreetMap contributors"}});
}

void ApiServer::Impl::Cities(Response& res) {
  auto cities = store->ListCities();
  if (!cities.ok()) return SendStatus(res, cities.status());
  nlohmann::json list = nlohmann::json::array();
  for (const City& c : *cities) list.push_back(CityJson(c));
  SendJson(res, 200, {{"cities", std::move(list)}});
}

namespace {
ParamGetter ParamsOf(const Request& req) {
  return [&req](std::string_view name) -> std::optional<std::string> {
    std::string key(name);
    if (!req.has_param(key.c_str())) return std::nullopt;
    return req.get_param_value(key.c_str());
  };
}
}  // namespace

void ApiServer::Impl::Heatmap(const Request& req, Response& res) {
  auto params = ParamsOf(req);
  auto box = ParseBoxParams(params);
  if (!box.ok()) return SendStatus(res, box.status());
  auto any_step =
      ParseOptionalDouble(params, "gridStep", 0.0025, -std::numeric_limits<double>::max(),
                          std::numeric_limits<double>::max());
  if (!any_step.ok()) return SendStatus(res, any_step.status());
  auto step = CanonicalGridStep(*any_step);
  if (!step.ok()) return SendStatus(res, step.status());
  auto min_score = ParseOptionalDouble(params, "minScore", 0, 0, 100);
  if (!min_score.ok()) return SendStatus(res, min_score.status());
  HeatModel model = HeatModel::kGrocery;
  if (auto m = params("model")) {
    auto parsed = ParseModelName("model", *m);
    if (!parsed.ok()) return SendStatus(res, parsed.status());
    model = *parsed;
  }
  const int64_t cap = opts.heatmap_cell_cap;
  int level = 0;  // level=auto|N: overview levels (http/tile_routes.h)
  if (auto l = params("level")) {
    auto chosen = ChooseHeatmapLevel(*l, *box, *step, cap);
    if (!chosen.ok()) return SendStatus(res, chosen.status());
    level = *chosen;
  }
  const int min = static_cast<int>(std::ceil(*min_score));
  if (level > 0) return tile_routes.HeatmapLevel(res, *box, *step, model, min, level);
  tile_routes.HeatmapCells(req, res, *box, *step, model, min);
}

void ApiServer::Impl::Pois(const Request& req, Response& res) {
  auto box = ParseBoxParams(ParamsOf(req));
  if (!box.ok()) return SendStatus(res, box.status());
  auto pois = store->LoadPois(*box, opts.poi_cap + 1);
  if (!pois.ok()) return SendStatus(res, pois.status());
  const size_t n = std::min(pois->size(), static_cast<size_t>(opts.poi_cap));
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < n; ++i) {
    const Poi& p = (*pois)[i];
    list.push_back({{"id", p.source_id},
                    {"name", p.name},
                    {"lat", p.lat},
                    {"lng", p.lng},
                    {"category", std::string(CategoryId(p.category))}});
  }
  SendJson(res, 200, {{"pois", std::move(list)}, {"truncated", pois->size() > n}});
}

void ApiServer::Impl::Score(const Request& req, Response& res) {
  auto params = ParamsOf(req);
  auto lat_text = params("lat"), lng_text = params("lng");
  if (!lat_text || !lng_text) {
    return SendStatus(res, Status::Invalid("query parameters lat and lng are required"));
  }
  auto lat = ParseFiniteDouble("lat", *lat_text);
  if (!lat.ok()) return SendStatus(res, lat.status());
  auto lng = ParseFiniteDouble("lng", *lng_text);
  if (!lng.ok()) return SendStatus(res, lng.status());
  auto at = LatLng::Make(*lat, *lng, "point");
  if (!at.ok()) return SendStatus(res, at.status());
  HeatModel model = HeatModel::kGrocery;
  if (auto m = params("model")) {
    auto parsed = ParseModelName("model", *m);
    if (!parsed.ok()) return SendStatus(res, parsed.status());
    model = *parsed;
  }

  nlohmann::json body;
  {
    SlotLease slot(&read_slots, kSlotWait);
    if (!slot.held()) return SendBusy(res);
    auto scored = StoredPointScore(store, *at, model);
    if (!scored.ok()) return SendStatus(res, scored.status());
    body = std::move(scored).value();
  }
  // The coverage rule; a new regional job takes a write slot and a write token of the
  // client (a client sweeping the map cannot flood the queue, and writes stuck on a lock
  // cannot stall scores: without either it gets the score only). HEAD schedules nothing.
  SlotLease slot(&write_slots, kCoverageSlotWait);
  auto coverage = jobs->EnsureCoverage(
      *at,
      [&] {
        if (req.method == "HEAD" || !slot.held()) return false;
        double now = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
        return limiter.Acquire(req.remote_addr, now) <= 0;
      },
      model, &req.remote_addr);
  if (!coverage.ok()) return SendStatus(res, coverage.status());
  body["hasHeatmapCoverage"] = coverage->covered;
  if (coverage->job_id) body["coverageJobId"] = *coverage->job_id;
  SendJson(res, 200, body);
}

namespace {
// A refused schedule; over an admission cap: 429 with Retry-After (the queue works off cells
// at ~300k/s: a minute frees a sizeable share of any cap).
void SendScheduleError(Response& res, const Status& s) {
  if (s.reason() != "queue_full") return SendStatus(res, s);
  ApiError e = ApiError::Of("queue_full", s.message());
  e.headers.emplace_back("Retry-After", "60");
  SendError(res, e);
}
}  // namespace

void ApiServer::Impl::Schedule(const Request& req, Response& res) {
  nlohmann::json body;
  if (auto err = ParseJsonObject(req.body, &body)) return SendError(res, *err);
  auto r = ParseScheduleRequest(body);
  if (!r.ok()) return SendStatus(res, r.status());
  // A reset: 409 conflict while an equal job is active (unless force); see JobService.
  auto done = jobs->Submit(*r, &req.remote_addr);
  if (!done.ok()) return SendScheduleError(res, done.status());
  const EnqueueResult* e = &done->enqueued;
  SendJson(res, e->is_new ? 201 : 200,
           {{"jobId", e->job.id},
            {"status", std::string(JobStatusId(e->job.status))},
            {"isNew", e->is_new},
            {"priorityRaised", e->priority_raised},
            {"priority", e->job.priority},
            {"runAt", IsoTimeMs(e->job.run_at_ms)}});
}

void ApiServer::Impl::ListJobs(const Request& req, Response& res) {
  auto params = ParamsOf(req);
  JobFilter f;
  if (auto s = params("status")) {
    f.status = ParseJobStatus(*s);
    if (!f.status) {
      return SendStatus(
          res, Status::Invalid(fmt::format(
                   "status '{}' is unknown: use pending, running, completed, failed or cancelled",
                   s->substr(0, 64))));
    }
  }
  if (auto t = params("type")) {
    if (t->empty() || t->size() > 64) {
      return SendStatus(res, Status::Invalid("type must be 1..64 characters"));
    }
    f.type = *t;
  }
  if (auto c = params("city")) {  // a slug; an unknown one is 404
    auto city = store->GetCity(*c);
    if (!city.ok()) return SendStatus(res, city.status());
    f.city_id = city->id;
  }
  int64_t limit = 50;
  if (auto l = params("limit")) {
    auto v = ParseInt("limit", *l, 1, 200);
    if (!v.ok()) return SendStatus(res, v.status());
    limit = *v;
  }
  if (auto c = params("cursor")) {
    auto v = ParseInt("cursor", *c, 1, std::numeric_limits<int64_t>::max());
    if (!v.ok()) return SendStatus(res, v.status());
    f.before_id = *v;
  }
  f.limit = static_cast<int>(limit) + 1;  // one more tells whether a next page exists
  auto found = jobs->List(f);
  if (!found.ok()) return SendStatus(res, found.status());
  nlohmann::json next;  // null: no more pages
  if (static_cast<int64_t>(found->size()) > limit) {
    found->resize(limit);
    next = found->back().id;
  }
  nlohmann::json list = nlohmann::json::array();
  for (const Job& j : *found) list.push_back(JobJson(j));
  SendJson(res, 200, {{"jobs", std::move(list)}, {"nextCursor", next}});
}

void ApiServer::Impl::JobAction(const std::string& id_text, Response& res,
                                const std::function<Result<Job>(int64_t)>& action) {
  auto id = ParseInt("job id", id_text, std::numeric_limits<int64_t>::min(),
                     std::numeric_limits<int64_t>::max());
  if (!id.ok()) return SendStatus(res, id.status());
  if (*id <= 0) return SendStatus(res, Status::NotFound(fmt::format("job {} not found", *id)));
  auto job = action(*id);
  if (!job.ok()) return SendStatus(res, job.status());
  SendJson(res, 200, JobJson(*job));
}

void ApiServer::Impl::Cron(const Request& req, Response& res) {
  if (opts.cron_secret.empty()) {
    return SendError(
        res, ApiError::Of("not_found", "the cron endpoint is disabled: CRON_SECRET is not set"));
  }
  if (!BearerMatches(req.get_header_value("Authorization"), opts.cron_secret)) {
    ApiError e = ApiError::Of("unauthorized", "missing or wrong Authorization: Bearer token");
    e.headers.emplace_back("WWW-Authenticate", "Bearer");
    return SendError(res, e);
  }
  CronOptions cron = opts.cron;
  if (metrics) metrics->Instrument(&cron.run);
  if (!opts.run_cron) return SendStatus(res, Status::Internal("the server has no cron runner"));
  auto report = opts.run_cron(jobs, cron, &stop_flag);
  if (!report.ok()) return SendStatus(res, report.status());
  nlohmann::json ran = nlohmann::json::array();
  for (const auto& j : report->jobs) ran.push_back({{"id", j.id}, {"status", j.status}});
  SendJson(res, 200,
           {{"processed", report->jobs.size()},
            {"jobs", std::move(ran)},
            {"hasMore", report->has_more},
            {"staleReset", report->stale_reset}});
}

void ApiServer::Impl::Ready(Response& res) {
  Status s = store->Ping();
  if (s.ok()) return SendJson(res, 200, {{"status", "ready"}});
  // Not ready is 503 whatever the cause (unreachable database, schema not current).
  SendError(res, ApiError::Of("unavailable", "store not ready").WithLogDetail(s.message()));
}

void ApiServer::Impl::MetricsText(Response& res) {
  res.status = 200;
  res.set_content(
      metrics ? metrics->Render(StoreGauges::Read(store, env.clock->NowMs())) : std::string(),
      "text/plain; version=0.0.4; charset=utf-8");
}

void ApiServer::Impl::StaticFile(PageSource::Root root, const std::string& rel, Response& res) {
  if (!IsSafeRelativePath(rel)) {
    return SendError(res, ApiError::Of("not_found", "no such page"));
  }
  auto data = pages.Read(root, rel);
  if (!data.ok()) {
    return SendError(res,
                     ApiError::Of("not_found", fmt::format("no such page: {}", LoggablePath(rel)))
                         .WithLogDetail(data.status().message()));
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::move(data).value(), std::string(ContentTypeFor(rel)));
}

void ApiServer::Impl::OpenApi(Response& res) {
  auto doc = FindEmbedded("openapi.json");
  if (!doc) return SendError(res, ApiError::Of("not_found", "no API description in this build"));
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_content(std::string(*doc), "application/json");
}

// ---------------------------------------------------------------- ApiServer

ApiServer::ApiServer(JobService* jobs, ServerOptions opts, Metrics* metrics)
    : impl_(std::make_unique<Impl>(jobs, std::move(opts), metrics)) {
  impl_->Setup();
}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Bind() { return impl_->transport->Bind(impl_->opts.host, impl_->opts.port); }

int ApiServer::port() const { return impl_->transport->port(); }

void ApiServer::Serve() { impl_->transport->Run(); }

void ApiServer::Stop() {
  impl_->stop_flag = true;
  impl_->transport->Stop();
}

}  // namespace nbi::http
