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
//
// Exactly one of org_keys and org_keys_dir. org_keys is one organisation's
// key set: `org`'s (a customer's Tier 2 CVS names its organisation here),
// else the default organisation's; every other organisation's scope gets
// unknown_key. org_keys_dir is the ASTIS CVS's Tier 1 custody: every
// organisation's set, and the key custody endpoints (cvs/remote.h) create
// and rotate sets in it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/random.h"
#include "crypto/sha256.h"

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
};

// ParseCvsProcessConfig parses and validates YAML text: unknown keys,
// missing required fields, wrong types, a port outside 0..65535, a pin
// that is not 64 hex digits, both or neither of org_keys and org_keys_dir,
// org with org_keys_dir and an org that is not a DNS-1123 label are
// kInvalidArgument naming the field (never a value). yaml-cpp exceptions
// never escape. Test: CvsProcessConfigOrgKeys.
Result<CvsProcessConfig> ParseCvsProcessConfig(std::string_view yaml_text);

// RunCvsProcess loads the org key set and the audit log, serves the remote
// CVS contract over mutual TLS (only the pinned edge certificates), prints
// "astis cvs: serving on ADDRESS:PORT" to stderr, calls on_listening (when
// set) with the bound port, then blocks until SIGTERM/SIGINT and stops
// gracefully. It blocks those signals first (net::BlockTerminationSignals).
// Returns OK after a graceful stop, else the failing start-up step.
Status RunCvsProcess(const CvsProcessConfig& config, Clock& clock, Random& rng,
                     const std::function<void(uint16_t)>& on_listening = {});

}  // namespace astis::cvs
