// astis_sdk_holder: a test-only pod process that holds an ASTIS session
// (tests/integration/container_restart_test.cc; never installed).
//
//   export ASTIS_EDGE_URL=https://127.0.0.1:8443 ASTIS_CA_FILE=... ASTIS_API_KEY_FILE=...
//   export ASTIS_TOKEN_PATH=... ASTIS_SECRETS_DIR=...
//   astis_sdk_holder NAME
//
// It links libastis.so and configures it from the ASTIS_* environment as an
// application does (examples/cpp/astis_get.cc; ASTIS_PIN_WAIT_SECONDS too),
// fetches the secret NAME, prints two lines on stdout
//
//   plaintext <value>
//   holding
//
// and then keeps its client, and so its session and the pod's pin, until
// stdin reaches EOF (then it exits 0 and the client ends its session) or it
// is killed. SIGKILL leaves it no chance to send DELETE, as after an OOM
// kill. On failure it prints "astis_sdk_holder: <code>: <message>" on stderr,
// <code> being the wire name (credential_pinned, ...), prints nothing on
// stdout and exits 1; exit 2 on a usage error.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <string_view>

#include "astis/client.hpp"

namespace {

int Fail(const astis::sdk::Error& e) {
  std::fprintf(stderr, "astis_sdk_holder: %s: %s\n", e.name().data(), e.message().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: astis_sdk_holder NAME (settings from the ASTIS_* environment)\n");
    return 2;
  }
  auto config = astis::sdk::Config::FromEnv();
  if (!config) return Fail(config.error());
  auto client = astis::sdk::Client::Create(*config);
  if (!client) return Fail(client.error());
  {
    auto secret = client->Get(argv[1]);
    if (!secret) return Fail(secret.error());
    const std::string_view value = secret->view();
    std::printf("plaintext %.*s\nholding\n", static_cast<int>(value.size()), value.data());
  }  // the plaintext is wiped; the session stays
  std::fflush(stdout);
  // Hold until stdin closes: a test that dies without killing this process
  // closes the pipe and so leaves no holder behind.
  char buf[256];
  while (true) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  return 0;  // the client ends its session as it goes out of scope
}
