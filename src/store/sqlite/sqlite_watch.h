// The SQLite half of JobQueue::Watch: wake-ups when another connection (any process) commits
// to the database file.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "store/store.h"

namespace nbi {

// A thread with its own read-only connection polls PRAGMA data_version every 5 ms and calls
// `wake` whenever the value changes (another connection committed). If the file cannot be
// opened the thread ends at once and no wake-up ever comes. The destructor stops and joins
// the thread: `wake` is not called after it returns.
class SqliteWatch final : public JobWatch {
 public:
  SqliteWatch(std::string path, std::function<void()> wake);
  ~SqliteWatch() override;
  SqliteWatch(const SqliteWatch&) = delete;
  SqliteWatch& operator=(const SqliteWatch&) = delete;

 private:
  void Loop(const std::string& path, const std::function<void()>& wake);

  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: started after stop_ exists
};

}  // namespace nbi
