#include "http/transport.h"

// Asio in Boost 1.74 uses std::exchange without including <utility> under C++20.
#include <utility>
// (keep the order)
#include <fmt/format.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace nbi::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr size_t kMaxDrainBytes = 1 << 20;  // read and dropped after an error answer
constexpr auto kDrainTime = std::chrono::seconds(1);
constexpr auto kStopWriteTime = std::chrono::seconds(1);  // to finish an answer once stopping

class Connection;

}  // namespace

struct Transport::Impl {
  Impl(TransportOptions o, Handler h, Classifier c, ErrorAnswer e, Observer ob)
      : opts(o),
        handler(std::move(h)),
        blocking(std::move(c)),
        error(std::move(e)),
        observer(std::move(ob)) {}

  void Accept();
  void CloseAll();

  const TransportOptions opts;
  const Handler handler;
  const Classifier blocking;
  const ErrorAnswer error;
  const Observer observer;

  asio::io_context ioc;
  // The acceptor, its pause timer and CloseAll run on one strand: Stop() never races an
  // accept in progress.
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  asio::steady_timer accept_pause{accept_strand};
  std::unique_ptr<asio::thread_pool> pool, write_pool;
  int bound_port = 0;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::list<std::weak_ptr<Connection>> live;  // guarded by mu
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Transport::Impl* t, tcp::socket socket)
      : t_(t), stream_(std::move(socket)), buffer_(t->opts.max_head_bytes + 64 * 1024) {}

  ~Connection() {
    std::lock_guard<std::mutex> l(t_->mu);
    if (registered_) t_->live.erase(self_);
  }

  void Start() {
    beast::error_code ec;
    auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string();
    {
      std::lock_guard<std::mutex> l(t_->mu);
      self_ = t_->live.insert(t_->live.end(), weak_from_this());
      registered_ = true;
    }
    if (t_->stopping) return Close();
    ReadHead();
  }

  // From Stop(), posted to this connection's strand.
  void Shutdown() {
    closing_ = true;
    if (in_handler_) return;  // answers, then closes
    if (writing_) {
      // A write in progress keeps its own deadline: give it a second, then close.
      stop_timer_ = std::make_unique<asio::steady_timer>(stream_.get_executor(), kStopWriteTime);
      stop_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec && self->writing_) self->Close();
      });
      return;
    }
    Close();
  }

  auto executor() { return stream_.get_executor(); }

 private:
  void ReadHead() {
    // Nothing of the previous request may shape an error answer to this one.
    req_ = Request{};
    req_.remote_addr = remote_;
    res_ = Response{};
    head_only_ = false;
    keep_alive_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(t_->opts.max_head_bytes));
    parser_->body_limit(t_->opts.max_body_bytes);
    const bool idle = !first_ && buffer_.size() == 0;
    stream_.expires_after(
        std::chrono::milliseconds(idle ? t_->opts.idle_timeout_ms : t_->opts.head_timeout_ms));
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHead(ec); });
  }

  // The status of a failed read, or 0 when the connection is simply closed.
  int ErrorStatus(beast::error_code ec) const {
    if (ec == bhttp::error::header_limit) {
      // The request line alone is over the target limit (or not even complete): 414. Once
      // the parser has taken the request line, the rest is header fields: 431.
      if (!parser_->get().target().empty()) return 431;
      auto data = buffer_.data();
      std::string_view seen(static_cast<const char*>(data.data()), data.size());
      size_t eol = seen.find("\r\n");
      return (eol == std::string_view::npos || eol > t_->opts.max_target_bytes) ? 414 : 431;
    }
    if (ec == bhttp::error::body_limit) return 413;
    // A timeout closes the connection without an answer: the stream has closed the socket
    // when it fired.
    if (ec == beast::error::timeout) return 0;
    if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return 0;
    if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return 400;
    return 0;  // reset, aborted, ...
  }

  void OnHead(beast::error_code ec) {
    start_ = SteadyClock::now();
    if (ec) {
      int status = ErrorStatus(ec);
      return status ? Fail(status) : Close();
    }
    started_ = true;
    if (int status = TakeHead(); status != 0) return Fail(status);
    if (parser_->is_done()) return Dispatch();
    if (EqualsIgnoreCase(req_.get_header_value("Expect"), "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(std::chrono::milliseconds(t_->opts.write_timeout_ms));
      return asio::async_write(stream_, asio::buffer(kContinue),
                               [self = shared_from_this()](beast::error_code e, size_t) {
                                 if (e) return self->Close();
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  // Copies the parsed head into req_; the status of a head to refuse, else 0.
  int TakeHead() {
    const auto& m = parser_->get();
    req_ = Request{};
    req_.remote_addr = remote_;
    req_.method = std::string(m.method_string());
    req_.target = std::string(m.target());
    head_only_ = m.method() == bhttp::verb::head;
    keep_alive_ = m.keep_alive();
    if (req_.target.size() > t_->opts.max_target_bytes) return 414;
    size_t fields = 0;
    for (const auto& f : m) {
      if (++fields > t_->opts.max_header_fields) return 431;
      req_.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    // One Content-Length of digits only (the parser takes equal duplicates and lists).
    size_t lengths = req_.header_count("Content-Length");
    if (lengths > 1) return 400;
    if (lengths == 1) {
      std::string v = req_.get_header_value("Content-Length");
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) return 400;
    }
    if (req_.target.empty() || req_.target[0] != '/') return 400;
    size_t q = req_.target.find('?');
    req_.path = PercentDecode(std::string_view(req_.target).substr(0, q), false);
    if (req_.path.find('\0') != std::string::npos) return 400;
    if (q != std::string::npos)
      req_.params = ParseQuery(std::string_view(req_.target).substr(q + 1));
    return 0;
  }

  void ReadBody() {
    stream_.expires_after(std::chrono::milliseconds(t_->opts.body_timeout_ms));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) {
                          int status = self->ErrorStatus(ec);
                          return status ? self->Fail(status) : self->Close();
                        }
                        self->req_.body = std::move(self->parser_->get().body());
                        self->Dispatch();
                      });
  }

  void Dispatch() {
    res_ = Response{};
    stream_.expires_never();
    const Transport::Lane lane = t_->blocking(req_);
    if (lane == Transport::Lane::kInline) {
      RunHandler();
      return Reply();
    }
    in_handler_ = true;
    auto work = asio::make_work_guard(t_->ioc);  // Run() waits for this handler
    asio::thread_pool& pool = lane == Transport::Lane::kWrite ? *t_->write_pool : *t_->pool;
    asio::post(pool, [self = shared_from_this(), work = std::move(work)]() mutable {
      self->RunHandler();
      asio::post(self->executor(), [self] {
        self->in_handler_ = false;
        self->Reply();
      });
      work.reset();
    });
  }

  void RunHandler() {
    try {
      t_->handler(req_, res_);
    } catch (...) {  // the handler logs what it can; this is the last resort
      res_ = Response{};
      res_.status = 500;
      t_->error(500, res_);
    }
  }

  // Answers with a status of the transport's own, then closes.
  void Fail(int status) {
    closing_ = true;
    res_ = Response{};
    res_.status = status;
    t_->error(status, res_);
    Reply();
  }

  void Reply() {
    if (t_->observer) {
      double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - start_).count();
      t_->observer(req_, res_, ms);
    }
    out_ = {};
    out_.version(11);
    out_.result(static_cast<unsigned>(res_.status));
    for (auto& [name, value] : res_.headers) out_.insert(name, value);
    if (!res_.content_type.empty()) out_.set(bhttp::field::content_type, res_.content_type);
    out_.body() = std::move(res_.body);
    keep_alive_ = keep_alive_ && !closing_ && !t_->stopping;
    out_.keep_alive(keep_alive_);
    out_.prepare_payload();
    if (head_only_) out_.body().clear();  // Content-Length stays that of the GET answer
    writing_ = true;
    stream_.expires_after(closing_ ? std::chrono::milliseconds(kStopWriteTime)
                                   : std::chrono::milliseconds(t_->opts.write_timeout_ms));
    bhttp::async_write(stream_, out_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->writing_ = false;
      self->out_ = {};  // an idle connection holds no answer
      if (ec) return self->Close();
      if (!self->keep_alive_ || self->closing_ || self->t_->stopping) return self->Drain();
      self->first_ = false;
      self->started_ = false;
      self->ReadHead();
    });
  }

  // Half-closes, reads what the client still sends (for a short while, up to a cap) and
  // closes: closing with unread data would reset the connection before the client reads the
  // answer.
  void Drain() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec || t_->stopping) return Close();
    drain_.resize(16 * 1024);
    stream_.expires_after(kDrainTime);
    DrainSome();
  }
  void DrainSome() {
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxDrainBytes) return self->Close();
                              self->DrainSome();
                            });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  Transport::Impl* const t_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::list<std::weak_ptr<Connection>>::iterator self_;  // valid once registered_
  bool registered_ = false;                              // guarded by t_->mu
  std::string remote_;
  Request req_;
  Response res_;
  bhttp::response<bhttp::string_body> out_;
  std::vector<char> drain_;
  std::unique_ptr<asio::steady_timer> stop_timer_;
  size_t drained_ = 0;
  SteadyClock::time_point start_{};
  bool first_ = true;       // no request answered yet on this connection
  bool started_ = false;    // a head arrived and is not yet answered
  bool head_only_ = false;  // HEAD
  bool keep_alive_ = false;
  bool closing_ = false;     // close after the current answer
  bool in_handler_ = false;  // a pool thread owns req_/res_
  bool writing_ = false;
};

}  // namespace

void Transport::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
    if (stopping || !acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors (or another passing error): pause instead of spinning.
      accept_pause.expires_after(std::chrono::milliseconds(50));
      accept_pause.async_wait([this](beast::error_code) { Accept(); });
      return;
    }
    size_t open;
    {
      std::lock_guard<std::mutex> l(mu);
      open = live.size();
    }
    if (open >= static_cast<size_t>(opts.max_connections)) {
      beast::error_code ignored;
      s.close(ignored);
    } else {
      // Started on the connection's own strand, like everything it does later.
      auto conn = std::make_shared<Connection>(this, std::move(s));
      asio::dispatch(conn->executor(), [conn] { conn->Start(); });
    }
    Accept();
  });
}

void Transport::Impl::CloseAll() {
  beast::error_code ec;
  acceptor.close(ec);
  accept_pause.cancel();
  std::vector<std::shared_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> l(mu);
    for (auto& w : live) {
      if (auto c = w.lock()) conns.push_back(std::move(c));
    }
  }
  for (auto& c : conns) asio::post(c->executor(), [c] { c->Shutdown(); });
}

Transport::Transport(TransportOptions opts, Handler handler, Classifier blocking, ErrorAnswer error,
                     Observer observer)
    : impl_(std::make_unique<Impl>(opts, std::move(handler), std::move(blocking), std::move(error),
                                   std::move(observer))) {}

Transport::~Transport() {
  Stop();
  if (impl_->pool) impl_->pool->join();
  if (impl_->write_pool) impl_->write_pool->join();
}

Status Transport::Bind(const std::string& host, int port) {
  Impl& t = *impl_;
  beast::error_code ec;
  tcp::resolver resolver(t.ioc);
  auto found = resolver.resolve(host, std::to_string(port),
                                tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || found.empty()) {
    return Status::Transient(fmt::format("cannot listen on {}: unknown address", host));
  }
  tcp::endpoint ep = found.begin()->endpoint();
  auto fail = [&](const char* what) {
    beast::error_code ignored;
    t.acceptor.close(ignored);
    return Status::Transient(
        fmt::format("cannot listen on {}:{} ({}: {})", host, port, what, ec.message()));
  };
  if (t.acceptor.open(ep.protocol(), ec)) return fail("open");
  if (t.acceptor.set_option(asio::socket_base::reuse_address(true), ec)) return fail("option");
  if (t.acceptor.bind(ep, ec)) return fail("bind");
  if (t.acceptor.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen");
  t.bound_port = t.acceptor.local_endpoint(ec).port();
  return Status::Ok();
}

int Transport::port() const { return impl_->bound_port; }

void Transport::Run() {
  Impl& t = *impl_;
  t.pool =
      std::make_unique<asio::thread_pool>(static_cast<size_t>(std::max(1, t.opts.handler_threads)));
  t.write_pool =
      std::make_unique<asio::thread_pool>(static_cast<size_t>(std::max(1, t.opts.write_threads)));
  if (!t.stopping) {
    t.Accept();
  } else {
    beast::error_code ec;
    t.acceptor.close(ec);
  }
  std::vector<std::thread> io;
  for (int i = 1; i < std::max(1, t.opts.io_threads); ++i) io.emplace_back([&t] { t.ioc.run(); });
  t.ioc.run();
  for (auto& th : io) th.join();
  t.pool->join();
  t.write_pool->join();
}

void Transport::Stop() {
  Impl& t = *impl_;
  if (t.stopping.exchange(true)) return;
  asio::post(t.accept_strand, [&t] { t.CloseAll(); });
}

}  // namespace nbi::http
