// astis: the SecOps command line (keygen, seal, unseal). See cli/cli.h.
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  astis::cli::CliEnv env{std::cin, std::cout, std::cerr, astis::DefaultRandom(), astis::DefaultClock()};
  return astis::cli::RunCli(args, env);
}
