// Job parts: a heatmap job over more than JOB_PART_CELLS cells is split into contiguous ranges
// of its cell numbers, one job_parts row each, that any worker (any process, any machine) may
// claim and run in parallel. A small job has exactly one part, [0, total).
//
// The job row stays the user-facing unit; its queue columns summarise its parts. This file
// holds the rules both stores apply, so they cannot drift apart:
//   - SplitParts: where the parts of a new job begin and end;
//   - RollUp: the job's status, ready parts, owner and attempts from its parts' tally, after
//     any change of a part's state (each store locks the job row first, so the tally is
//     consistent);
//   - DecideRescue: what a rescue of a part whose owner died (or hung) does to it and its job;
//   - PartLabel: how a message names a part ("" for a job of one part, so single-part jobs
//     keep the messages they always had).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/job.h"

namespace nbi {

enum class PartStatus { kPending, kRunning, kCompleted };
std::string_view PartStatusId(PartStatus s);
std::optional<PartStatus> ParsePartStatus(std::string_view s);

// One row of job_parts.
struct JobPart {
  int64_t job_id = 0;
  int part = 0;
  int64_t begin = 0, end = 0;  // cells [begin, end) of the job
  int64_t next = 0;            // cells [begin, next) are stored (the part's lastProcessedIndex)
  PartStatus status = PartStatus::kPending;
  int attempts = 0;
  std::optional<std::string> locked_by;
  std::optional<int64_t> heartbeat_at_ms;
  std::optional<int64_t> claimed_index;  // `next` when it was last claimed
};

inline constexpr int64_t kDefaultPartCells = 250'000;
// Upper bound of parts per job (a guard against a tiny JOB_PART_CELLS on a huge job).
inline constexpr int64_t kMaxParts = 100'000;

// [begin, end) of each part of a job of `total` cells; at least one part, parts of at most
// `part_cells` cells (more when kMaxParts would be exceeded), sizes differing by at most one.
std::vector<std::pair<int64_t, int64_t>> SplitParts(int64_t total, int64_t part_cells);

// The parts of one job, counted by state.
struct PartTally {
  int pending = 0, running = 0, completed = 0;
  int max_attempts_used = 0;
  std::optional<std::string> owner;  // of the lowest running part, when any runs
  std::optional<int64_t> heartbeat_at_ms;
  int total() const { return pending + running + completed; }
};

// The job's queue columns that follow from its parts.
struct JobRollUp {
  JobStatus status = JobStatus::kPending;
  int ready_parts = 0;  // parts a claim may take now (0 unless active and not cancelling)
  std::optional<std::string> locked_by;
  int attempts = 0;
  bool finished_now = false;  // the job reached a final state in this change
};
// `job` as it is before the change (status, cancel_requested).
JobRollUp RollUp(const Job& job, const PartTally& tally);

// What a rescue does to a part whose owner died or went silent, and to its job.
struct RescueDecision {
  int part_attempts = 0;                 // the part's attempts after the rescue
  bool fail_job = false;                 // the part made no progress in max_attempts runs: give up
  std::optional<std::string> job_error;  // nullopt: leave the job's error as it is
};
RescueDecision DecideRescue(const Job& job, const JobPart& part);
// The attempt-history row (JobQueue::ListAttempts) of that rescue at `now_ms`: outcome
// "failed" when it gave up, else "rescued"; the worker is the part's lost owner.
JobAttempt RescueAttempt(const Job& job, const JobPart& part, const RescueDecision& d,
                         int64_t now_ms);
// The row of a failed attempt (FailPart) by `worker_id`: outcome "retry" or "failed".
JobAttempt FailedAttempt(const JobPart& part, const std::string& worker_id,
                         const std::string& error, bool retry, int64_t now_ms);

// Whether a claim of `part` starts a run of `job` (so the runner says "Started job #N"): the
// job was pending before the claim, and this is not the pause between two parts of a job
// under way (a fresh part of a job with cells done). A part resumed after a hand-back or a
// rescue (cells done in it) starts a run: "Started job #N ... (resuming at ...)".
bool ClaimStartsRun(bool was_pending, const Job& job, const JobPart& part);

// "part 3 of 8 (cells 500000-749999): " for a job of several parts; "" for one part.
std::string PartLabel(const Job& job, int part, int64_t begin, int64_t end);

}  // namespace nbi
