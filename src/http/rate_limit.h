// Per-client token buckets for the API's writes (SPEC §6: "writes are rate-limited per
// client").
//
// Each client key (the peer address) owns a bucket of `burst` tokens that refills at
// `rate_per_sec`; a request takes one token or is refused with the time until the next token.
// Example (rate 20/s, burst 40): a client may send 40 writes at once, then one every 50 ms.
//
// Time is passed in (seconds on any monotonic origin), so tests need no sleeps. Buckets of
// idle clients are dropped once more than `max_clients` are tracked (a full bucket and a
// missing one behave alike). Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace nbi::http {

class RateLimiter {
 public:
  // rate_per_sec <= 0 disables the limiter (every request is allowed).
  RateLimiter(double rate_per_sec, double burst, size_t max_clients = 10000);

  // Takes one token of `key`'s bucket at `now_s`. Returns 0 when the request may proceed,
  // else the seconds until a token is available (> 0; the request is refused).
  double Acquire(const std::string& key, double now_s);

  bool enabled() const { return rate_ > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    double last_s = 0;
  };
  void PruneLocked(double now_s);

  // Constant after construction.
  const double rate_, burst_;
  const size_t max_clients_;

  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
};

}  // namespace nbi::http
