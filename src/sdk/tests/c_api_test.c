/* CApiCompilesAsC: astis.h compiles as C11, and libastis.so links and
 * behaves per the conventions of astis.h (NULL-safe frees, out_ parameters
 * cleared on failure, code names). Plain C, no test framework. */
#include <stdio.h>
#include <string.h>

#include "astis/astis.h"

static int failures = 0;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

int main(void) {
  astis_config* config = NULL;
  astis_client* client = NULL;
  astis_secret* secret = NULL;
  char message[256];

  /* Frees accept NULL. */
  astis_config_free(NULL);
  astis_client_free(NULL);
  astis_secret_free(NULL);
  CHECK(astis_secret_data(NULL) == NULL);
  CHECK(astis_secret_size(NULL) == 0);

  CHECK(strcmp(astis_code_name(ASTIS_OK), "ok") == 0);
  CHECK(strcmp(astis_code_name(ASTIS_SESSION_INVALID), "session_invalid") == 0);
  CHECK(strcmp(astis_code_name(ASTIS_CAPSULE_SCOPE), "capsule_scope") == 0);
  CHECK(strcmp(astis_code_name(ASTIS_UNAVAILABLE), "unavailable") == 0);

  CHECK(astis_config_new(NULL) == ASTIS_INVALID_ARGUMENT);
  CHECK(astis_config_new(&config) == ASTIS_OK);
  CHECK(config != NULL);

  /* No edge URL yet: astis_client_new refuses and clears out_client. */
  client = (astis_client*)&failures;
  CHECK(astis_client_new(config, &client) == ASTIS_CONFIG);
  CHECK(client == NULL);
  CHECK(astis_config_last_message(config, message, sizeof message) > 0);
  CHECK(strlen(message) > 0);

  CHECK(astis_config_set_edge_url(config, "http://plaintext.example") == ASTIS_CONFIG);
  CHECK(astis_config_set_edge_url(config, NULL) == ASTIS_CONFIG);
  CHECK(astis_config_set_edge_url(NULL, "https://edge") == ASTIS_INVALID_ARGUMENT);
  CHECK(astis_config_set_edge_url(config, "https://127.0.0.1:1,https://127.0.0.1:2") == ASTIS_OK);
  CHECK(astis_config_set_token_path(config, "/nonexistent/token") == ASTIS_OK);
  CHECK(astis_config_set_secrets_dir(config, "/nonexistent/secrets") == ASTIS_OK);
  CHECK(astis_config_set_rotation_seconds(config, 0) == ASTIS_OK);

  CHECK(astis_client_new(config, &client) == ASTIS_OK);
  CHECK(client != NULL);
  /* Local failures send nothing: a bad name, a missing sealed value. */
  secret = (astis_secret*)&failures;
  CHECK(astis_client_get(client, "../etc/passwd", &secret) == ASTIS_INVALID_ARGUMENT);
  CHECK(secret == NULL);
  CHECK(astis_client_get(client, "absent", &secret) == ASTIS_NOT_FOUND);
  CHECK(astis_client_last_message(client, message, sizeof message) > 0);
  CHECK(astis_client_get(NULL, "absent", &secret) == ASTIS_INVALID_ARGUMENT);
  CHECK(astis_client_get_many(client, NULL, 0, &secret) == ASTIS_OK);

  astis_client_free(client);
  astis_config_free(config);
  if (failures == 0) printf("CApiCompilesAsC: ok\n");
  return failures == 0 ? 0 : 1;
}
