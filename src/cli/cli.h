// The `astis` command line: argv parsing (CLI11), I/O and exit codes.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"

namespace astis::cli {

// Exit codes of every `astis` command (also in --help and docs).
enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,       // bad flags or arguments
  kExitInput = 2,       // input or validation error (manifest, key file contents)
  kExitCrypto = 3,      // crypto or verification failure (wrong key, tampered or moved value)
  kExitIo = 4,          // file system or stream error, refusing to overwrite, key file permissions
};

// ExitCodeFor maps a non-OK Status to the exit code above; it cannot fail.
int ExitCodeFor(const Status& status);

// CliEnv is what a command may touch; tests pass string streams, a fixed
// clock and any Random.
struct CliEnv {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  Random& rng;
  Clock& clock;
};

// RunCli runs `astis` with args (args[0] is the program name) and returns the
// process exit code. Errors are written to env.err as one line naming the
// command; they never contain a secret. It never throws.
int RunCli(const std::vector<std::string>& args, CliEnv& env);

}  // namespace astis::cli
