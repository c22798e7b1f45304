// Bash completion for `astis`, generated from the CLI11 command tree so that
// it cannot fall behind: `astis __complete-bash` prints it, the build writes
// it to share/bash-completion/completions/astis (src/cli/CMakeLists.txt).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace astis::cli {

// BashCompletion returns a bash script defining a completion function for
// `astis` and `kubectl-astis`: after a command path it offers that command's
// subcommands and options; elsewhere it falls back to file names. Hidden
// commands (group "") are left out. It cannot fail.
// Test: tests/install install_completion (every subcommand of --help).
std::string BashCompletion(const CLI::App& app);

}  // namespace astis::cli
