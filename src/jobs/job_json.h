// The JSON shapes of a job and of one attempt: GET /api/jobs, GET /api/jobs/:id and
// `nearbyindex jobs --json` / `jobs show --json` print the same, from here.
#pragma once

#include <nlohmann/json.hpp>

#include "store/job.h"

namespace nbi {

// {"id","type","status","progress","totalItems","processedItems","error","createdAt",
//  "startedAt","completedAt","attempts","maxAttempts","priority","runAt","cityId",
//  "cancelRequested","metadata"}; times are "2026-11-28T21:05:00.123Z" (UTC, milliseconds).
nlohmann::json JobJson(const Job& job);
// One row of a job's attempt history: {part, attempt, at, worker, error, outcome}.
nlohmann::json AttemptJson(const JobAttempt& a);

}  // namespace nbi
