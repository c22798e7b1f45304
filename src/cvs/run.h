// The CVS process: what `astis cvs` does between "configuration read" and
// "exit" (as edge/run.h is for the edge): the conversion service alone,
// serving CvsHttpHandler (cvs/remote.h) over mutual TLS. Its small YAML
// configuration (docs/admin.md):
//
//   listen: {address: 0.0.0.0, port: 9443}
//   tls:
//     cert_file: /etc/astis/cvs.pem
//     key_file: /etc/astis/cvs.key
//     client_ca_file: /etc/astis/edge-ca.pem
//     edge_client_cert_sha256: [<64 hex>, ...]   # or one string
//   org_keys: /etc/astis/org-keys.json             # mode 0600; or:
//   org_keys_dir: /var/lib/astis/org-keys          # <org>.json per organisation
//   org: tenant-b                                  # optional, with org_keys only
//   audit_log: /var/log/astis/cvs-audit.jsonl
//   pkcs11:                                        # optional (docs/hsm.md)
//     module: /usr/lib/softhsm/libsofthsm2.so      # the HSM vendor's PKCS#11 module
//     pin_file: /etc/astis/hsm-user.pin            # mode 0600
//     max_sessions: 8                              # optional, 1..1024
//
// Exactly one of org_keys and org_keys_dir. org_keys is one organisation's
// key set: `org`'s (a customer's Tier 2 CVS names its organisation here),
// else the default organisation's; every other organisation's scope gets
// unknown_key. org_keys_dir is the ASTIS CVS's Tier 1 custody: every
// organisation's set, and the key custody endpoints (cvs/remote.h) create
// and rotate sets in it. With pkcs11, key set members that carry
// "pkcs11":URI instead of "d" are opened in that module's token: one
// hsm::Pkcs11Module for the process, its sessions shared by every key.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capsule/org_key.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/sha256.h"
#include "hsm/pkcs11.h"

namespace astis::cvs {

// CvsProcessConfig is the validated `astis cvs` configuration. Plain value.
struct CvsProcessConfig {
  std::string listen_address = "0.0.0.0";
  uint16_t listen_port = 9443;
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  std::vector<Sha256Digest> edge_client_cert_sha256;
  std::string org_keys;
  std::string org_keys_dir;
  std::string org;  // with org_keys: the organisation it belongs to ("" = default)
  std::string audit_log;
  std::optional<hsm::Pkcs11Config> pkcs11;  // the pkcs11 block, when present
  // log: {format: json|text, level: debug|info|warn|error} (docs/operations.md "Logs").
  std::string log_format = "text";
  std::string log_level = "info";
};

// ParseCvsProcessConfig parses and validates YAML text: unknown keys,
// missing required fields, wrong types, a port outside 0..65535, a pin
// that is not 64 hex digits, both or neither of org_keys and org_keys_dir,
// org with org_keys_dir and an org that is not a DNS-1123 label are
// kInvalidArgument naming the field (never a value). yaml-cpp exceptions
// never escape. Test: CvsProcessConfigOrgKeys. In the pkcs11 block, module
// and pin_file are required and max_sessions is an integer in [1, 1024];
// unknown keys are refused. Test: CvsProcessConfigPkcs11.
Result<CvsProcessConfig> ParseCvsProcessConfig(std::string_view yaml_text);

// TokenResolverFor loads config.pkcs11's module (reading its PIN file) and
// returns a resolver that opens key set members through it; an empty
// resolver when there is no pkcs11 block (a token member is then refused).
// Errors as hsm::Pkcs11Module::Load. Test: Pkcs11CvsTest.ProcessConfigOpensTokenKeySet.
Result<capsule::TokenKeyResolver> TokenResolverFor(const CvsProcessConfig& config);

// RunCvsProcess loads the org key set and the audit log, serves the remote
// CVS contract over mutual TLS (only the pinned edge certificates), prints
// "astis cvs: serving on ADDRESS:PORT" to stderr, calls on_listening (when
// set) with the bound port, then blocks until SIGTERM/SIGINT and stops
// gracefully. It blocks those signals and SIGHUP first. Meanwhile the TLS
// files and the org keys (org_keys, or org_keys_dir) are re-read when they
// change, polled every 2 s, and on SIGHUP (docs/operations.md "Certificate
// rotation", "Org key rotation"). Test:
// CvsProcessReloadTest.CertificateAndOrgKeysRotateWithoutRestart.
// Returns OK after a graceful stop, else the failing start-up step.
Status RunCvsProcess(const CvsProcessConfig& config, Clock& clock, Random& rng,
                     const std::function<void(uint16_t)>& on_listening = {});

}  // namespace astis::cvs
