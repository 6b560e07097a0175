// The HTTP/1.1 transport of `serve`: Boost.Beast over Asio (docs/http.md).
//
// A few I/O threads run every connection asynchronously, so an open connection costs a
// socket and a small buffer, never a thread: idle and slow clients cannot starve the others.
// Every limit is enforced while parsing, before anything is buffered beyond it:
//   - the request head (request line + header fields) has a byte limit (431; 414 when the
//     request line alone is too long), a field-count limit (431) and a target limit (414);
//   - a body over the limit is refused whatever its transfer encoding (413);
//   - a duplicate or malformed Content-Length, a bad chunk or a malformed head is 400;
//   - a head must arrive within the head timeout and a body within the body timeout, a
//     kept-alive connection may idle for the idle timeout, a response must be taken within
//     the write timeout; past a deadline the connection is closed (without an answer).
// After an error answer the connection is closed (its rest is drained briefly, so the client
// reads the answer rather than a reset). Requests on one connection are answered one after
// the other, in order; pipelined requests wait in the buffer.
//
// Handlers that may block (store queries, cron runs) run on one of two handler pools, reads
// and writes apart; the others run on the I/O thread. Stop() closes the listener and every
// connection that is not inside a handler at once; those inside finish, answer and close.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/message.h"

namespace nbi::http {

struct TransportOptions {
  size_t max_body_bytes = 64 * 1024;
  size_t max_head_bytes = 32 * 1024;
  size_t max_target_bytes = 8 * 1024;
  size_t max_header_fields = 100;
  int64_t head_timeout_ms = 10'000;
  int64_t body_timeout_ms = 10'000;
  int64_t idle_timeout_ms = 5'000;
  int64_t write_timeout_ms = 10'000;
  int max_connections = 10'000;  // beyond: accepted and closed at once
  int io_threads = 2;
  int handler_threads = 64;  // the read lane
  int write_threads = 16;    // the write lane
};

class Transport {
 public:
  // Answers a request, on the thread its Lane says.
  using Handler = std::function<void(const Request&, Response&)>;
  // kInline: on the I/O thread (fast handlers that never wait); kRead / kWrite: on the read or
  // write handler pool, so handlers stuck behind a database lock in one lane never take the
  // threads of the other.
  enum class Lane { kInline, kRead, kWrite };
  // The lane of a request.
  using Classifier = std::function<Lane(const Request&)>;
  // Fills an answer the transport makes itself (status 400, 413, 414, 431, 500).
  using ErrorAnswer = std::function<void(int status, Response&)>;
  // Called once per answer, after it is complete and before it is written (access log,
  // metrics); `ms` is the time since the request head arrived.
  using Observer = std::function<void(const Request&, const Response&, double ms)>;

  Transport(TransportOptions opts, Handler handler, Classifier lane, ErrorAnswer error,
            Observer observer);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds and listens on host:port (a name or an address; port 0 picks a free one).
  // kTransient when that fails (address in use, not a local address, no permission).
  Status Bind(const std::string& host, int port);
  int port() const;
  // Serves until Stop(); returns once every connection is closed. Call once, after Bind.
  void Run();
  // Thread-safe, idempotent, also before Run() (Run then returns at once).
  void Stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nbi::http
