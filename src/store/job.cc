#include "store/job.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <charconv>

namespace nbi {

namespace {
constexpr std::string_view kStatusIds[] = {"pending", "running", "completed", "failed",
                                           "cancelled"};

std::string Shortest(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::optional<double> Number(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return std::nullopt;
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}
std::atomic<int> g_seed_job_model{static_cast<int>(HeatModel::kBlend)};
}  // namespace

HeatModel SeedJobModel() { return static_cast<HeatModel>(g_seed_job_model.load()); }
void SetSeedJobModel(HeatModel model) { g_seed_job_model.store(static_cast<int>(model)); }

bool IsSeedJob(const Job& job) {
  return job.type == kHeatmapJobType && job.metadata.is_object() && !job.metadata.contains("model");
}

std::string_view JobStatusId(JobStatus s) { return kStatusIds[static_cast<int>(s)]; }

std::optional<JobStatus> ParseJobStatus(std::string_view s) {
  for (size_t i = 0; i < std::size(kStatusIds); ++i) {
    if (kStatusIds[i] == s) return static_cast<JobStatus>(i);
  }
  return std::nullopt;
}

int64_t Job::last_processed_index() const {
  if (!metadata.is_object()) return 0;
  auto it = metadata.find("lastProcessedIndex");
  if (it == metadata.end()) return 0;
  if (it->is_number_unsigned()) {
    auto v = it->get<uint64_t>();
    return v > uint64_t(INT64_MAX) ? 0 : static_cast<int64_t>(v);
  }
  if (it->is_number_integer()) return std::max<int64_t>(0, it->get<int64_t>());
  return 0;
}

nlohmann::json EncodeHeatmapMetadata(const HeatmapJobSpec& s) {
  return {{"bounds",
           {{"minLat", s.bounds.min_lat},
            {"minLng", s.bounds.min_lng},
            {"maxLat", s.bounds.max_lat},
            {"maxLng", s.bounds.max_lng}}},
          {"gridStep", s.grid_step},
          {"model", std::string(HeatModelId(s.model))},
          {"lastProcessedIndex", 0}};
}

Result<HeatmapMetadata> DecodeHeatmapMetadata(const Job& job) {
  const nlohmann::json& m = job.metadata;
  auto bad = [&](std::string what) {
    return Status::Invalid(fmt::format("job {}: metadata {}", job.id, what));
  };
  if (!m.is_object()) return bad("is not a JSON object");
  auto b = m.find("bounds");
  if (b == m.end() || !b->is_object()) return bad("has no bounds object");
  auto a = Number(*b, "minLat"), c = Number(*b, "minLng"), d = Number(*b, "maxLat"),
       e = Number(*b, "maxLng");
  if (!a || !c || !d || !e) return bad("bounds need numeric minLat, minLng, maxLat and maxLng");
  auto step = Number(m, "gridStep");
  if (!step) return bad("has no numeric gridStep");
  auto box = BBox::Make(*a, *c, *d, *e);
  if (!box.ok()) return box.status().WithPrefix(fmt::format("job {}: metadata bounds: ", job.id));
  auto canonical_step = CanonicalGridStep(*step);  // an original-app job's step too (SPEC §2a)
  if (!canonical_step.ok()) {
    return canonical_step.status().WithPrefix(fmt::format("job {}: metadata gridStep: ", job.id));
  }
  HeatmapMetadata out{*box, *canonical_step, SeedJobModel(), 0};
  if (auto it = m.find("model"); it != m.end()) {
    auto model = ParseModelName(
        "model", it->is_string()
                     ? it->get<std::string>()
                     : it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (!model.ok()) return model.status().WithPrefix(fmt::format("job {}: metadata ", job.id));
    out.model = *model;
  }
  if (auto it = m.find("lastProcessedIndex"); it != m.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return bad("lastProcessedIndex is not a non-negative integer");
    }
    out.last_processed_index = it->get<int64_t>();
  }
  return out;
}

Status ActiveJobConflict(const Job& active) {
  return Status::Conflict(fmt::format(
      "job #{} for this area, grid step and model is {} ({}% done): a reset now would delete "
      "cells under it; wait for it, cancel it, or reset with --force (cancels it first)",
      active.id, JobStatusId(active.status), active.progress));
}

std::string DedupeKey(const HeatmapJobSpec& s) {
  std::string key =
      fmt::format("{}:{},{},{},{}:{}:{}", s.type, Shortest(s.bounds.min_lat),
                  Shortest(s.bounds.min_lng), Shortest(s.bounds.max_lat),
                  Shortest(s.bounds.max_lng), Shortest(s.grid_step), HeatModelId(s.model));
  if (!s.dedupe_tag.empty()) key += "#" + s.dedupe_tag;
  return key;
}

int64_t RetryBackoffMs(int attempts) {
  int shift = std::clamp(attempts - 1, 0, 20);
  return std::min<int64_t>(int64_t{5000} << shift, 3'600'000);
}

void SortInClaimOrder(std::vector<Job>* jobs) {
  std::sort(jobs->begin(), jobs->end(), [](const Job& a, const Job& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.id < b.id;
  });
}

}  // namespace nbi
