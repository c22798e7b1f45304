#include "cvs/run.h"

#include <signal.h>

#include <algorithm>
#include <exception>
#include <initializer_list>
#include <memory>

#include <yaml-cpp/yaml.h>

#include "audit/audit_log.h"
#include "capsule/org_key.h"
#include "common/dns1123.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/yaml_config.h"
#include "cvs/cvs.h"
#include "cvs/key_file_watcher.h"
#include "cvs/key_management.h"
#include "cvs/process_hardening.h"
#include "cvs/remote.h"
#include "net/signals.h"
#include "net/tls.h"
#include "net/tls_reloader.h"

namespace astis::cvs {
namespace {

using yaml_config::Bad;
using yaml_config::CheckKeys;
using yaml_config::GetString;

Status AddPin(const YAML::Node& n, std::vector<Sha256Digest>& pins) {
  constexpr std::string_view kField = "tls.edge_client_cert_sha256";
  if (!n.IsScalar()) return Bad(kField, "must be 64 hex digits");
  auto bytes = HexDecode(n.Scalar());
  Sha256Digest d{};
  if (!bytes.ok() || bytes->size() != d.size()) return Bad(kField, "must be 64 hex digits");
  std::copy(bytes->begin(), bytes->end(), d.begin());
  pins.push_back(d);
  return OkStatus();
}

Status Fill(const YAML::Node& root, CvsProcessConfig& c) {
  ASTIS_RETURN_IF_ERROR(
      CheckKeys(root, "", {"listen", "tls", "org_keys", "org_keys_dir", "org", "audit_log", "pkcs11", "log"}));
  if (const YAML::Node l = root["listen"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(l, "listen", {"address", "port"}));
    ASTIS_RETURN_IF_ERROR(GetString(l, "listen", "address", c.listen_address, false));
    if (const YAML::Node p = l["port"]) {
      const std::string s = p.IsScalar() ? p.Scalar() : "";
      if (s.empty() || s.size() > 5 || !std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
          std::stoi(s) > 65535) {
        return Bad("listen.port", "must be an integer in [0, 65535]");
      }
      c.listen_port = static_cast<uint16_t>(std::stoi(s));
    }
  }
  const YAML::Node tls = root["tls"];
  if (!tls) return Bad("tls", "required");
  ASTIS_RETURN_IF_ERROR(CheckKeys(tls, "tls", {"cert_file", "key_file", "client_ca_file", "edge_client_cert_sha256"}));
  ASTIS_RETURN_IF_ERROR(GetString(tls, "tls", "cert_file", c.cert_file, true));
  ASTIS_RETURN_IF_ERROR(GetString(tls, "tls", "key_file", c.key_file, true));
  // The CVS never serves without mutual TLS and a pinned edge certificate.
  ASTIS_RETURN_IF_ERROR(GetString(tls, "tls", "client_ca_file", c.client_ca_file, true));
  const YAML::Node pins = tls["edge_client_cert_sha256"];
  if (!pins) return Bad("tls.edge_client_cert_sha256", "required");
  if (pins.IsSequence()) {
    for (const auto& p : pins) ASTIS_RETURN_IF_ERROR(AddPin(p, c.edge_client_cert_sha256));
  } else {
    ASTIS_RETURN_IF_ERROR(AddPin(pins, c.edge_client_cert_sha256));
  }
  if (c.edge_client_cert_sha256.empty()) return Bad("tls.edge_client_cert_sha256", "at least one pin required");
  ASTIS_RETURN_IF_ERROR(GetString(root, "", "org_keys", c.org_keys, false));
  ASTIS_RETURN_IF_ERROR(GetString(root, "", "org_keys_dir", c.org_keys_dir, false));
  ASTIS_RETURN_IF_ERROR(GetString(root, "", "org", c.org, false));
  if (c.org_keys.empty() == c.org_keys_dir.empty()) return Bad("org_keys", "exactly one of org_keys and org_keys_dir");
  if (!c.org.empty() && !c.org_keys_dir.empty()) return Bad("org", "only with org_keys (a directory names its orgs)");
  if (!c.org.empty() && !IsDns1123Label(c.org)) return Bad("org", "must be a DNS-1123 label");
  ASTIS_RETURN_IF_ERROR(GetString(root, "", "audit_log", c.audit_log, true));
  if (const YAML::Node p = root["pkcs11"]) {
    ASTIS_RETURN_IF_ERROR(CheckKeys(p, "pkcs11", {"module", "pin_file", "max_sessions"}));
    hsm::Pkcs11Config h;
    ASTIS_RETURN_IF_ERROR(GetString(p, "pkcs11", "module", h.module_path, true));
    ASTIS_RETURN_IF_ERROR(GetString(p, "pkcs11", "pin_file", h.pin_file, true));
    if (const YAML::Node m = p["max_sessions"]) {
      const std::string s = m.IsScalar() ? m.Scalar() : "";
      const bool digits = std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      if (s.empty() || s.size() > 4 || !digits || std::stoi(s) < 1 || std::stoi(s) > 1024) {
        return Bad("pkcs11.max_sessions", "must be an integer in [1, 1024]");
      }
      h.max_sessions = static_cast<size_t>(std::stoi(s));
    }
    c.pkcs11 = std::move(h);
  }
  if (const YAML::Node l = root["log"]) {
    // Test: CvsProcessConfigTest.CvsProcessConfigLog.
    ASTIS_RETURN_IF_ERROR(CheckKeys(l, "log", {"format", "level"}));
    ASTIS_RETURN_IF_ERROR(GetString(l, "log", "format", c.log_format, false));
    ASTIS_RETURN_IF_ERROR(GetString(l, "log", "level", c.log_level, false));
    if (!log::ParseFormat(c.log_format).ok()) return Bad("log.format", "must be json or text");
    if (!log::ParseLevel(c.log_level).ok()) return Bad("log.level", "must be debug, info, warn or error");
  }
  return OkStatus();
}

Status Step(std::string_view what, const Status& s) {
  return Error(s.code(), std::string(what) + ": " + s.message());
}

}  // namespace

Result<capsule::TokenKeyResolver> TokenResolverFor(const CvsProcessConfig& config) {
  if (!config.pkcs11) return capsule::TokenKeyResolver();
  ASTIS_ASSIGN_OR_RETURN(std::shared_ptr<hsm::Pkcs11Module> module, hsm::Pkcs11Module::Load(*config.pkcs11));
  return capsule::TokenKeyResolver(
      [module](std::string_view uri) -> Result<std::shared_ptr<const P256KeyAgreement>> {
        return module->OpenP256Key(uri);
      });
}

Result<CvsProcessConfig> ParseCvsProcessConfig(std::string_view yaml_text) {
  CvsProcessConfig c;
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    ASTIS_RETURN_IF_ERROR(Fill(root, c));
  } catch (const std::exception&) {
    // yaml-cpp messages may quote the input; report the position-free kind only.
    return Error(Code::kInvalidArgument, "configuration is not valid YAML");
  }
  return c;
}

Status RunCvsProcess(const CvsProcessConfig& config, Clock& clock, Random& rng,
                     const std::function<void(uint16_t)>& on_listening) {
  // No core file and no same-user ptrace or /proc/<pid>/mem read: this
  // process holds the org private keys and, transiently, DEKs. Before any
  // key is loaded. Test: CvsProcessIsNotDumpable (tests/hardening).
  ASTIS_RETURN_IF_ERROR(DisableCoreDumps());
  net::BlockTerminationSignals();
  {
    auto format = log::ParseFormat(config.log_format);
    auto level = log::ParseLevel(config.log_level);
    log::ConfigureProcess(format.ok() ? *format : log::Format::kText, level.ok() ? *level : log::Level::kInfo);
  }
  net::BlockReloadSignal();
  // The token's module is loaded before any key: members held in it are
  // opened through this one module (docs/hsm.md).
  auto tokens = TokenResolverFor(config);
  if (!tokens.ok()) return Step("pkcs11", tokens.status());
  OrgKeySets sets;
  if (!config.org_keys.empty()) {
    auto keys = capsule::OrgKeySet::LoadFile(config.org_keys, *tokens);
    if (!keys.ok()) return Step("org keys", keys.status());
    sets.emplace(config.org.empty() ? std::string(kDefaultOrg) : config.org, std::move(keys).value());
  }
  // As `astis serve` does (docs/audit-log.md "Torn tail"): a line cut by a
  // kill mid-write was never acknowledged, so it is truncated and recorded.
  audit::FileAuditOptions audit_options;
  audit_options.repair_torn_tail = true;
  auto audit_log = audit::FileAuditLog::Open(config.audit_log, clock, audit_options);
  if (!audit_log.ok()) return Step("audit log", audit_log.status());
  auto tls = net::LoadTlsServerConfig(config.cert_file, config.key_file);
  if (!tls.ok()) return Step("tls", tls.status());
  auto ca = net::ReadPemFile(config.client_ca_file);
  if (!ca.ok()) return Step("tls.client_ca_file", ca.status());
  tls->client_ca_pem = std::move(ca).value();
  tls->pinned_client_cert_sha256 = config.edge_client_cert_sha256;

  CvsService service(std::move(sets), rng, audit_log->get());
  // Tier 1 custody: every organisation's set from the directory, and the
  // key custody endpoints writing it (docs/cvs.md "Key custody per organisation").
  std::unique_ptr<KeyDirectoryCustodian> custodian;
  if (!config.org_keys_dir.empty()) {
    custodian = std::make_unique<KeyDirectoryCustodian>(config.org_keys_dir, service, rng, *tokens);
    if (Status s = custodian->Refresh(); !s.ok()) return Step("org_keys_dir", s);
  }
  CvsServerConfig sc;
  sc.custodian = custodian.get();
  sc.bind_address = config.listen_address;
  sc.port = config.listen_port;
  sc.tls = std::move(tls).value();
  auto server = StartCvsServer(std::move(sc), service);
  if (!server.ok()) return Step("listen", server.status());
  // Tests and scripts wait for "serving on ADDRESS:PORT" (the port last).
  log::Process().Info("astis cvs", "serving on " + config.listen_address + ":" + std::to_string((*server)->port()));
  std::fflush(stderr);
  if (on_listening) on_listening((*server)->port());
  // The certificate reloads when its files change or on SIGHUP, keeping
  // mutual TLS and the edge pins (docs/operations.md "Certificate rotation").
  net::TlsReloaderOptions ro;
  ro.name = "astis cvs: tls";
  net::HttpServer* http = server->get();
  net::TlsReloader reloader({config.cert_file, config.key_file, config.client_ca_file, config.edge_client_cert_sha256},
                            [http](const net::TlsServerConfig& c) { return http->ReloadTls(c); }, ro);
  reloader.Start();
  // Org keys reload without a restart (docs/operations.md "Org key
  // rotation"): the org_keys file, or every changed file of org_keys_dir,
  // polled every 2 s and on SIGHUP; a set that does not load keeps the one
  // being served. Token members re-open through the same resolver.
  std::unique_ptr<OrgKeyFileWatcher> key_watcher;
  if (!config.org_keys.empty()) {
    key_watcher = std::make_unique<OrgKeyFileWatcher>(
        config.org_keys, config.org.empty() ? std::string(kDefaultOrg) : config.org, service, *tokens);
  }
  auto refresh_keys = [&](bool force) {
    return key_watcher ? key_watcher->Refresh(force) : custodian->Refresh();
  };
  auto report_keys = [](const Status& s) {
    if (!s.ok()) {
      log::Process().Error("astis cvs", "org keys not reloaded, still serving the previous set: " + s.ToString());
    }
  };
  PeriodicRefresh key_poller([&] { return refresh_keys(false); }, std::chrono::seconds(2), report_keys);
  int sig = 0;
  while ((sig = net::WaitForTerminationOrReloadSignal()) == SIGHUP) {
    (void)reloader.ReloadNow();
    report_keys(refresh_keys(true));
  }
  key_poller.Stop();
  reloader.Stop();
  log::Process().Info("astis cvs", std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + " received, stopping");
  (*server)->Stop(std::chrono::milliseconds(5000));
  return OkStatus();
}

}  // namespace astis::cvs
