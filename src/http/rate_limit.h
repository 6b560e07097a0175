// Per-client token buckets for the API's writes (SPEC §6: "writes are rate-limited per
// client").
//
// Each client key (the peer address) owns a bucket of `burst` tokens that refills at
// `rate_per_sec`; a request takes one token or is refused with the time until the next token.
// Example (rate 20/s, burst 40): a client may send 40 writes at once, then one every 50 ms.
//
// Time is passed in (seconds on any monotonic origin), so tests need no sleeps. The table is
// bounded: with `max_clients` buckets tracked, a new client evicts the least recently used
// bucket, never more (a flood of fresh addresses cannot reset a limited client that keeps
// asking). Thread-safe.
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

namespace nbi::http {

class RateLimiter {
 public:
  // rate_per_sec <= 0 disables the limiter (every request is allowed).
  RateLimiter(double rate_per_sec, double burst, size_t max_clients = 65536);

  // Takes one token of `key`'s bucket at `now_s`. Returns 0 when the request may proceed,
  // else the seconds until a token is available (> 0; the request is refused).
  double Acquire(const std::string& key, double now_s);

  bool enabled() const { return rate_ > 0; }

  // Clients tracked now (at most max_clients).
  size_t size() const;

 private:
  struct Bucket {
    std::string key;
    double tokens = 0;
    double last_s = 0;
  };
  using Lru = std::list<Bucket>;  // most recently used first

  // Constant after construction.
  const double rate_, burst_;
  const size_t max_clients_;

  mutable std::mutex mu_;
  Lru lru_;                                               // guarded by mu_
  std::unordered_map<std::string, Lru::iterator> index_;  // guarded by mu_
};

}  // namespace nbi::http
