// astis-edge: loads the configuration and runs the edge process
// (edge/run.h) until SIGTERM/SIGINT. Exit status 2 for a configuration
// error, 1 for a start-up failure, 0 after a graceful stop. Nothing secret
// is printed.
#include <cstdio>

#include "common/clock.h"
#include "crypto/random.h"
#include "edge/config.h"
#include "edge/run.h"

int main(int argc, char** argv) {
  using namespace astis;
  if (argc != 2) {
    std::fprintf(stderr, "usage: astis-edge <config.yaml>\n");
    return 2;
  }
  auto config = edge::LoadEdgeConfig(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "astis-edge: configuration: %s\n", config.status().ToString().c_str());
    return 2;
  }
  Status s = edge::RunEdgeProcess(*config, DefaultClock(), DefaultRandom());
  if (!s.ok()) {
    std::fprintf(stderr, "astis-edge: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
