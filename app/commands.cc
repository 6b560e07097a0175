#include "commands.h"

#include <cstdio>

#include "config.h"

namespace nbi::cli {

namespace {
int g_exit_code = 0;
}

int ExitCode() { return g_exit_code; }
void SetExitCode(int code) { g_exit_code = code; }

void Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  // 2: the request cannot be done as asked (bad input, unknown name, a state that conflicts,
  // e.g. a reset while its job is active); 1: the system failed.
  bool user = s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ||
              s.code() == StatusCode::kConflict;
  g_exit_code = user ? 2 : 1;
}

void RegisterCommands(CLI::App& app) {
  AddGlobalOptions(app);
  RegisterScoreCommands(app);
  RegisterStoreCommands(app);
  RegisterWorkerCommands(app);
  RegisterServeCommands(app);
}

}  // namespace nbi::cli
