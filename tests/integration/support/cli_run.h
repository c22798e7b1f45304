// CliRun: run the `astis` CLI in process through RunCli, exactly as argv
// would reach it, and keep its exit code and both output streams (test-only).
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "common/clock.h"
#include "crypto/random.h"

namespace astis::integration {

struct CliResult {
  int code;
  std::string out;
  std::string err;
};

inline CliResult CliRun(std::vector<std::string> args, Clock& clock, const std::string& stdin_text = "") {
  args.insert(args.begin(), "astis");
  std::istringstream in(stdin_text);
  std::ostringstream out, err;
  cli::CliEnv env{in, out, err, DefaultRandom(), clock};
  int code = cli::RunCli(args, env);
  return {code, out.str(), err.str()};
}

}  // namespace astis::integration
