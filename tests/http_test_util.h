// Helpers of the end-to-end HTTP tests (http_test, http_jobs_test): the real
// `nearbyindex serve` binary as a child process (ServerProcess), the HttpTest fixture that
// gives each test a fresh store of its backend with a few imported POIs, and small HTTP
// utilities (replies as JSON, raw requests below the HTTP layer).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "store_test_util.h"
#include "test_util.h"

namespace nbi::testing {

using json = nlohmann::json;

// The shortest decimal that reads back as `v` (for query strings).
std::string Shortest(double v);

// A TCP port on 127.0.0.1 that was free a moment ago (0 on error).
int FreePort();

// An HTTP answer: its status (0: no answer), headers, raw body and the body parsed as JSON
// (discarded when it is not JSON).
struct Reply {
  int status = 0;  // 0: no answer
  json body;
  httplib::Headers headers;
  std::string text;
};
Reply ToReply(const httplib::Result& r);

// `nearbyindex serve` as a child process, stdout/stderr into a log file. Started on a free
// port with `env` added to this process's environment (CRON_SECRET and NBI_WEB_DIR removed;
// HOST, PORT and a slow worker poll set) and `args` after `serve`; waits until /healthz
// answers (retrying on another port up to 3 times). Killed when destroyed.
class ServerProcess {
 public:
  ServerProcess(const std::string& log_path, const std::map<std::string, std::string>& env,
                const std::vector<std::string>& args);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool running() const { return pid_ > 0 && exit_code_ < 0; }
  int port() const { return port_; }
  // The child's process id (-1 if it never started), e.g. for /proc/<pid>/status or a signal.
  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFile(log_path_); }

  std::unique_ptr<httplib::Client> Client() const;
  Reply Get(const std::string& path, const httplib::Headers& h = {}) const;
  Reply Post(const std::string& path, const std::string& body) const;

  // SIGTERM, then the exit code (-1 if it did not exit within 30 s).
  int Terminate();
  // The exit code once it exited; -1 if still running after timeout_ms.
  int Wait(int timeout_ms);

 private:
  bool WaitHealthy();
  void Kill();

  std::string log_path_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
};

// A fresh store of the backend (PostgreSQL variants skip without a server) holding, imported
// by the real binary, three groceries and a cafe around (47.100, 9.500) and one grocery far
// away. Start() runs servers on it; each must exit 0 on SIGTERM at the end of the test.
class HttpTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  ServerProcess& Start(std::map<std::string, std::string> env = {},
                       std::vector<std::string> args = {});

  // Runs `nearbyindex ARGS` on the test's store, expecting exit 0.
  void Cli(const std::string& args) {
    std::string out;
    ASSERT_EQ(RunCommand("DATABASE_URL='" + url_ + "' " + BinaryPath() + " " + args, &out), 0)
        << args << "\n"
        << out;
  }
  // Polls GET /api/jobs/:id until `want` (or a final status); returns the last job JSON.
  json WaitForJob(const ServerProcess& s, int64_t id, const std::string& want, int timeout_s = 60);

  static std::string BoundsJson(double a, double b, double c, double d) {
    return json{{"minLat", a}, {"minLng", b}, {"maxLat", c}, {"maxLng", d}}.dump();
  }

  TempDir dir_;
  std::string url_;
  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

// The keys of a JSON object.
std::set<std::string> Keys(const json& o);

// The keys of a job in the API, and the format of its timestamps.
extern const std::set<std::string> kJobKeys;
extern const std::regex kIsoMs;

// Sends raw bytes and returns the HTTP status of the answer (0: none); its body in *body, its
// status line and headers in *head. `source`: the local address to send from (any of
// 127.0.0.0/8), default 127.0.0.1.
int RawRequest(int port, const std::string& bytes, std::string* body,
               const std::string& source = "", std::string* head = nullptr);

}  // namespace nbi::testing
