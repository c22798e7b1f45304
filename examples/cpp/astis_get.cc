// astis_get (C++ example): fetch secrets through the ASTIS pod SDK's C++ face.
//
//   export ASTIS_EDGE_URL=https://edge.example:8443 ASTIS_API_KEY=astis_...
//   astis_get_cpp db-password api-token
//
// All names are fetched in one batch (one unwrap request). Prints each
// secret's size, never its value.
#include <cstdio>
#include <string>
#include <vector>

#include "astis/client.hpp"

int main(int argc, char** argv) {
  const std::string first = argc > 1 ? argv[1] : "";
  if (argc < 2 || first == "--help" || first == "-h") {
    std::fprintf(argc < 2 ? stderr : stdout,
                 "usage: astis_get_cpp [--help] NAME...\n"
                 "Fetches the secrets NAME... in one batch and prints their sizes.\n"
                 "Environment: ASTIS_EDGE_URL (required), ASTIS_CA_FILE, ASTIS_API_KEY or\n"
                 "ASTIS_API_KEY_FILE, ASTIS_TOKEN_PATH, ASTIS_SECRETS_DIR, ASTIS_ENV_PREFIX.\n");
    return argc < 2 ? 2 : 0;
  }
  (void)astis_harden_process();

  auto config = astis::sdk::Config::FromEnv();
  if (!config) {
    std::fprintf(stderr, "astis: %s: %s\n", config.error().name().data(), config.error().message().c_str());
    return 1;
  }
  auto client = astis::sdk::Client::Create(*config);
  if (!client) {
    std::fprintf(stderr, "astis: %s: %s\n", client.error().name().data(), client.error().message().c_str());
    return 1;
  }
  const std::vector<std::string> names(argv + 1, argv + argc);
  auto secrets = client->GetMany(names);
  if (!secrets) {
    std::fprintf(stderr, "astis: %s: %s\n", secrets.error().name().data(), secrets.error().message().c_str());
    return 1;
  }
  for (size_t i = 0; i < names.size(); ++i) {
    std::printf("%s: %zu bytes\n", names[i].c_str(), (*secrets)[i].size());
  }
  return 0;  // secrets wiped, then the session ended, as the objects go out of scope
}
