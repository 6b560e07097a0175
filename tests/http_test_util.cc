#include "http_test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

extern char** environ;

namespace nbi::testing {

namespace {

// Three groceries and a cafe around (47.100, 9.500), one grocery far away.
constexpr char kCsv[] =
    "lat,lng,category,name\n"
    "47.1000,9.5000,groceries,Alpha\n"
    "47.1010,9.5010,groceries,Beta\n"
    "47.0990,9.4985,groceries,Gamma\n"
    "47.1002,9.5003,restaurants,Cafe\n"
    "47.2000,9.6000,groceries,Far\n";

}  // namespace

std::string Shortest(double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(a.sin_port);
}

Reply ToReply(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.headers = r->headers;
  out.text = r->body;
  out.body = json::parse(r->body, nullptr, false);
  return out;
}

// ---------------------------------------------------------------- ServerProcess

ServerProcess::ServerProcess(const std::string& log_path,
                             const std::map<std::string, std::string>& env,
                             const std::vector<std::string>& args)
    : log_path_(log_path) {
  for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) {
    port_ = FreePort();
    std::map<std::string, std::string> all;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    all.erase("CRON_SECRET");
    all.erase("NBI_WEB_DIR");
    all["PORT"] = std::to_string(port_);
    all["HOST"] = "127.0.0.1";
    all["WORKER_POLL_INTERVAL"] = "60000";
    all["WORKER_CHUNK_SIZE"] = "200";
    for (const auto& [k, v] : env) all[k] = v;
    std::vector<std::string> kv;
    for (const auto& [k, v] : all) kv.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : kv) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_s = {BinaryPath(), "serve"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) continue;
    pid_ = pid;
    if (!WaitHealthy()) {
      // Lost the port to someone else, or failed to start: try again on another port.
      Kill();
      pid_ = -1;
    }
  }
}

ServerProcess::~ServerProcess() { Kill(); }

std::unique_ptr<httplib::Client> ServerProcess::Client() const {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(60, 0);
  return c;
}

Reply ServerProcess::Get(const std::string& path, const httplib::Headers& h) const {
  return ToReply(Client()->Get(path.c_str(), h));
}

Reply ServerProcess::Post(const std::string& path, const std::string& body) const {
  return ToReply(Client()->Post(path.c_str(), body, "application/json"));
}

int ServerProcess::Terminate() {
  if (!running()) return exit_code_;
  kill(pid_, SIGTERM);
  return Wait(30000);
}

int ServerProcess::Wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (exit_code_ < 0) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

bool ServerProcess::WaitHealthy() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Wait(0) >= 0) return false;  // exited (port taken?)
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(0, 200000);
    auto r = c.Get("/healthz");
    if (r && r->status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void ServerProcess::Kill() {
  if (running()) {
    kill(pid_, SIGKILL);
    Wait(10000);
  }
}

// ---------------------------------------------------------------- HttpTest

void HttpTest::SetUp() {
  NBI_REQUIRE_BACKEND(GetParam());
  url_ = testing::FreshStoreUrl(GetParam(), dir_);
  std::string csv = dir_.File("city.csv");
  WriteFile(csv, kCsv);
  std::string out;
  ASSERT_EQ(RunCommand("DATABASE_URL='" + url_ + "' " + BinaryPath() + " import " + csv, &out), 0)
      << out;
}

void HttpTest::TearDown() {
  // Every server must shut down cleanly on SIGTERM.
  for (auto& s : servers_) {
    if (s->running()) {
      EXPECT_EQ(s->Terminate(), 0) << s->Log();
    }
    if (std::getenv("NBI_TEST_SHOW_SERVER_LOG")) std::fprintf(stderr, "%s", s->Log().c_str());
  }
}

ServerProcess& HttpTest::Start(std::map<std::string, std::string> env,
                               std::vector<std::string> args) {
  env["DATABASE_URL"] = url_;
  std::string log = dir_.File("serve" + std::to_string(servers_.size()) + ".log");
  servers_.push_back(std::make_unique<ServerProcess>(log, env, args));
  ServerProcess& s = *servers_.back();
  EXPECT_TRUE(s.running()) << "server did not start:\n" << s.Log();
  return s;
}

json HttpTest::WaitForJob(const ServerProcess& s, int64_t id, const std::string& want,
                          int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  json last;
  while (std::chrono::steady_clock::now() < deadline) {
    Reply r = s.Get("/api/jobs/" + std::to_string(id));
    if (r.status == 200) {
      last = r.body;
      if (last["status"] == want) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "job " << id << " did not reach " << want << ": " << last.dump();
  return last;
}

// ---------------------------------------------------------------- small helpers

std::set<std::string> Keys(const json& o) {
  std::set<std::string> k;
  for (auto it = o.begin(); it != o.end(); ++it) k.insert(it.key());
  return k;
}

const std::set<std::string> kJobKeys = {"id",         "type",
                                        "status",     "progress",
                                        "totalItems", "processedItems",
                                        "error",      "createdAt",
                                        "startedAt",  "completedAt",
                                        "attempts",   "maxAttempts",
                                        "priority",   "cancelRequested",
                                        "metadata",   "runAt",
                                        "cityId"};
const std::regex kIsoMs(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

int RawRequest(int port, const std::string& bytes, std::string* body, const std::string& source,
               std::string* head) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      close(fd);
      return 0;
    }
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return 0;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!write(fd, bytes.data(), bytes.size());
  // Read until the answer is complete (Content-Length), whether or not the server closes.
  std::string resp;
  char buf[4096];
  ssize_t n;
  std::smatch m;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    resp.append(buf, static_cast<size_t>(n));
    auto end = resp.find("\r\n\r\n");
    if (end != std::string::npos &&
        std::regex_search(resp, m, std::regex(R"(Content-Length: (\d+))")) &&
        resp.size() >= end + 4 + std::stoul(m[1].str())) {
      break;
    }
  }
  close(fd);
  if (!std::regex_search(resp, m, std::regex(R"(^HTTP/1\.1 (\d{3}))"))) return 0;
  auto pos = resp.find("\r\n\r\n");
  if (body && pos != std::string::npos) *body = resp.substr(pos + 4);
  if (head) *head = resp.substr(0, pos);
  return std::stoi(m[1].str());
}

}  // namespace nbi::testing
