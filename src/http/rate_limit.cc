#include "http/rate_limit.h"

#include <algorithm>

namespace nbi::http {

RateLimiter::RateLimiter(double rate_per_sec, double burst, size_t max_clients)
    : rate_(rate_per_sec),
      burst_(std::max(1.0, burst)),
      max_clients_(std::max<size_t>(1, max_clients)) {}

double RateLimiter::Acquire(const std::string& key, double now_s) {
  if (rate_ <= 0) return 0;
  std::lock_guard<std::mutex> l(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) PruneLocked(now_s);
    it = buckets_.emplace(key, Bucket{burst_, now_s}).first;
  }
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + std::max(0.0, now_s - b.last_s) * rate_);
  b.last_s = std::max(b.last_s, now_s);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return (1 - b.tokens) / rate_;
}

void RateLimiter::PruneLocked(double now_s) {
  // Drop buckets that have refilled completely: forgetting them changes nothing.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const Bucket& b = it->second;
    if (b.tokens + (now_s - b.last_s) * rate_ >= burst_) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  // Still full of active clients: start over rather than grow without bound.
  if (buckets_.size() >= max_clients_) buckets_.clear();
}

}  // namespace nbi::http
