// Admission control of the queue (SPEC §6): caps on the cells queued and not yet computed, so
// that one client cannot fill the queue with the work of days (regression: one anonymous
// client at the default rate limit enqueued 121 jobs x 25 M cells in 4 s).
//   - per client (the API's peer address): the cells left in the active jobs it enqueued;
//   - in all: the cells left in every active job, whoever enqueued it (CLI included).
// A request over a cap is refused with kConflict and reason "queue_full" (HTTP 429 with
// Retry-After) naming the cap and its setting. A request that the duplicate rule folds into an
// active job queues nothing new and is never refused.
//
// The per-client tally lives in this process (the jobs a client enqueued through it); two
// requests of one client at the same instant may both pass: the write rate limit bounds that.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace nbi {

inline constexpr int64_t kDefaultClientQueuedCells = 100'000'000;   // 4 jobs at the job cap
inline constexpr int64_t kDefaultTotalQueuedCells = 1'000'000'000;  // ~1 h at 300k cells/s

struct AdmissionOptions {
  int64_t client_queued_cells = kDefaultClientQueuedCells;  // NBI_QUEUE_CLIENT_CELLS; 0: off
  int64_t total_queued_cells = kDefaultTotalQueuedCells;    // NBI_QUEUE_TOTAL_CELLS; 0: off
};

// The jobs each client enqueued, for the per-client cap. Bounded: with `max_clients` tracked,
// a new client evicts the least recently seen one. Thread-safe.
class ClientJobs {
 public:
  explicit ClientJobs(size_t max_clients = 65536) : max_clients_(max_clients) {}
  // The ids recorded for `client` (most recent last).
  std::vector<int64_t> Of(const std::string& client);
  void Record(const std::string& client, int64_t job_id);
  // Keeps only `active` of the client's ids (the others have finished).
  void Keep(const std::string& client, const std::vector<int64_t>& active);

 private:
  struct Entry {
    std::string client;
    std::vector<int64_t> ids;
  };
  using Lru = std::list<Entry>;                    // most recently seen first
  Lru::iterator Touch(const std::string& client);  // mu_ held

  const size_t max_clients_;
  std::mutex mu_;
  Lru lru_;                                               // guarded by mu_
  std::unordered_map<std::string, Lru::iterator> index_;  // guarded by mu_
};

}  // namespace nbi
