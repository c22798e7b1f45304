/*
 * astis.h: the C ABI of the ASTIS pod SDK (libastis).
 *
 * The SDK turns sealed values ("astis.v1.<capsule>.<iv>.<ciphertext>", from a
 * mounted Secret file or an environment variable) into plaintext, inside an
 * approved, live pod, by asking the ASTIS edge to rewrap each value's data key
 * to a key that exists only in this process's RAM (docs/protocol.md §4). See
 * docs/sdk.md.
 *
 * Conventions (every function below follows them):
 *
 *  - Handles are opaque. An object made by astis_x_new (or returned through
 *    an out_ parameter) is owned by the caller until passed to astis_x_free.
 *    Every astis_x_free accepts NULL and does nothing then.
 *  - Every function that can fail returns an astis_code; ASTIS_OK (0) is
 *    success. Results are written only through out_ parameters, and only on
 *    success; on failure every out_ pointer is set to NULL.
 *  - A human-readable message for the last failure is kept per handle:
 *    astis_config_last_message / astis_client_last_message copy it out. It
 *    never contains key material, tokens or plaintext.
 *  - No C++ exception crosses this ABI: the library catches at the boundary
 *    and returns ASTIS_INTERNAL.
 *  - Strings passed in are NUL-terminated UTF-8 and copied; the caller keeps
 *    ownership of them.
 *  - A client is thread-safe: any number of threads may call astis_client_get
 *    and astis_client_get_many on one client concurrently. A config is not
 *    thread-safe; it is read (copied) by astis_client_new and may be freed
 *    right after.
 *  - Plaintext lives in locked memory (mlock, excluded from core dumps,
 *    guard pages) and is zeroed by astis_secret_free. Copying it elsewhere is
 *    the application's responsibility.
 */
#ifndef ASTIS_ASTIS_H_
#define ASTIS_ASTIS_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define ASTIS_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define ASTIS_EXPORT __attribute__((visibility("default")))
#else
#define ASTIS_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * astis_code enumerates every outcome. Values are stable ABI. Codes 1-19
 * mirror the wire codes of docs/protocol.md §7 (astis_code_name returns the wire
 * name); codes 20 and up are local to the SDK.
 */
typedef enum astis_code {
  ASTIS_OK = 0,
  /* docs/protocol.md §7, request-level refusals by the edge. */
  ASTIS_BAD_REQUEST = 1,
  ASTIS_API_KEY_INVALID = 2,
  ASTIS_TOKEN_INVALID = 3,
  ASTIS_DPOP_INVALID = 4,
  ASTIS_DPOP_REPLAY = 5,
  ASTIS_USE_DPOP_NONCE = 6,
  ASTIS_SESSION_INVALID = 7,
  ASTIS_SCOPE_MISMATCH = 8,
  ASTIS_POD_NOT_LIVE = 9,
  ASTIS_IMAGE_NOT_ALLOWED = 10,
  ASTIS_CREDENTIAL_PINNED = 11,
  ASTIS_TOO_LARGE = 12,
  ASTIS_RATE_LIMITED = 13,
  ASTIS_KUBE_UNAVAILABLE = 14,
  ASTIS_CVS_UNAVAILABLE = 15,
  ASTIS_STORE_UNAVAILABLE = 16,
  /* docs/protocol.md §7, per-capsule codes of an unwrap result. */
  ASTIS_CAPSULE_SCOPE = 17,
  ASTIS_UNKNOWN_KEY = 18,
  ASTIS_CAPSULE_INVALID = 19,
  /* Local codes. */
  ASTIS_INVALID_ARGUMENT = 20, /* a NULL handle, a bad secret name, ... */
  ASTIS_CONFIG = 21,           /* the configuration is incomplete or invalid */
  ASTIS_IO = 22,               /* a file (token, API key, CA, sealed value) could not be read */
  ASTIS_NOT_FOUND = 23,        /* no sealed value under that name (file or env) */
  ASTIS_CRYPTO = 24,           /* local decryption failed (tampered value, wrong session) */
  ASTIS_UNAVAILABLE = 25,      /* no edge endpoint reachable, or still 503 after retries */
  ASTIS_INTERNAL = 26          /* a bug or an unexpected answer; see the message */
} astis_code;

typedef struct astis_config astis_config;
typedef struct astis_client astis_client;
typedef struct astis_secret astis_secret;

/* astis_code_name returns the static snake_case name of code ("session_invalid",
 * "not_found"), or "unknown" for a value outside the enum. Never NULL; the
 * caller does not free it. */
ASTIS_EXPORT const char* astis_code_name(astis_code code);

/* astis_version describes the library: five lines, each ending in "\n",
 *
 *   libastis 0.1.0                  semantic version (the project's)
 *   commit 0123456789ab (dirty)     git commit built from ("unknown" without
 *                                   git); "(dirty)" if tracked files differed
 *   build type Release
 *   OpenSSL 3.0.11 19 Sep 2023      the libcrypto in use at run time
 *   libsodium 1.0.18                the libsodium in use at run time
 *
 * the same block `astis --version` prints (there after "astis"). Programs
 * print it for their --version (astis-run does). The string is static: never
 * NULL, the caller does not free it, and it is the same for every call. It
 * needs no config, network or edge, and cannot fail. */
ASTIS_EXPORT const char* astis_version(void);

/* ---------------------------------------------------------------- config */

/* astis_config_new makes a config holding the defaults:
 *   edge URL           none (required)
 *   CA bundle          the system trust store
 *   API key            from the environment variable ASTIS_API_KEY
 *   projected token    /var/run/secrets/astis/token
 *   secrets directory  /etc/astis/secrets
 *   env var prefix     ASTIS_SECRET_
 *   key rotation       every 3600 s
 * Fails with ASTIS_INVALID_ARGUMENT when out_config is NULL. The caller owns
 * *out_config and frees it with astis_config_free. */
ASTIS_EXPORT astis_code astis_config_new(astis_config** out_config);

/* astis_config_free releases config; NULL is accepted. The API key read from
 * a file is wiped. */
ASTIS_EXPORT void astis_config_free(astis_config* config);

/* astis_config_load_env overrides settings from the environment variables
 * ASTIS_EDGE_URL, ASTIS_CA_FILE, ASTIS_API_KEY_FILE, ASTIS_TOKEN_PATH,
 * ASTIS_SECRETS_DIR and ASTIS_ENV_PREFIX, each only when set and non-empty.
 * Fails with ASTIS_INVALID_ARGUMENT on NULL or ASTIS_CONFIG when a value is
 * invalid (the config then keeps the earlier values of the failing setting). */
ASTIS_EXPORT astis_code astis_config_load_env(astis_config* config);

/* astis_config_set_edge_url sets one or more edge base URLs, comma-separated
 * ("https://edge-a:8443,https://edge-b:8443"); only https is accepted. On a
 * transport failure the client tries the next URL. ASTIS_CONFIG when a URL is
 * malformed or not https. */
ASTIS_EXPORT astis_code astis_config_set_edge_url(astis_config* config, const char* urls);

/* astis_config_set_ca_file sets a PEM bundle of CAs trusted for the edge's
 * certificate instead of the system store; read by astis_client_new
 * (ASTIS_IO there if unreadable). */
ASTIS_EXPORT astis_code astis_config_set_ca_file(astis_config* config, const char* path);

/* astis_config_set_api_key_file reads the bound API key ("astis_<id>_<secret>")
 * from path at each request when the file changed (a mounted Secret). Replaces
 * any env var setting. */
ASTIS_EXPORT astis_code astis_config_set_api_key_file(astis_config* config, const char* path);

/* astis_config_set_api_key_env names the environment variable holding the
 * API key (default ASTIS_API_KEY); replaces any file setting. */
ASTIS_EXPORT astis_code astis_config_set_api_key_env(astis_config* config, const char* env_name);

/* astis_config_set_token_path sets the projected ServiceAccount token path
 * (default /var/run/secrets/astis/token). The file is re-read whenever the
 * file it resolves to changes (the kubelet rotates it by swapping a symlink). */
ASTIS_EXPORT astis_code astis_config_set_token_path(astis_config* config, const char* path);

/* astis_config_set_secrets_dir sets the directory of mounted Secret files
 * (default /etc/astis/secrets); the file named like the secret holds its
 * sealed value. */
ASTIS_EXPORT astis_code astis_config_set_secrets_dir(astis_config* config, const char* dir);

/* astis_config_set_env_prefix sets the prefix of environment variables that
 * hold sealed values (default ASTIS_SECRET_): secret "db-password" is looked
 * up as ASTIS_SECRET_DB_PASSWORD when no file exists. */
ASTIS_EXPORT astis_code astis_config_set_env_prefix(astis_config* config, const char* prefix);

/* astis_config_set_rotation_seconds sets how often the DPoP and recipient
 * keys are replaced (docs/protocol.md §4.3); 0 disables rotation. ASTIS_CONFIG
 * when negative. */
ASTIS_EXPORT astis_code astis_config_set_rotation_seconds(astis_config* config, int64_t seconds);

/* astis_config_last_message copies the message of the last failure on config
 * into buf (always NUL-terminated when size > 0) and returns the message's
 * full length, like snprintf. An empty string when nothing failed. */
ASTIS_EXPORT size_t astis_config_last_message(const astis_config* config, char* buf, size_t size);

/* ---------------------------------------------------------------- client */

/* astis_client_new generates the pod's Ed25519 DPoP key and X25519 recipient
 * key in locked RAM and prepares the edge connections. No request is sent
 * yet: the session is established on the first get. Fails with
 * ASTIS_INVALID_ARGUMENT (NULL), ASTIS_CONFIG (no edge URL, bad setting),
 * ASTIS_IO (CA file unreadable) or ASTIS_CRYPTO; the message is then on
 * config. The caller owns *out_client. */
ASTIS_EXPORT astis_code astis_client_new(const astis_config* config, astis_client** out_client);

/* astis_client_free ends the session (DELETE /v1/sessions/{id}, best effort),
 * wipes both keys and releases client; NULL is accepted. Secrets already
 * returned stay valid and must still be freed. */
ASTIS_EXPORT void astis_client_free(astis_client* client);

/* astis_client_get returns the plaintext of the secret called name (a Secret
 * data key: [-._a-zA-Z0-9]+, at most 253 bytes, not "." or ".."). It reads
 * <secrets_dir>/<name>, or else the env var <prefix><NAME>, unwraps the data
 * key at the edge and decrypts locally. The caller owns *out_secret and
 * frees it with astis_secret_free. Fails with a docs/protocol.md §7 code when the
 * edge refuses, ASTIS_NOT_FOUND, ASTIS_IO, ASTIS_CRYPTO or ASTIS_UNAVAILABLE. */
ASTIS_EXPORT astis_code astis_client_get(astis_client* client, const char* name, astis_secret** out_secret);

/* astis_client_get_many is astis_client_get for n names in one unwrap request
 * (chunked in requests of at most 64). out_secrets must have room for n
 * pointers. All or nothing: on failure every out_secrets[i] is NULL and the
 * code of the first failing name is returned (the message names it). */
ASTIS_EXPORT astis_code astis_client_get_many(astis_client* client, const char* const* names, size_t n,
                                              astis_secret** out_secrets);

/* astis_client_last_message copies the message of the calling thread's most
 * recent failure on client (see astis_config_last_message). */
ASTIS_EXPORT size_t astis_client_last_message(const astis_client* client, char* buf, size_t size);

/* ---------------------------------------------------------------- secret */

/* astis_secret_data returns the plaintext bytes (not NUL-terminated), owned by
 * secret and valid until astis_secret_free; NULL when secret is NULL or empty. */
ASTIS_EXPORT const uint8_t* astis_secret_data(const astis_secret* secret);

/* astis_secret_size returns the plaintext length in bytes; 0 for NULL. */
ASTIS_EXPORT size_t astis_secret_size(const astis_secret* secret);

/* astis_secret_free zeroes the plaintext and releases secret; NULL is
 * accepted. */
ASTIS_EXPORT void astis_secret_free(astis_secret* secret);

/* ---------------------------------------------------------------- process */

/* astis_harden_process makes the calling process non-dumpable
 * (prctl(PR_SET_DUMPABLE, 0)) and sets RLIMIT_CORE to 0. Effects: no core
 * dumps; non-root processes (even of the same user) cannot ptrace-attach or
 * read /proc/<pid>/mem. Trade-offs: debuggers, profilers (perf, py-spy) and
 * crash reporters stop working for this process, and /proc/<pid>/ files
 * become owned by root. Call it early in main. Fails with ASTIS_INTERNAL if
 * the kernel refuses (message not available: check errno). */
ASTIS_EXPORT astis_code astis_harden_process(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ASTIS_ASTIS_H_ */
