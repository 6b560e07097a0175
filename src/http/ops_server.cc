#include "http/ops_server.h"

#include <fmt/format.h>

#include "http/api.h"

namespace nbi::http {

namespace {

void SendError(Response& res, const ApiError& e) {
  res.status = e.http_status;
  for (const auto& [name, value] : e.headers) res.set_header(name, value);
  res.set_content(e.Body().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

}  // namespace

OpsServer::OpsServer(Store* store, const Metrics* metrics, Clock* clock)
    : store_(store), metrics_(metrics), clock_(clock) {
  TransportOptions t;
  t.max_body_bytes = 1024;
  t.max_connections = 64;
  t.io_threads = 1;
  t.handler_threads = 2;
  t.write_threads = 1;
  transport_ = std::make_unique<Transport>(
      t, [this](const Request& req, Response& res) { Handle(req, res); },
      [](const Request& req) {
        return req.path == "/healthz" ? Transport::Lane::kInline : Transport::Lane::kRead;
      },
      [](int status, Response& res) { SendError(res, ApiErrorForHttpStatus(status)); },
      [](const Request&, const Response&, double) {});
}

OpsServer::~OpsServer() { Stop(); }

Status OpsServer::Bind(const std::string& host, int port) { return transport_->Bind(host, port); }

int OpsServer::port() const { return transport_->port(); }

void OpsServer::Start() {
  thread_ = std::thread([this] { transport_->Run(); });
}

void OpsServer::Stop() {
  transport_->Stop();
  if (thread_.joinable()) thread_.join();
}

void OpsServer::Handle(const Request& req, Response& res) {
  const bool known = req.path == "/metrics" || req.path == "/healthz" || req.path == "/readyz";
  if (!known) {
    std::string path = req.path.substr(0, 200);
    for (char& c : path) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    return SendError(res, ApiError::Of("not_found", fmt::format("no route {}: this process serves "
                                                                "/metrics, /healthz and /readyz",
                                                                path)));
  }
  if (req.method != "GET" && req.method != "HEAD") {
    ApiError e = ApiError::Of("method_not_allowed", fmt::format("use GET on {}", req.path));
    e.headers.emplace_back("Allow", "GET, HEAD");
    return SendError(res, e);
  }
  res.status = 200;
  if (req.path == "/healthz") {
    return res.set_content(R"({"status":"ok"})", "application/json");
  }
  if (req.path == "/readyz") {
    if (store_->Ping().ok()) return res.set_content(R"({"status":"ready"})", "application/json");
    return SendError(res, ApiError::Of("unavailable", "store not ready"));
  }
  res.set_content(metrics_->Render(StoreGauges::Read(store_, clock_->NowMs())),
                  "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace nbi::http
