// The PostgreSQL wake-up watch. See pg_watch.h.
#include "store/postgres/pg_watch.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "store/postgres/pg_sql.h"
#include "store/postgres/pg_store.h"

namespace nbi {

static_assert(std::string_view(kListenJobs).substr(7) == std::string_view(kJobsChannel),
              "the watch must LISTEN on kJobsChannel");

namespace {

// Connects and subscribes; null when either fails.
PGconn* ConnectAndListen(const std::string& conninfo) {
  // connect_timeout: an unreachable host must not hold shutdown for minutes.
  const char* keys[] = {"dbname", "connect_timeout", nullptr};
  const char* values[] = {conninfo.c_str(), "5", nullptr};
  PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  bool ok = PQstatus(c) == CONNECTION_OK;
  if (ok) {
    PGresult* r = PQexec(c, kListenJobs);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
  }
  if (!ok) {
    PQfinish(c);
    return nullptr;
  }
  return c;
}

}  // namespace

PgWatch::PgWatch(std::string conninfo, std::function<void()> wake) {
  thread_ = std::thread(
      [this, conninfo = std::move(conninfo), wake = std::move(wake)] { Loop(conninfo, wake); });
}

PgWatch::~PgWatch() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgWatch::Loop(const std::string& conninfo, const std::function<void()>& wake) {
  int64_t backoff_ms = 100;
  bool first = true;
  while (!stop_) {
    if (PGconn* c = ConnectAndListen(conninfo)) {
      backoff_ms = 100;
      if (!first) wake();  // something may have been enqueued while we were away
      first = false;
      while (!stop_) {
        pollfd pfd{PQsocket(c), POLLIN, 0};
        int n = poll(&pfd, 1, 200);
        if (n <= 0) continue;           // timeout or EINTR: check stop_ again
        if (!PQconsumeInput(c)) break;  // connection lost: reconnect
        bool any = false;
        while (PGnotify* note = PQnotifies(c)) {
          any = true;
          PQfreemem(note);
        }
        if (any) wake();
      }
      PQfinish(c);
    }
    for (int64_t waited = 0; waited < backoff_ms && !stop_; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff_ms = std::min<int64_t>(backoff_ms * 2, 5000);
  }
}

}  // namespace nbi
