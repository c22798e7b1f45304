// RunChild: run a client program (kubectl) from a test that has the
// stand-in's server threads running in the same process.
#pragma once

#include <string>
#include <vector>

namespace astis::kubestandin::testing {

struct Proc {
  int exit_code = -1;  // 128+N when killed by signal N (SIGALRM: timed out)
  std::string out, err;
};

// RunChild runs program with args (no shell) and HOME=dir, the rest of the
// environment inherited. stdout and stderr go to fresh files under dir and
// are read back. The child is killed by SIGALRM after timeout_seconds, so a
// hung kubectl fails the test instead of hanging ctest.
//
// Everything the child needs is built before fork: a child of a threaded
// process may only make async-signal-safe calls until exec (freopen or
// setenv could wait forever on a lock another thread held at fork; seen
// once as a 60 s ctest timeout under ASan).
Proc RunChild(const std::string& program, const std::vector<std::string>& args, const std::string& dir,
              unsigned timeout_seconds = 20);

}  // namespace astis::kubestandin::testing
