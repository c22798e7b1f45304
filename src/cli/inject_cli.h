// `astis inject`: the mutating admission webhook process (docs/inject.md).
// cli.cc registers it on its CLI11 app, like AdminCommands.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>

#include "cli/cli.h"

namespace astis::cli {

// InjectCommand adds the subcommand `inject` to an app it borrows (the app
// must outlive it) and runs it when parsed.
class InjectCommand {
 public:
  explicit InjectCommand(CLI::App& app);
  ~InjectCommand();
  InjectCommand(const InjectCommand&) = delete;
  InjectCommand& operator=(const InjectCommand&) = delete;

  // Run serves until SIGTERM/SIGINT and returns the exit code, or nullopt
  // when `inject` was not parsed. Errors are one line on env.err.
  std::optional<int> Run(CliEnv& env);

  struct Args;

 private:
  std::unique_ptr<Args> a_;
};

}  // namespace astis::cli
