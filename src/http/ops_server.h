// The operations endpoints of the processes without the API (`worker`, `process-jobs`), on
// METRICS_ADDR: GET (and HEAD) /metrics (http/metrics.h, with the store's gauges read at each
// scrape), /healthz (the process answers) and /readyz (Store::Ping: the database answers, is
// writable and its schema is current; 503 otherwise). Other paths are 404, other methods 405,
// as JSON errors of the API's form (http/api.h).
//
// Served over the API's transport (http/transport.h) with small pools: /metrics and /readyz
// wait for the store on two handler threads, /healthz answers on the I/O thread.
// Thread-safety: Stop() may be called from any thread; the other calls from one.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "http/metrics.h"
#include "http/transport.h"
#include "store/store.h"

namespace nbi::http {

class OpsServer {
 public:
  // `store`, `metrics` and `clock` must outlive the server.
  OpsServer(Store* store, const Metrics* metrics, Clock* clock);
  ~OpsServer();  // stops and joins
  OpsServer(const OpsServer&) = delete;
  OpsServer& operator=(const OpsServer&) = delete;

  // Binds host:port (port 0 picks a free one). kTransient when the address cannot be bound.
  Status Bind(const std::string& host, int port);
  int port() const;
  // Serves on a thread of its own until Stop(). Call once, after Bind.
  void Start();
  // Idempotent: closes the listener and connections and joins the thread.
  void Stop();

 private:
  void Handle(const Request& req, Response& res);

  Store* const store_;
  const Metrics* const metrics_;
  Clock* const clock_;
  std::unique_ptr<Transport> transport_;
  std::thread thread_;
};

}  // namespace nbi::http
