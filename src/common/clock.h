// Time comes through a Clock, so leases, backoff, polls and heartbeats are tested on a
// FakeClock instead of with sleeps.
//
// Two kinds of time:
//   NowMs()     wall-clock milliseconds since the Unix epoch: what is stored in the database
//               (heartbeats, run_at, created_at). May jump (NTP).
//   SteadyMs()  monotonic milliseconds from an arbitrary origin: what deadlines, poll
//               intervals and retry delays are measured in. Never goes back.
// Waiting goes through the clock too (SleepFor, WaitUntil), so a FakeClock decides when a
// timer fires: its waits return once the test has advanced fake time past the deadline (or
// the predicate holds), checking every millisecond of real time.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace nbi {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (stored in the database).
  virtual int64_t NowMs() const = 0;
  // Monotonic milliseconds (deadlines and intervals).
  virtual int64_t SteadyMs() const = 0;
  // The same in microseconds (reading another clock to a fraction of a millisecond).
  virtual int64_t SteadyUs() const { return SteadyMs() * 1000; }
  // Blocks until SteadyMs() >= now + ms.
  virtual void SleepFor(int64_t ms) = 0;
  // Waits on `cv` (with `lock` held on entry and on return) until `pred()` holds or
  // SteadyMs() reaches `deadline_steady_ms`. Returns pred(). Spurious wake-ups are handled.
  virtual bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         int64_t deadline_steady_ms, const std::function<bool()>& pred) = 0;

  bool WaitFor(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, int64_t ms,
               const std::function<bool()>& pred) {
    return WaitUntil(lock, cv, SteadyMs() + ms, pred);
  }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t SteadyMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t SteadyUs() const override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void SleepFor(int64_t ms) override {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 int64_t deadline_steady_ms, const std::function<bool()>& pred) override {
    auto deadline =
        std::chrono::steady_clock::time_point(std::chrono::milliseconds(deadline_steady_ms));
    return cv.wait_until(lock, deadline, pred);
  }
  static SystemClock* Get() {
    static SystemClock clock;
    return &clock;
  }
};

// Wall time read from another source (the database's clock) and carried forward by a base
// clock's steady time: NowMs() = base steady time + the offset of the last reading. Steady
// time, sleeps and waits are the base clock's. Every process that takes its wall time from the
// same source agrees on it, whatever its own clock says (SPEC §9: heartbeats, leases, run_at,
// backoff and pruning compare times written by different machines). Thread-safe.
class SourcedClock final : public Clock {
 public:
  // Until the first reading: the base clock's wall time.
  explicit SourcedClock(Clock* base)
      : base_(base),
        offset_us_((base->NowMs() - base->SteadyMs()) * 1000),
        read_at_(base->SteadyMs()) {}
  // The source said `source_us` (wall microseconds) between the base's steady times
  // `before_us` and `after_us`. Kept to the microsecond: two processes reading one database
  // must agree to well under a millisecond, or a job one enqueues "now" is still in the
  // future for the other's claim a fraction of a millisecond later (whole-millisecond
  // readings were seen to disagree by 1-2 ms, and such a wake-up's claim found nothing).
  void Read(int64_t source_us, int64_t before_us, int64_t after_us) {
    offset_us_ = source_us - before_us / 2 - after_us / 2;
    read_at_ = after_us / 1000;
  }
  // Steady ms since the last reading.
  int64_t SinceReadMs() const { return base_->SteadyMs() - read_at_.load(); }
  Clock* base() const { return base_; }

  int64_t NowMs() const override {
    const int64_t us = base_->SteadyUs() + offset_us_.load();
    return us >= 0 ? us / 1000 : -((-us + 999) / 1000);  // floor
  }
  int64_t SteadyMs() const override { return base_->SteadyMs(); }
  int64_t SteadyUs() const override { return base_->SteadyUs(); }
  void SleepFor(int64_t ms) override { base_->SleepFor(ms); }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 int64_t deadline_steady_ms, const std::function<bool()>& pred) override {
    return base_->WaitUntil(lock, cv, deadline_steady_ms, pred);
  }

 private:
  Clock* const base_;
  std::atomic<int64_t> offset_us_;
  std::atomic<int64_t> read_at_;
};

// A clock tests move by hand: wall and steady time advance together. Waits poll fake time
// every millisecond of real time, so a test advances the clock and the waiting thread
// notices within a few ms. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'800'000'000'000) : now_(start_ms), steady_(0) {}
  int64_t NowMs() const override { return now_.load(); }
  int64_t SteadyMs() const override { return steady_.load(); }
  void SleepFor(int64_t ms) override {
    const int64_t until = SteadyMs() + ms;
    ++waits_entered_;
    while (SteadyMs() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  bool WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 int64_t deadline_steady_ms, const std::function<bool()>& pred) override {
    ++waits_entered_;
    while (!pred()) {
      if (SteadyMs() >= deadline_steady_ms) return false;
      cv.wait_for(lock, std::chrono::milliseconds(1));
    }
    return true;
  }
  void Advance(int64_t ms) {
    now_ += ms;
    steady_ += ms;
  }
  // Sets wall time only (steady time never goes back).
  void Set(int64_t ms) { now_ = ms; }
  // How many waits (SleepFor, WaitUntil, WaitFor) have begun: a test knows a thread has
  // reached its wait (and fixed its deadline) before it moves the clock.
  int64_t waits_entered() const { return waits_entered_.load(); }

 private:
  std::atomic<int64_t> waits_entered_{0};
  std::atomic<int64_t> now_;
  std::atomic<int64_t> steady_;
};

}  // namespace nbi
