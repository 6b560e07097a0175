#include "store/job_watch.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "store/postgres/pg_store.h"

namespace nbi {

namespace {

class ThreadWatch : public JobWatch {
 public:
  ~ThreadWatch() override {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 protected:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class PgWatch final : public ThreadWatch {
 public:
  PgWatch(std::string conninfo, std::function<void()> wake) {
    thread_ = std::thread(
        [this, conninfo = std::move(conninfo), wake = std::move(wake)] { Loop(conninfo, wake); });
  }

 private:
  void Loop(const std::string& conninfo, const std::function<void()>& wake) {
    int64_t backoff_ms = 100;
    bool first = true;
    while (!stop_) {
      // connect_timeout: an unreachable host must not hold shutdown for minutes.
      const char* keys[] = {"dbname", "connect_timeout", nullptr};
      const char* values[] = {conninfo.c_str(), "5", nullptr};
      PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
      bool ok = PQstatus(c) == CONNECTION_OK;
      if (ok) {
        PGresult* r = PQexec(c, "LISTEN nearbyindex_jobs");
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
      }
      if (ok) {
        backoff_ms = 100;
        if (!first) wake();  // something may have been enqueued while we were away
        first = false;
        while (!stop_) {
          pollfd pfd{PQsocket(c), POLLIN, 0};
          int n = poll(&pfd, 1, 200);
          if (n < 0) continue;
          if (n == 0) continue;
          if (!PQconsumeInput(c)) break;  // connection lost: reconnect
          bool any = false;
          while (PGnotify* note = PQnotifies(c)) {
            any = true;
            PQfreemem(note);
          }
          if (any) wake();
        }
      }
      PQfinish(c);
      for (int64_t waited = 0; waited < backoff_ms && !stop_; waited += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 5000);
    }
  }
};

class SqliteWatch final : public ThreadWatch {
 public:
  SqliteWatch(std::string path, std::function<void()> wake) {
    thread_ = std::thread([this, path = std::move(path), wake = std::move(wake)] {
      sqlite3* db = nullptr;
      if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(db);
        return;
      }
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, nullptr);
      int64_t last = -1;
      while (!stop_ && st) {
        if (sqlite3_step(st) == SQLITE_ROW) {
          int64_t v = sqlite3_column_int64(st, 0);
          if (last >= 0 && v != last) wake();
          last = v;
        }
        sqlite3_reset(st);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      sqlite3_finalize(st);
      sqlite3_close(db);
    });
  }
};

}  // namespace

std::unique_ptr<JobWatch> StartJobWatch(const std::string& url, std::function<void()> wake) {
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return std::make_unique<PgWatch>(url, std::move(wake));
  }
  std::string path =
      url.empty() ? "nearbyindex.db" : url.substr(url.rfind("sqlite:", 0) == 0 ? 7 : 0);
  if (path.rfind("//", 0) == 0) path = path.substr(2);
  return std::make_unique<SqliteWatch>(path, std::move(wake));
}

}  // namespace nbi
