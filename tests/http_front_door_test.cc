// The HTTP front door end to end, part 3: the real `nearbyindex serve` (tests/http_test_util.h)
// against hostile clients on raw sockets: body, nesting, header and URL limits; idle, slowloris
// and slow clients; memory under floods; Range; pipelining; cross-site writes and the Host
// allow-list; the cron bearer scheme; symlinks out of the web root.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_test_util.h"
#include "store_test_util.h"
#include "test_util.h"

namespace nbi {
namespace {

using json = nlohmann::json;
using testing::Backend;
using testing::HttpTest;
using testing::Reply;
using testing::ServerProcess;
using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr size_t kMB = 1024 * 1024;
// Tests that send many writes turn the per-client write rate limit off.
const std::map<std::string, std::string> kNoRateLimit = {{"NBI_RATE_LIMIT_PER_SEC", "0"}};

int64_t MsSince(Steady::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(Steady::now() - t0).count();
}

int MsLeft(Steady::time_point deadline) {
  return static_cast<int>(std::max<int64_t>(-MsSince(deadline), 0));
}

// Raises this process's soft limit of open files to the hard one (servers started afterwards
// inherit it); returns the new soft limit.
rlim_t RaiseFileLimit() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  r.rlim_cur = r.rlim_max == RLIM_INFINITY ? 1 << 20 : r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

// VmRSS of process `pid` in kB (-1 if unreadable, e.g. the process is gone).
long RssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// The value of header `name` (given in lower case) in a response head, "" if absent.
std::string HeaderValue(const std::string& head, const std::string& name) {
  std::string lower = head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  size_t from = head.find_first_not_of(' ', at + name.size() + 3), to = head.find("\r\n", from);
  return from < to ? head.substr(from, to - from) : "";
}

// A string field of the error object of a JSON error body, "" if there is none.
std::string ErrorField(const std::string& body, const char* key) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return "";
  auto e = j.find("error");
  if (e == j.end() || !e->is_object()) return "";
  auto f = e->find(key);
  return f != e->end() && f->is_string() ? f->get<std::string>() : "";
}

// An answer read from a raw connection: its status (0: none complete), head and body, and
// whether the server had closed the connection (EOF or reset) by the time it was read.
struct RawReply {
  int status = 0;
  std::string head, body;
  bool closed = false;

  json Json() const { return json::parse(body, nullptr, false); }
  std::string Describe() const {
    return "status " + std::to_string(status) + (closed ? " (closed)" : "") +
           ", body: " + body.substr(0, 300) + (status == 0 ? " head: " + head.substr(0, 300) : "");
  }
};

// Whether `r` is an error answer with `status` and the JSON error code `code` (any non-empty
// code when `code` is empty) and a message.
::testing::AssertionResult IsError(const RawReply& r, int status, const std::string& code) {
  const std::string got = ErrorField(r.body, "code");
  if (r.status == status && (code.empty() ? !got.empty() : got == code) &&
      !ErrorField(r.body, "message").empty()) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "want " << status << " " << (code.empty() ? "(any code)" : code) << ", got "
         << r.Describe();
}

// Decodes a chunked body starting at `pos` of `s`; false while incomplete. *end: past it.
bool Dechunk(const std::string& s, size_t pos, std::string* out, size_t* end) {
  out->clear();
  for (size_t eol; (eol = s.find("\r\n", pos)) != std::string::npos; pos = eol + 2) {
    const size_t n = std::stoul(s.substr(pos, eol - pos), nullptr, 16);
    if (n == 0) {  // the last chunk, then an empty trailer
      *end = s.find("\r\n\r\n", eol);
      if (*end == std::string::npos) return false;
      *end += 4;
      return true;
    }
    if (s.size() < eol + n + 4) return false;
    out->append(s, eol + 2, n);
    eol += n + 2;
  }
  return false;
}

// Takes one complete answer off the front of `buf` into *r; false while incomplete (an answer
// without a length is complete only once the server closed: `eof`).
bool TakeReply(std::string* buf, bool eof, RawReply* r) {
  size_t head_end = buf->find("\r\n\r\n");
  if (head_end == std::string::npos) return false;
  std::string head = buf->substr(0, head_end + 2);
  size_t body_at = head_end + 4, end = 0;
  std::string body;
  const std::string length = HeaderValue(head, "content-length");
  if (!length.empty()) {
    end = body_at + std::stoul(length);
    if (buf->size() < end) return false;
    body = buf->substr(body_at, end - body_at);
  } else if (HeaderValue(head, "transfer-encoding").find("chunked") != std::string::npos) {
    if (!Dechunk(*buf, body_at, &body, &end)) return false;
  } else {
    if (!eof) return false;
    end = buf->size();
    body = buf->substr(body_at);
  }
  r->head = head;
  r->body = body;
  r->status = head.rfind("HTTP/1.", 0) == 0 && head.size() > 12 ? std::stoi(head.substr(9, 3)) : 0;
  buf->erase(0, end);
  return true;
}

enum class SendEnd { kAll, kAnswered, kFailed, kTimedOut };

// A raw TCP connection to 127.0.0.1:port (blocking connect, bounded by 5 s).
class Conn {
 public:
  explicit Conn(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(fd_);
      fd_ = -1;
    }
    eof_ = fd_ < 0;
  }
  ~Conn() { close(fd_); }  // -1 when not connected: harmless
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends `data` without SIGPIPE. Stops early when a send fails (EPIPE, ECONNRESET: the server
  // answered and hung up), when `stop_on_answer` and something arrived to read (an answer or
  // a close), or after timeout_ms. Adds the bytes the kernel took to *sent.
  SendEnd Send(std::string_view data, bool stop_on_answer = false, int timeout_ms = 5000,
               size_t* sent = nullptr) {
    const auto deadline = Steady::now() + milliseconds(timeout_ms);
    size_t off = 0;
    if (fd_ < 0) return SendEnd::kFailed;
    while (off < data.size()) {
      if (MsLeft(deadline) <= 0) return SendEnd::kTimedOut;
      pollfd p{fd_, static_cast<short>(POLLOUT | (stop_on_answer ? POLLIN : 0)), 0};
      if (poll(&p, 1, MsLeft(deadline)) <= 0) continue;
      if (stop_on_answer && (p.revents & POLLIN)) return SendEnd::kAnswered;
      if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return SendEnd::kFailed;
      size_t n = std::min<size_t>(data.size() - off, 256 * 1024);
      ssize_t k = send(fd_, data.data() + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (k > 0) {
        off += static_cast<size_t>(k);
        if (sent) *sent += static_cast<size_t>(k);
      } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return SendEnd::kFailed;
      }
    }
    return SendEnd::kAll;
  }

  // The next answer within timeout_ms (status 0 if none complete by then, or closed first).
  RawReply Read(int timeout_ms = 5000) {
    const auto deadline = Steady::now() + milliseconds(timeout_ms);
    RawReply r;
    bool done;
    while (!(done = TakeReply(&buf_, eof_, &r)) && !eof_ && MsLeft(deadline) > 0) {
      Fill(MsLeft(deadline));
    }
    if (!done) r.head = buf_;  // what there is of an incomplete answer
    r.closed = eof_;
    return r;
  }

  // Whether the server closed the connection (EOF or reset) within timeout_ms; what it sent
  // and was not read yet is appended to *got.
  bool WaitClosed(int timeout_ms, std::string* got = nullptr) {
    const auto deadline = Steady::now() + milliseconds(timeout_ms);
    while (!eof_ && MsLeft(deadline) > 0) Fill(MsLeft(deadline));
    if (got) got->append(buf_);
    buf_.clear();
    return eof_;
  }

 private:
  // Reads what arrives within timeout_ms into buf_; sets eof_ on EOF or an error.
  void Fill(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (eof_ || poll(&p, 1, timeout_ms) <= 0) return;
    char b[64 * 1024];
    ssize_t n = recv(fd_, b, sizeof b, 0);
    if (n > 0) {
      buf_.append(b, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      eof_ = true;
    }
  }

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// The Content-Length header line of `body`.
std::string Length(const std::string& body) {
  return "Content-Length: " + std::to_string(body.size()) + "\r\n";
}

// An HTTP/1.1 request. `headers` are lines without CRLF; "Host: 127.0.0.1:<port>" is added
// unless they hold a Host, and a Content-Length for a body or a POST.
std::string Req(int port, const std::string& method, const std::string& target,
                const std::vector<std::string>& headers = {}, const std::string& body = "") {
  std::string out = method + " " + target + " HTTP/1.1\r\n";
  bool host = false;
  for (const std::string& h : headers) {
    host = host || h.rfind("Host:", 0) == 0;
    out += h + "\r\n";
  }
  if (!host) out += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  if (!body.empty() || method == "POST") out += Length(body);
  return out + "\r\n" + body;
}

// The head of a JSON POST /api/heatmap/schedule with `framing` (header lines with CRLFs).
std::string ScheduleHead(int port, const std::string& framing) {
  return "POST /api/heatmap/schedule HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nContent-Type: application/json\r\n" + framing + "\r\n";
}

// One chunk of a chunked body; a whole chunked body in pieces of `piece` bytes.
std::string Chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}
std::string Chunked(std::string_view body, size_t piece) {
  std::string out;
  for (size_t i = 0; i < body.size(); i += piece) out += Chunk(body.substr(i, piece));
  return out + "0\r\n\r\n";
}

// A schedule body whose model is `depth` nested arrays.
std::string Nested(int depth) {
  return R"({"citySlug":"monaco","model":)" + std::string(depth, '[') + std::string(depth, ']') +
         "}";
}

// One request on a fresh connection: sent (the server may answer and hang up before it has
// all of it), then its answer read.
RawReply Exchange(int port, const std::string& request, int timeout_ms = 5000) {
  Conn c(port);
  if (!c.ok()) return {};
  c.Send(request, /*stop_on_answer=*/true, timeout_ms);
  return c.Read(timeout_ms);
}
RawReply RawGet(int port, const std::string& target, const std::vector<std::string>& headers = {}) {
  return Exchange(port, Req(port, "GET", target, headers));
}
RawReply RawSchedule(int port, const std::string& framing, const std::string& body) {
  return Exchange(port, ScheduleHead(port, framing) + body);
}
const std::string kChunked = "Transfer-Encoding: chunked\r\n";

// A client that connects, then sends nothing (`slow` false) or a partial request head and a
// header line every 500 ms: ms from connecting until the server closed the connection (-1:
// still open after 8 s; -2: could not connect) and what the server sent before that.
struct Cut {
  int64_t ms = -2;
  std::string got;
};
Cut ClientCut(int port, bool slow) {
  Cut out;
  Conn c(port);
  const auto t0 = Steady::now();
  if (!c.ok()) return out;
  if (slow) c.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (out.ms = -1; out.ms == -1 && MsSince(t0) < 8000;) {
    if ((slow && c.Send("X-a: b\r\n", false, 500) == SendEnd::kFailed) ||
        c.WaitClosed(500, &out.got)) {
      out.ms = MsSince(t0);
    }
  }
  if (out.ms >= 0) c.WaitClosed(1000, &out.got);
  return out;
}

// A flood: `head`, then `piece` over and over until `total` bytes, a failed send, an answer or
// budget_ms; then what the server answered.
struct Flood {
  size_t sent = 0;
  RawReply reply;
};
Flood RunFlood(int port, const std::string& head, const std::string& piece, size_t total,
               int budget_ms) {
  Flood f;
  Conn c(port);
  if (!c.ok()) return f;
  const auto t0 = Steady::now();
  SendEnd end = c.Send(head, true, 2000, &f.sent);
  while (end == SendEnd::kAll && f.sent < total && MsSince(t0) < budget_ms) {
    end = c.Send(piece, true, 2000, &f.sent);
  }
  f.reply = c.Read(2000);
  return f;
}

class FrontDoorTest : public HttpTest {};

TEST_P(FrontDoorTest, BodiesAreLimitedWhateverTheTransferEncoding) {
  ServerProcess& s = Start(kNoRateLimit, {"--no-worker"});
  const int port = s.port();
  // ~200 KB of brackets in 8 KB chunks.
  const std::string brackets = ScheduleHead(port, kChunked) + Chunked(Nested(100000), 8 * 1024);
  EXPECT_TRUE(IsError(Exchange(port, brackets, 10000), 413, "payload_too_large"))
      << "chunked, 200 KB";
  // 100 KB of otherwise valid JSON with a Content-Length.
  const std::string prefix = R"({"citySlug":"monaco","model":")";
  const std::string valid = prefix + std::string(100 * 1024 - prefix.size() - 2, 'g') + "\"}";
  ASSERT_EQ(valid.size(), 100u * 1024);
  EXPECT_TRUE(IsError(RawSchedule(port, Length(valid), valid), 413, "payload_too_large"))
      << "Content-Length, 100 KB";
  // A chunked stream that would be 300 MB: the answer must come long before.
  const Flood f = RunFlood(port, ScheduleHead(port, kChunked), Chunk(std::string(64 * 1024, '[')),
                           300 * kMB, 10000);
  EXPECT_TRUE(IsError(f.reply, 413, "payload_too_large")) << "chunked, 300 MB";
  EXPECT_LT(f.sent, 8 * kMB) << "bytes taken before the 413";
  EXPECT_EQ(s.Get("/healthz").status, 200) << s.Log();
}

TEST_P(FrontDoorTest, DeepNestingInsideTheBodyLimitIsInvalidJson) {
  ServerProcess& s = Start(kNoRateLimit, {"--no-worker"});
  const int port = s.port();
  ASSERT_LT(Nested(30000).size(), 64u * 1024);
  // Depth 61 (within the 64 levels) parses and is refused for what it says (a model is a
  // name): the depth limit is not much lower than 64.
  struct Case {
    int depth;
    bool chunked;
    std::string code;
  };
  for (const Case& k : {Case{30000, true, "invalid_json"}, Case{30000, false, "invalid_json"},
                        Case{100, false, "invalid_json"}, Case{60, true, "invalid_argument"}}) {
    const std::string body = Nested(k.depth);
    const RawReply r = k.chunked ? RawSchedule(port, kChunked, Chunked(body, 8 * 1024))
                                 : RawSchedule(port, Length(body), body);
    EXPECT_TRUE(IsError(r, 400, k.code))
        << "arrays nested " << k.depth << " deep, " << (k.chunked ? "chunked" : "Content-Length");
  }
  EXPECT_EQ(s.Get("/healthz").status, 200) << s.Log();
}

TEST_P(FrontDoorTest, OversizedHeadsAndBadContentLengthsAreRefused) {
  ServerProcess& s = Start({}, {"--no-worker"});
  const int port = s.port();
  std::vector<std::string> fillers;
  for (int i = 0; i < 200; ++i)
    fillers.push_back("X-Filler-" + std::to_string(i) + ": " + std::string(100, 'f'));
  struct Case {
    std::string what, request;
    int status;
    std::string code;  // "": any
  };
  const std::vector<Case> cases = {
      {"200 header lines", Req(port, "GET", "/api/config", fillers), 431,
       "header_fields_too_large"},
      {"a 40 KB header", Req(port, "GET", "/api/config", {"X-Big: " + std::string(40 * 1024, 'v')}),
       431, "header_fields_too_large"},
      {"a 20 KB URL", Req(port, "GET", "/api/config?x=" + std::string(20 * 1024, 'a')), 414,
       "uri_too_long"},
      {"two Content-Lengths",
       ScheduleHead(port, "Content-Length: 2\r\nContent-Length: 2\r\n") + "{}", 400, "bad_request"},
      {"Content-Length: -1", ScheduleHead(port, "Content-Length: -1\r\n"), 400, ""},
      {"Content-Length: abc", ScheduleHead(port, "Content-Length: abc\r\n") + "{}", 400, ""},
  };
  for (const Case& k : cases) {
    const auto t0 = Steady::now();
    EXPECT_TRUE(IsError(Exchange(port, k.request, 3000), k.status, k.code)) << k.what;
    const auto bound = testing::PromptnessBoundMs(1000);
    if (k.what == "Content-Length: -1" && bound) {
      EXPECT_LE(MsSince(t0), *bound) << "ms to answer " << k.what;
    }
  }
  EXPECT_EQ(s.Get("/healthz").status, 200) << s.Log();
}

TEST_P(FrontDoorTest, IdleAndSlowConnectionsNeitherStarveOthersNorBlockShutdown) {
  const rlim_t files = RaiseFileLimit();
  if (files < 1300) GTEST_SKIP() << "needs 1,300 open files; the hard limit is " << files;
  ServerProcess& s = Start({}, {"--no-worker"});
  ASSERT_TRUE(s.running());
  const int port = s.port();
  std::vector<std::unique_ptr<Conn>> idle, slow;
  for (int i = 0; i < 1000; ++i) idle.push_back(std::make_unique<Conn>(port));
  for (int i = 0; i < 100; ++i) {
    slow.push_back(std::make_unique<Conn>(port));
    slow.back()->Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  }
  for (const auto* conns : {&idle, &slow}) {
    EXPECT_TRUE(std::all_of(conns->begin(), conns->end(), [](const auto& c) { return c->ok(); }))
        << (conns == &idle ? "idle" : "slowloris") << " connections could not all connect";
  }
  // The slowloris clients send one more header line every 500 ms until the test ends.
  std::jthread drip([&slow](std::stop_token stop) {
    while (!stop.stop_requested()) {
      for (int i = 0; i < 10 && !stop.stop_requested(); ++i) std::this_thread::sleep_for(50ms);
      for (auto& c : slow) send(c->fd(), "X-a: b\r\n", 8, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  });
  std::this_thread::sleep_for(200ms);

  // 100 probes, each a fresh connection; stop after 12 s if the server starves them.
  std::vector<int64_t> ms;
  int answered = 0;
  const auto start = Steady::now();
  for (int i = 0; i < 100 && MsSince(start) < 12000; ++i) {
    const auto t0 = Steady::now();
    answered += Exchange(port, Req(port, "GET", "/healthz"), 1000).status == 200;
    ms.push_back(MsSince(t0));
  }
  ASSERT_EQ(ms.size(), 100u) << "probes made within 12 s";
  EXPECT_EQ(answered, 100) << "probes answered 200";
  std::sort(ms.begin(), ms.end());
  if (auto bound = testing::PromptnessBoundMs(100)) {
    EXPECT_LT(ms[98], *bound) << "p99 ms of GET /healthz beside 1,100 idle and slow connections "
                              << "(median " << ms[49] << ", max " << ms[99] << ")";
  }

  // SIGTERM with all of them still open: a clean exit within 5 s.
  const auto t0 = Steady::now();
  ASSERT_EQ(kill(s.pid(), SIGTERM), 0);
  const int code = s.Wait(5000);
  const int64_t took = MsSince(t0);
  if (code < 0) {
    kill(s.pid(), SIGKILL);  // handled here: TearDown only stops servers still running
    s.Wait(5000);
  }
  EXPECT_EQ(code, 0) << "exit code after SIGTERM (-1: still running after 5 s)\n" << s.Log();
  EXPECT_LE(took, 5000) << "ms from SIGTERM to exit";
}

TEST_P(FrontDoorTest, SlowAndIdleClientsAreCutAfterTheHeaderTimeout) {
  ServerProcess& s = Start({{"NBI_HTTP_HEADER_TIMEOUT", "2s"}}, {"--no-worker"});
  auto slow_f = std::async(std::launch::async, ClientCut, s.port(), true);
  auto idle_f = std::async(std::launch::async, ClientCut, s.port(), false);
  const Cut slow = slow_f.get(), idle = idle_f.get();
  EXPECT_GE(slow.ms, 1500) << "ms until a header-per-500-ms client was cut (-1: never)";
  EXPECT_LE(slow.ms, 5000) << "ms until a header-per-500-ms client was cut";
  EXPECT_GE(idle.ms, 0) << "an idle client was never cut (-1) or could not connect (-2)";
  EXPECT_LE(idle.ms, 5000) << "ms until an idle client was cut";
  for (const Cut* c : {&slow, &idle}) {
    EXPECT_TRUE(c->got.empty() || c->got.rfind("HTTP/1.1 408", 0) == 0)
        << "before the close the server may only answer 408: " << c->got.substr(0, 300);
  }
  EXPECT_EQ(s.Get("/healthz").status, 200) << s.Log();
}

TEST_P(FrontDoorTest, MemoryStaysBoundedUnderHeaderAndBodyFloods) {
  RaiseFileLimit();
  ServerProcess& s = Start(kNoRateLimit, {"--no-worker"});
  ASSERT_TRUE(s.running());
  const int port = s.port();
  for (int i = 0; i < 10; ++i) {
    s.Get("/healthz");
    s.Get("/api/config");
    s.Get("/api/cities");
    RawSchedule(port, "Content-Length: 70000\r\n", std::string(70000, ' '));
  }
  const long before = RssKb(s.pid());
  ASSERT_GT(before, 0);

  std::string lines;
  for (int i = 0; i < 64; ++i) lines += "X-h: " + std::string(1000, 'h') + "\r\n";
  const std::string header_head =
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n";
  const std::string body_head = ScheduleHead(port, kChunked);
  const std::string chunk = Chunk(std::string(64 * 1024, 'x'));
  std::atomic<long> peak{before};
  std::jthread sampler([&](std::stop_token stop) {
    for (; !stop.stop_requested(); std::this_thread::sleep_for(50ms)) {
      peak = std::max<long>(peak, RssKb(s.pid()));
    }
  });
  const auto t0 = Steady::now();
  std::vector<std::future<Flood>> headers, bodies;
  for (int i = 0; i < 4; ++i) {
    headers.push_back(
        std::async(std::launch::async, RunFlood, port, header_head, lines, 250 * kMB, 25000));
    bodies.push_back(
        std::async(std::launch::async, RunFlood, port, body_head, chunk, 250 * kMB, 25000));
  }
  for (auto* floods : {&headers, &bodies}) {
    const int want = floods == &headers ? 431 : 413;
    for (auto& f : *floods) {
      const Flood r = f.get();
      EXPECT_TRUE(r.reply.status == want || (r.reply.status == 0 && r.reply.closed))
          << "a " << (want == 431 ? "header" : "body") << " flood wants " << want
          << " or a closed connection; after " << r.sent << " bytes: " << r.reply.Describe();
    }
  }
  const int64_t took = MsSince(t0);
  sampler.request_stop();
  EXPECT_LT(took, 20000) << "ms the 8 floods lasted";
  std::this_thread::sleep_for(500ms);
  const long after = RssKb(s.pid());
  ASSERT_GT(after, 0) << "the server is gone\n" << s.Log();
  EXPECT_LT(after - before, 51200) << "VmRSS kB before " << before << ", after " << after
                                   << ", peak during the floods " << peak.load();
  EXPECT_EQ(s.Get("/healthz").status, 200) << s.Log();
}

TEST_P(FrontDoorTest, RangesNeverYieldMoreThanTheFile) {
  const std::string web = testing::SourceDir() + "/web";
  const std::string file = testing::ReadFile(web + "/public/map.js");
  ASSERT_FALSE(file.empty());
  ServerProcess& s = Start({}, {"--no-worker", "--web-dir", web});
  const int port = s.port();
  const RawReply plain = RawGet(port, "/static/map.js");
  ASSERT_EQ(plain.status, 200) << plain.Describe();
  EXPECT_EQ(plain.body, file);
  std::string ranges = "Range: bytes=0-";
  for (int i = 1; i < 1500; ++i) ranges += ",0-";
  const RawReply many = RawGet(port, "/static/map.js", {ranges});
  EXPECT_EQ(many.status, 200) << "1,500 ranges: " << many.Describe();
  EXPECT_LE(many.body.size(), plain.body.size()) << "1,500 ranges";
  const RawReply one = RawGet(port, "/static/map.js", {"Range: bytes=0-9"});
  EXPECT_EQ(one.status, 200) << "bytes=0-9: " << one.Describe();
  EXPECT_LE(one.body.size(), plain.body.size()) << "bytes=0-9";
}

TEST_P(FrontDoorTest, PipelinedRequestsAreAnsweredInOrder) {
  ServerProcess& s = Start({}, {"--no-worker"});
  const int port = s.port();
  Conn c(port);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c.Send(Req(port, "GET", "/healthz") + Req(port, "GET", "/api/config") +
                   Req(port, "GET", "/api/cities")),
            SendEnd::kAll);
  const RawReply health = c.Read(), config = c.Read(), cities = c.Read();
  EXPECT_EQ(health.status, 200) << health.Describe();
  EXPECT_EQ(health.Json(), (json{{"status", "ok"}})) << health.body;
  EXPECT_EQ(config.status, 200) << config.Describe();
  EXPECT_NE(config.body.find("gridSteps"), std::string::npos) << config.Describe();
  EXPECT_EQ(cities.status, 200) << cities.Describe();
  EXPECT_NE(cities.body.find("cities"), std::string::npos) << cities.Describe();
}

TEST_P(FrontDoorTest, CrossSiteWritesAreRefusedAndEnqueueNothing) {
  ServerProcess& s = Start(kNoRateLimit, {"--no-worker"});
  const int port = s.port();
  const std::string body = R"({"bounds": )" + BoundsJson(47.09, 9.49, 47.11, 9.51) + "}";
  auto schedule = [&](const std::vector<std::string>& headers) {
    return Exchange(port, Req(port, "POST", "/api/heatmap/schedule", headers, body));
  };
  auto jobs = [port] {
    const json j = RawGet(port, "/api/jobs").Json();
    return j.is_object() ? j.value("jobs", json::array()).size() : size_t{999};  // 999: no list
  };
  for (const char* type : {"Content-Type: text/plain",
                           "Content-Type: application/x-www-form-urlencoded", "X-No-Type: 1"})
    EXPECT_TRUE(IsError(schedule({type}), 415, "unsupported_media_type")) << type;
  const std::string json_type = "Content-Type: application/json";
  for (const char* origin : {"Origin: http://evil.example", "Origin: null"})
    EXPECT_TRUE(IsError(schedule({json_type, origin}), 403, "forbidden")) << origin;
  // A body-less action needs no Content-Type.
  EXPECT_TRUE(
      IsError(Exchange(port, Req(port, "POST", "/api/jobs/999999/cancel")), 404, "not_found"))
      << "POST cancel without body or Content-Type";
  EXPECT_EQ(jobs(), 0u) << "refused writes enqueued a job";

  const RawReply charset = schedule({"Content-Type: application/json; charset=utf-8"});
  EXPECT_TRUE(charset.status == 201 || charset.status == 200) << charset.Describe();
  const RawReply same_origin =
      schedule({json_type, "Origin: http://127.0.0.1:" + std::to_string(port)});
  EXPECT_TRUE(same_origin.status == 201 || same_origin.status == 200) << same_origin.Describe();
  EXPECT_EQ(jobs(), 1u) << "the accepted writes (the same job twice) enqueued one job";
}

TEST_P(FrontDoorTest, OnlyAllowedHostsAreServed) {
  ServerProcess& s = Start({}, {"--no-worker"});
  const std::string port = std::to_string(s.port());
  auto cities = [](const ServerProcess& server, const std::string& host) {
    return RawGet(server.port(), "/api/cities", {"Host: " + host});
  };
  for (const std::string& host : {std::string("evil.example"), "evil.example:" + port})
    EXPECT_TRUE(IsError(cities(s, host), 403, "forbidden")) << "Host: " << host;
  for (const std::string& host : {"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port}) {
    const RawReply r = cities(s, host);
    EXPECT_EQ(r.status, 200) << "Host: " << host << ": " << r.Describe();
  }
  ServerProcess& named = Start({{"ALLOWED_HOSTS", "maps.example.org"}}, {"--no-worker"});
  const RawReply allowed = cities(named, "maps.example.org");
  EXPECT_EQ(allowed.status, 200) << "ALLOWED_HOSTS=maps.example.org: " << allowed.Describe();
  EXPECT_TRUE(IsError(cities(named, "evil.example"), 403, "forbidden"))
      << "ALLOWED_HOSTS=maps.example.org, Host: evil.example";
}

TEST_P(FrontDoorTest, CronBearerSchemeIsCaseInsensitive) {
  ServerProcess& s = Start({{"CRON_SECRET", "s3cret"}}, {"--no-worker"});
  for (const char* auth : {"bearer s3cret", "BEARER s3cret"}) {
    const Reply r = s.Get("/api/cron/process-jobs", {{"Authorization", auth}});
    EXPECT_EQ(r.status, 200) << auth << ": " << r.text;
  }
  const Reply wrong = s.Get("/api/cron/process-jobs", {{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(wrong.status, 401) << wrong.text;
}

TEST_P(FrontDoorTest, SymlinksOutOfTheWebRootAreNotFollowed) {
  namespace fs = std::filesystem;
  const fs::path web = dir_.path() / "web";
  fs::create_directories(web);
  fs::copy(testing::SourceDir() + "/web/public", web / "public", fs::copy_options::recursive);
  fs::create_symlink("/etc/passwd", web / "public" / "leak.txt");
  fs::create_symlink("style.css", web / "public" / "inner.txt");  // stays inside the root
  ServerProcess& s = Start({}, {"--no-worker", "--web-dir", web.string()});
  const int port = s.port();
  const std::string tmp = dir_.path().string();

  const RawReply leak = RawGet(port, "/static/leak.txt");
  EXPECT_TRUE(IsError(leak, 404, "not_found")) << "a link to /etc/passwd";
  EXPECT_EQ(leak.body.find("root:"), std::string::npos) << leak.body;
  EXPECT_EQ(leak.body.find(tmp), std::string::npos) << leak.body;
  EXPECT_EQ(leak.body.find("/etc"), std::string::npos) << leak.body;

  const RawReply inner = RawGet(port, "/static/inner.txt");
  EXPECT_EQ(inner.status, 200) << "a link inside the root: " << inner.Describe();
  EXPECT_EQ(inner.body, testing::ReadFile((web / "public" / "style.css").string()));

  const RawReply missing = RawGet(port, "/static/missing.js");
  EXPECT_TRUE(IsError(missing, 404, "not_found")) << "a missing file";
  EXPECT_EQ(missing.body.find(tmp), std::string::npos) << missing.body;
}

INSTANTIATE_TEST_SUITE_P(Backends, FrontDoorTest,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace nbi
