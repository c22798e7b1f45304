// The `astis` operator commands beyond keygen/seal/unseal: the processes
// (serve, edge, cvs) and the admin commands over the store, the audit log and
// the org key set (docs/admin.md). cli.cc registers them on its CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>

#include "cli/cli.h"

namespace astis::cli {

// AdminCommands adds the subcommands serve, edge, cvs, org, apply, diff,
// cluster, workload, apikey, session, audit, key and reseal to an app it
// borrows (the app must outlive it), and runs the one that was parsed.
class AdminCommands {
 public:
  explicit AdminCommands(CLI::App& app);
  ~AdminCommands();
  AdminCommands(const AdminCommands&) = delete;
  AdminCommands& operator=(const AdminCommands&) = delete;

  // Run executes the parsed admin subcommand and returns its exit code, or
  // nullopt when none of them was parsed. Errors are one line on env.err
  // naming the command (never a secret); it does not throw for its own
  // errors.
  std::optional<int> Run(CliEnv& env);

  // Args holds the parsed flags (defined in admin_cli.cc only).
  struct Args;

 private:
  std::unique_ptr<Args> a_;
};

}  // namespace astis::cli
