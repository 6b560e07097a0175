// nearbyindex: the command-line entry point. Each subcommand is a thin layer over the library.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "commands.h"
#include "store/store_kinds.h"

namespace {

// `nearbyindex --version`: the program, the schema each store kind migrates to, the kinds.
std::string VersionText() {
  std::string text = "nearbyindex " NBI_VERSION "\nschema versions:";
  std::string kinds;
  for (const nbi::StoreKind& k : nbi::CompiledStoreKinds()) {
    text += " " + k.name + " " + std::to_string(k.schema_version);
    kinds += (kinds.empty() ? "" : ", ") + k.name;
  }
  return text + "\nstores compiled in: " + kinds +
         "\nweb pages and Leaflet: embedded (serve --web-dir overrides)";
}

}  // namespace

int main(int argc, char** argv) {
  // A write past the file-size limit (ulimit -f) is then an I/O error the store reports as
  // transient, like a full disk, instead of a signal that kills the process mid-job.
  signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"NearbyIndex engine: accessibility heatmaps from OpenStreetMap POIs"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help of every subcommand");
  app.set_version_flag("--version", VersionText(), "Print the version, schema versions and stores");
  nbi::cli::RegisterCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return nbi::cli::ExitCode();
}
