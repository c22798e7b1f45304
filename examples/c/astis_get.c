/* astis_get (C example): fetch secrets through the ASTIS pod SDK.
 *
 *   ASTIS_EDGE_URL=https://edge.example:8443 ASTIS_API_KEY=astis_... \
 *     astis_get_c db-password api-token
 *
 * Configuration comes from the environment (see astis_config_load_env in
 * astis.h). For each name it prints "<name>: <n> bytes": a real application
 * would use the plaintext, then free it; it never prints it. */
#include <stdio.h>
#include <string.h>

#include "astis/astis.h"

static void usage(FILE* out) {
  fprintf(out,
          "usage: astis_get_c [--help] NAME...\n"
          "Fetches each secret NAME through the ASTIS edge and prints its size.\n"
          "Environment: ASTIS_EDGE_URL (required), ASTIS_CA_FILE, ASTIS_API_KEY or\n"
          "ASTIS_API_KEY_FILE, ASTIS_TOKEN_PATH, ASTIS_SECRETS_DIR, ASTIS_ENV_PREFIX.\n");
}

int main(int argc, char** argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  /* No core dumps, no ptrace by non-root: plaintext stays in this process. */
  if (astis_harden_process() != ASTIS_OK) fprintf(stderr, "warning: could not harden the process\n");

  astis_config* config = NULL;
  astis_client* client = NULL;
  char message[512];
  int status = 0;
  astis_code code = astis_config_new(&config);
  if (code == ASTIS_OK) code = astis_config_load_env(config);
  if (code == ASTIS_OK) code = astis_client_new(config, &client);
  if (code != ASTIS_OK) {
    astis_config_last_message(config, message, sizeof message);
    fprintf(stderr, "astis: %s: %s\n", astis_code_name(code), message);
    astis_config_free(config);
    return 1;
  }
  astis_config_free(config); /* the client keeps its own copy */

  for (int i = 1; i < argc; ++i) {
    astis_secret* secret = NULL;
    code = astis_client_get(client, argv[i], &secret);
    if (code != ASTIS_OK) {
      astis_client_last_message(client, message, sizeof message);
      fprintf(stderr, "astis: %s: %s: %s\n", argv[i], astis_code_name(code), message);
      status = 1;
      continue;
    }
    printf("%s: %zu bytes\n", argv[i], astis_secret_size(secret));
    astis_secret_free(secret); /* zeroes the plaintext */
  }
  astis_client_free(client); /* ends the session, wipes the keys */
  return status;
}
