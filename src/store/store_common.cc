// Store pieces shared by both implementations: names, dedupe keys, backoff, presets, Open.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"
#include "store/store.h"

namespace nbi {

namespace {
constexpr std::string_view kStatusIds[] = {"pending", "running", "completed", "failed",
                                           "cancelled"};

std::string Shortest(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
}  // namespace

std::string_view JobStatusId(JobStatus s) { return kStatusIds[static_cast<int>(s)]; }

std::optional<JobStatus> ParseJobStatus(std::string_view s) {
  for (size_t i = 0; i < std::size(kStatusIds); ++i) {
    if (kStatusIds[i] == s) return static_cast<JobStatus>(i);
  }
  return std::nullopt;
}

int64_t RetryBackoffMs(int attempts) {
  // 5 s, 10 s, 20 s ... capped at one hour.
  int shift = std::clamp(attempts - 1, 0, 20);
  return std::min<int64_t>(int64_t{5000} << shift, 3'600'000);
}

Result<std::vector<Poi>> LoadPoisAround(Store* store, const BBox& box, double margin_m) {
  std::vector<Poi> all;
  for (const BBox& part : box.ExpandedWrapped(margin_m)) {
    auto pois = store->LoadPois(part, -1);
    if (!pois.ok()) return pois.status();
    all.insert(all.end(), std::make_move_iterator(pois->begin()),
               std::make_move_iterator(pois->end()));
  }
  return all;
}

void SortInClaimOrder(std::vector<Job>* jobs) {
  std::sort(jobs->begin(), jobs->end(), [](const Job& a, const Job& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.id < b.id;
  });
}

std::string DedupeKey(const HeatmapJobSpec& s) {
  return fmt::format("{}:{},{},{},{}:{}:{}", kHeatmapJobType, Shortest(s.bounds.min_lat),
                     Shortest(s.bounds.min_lng), Shortest(s.bounds.max_lat),
                     Shortest(s.bounds.max_lng), Shortest(s.grid_step), HeatModelId(s.model));
}

nlohmann::json HeatmapMetadata(const HeatmapJobSpec& s) {
  return {{"bounds",
           {{"minLat", s.bounds.min_lat},
            {"minLng", s.bounds.min_lng},
            {"maxLat", s.bounds.max_lat},
            {"maxLng", s.bounds.max_lng}}},
          {"gridStep", s.grid_step},
          {"model", std::string(HeatModelId(s.model))},
          {"lastProcessedIndex", 0}};
}

std::vector<City> PresetCities() {
  return {
      {0, "cancun", "Cancun", "MX", {20.8, -87.2, 21.4, -86.5}},
      {0, "liechtenstein", "Liechtenstein", "LI", {47.04, 9.47, 47.28, 9.64}},
      {0, "porto", "Porto (centre)", "PT", {41.12, -8.63, 41.16, -8.59}},
      {0, "andorra", "Andorra", "AD", {42.42, 1.40, 42.66, 1.79}},
      {0, "helsinki", "Helsinki (centre)", "FI", {60.16, 24.93, 60.18, 24.96}},
      {0, "monaco", "Monaco", "MC", {43.72, 7.40, 43.76, 7.44}},
  };
}

std::string DatabaseUrlFromEnv() {
  const char* u = std::getenv("DATABASE_URL");
  return (u && *u) ? u : "sqlite:nearbyindex.db";
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, Clock* clock) {
  std::unique_ptr<Store> store;
  if (url.empty()) {
    store = std::make_unique<SqliteStore>("nearbyindex.db", clock);
  } else if (url.rfind("sqlite:", 0) == 0) {
    std::string path = url.substr(7);
    if (path.rfind("//", 0) == 0) path = path.substr(2);  // sqlite://path
    if (path.empty())
      return Status::Invalid("DATABASE_URL sqlite: needs a file path (sqlite:PATH)");
    store = std::make_unique<SqliteStore>(path, clock);
  } else if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    store = std::make_unique<PgStore>(url, clock);
  } else {
    return Status::Invalid(fmt::format(
        "DATABASE_URL '{}' is not understood: use sqlite:PATH or postgresql://...", url));
  }
  NBI_RETURN_IF_ERROR(store->Migrate());
  return store;
}

}  // namespace nbi
