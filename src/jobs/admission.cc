#include "jobs/admission.h"

#include <algorithm>

namespace nbi {

ClientJobs::Lru::iterator ClientJobs::Touch(const std::string& client) {
  if (auto it = index_.find(client); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return lru_.begin();
  }
  if (index_.size() >= max_clients_ && !lru_.empty()) {
    index_.erase(lru_.back().client);
    lru_.pop_back();
  }
  lru_.push_front(Entry{client, {}});
  index_[client] = lru_.begin();
  return lru_.begin();
}

std::vector<int64_t> ClientJobs::Of(const std::string& client) {
  std::lock_guard<std::mutex> l(mu_);
  return Touch(client)->ids;
}

void ClientJobs::Record(const std::string& client, int64_t job_id) {
  std::lock_guard<std::mutex> l(mu_);
  Touch(client)->ids.push_back(job_id);
}

void ClientJobs::Keep(const std::string& client, const std::vector<int64_t>& active) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<int64_t>& ids = Touch(client)->ids;
  std::erase_if(
      ids, [&](int64_t id) { return std::find(active.begin(), active.end(), id) == active.end(); });
}

}  // namespace nbi
