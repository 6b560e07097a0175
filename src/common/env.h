// The seam between the library and the world outside it (after leveldb's Env): time and
// logging. The application builds one Env (SystemClock + a logger of the configured format);
// tests build theirs with a FakeClock and a logger of their choice. The library reads no
// environment variables and writes no output except through these.
//
// An Env is a pair of borrowed pointers: both must outlive every component given the Env.
#pragma once

#include <spdlog/logger.h>

#include <memory>

#include "common/clock.h"
#include "common/log.h"

namespace nbi {

struct Env {
  Clock* clock = SystemClock::Get();
  std::shared_ptr<spdlog::logger> log = NullLogger();

  // SystemClock and a text logger on stdout.
  static Env Default() { return Env{SystemClock::Get(), MakeLogger(LogFormat::kText)}; }
};

}  // namespace nbi
