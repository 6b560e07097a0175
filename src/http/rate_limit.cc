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
  auto found = index_.find(key);
  if (found == index_.end()) {
    if (lru_.size() >= max_clients_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(Bucket{key, burst_, now_s});
    found = index_.emplace(key, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, found->second);
  }
  Bucket& b = *found->second;
  b.tokens = std::min(burst_, b.tokens + std::max(0.0, now_s - b.last_s) * rate_);
  b.last_s = std::max(b.last_s, now_s);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return (1 - b.tokens) / rate_;
}

size_t RateLimiter::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return lru_.size();
}

}  // namespace nbi::http
