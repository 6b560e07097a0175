// PgStore's JobWatch (store.h): LISTEN on kJobsChannel over a dedicated connection (5 s
// connect timeout), waiting on its socket; `wake` is called once per batch of notifications.
// After any error it reconnects with backoff (100 ms doubling to 5 s) and then wakes once,
// in case a notification was missed while it was down. The destructor stops and joins the
// thread (`wake` is not called after it returns). Internal to src/store/postgres.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "store/store.h"

namespace nbi {

class PgWatch final : public JobWatch {
 public:
  PgWatch(std::string conninfo, std::function<void()> wake);
  ~PgWatch() override;
  PgWatch(const PgWatch&) = delete;
  PgWatch& operator=(const PgWatch&) = delete;

 private:
  void Loop(const std::string& conninfo, const std::function<void()>& wake);

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace nbi
