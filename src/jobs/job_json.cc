#include "jobs/job_json.h"

#include <optional>
#include <string>

#include "common/time_format.h"

namespace nbi {

namespace {
std::string IsoMs(int64_t ms) { return FormatTimestamp(ms, TimeStyle::kIsoUtc); }
}  // namespace

nlohmann::json JobJson(const Job& job) {
  auto time = [](const std::optional<int64_t>& ms) {
    return ms ? nlohmann::json(IsoMs(*ms)) : nlohmann::json();
  };
  return {{"id", job.id},
          {"type", job.type},
          {"status", std::string(JobStatusId(job.status))},
          {"progress", job.progress},
          {"totalItems", job.total_items},
          {"processedItems", job.last_processed_index()},
          {"error", job.error ? nlohmann::json(*job.error) : nlohmann::json()},
          {"createdAt", IsoMs(job.created_at_ms)},
          {"startedAt", time(job.started_at_ms)},
          {"completedAt", time(job.completed_at_ms)},
          {"attempts", job.attempts},
          {"maxAttempts", job.max_attempts},
          {"priority", job.priority},
          {"runAt", IsoMs(job.run_at_ms)},
          {"cityId", job.city_id ? nlohmann::json(*job.city_id) : nlohmann::json()},
          {"cancelRequested", job.cancel_requested},
          {"metadata", job.metadata}};
}

nlohmann::json AttemptJson(const JobAttempt& a) {
  return {{"part", a.part},     {"attempt", a.attempt}, {"at", IsoMs(a.at_ms)},
          {"worker", a.worker}, {"error", a.error},     {"outcome", a.outcome}};
}

}  // namespace nbi
