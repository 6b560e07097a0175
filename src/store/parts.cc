#include "store/parts.h"

#include <fmt/format.h>

#include <algorithm>

namespace nbi {

std::string_view PartStatusId(PartStatus s) {
  switch (s) {
    case PartStatus::kPending:
      return "pending";
    case PartStatus::kRunning:
      return "running";
    case PartStatus::kCompleted:
      return "completed";
  }
  return "pending";
}

std::optional<PartStatus> ParsePartStatus(std::string_view s) {
  for (PartStatus p : {PartStatus::kPending, PartStatus::kRunning, PartStatus::kCompleted}) {
    if (PartStatusId(p) == s) return p;
  }
  return std::nullopt;
}

std::vector<std::pair<int64_t, int64_t>> SplitParts(int64_t total, int64_t part_cells) {
  total = std::max<int64_t>(total, 0);
  part_cells = std::max<int64_t>(part_cells, 1);
  int64_t n = std::clamp<int64_t>((total + part_cells - 1) / part_cells, 1, kMaxParts);
  // Equal sizes (differing by at most one cell): no short last part that finishes alone.
  std::vector<std::pair<int64_t, int64_t>> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) out.emplace_back(total * k / n, total * (k + 1) / n);
  return out;
}

JobRollUp RollUp(const Job& job, const PartTally& t) {
  JobRollUp r;
  r.attempts = t.max_attempts_used;
  if (!job.active()) {
    r.status = job.status;  // a final state changes only through Retry
    return r;
  }
  if (t.completed == t.total()) {
    r.status = JobStatus::kCompleted;
  } else if (t.running > 0) {
    r.status = JobStatus::kRunning;
    r.locked_by = t.owner;
  } else if (job.cancel_requested) {
    r.status = JobStatus::kCancelled;
  } else {
    r.status = JobStatus::kPending;
  }
  r.finished_now = r.status == JobStatus::kCompleted || r.status == JobStatus::kCancelled;
  const bool claimable =
      (r.status == JobStatus::kPending || r.status == JobStatus::kRunning) && !job.cancel_requested;
  r.ready_parts = claimable ? t.pending : 0;
  return r;
}

RescueDecision DecideRescue(const Job& job, const JobPart& part) {
  RescueDecision d;
  const bool progressed = part.next > part.claimed_index.value_or(part.begin);
  // A run that committed progress since its claim gives its attempt back (a crash in the
  // middle of a long job is not the job's fault); a run that made none keeps it, and once
  // attempts reach max_attempts the job ends failed: its worker died while running that part
  // that many times (no crash loop).
  d.part_attempts = progressed ? std::max(part.attempts - 1, 0) : part.attempts;
  if (job.cancel_requested) return d;  // it ends cancelled; the error stays as it was
  const std::string label = PartLabel(job, part.part, part.begin, part.end);
  if (!progressed && part.attempts >= job.max_attempts) {
    d.fail_job = true;
    d.job_error = fmt::format(
        "{}the worker died (or hung) while running it {} times without progress; giving up "
        "after {} of {} attempts",
        label, part.attempts, part.attempts, job.max_attempts);
  } else {
    d.job_error = fmt::format(
        "{}worker {} died (or hung) during attempt {} of {}; resumed from its checkpoint", label,
        part.locked_by.value_or("?"), part.attempts, job.max_attempts);
  }
  return d;
}

JobAttempt RescueAttempt(const Job& job, const JobPart& part, const RescueDecision& d,
                         int64_t now_ms) {
  JobAttempt a;
  a.job_id = job.id;
  a.part = part.part;
  a.attempt = part.attempts;
  a.at_ms = now_ms;
  a.worker = part.locked_by.value_or("");
  a.error = d.job_error.value_or(
      fmt::format("worker {} stopped during attempt {} while the job was being cancelled",
                  part.locked_by.value_or("?"), part.attempts));
  a.outcome = d.fail_job ? "failed" : "rescued";
  return a;
}

JobAttempt FailedAttempt(const JobPart& part, const std::string& worker_id,
                         const std::string& error, bool retry, int64_t now_ms) {
  JobAttempt a;
  a.job_id = part.job_id;
  a.part = part.part;
  a.attempt = part.attempts;
  a.at_ms = now_ms;
  a.worker = worker_id;
  a.error = error;
  a.outcome = retry ? "retry" : "failed";
  return a;
}

bool ClaimStartsRun(bool was_pending, const Job& job, const JobPart& part) {
  return was_pending &&
         (job.part_count <= 1 || job.last_processed_index() == 0 || part.next > part.begin);
}

std::string PartLabel(const Job& job, int part, int64_t begin, int64_t end) {
  if (job.part_count <= 1) return "";
  return fmt::format("part {} of {} (cells {}-{}): ", part + 1, job.part_count, begin, end - 1);
}

}  // namespace nbi
