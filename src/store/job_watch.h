// Wake-ups from other processes: calls `wake` soon after another process may have enqueued
// a job, so a worker starts it in milliseconds instead of at its next poll. A wake-up is only
// a hint (the worker then claims as usual); bursts coalesce.
//
//   PostgreSQL: LISTEN nearbyindex_jobs on a dedicated connection, waiting on its socket;
//               after any error it reconnects with backoff (and wakes once, in case a
//               notification was missed while it was down).
//   SQLite:     watches PRAGMA data_version every 5 ms (it changes when another connection
//               commits).
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace nbi {

class JobWatch {
 public:
  virtual ~JobWatch() = default;  // stops the watch thread
};

// Starts a watch for the store behind `url` (as accepted by OpenStore).
std::unique_ptr<JobWatch> StartJobWatch(const std::string& url, std::function<void()> wake);

}  // namespace nbi
