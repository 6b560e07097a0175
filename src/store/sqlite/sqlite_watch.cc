#include "store/sqlite/sqlite_watch.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdint>

#include "store/sqlite/sqlite_sql.h"

namespace nbi {

namespace {
constexpr auto kPollInterval = std::chrono::milliseconds(5);
}  // namespace

SqliteWatch::SqliteWatch(std::string path, std::function<void()> wake) {
  thread_ =
      std::thread([this, path = std::move(path), wake = std::move(wake)] { Loop(path, wake); });
}

SqliteWatch::~SqliteWatch() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void SqliteWatch::Loop(const std::string& path, const std::function<void()>& wake) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return;
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql::kDataVersion, -1, &st, nullptr);
  int64_t last = -1;
  while (!stop_ && st) {
    if (sqlite3_step(st) == SQLITE_ROW) {
      int64_t v = sqlite3_column_int64(st, 0);
      if (last >= 0 && v != last) wake();
      last = v;
    }
    sqlite3_reset(st);
    std::this_thread::sleep_for(kPollInterval);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace nbi
