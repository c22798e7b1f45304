// Bash and zsh completion for `astis`, generated from the CLI11 command tree
// so that they cannot fall behind: `astis __complete-bash` and `astis
// __complete-zsh` print them, the build writes them to
// share/bash-completion/completions/astis and share/zsh/vendor-completions/_astis
// (src/cli/CMakeLists.txt).
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

// ZshCompletion returns the zsh completion function for `astis` and
// `kubectl-astis` (a #compdef file, installed as
// share/zsh/vendor-completions/_astis): the same tree as BashCompletion,
// with each subcommand's and option's help text as its description; an
// option's value and a command's arguments complete file names. It cannot
// fail. Test: tests/install install_completion (every subcommand and option
// of --help, structurally and, when zsh is installed, in zsh itself).
std::string ZshCompletion(const CLI::App& app);

}  // namespace astis::cli
