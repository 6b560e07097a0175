#include "commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/printable.h"
#include "config.h"

namespace nbi::cli {

namespace {
int g_exit_code = 0;
}

int ExitCode() { return g_exit_code; }
void SetExitCode(int code) { g_exit_code = code; }

void Fail(const Status& s) {
  // Errors quote input (a file's bad line, a name): never raw control characters.
  std::fprintf(stderr, "error: %s\n", Printable(s.message(), true).c_str());
  // 2: the request cannot be done as asked (bad input, unknown name, a state that conflicts,
  // e.g. a reset while its job is active); 1: the system failed.
  bool user = s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound ||
              s.code() == StatusCode::kConflict;
  g_exit_code = user ? 2 : 1;
}

std::string TerminalJson(const nlohmann::json& j) {
  return EscapeJsonControls(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<std::unique_ptr<Store>> OpenStoreWaiting(StoreRole role, const DatabaseWait& wait,
                                                const Env& env) {
  const int64_t start = env.clock->SteadyMs();
  int64_t delay = 250;
  for (int attempt = 1;; ++attempt) {
    auto store = OpenConfiguredStore(role);
    if (store.ok() || store.status().code() != StatusCode::kTransient) return store;
    const int64_t waited = env.clock->SteadyMs() - start;
    const bool forever = wait.timeout_ms < 0;
    if ((!forever && waited >= wait.timeout_ms) || (wait.stop && wait.stop->load())) {
      return store.status().WithPrefix(
          forever ? "" : fmt::format("the database did not come up within {} ms: ", waited));
    }
    if (!forever) delay = std::min(delay, wait.timeout_ms - waited);
    env.log->info(fmt::format("Waiting for the database (attempt {}, retrying in {} ms): {}",
                              attempt, delay, store.status().message()));
    for (int64_t slept = 0; slept < delay && !(wait.stop && wait.stop->load()); slept += 50) {
      env.clock->SleepFor(std::min<int64_t>(50, delay - slept));
    }
    delay = std::min<int64_t>(delay * 2, 5'000);
  }
}

namespace {

// Every command's --help lists the global options with their environment variables and
// defaults (CLI11 shows a parent's options only in the parent's help).
void AddGlobalFooter(CLI::App* cmd, const std::string& footer) {
  for (CLI::App* sub : cmd->get_subcommands({})) {
    sub->footer(footer);
    AddGlobalFooter(sub, footer);
  }
}

}  // namespace

void RegisterCommands(CLI::App& app) {
  AddGlobalOptions(app);
  RegisterScoreCommands(app);
  RegisterStoreCommands(app);
  RegisterWorkerCommands(app);
  RegisterServeCommands(app);
  std::string footer =
      "Global options (before the command, or as environment variables; `nearbyindex --help`):";
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_envname().empty()) continue;
    footer +=
        fmt::format("\n  {:<24} {:<22} {}", o->get_name(), o->get_envname(), o->get_description());
  }
  AddGlobalFooter(&app, footer);
}

}  // namespace nbi::cli
