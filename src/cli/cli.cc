#include "cli/cli.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <iterator>
#include <sstream>

#include "capsule/org_key.h"
#include "cli/admin_cli.h"
#include "cli/commands.h"
#include "cli/completion.h"
#include "cli/inject_cli.h"
#include "cli/secret_manifest.h"
#include "crypto/secret_bytes.h"
#include "lint/contract.h"
#include "lint/lint.h"
#include "lint/yaml_documents.h"
#include "common/version.h"
#include "mcp/server.h"

namespace astis::cli {
namespace {

constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok, 1 usage error, 2 input/validation error, 3 crypto/verification failure, "
    "4 I/O error (including refusing to overwrite and key file permissions).";

int Fail(CliEnv& env, std::string_view command, const Status& status) {
  env.err << "astis " << command << ": " << status.ToString() << "\n";
  return ExitCodeFor(status);
}

struct SealArgs {
  std::string public_key, namespace_, service_account, file, output = "yaml", name, type;
  std::vector<std::string> clusters, literals, files;
};

int RunSeal(const SealArgs& a, CliEnv& env) {
  auto key = capsule::LoadOrgPublicKeyFile(a.public_key);
  if (!key.ok()) return Fail(env, "seal", key.status());
  Result<Json> secret = Error(Code::kInternal, "unset");
  if (!a.literals.empty() || !a.files.empty()) {
    if (!a.file.empty()) return Fail(env, "seal", Error(Code::kInvalidArgument, "-f cannot be combined with --from-*"));
    if (a.name.empty())
      return Fail(env, "seal", Error(Code::kInvalidArgument, "--from-literal/--from-file need --name"));
    std::vector<SecretSource> sources;
    for (const auto& l : a.literals) sources.push_back({SecretSource::Kind::kLiteral, l});
    for (const auto& f : a.files) sources.push_back({SecretSource::Kind::kFile, f});
    secret = BuildSecret(a.name, a.namespace_, a.type, sources);
  } else {
    auto text = ReadInput(a.file, env.in);
    if (!text.ok()) return Fail(env, "seal", text.status());
    secret = ParseManifest(*text);
    SecureWipe(text->data(), text->size());
  }
  if (!secret.ok()) return Fail(env, "seal", secret.status());
  auto sealed = SealSecret(*secret, *key, SealScope{a.clusters, a.namespace_, a.service_account}, env.rng, env.clock);
  if (!sealed.ok()) return Fail(env, "seal", sealed.status());
  env.out << (a.output == "json" ? EmitJson(*sealed) : EmitYaml(*sealed));
  env.out.flush();
  if (!env.out) return Fail(env, "seal", Error(Code::kIo, "cannot write output"));
  return kExitOk;
}

struct UnsealArgs {
  std::string org_key, file, output = "yaml", cluster, pkcs11_module, pin_file;
};

int RunUnseal(const UnsealArgs& a, CliEnv& env) {
  const std::string& file = a.file;
  const std::string& output = a.output;
  auto keys = LoadOrgKeySetForCli(a.org_key, a.pkcs11_module, a.pin_file);
  if (!keys.ok()) return Fail(env, "unseal", keys.status());
  auto text = ReadInput(file, env.in);
  if (!text.ok()) return Fail(env, "unseal", text.status());
  auto secret = ParseManifest(*text);
  if (!secret.ok()) return Fail(env, "unseal", secret.status());
  auto plain = UnsealSecret(*secret, *keys, a.cluster);
  if (!plain.ok()) return Fail(env, "unseal", plain.status());
  std::string rendered = output == "json" ? EmitJson(*plain) : EmitYaml(*plain);
  env.out << rendered;
  env.out.flush();
  SecureWipe(rendered.data(), rendered.size());
  if (!env.out) return Fail(env, "unseal", Error(Code::kIo, "cannot write output"));
  return kExitOk;
}

// LoadContract reads and validates a workload contract file.
Result<lint::Contract> LoadContract(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(path, lint::kMaxManifestFileBytes));
  return lint::ParseContract(text);
}

int RunLint(const std::string& path, const std::string& contract_path, const std::string& format, CliEnv& env) {
  std::optional<lint::Contract> contract;
  if (!contract_path.empty()) {
    auto c = LoadContract(contract_path);
    if (!c.ok()) return Fail(env, "lint", c.status());
    contract = std::move(*c);
  }
  std::vector<lint::LintInput> inputs;
  if (path == "-") {
    auto text = ReadInput("", env.in);
    if (!text.ok()) return Fail(env, "lint", text.status());
    inputs.push_back({"(stdin)", std::move(*text)});
  } else {
    auto read = lint::ReadLintInputs(path);
    if (!read.ok()) return Fail(env, "lint", read.status());
    inputs = std::move(*read);
  }
  lint::LintReport report = lint::Lint(inputs, contract ? &*contract : nullptr);
  env.out << (format == "json" ? DumpJson(lint::ToJson(report)) + "\n" : lint::FormatText(report));
  env.out.flush();
  if (!env.out) return Fail(env, "lint", Error(Code::kIo, "cannot write output"));
  // Errors fail the run (CI); warnings do not.
  return report.errors() > 0 ? kExitInput : kExitOk;
}

int RunMcp(const std::string& contract_path, CliEnv& env) {
  std::optional<lint::Contract> contract;
  if (!contract_path.empty()) {
    auto c = LoadContract(contract_path);
    if (!c.ok()) return Fail(env, "mcp", c.status());
    contract = std::move(*c);
  }
  mcp::Server server(std::move(contract));
  env.err << "astis mcp: serving MCP on stdio\n";
  return server.Run(env.in, env.out, env.err);
}

}  // namespace

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kCrypto:
    case Code::kCapsuleInvalid:
    case Code::kCapsuleScope:
    case Code::kUnknownKey:
      return kExitCrypto;
    case Code::kIo:
    case Code::kNotFound:
    case Code::kAlreadyExists:
    case Code::kPermissionDenied:
    case Code::kUnavailable:
      return kExitIo;
    default:
      return kExitInput;
  }
}

int RunCli(const std::vector<std::string>& args, CliEnv& env) {
  CLI::App app{"astis: seal Kubernetes Secret values and operate ASTIS Workload Secrets (protocol 1.1)", "astis"};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");
  // `astis --version` and `astis version` print the same block
  // (common/version.h) and need no store, network or config.
  // Test: tests/install install_version_shape.
  app.set_version_flag("--version", [] {
    std::string text = VersionText("astis");
    text.pop_back();  // app.exit adds the last newline
    return text;
  }, "Print the version, git commit, build type and OpenSSL/libsodium versions, then exit");
  CLI::App* version_cmd =
      app.add_subcommand("version", "Print the version, git commit, build type and OpenSSL/libsodium versions");

  std::string keygen_out, keygen_suite = "x25519", keygen_pkcs11, keygen_module, keygen_pin_file;
  CLI::App* keygen =
      app.add_subcommand("keygen", "Generate an org key pair (org-key.jwk 0600, org-key.pub.jwk); X25519 by default");
  keygen->add_option("--out", keygen_out, "Directory to write the key files into (created 0700 if absent)")->required();
  keygen->add_option("--suite", keygen_suite, "Org key suite: x25519 (default) or p256 (for HSMs; docs/hsm.md)")
      ->check(CLI::IsMember({"x25519", "p256"}));
  auto* pkcs11_opt = keygen->add_option(
      "--pkcs11", keygen_pkcs11, "Generate a P-256 key inside a PKCS#11 token, named by this RFC 7512 pkcs11: URI");
  keygen->add_option("--module", keygen_module, "PKCS#11 module (with --pkcs11)")->needs(pkcs11_opt);
  keygen->add_option("--pin-file", keygen_pin_file, "File holding the token user PIN, mode 0600 (with --pkcs11)")
      ->needs(pkcs11_opt);
  keygen->footer(kExitCodesHelp);

  SealArgs sa;
  CLI::App* seal = app.add_subcommand("seal", "Seal every value of a Secret manifest (stdin or -f) to the org public key");
  seal->add_option("--public-key", sa.public_key, "Org public JWK (org-key.pub.jwk)")->required();
  seal->add_option("--cluster", sa.clusters,
                   "Cluster the values are bound to; repeat (up to 16) to bind them to several clusters (v2 capsule)")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  seal->add_option("--namespace", sa.namespace_, "Namespace the values are bound to")->required();
  seal->add_option("--service-account", sa.service_account, "ServiceAccount allowed to open the values")->required();
  seal->add_option("-f,--filename", sa.file, "Read the Secret from FILE instead of stdin");
  seal->add_option("-o,--output", sa.output, "Output format")->check(CLI::IsMember({"yaml", "json"}));
  seal->add_option("--from-literal", sa.literals, "KEY=VALUE: build the Secret from literals (needs --name)");
  seal->add_option("--from-file", sa.files, "[KEY=]PATH: build the Secret from files (needs --name)");
  seal->add_option("--name", sa.name, "Secret name when building from --from-literal/--from-file");
  seal->add_option("--type", sa.type, "Secret type when building from literals (default Opaque)");
  seal->footer(kExitCodesHelp);

  UnsealArgs ua;
  CLI::App* unseal = app.add_subcommand(
      "unseal", "Break-glass: open a sealed Secret (stdin or -f) with the org private key and print it in clear");
  unseal->add_option("--org-key", ua.org_key, "Org private JWK or key set file (mode 0600)")->required();
  unseal->add_option("-f,--filename", ua.file, "Read the sealed Secret from FILE instead of stdin");
  unseal->add_option("-o,--output", ua.output, "Output format")->check(CLI::IsMember({"yaml", "json"}));
  unseal->add_option("--cluster", ua.cluster,
                     "Also require every value to be in scope for this cluster, as the edge checks for a pod there");
  unseal->add_option("--pkcs11-module", ua.pkcs11_module, "PKCS#11 module for key set members held in a token");
  unseal->add_option("--pin-file", ua.pin_file, "Token user PIN file, mode 0600 (with --pkcs11-module)");
  unseal->footer(kExitCodesHelp);

  std::string lint_path, lint_contract, lint_format = "text";
  CLI::App* lint_cmd = app.add_subcommand(
      "lint", "Check Kubernetes manifests for the ASTIS workload rules (docs/lint.md); exit 2 on any error finding");
  lint_cmd->add_option("-f,--filename", lint_path, "Manifest file, directory of *.yaml/*.yml/*.json, or - for stdin")
      ->required();
  lint_cmd->add_option("--contract", lint_contract, "Workload contract (YAML or JSON) to check against");
  lint_cmd->add_option("--format", lint_format, "Output format")->check(CLI::IsMember({"text", "json"}));
  lint_cmd->footer(kExitCodesHelp);

  std::string mcp_contract;
  CLI::App* mcp_cmd = app.add_subcommand(
      "mcp", "Serve the ASTIS Model Context Protocol tools on stdio (JSON-RPC; docs/mcp.md)");
  mcp_cmd->add_option("--contract", mcp_contract, "Default workload contract for the tools (YAML or JSON)");

  AdminCommands admin(app);
  InjectCommand inject(app);

  // Hidden: the bash completion script of this very command tree
  // (share/bash-completion/completions/astis is written from it at build time).
  CLI::App* complete_bash = app.add_subcommand("__complete-bash", "Print the bash completion script")->group("");

  std::vector<std::string> storage(args.begin(), args.end());
  if (storage.empty()) storage.emplace_back("astis");
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, env.out, env.err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (keygen->parsed()) {
      auto suite = capsule::ParseOrgKeySuite(keygen_suite);
      if (!suite.ok()) return Fail(env, "keygen", suite.status());
      Result<KeygenResult> r = Error(Code::kInternal, "unset");
      if (!keygen_pkcs11.empty()) {
        // docs/hsm.md: token keys are P-256 (few tokens do X25519).
        // Test: CliHsmTest.KeygenPkcs11RefusesX25519Suite.
        if (keygen->count("--suite") > 0 && *suite != capsule::OrgKeySuite::kP256)
          return Fail(env, "keygen", Error(Code::kInvalidArgument, "a PKCS#11 org key is P-256: use --suite p256"));
        if (keygen_module.empty() || keygen_pin_file.empty())
          return Fail(env, "keygen", Error(Code::kInvalidArgument, "--pkcs11 needs --module and --pin-file"));
        r = KeygenInToken(keygen_out, keygen_pkcs11, keygen_module, keygen_pin_file);
      } else {
        r = Keygen(keygen_out, env.rng, *suite);
      }
      if (!r.ok()) return Fail(env, "keygen", r.status());
      const char* what = keygen_pkcs11.empty() ? " (private, 0600)" : " (token key reference, 0600)";
      env.out << "wrote " << r->private_path << what << " and " << r->public_path << "\nkid " << r->kid << "\n";
      return kExitOk;
    }
    if (version_cmd->parsed()) {
      env.out << VersionText("astis");
      env.out.flush();
      return env.out ? kExitOk : Fail(env, "version", Error(Code::kIo, "cannot write output"));
    }
    if (complete_bash->parsed()) {
      env.out << BashCompletion(app);
      env.out.flush();
      return env.out ? kExitOk : Fail(env, "__complete-bash", Error(Code::kIo, "cannot write output"));
    }
    if (seal->parsed()) return RunSeal(sa, env);
    if (unseal->parsed()) return RunUnseal(ua, env);
    if (lint_cmd->parsed()) return RunLint(lint_path, lint_contract, lint_format, env);
    if (mcp_cmd->parsed()) return RunMcp(mcp_contract, env);
    if (std::optional<int> code = admin.Run(env)) return *code;
    if (std::optional<int> code = inject.Run(env)) return *code;
  } catch (const std::exception&) {
    // Third-party exceptions stop here; their text may quote input, so it is
    // not printed.
    return Fail(env, "error", Error(Code::kInternal, "unexpected internal error"));
  }
  return kExitUsage;
}

}  // namespace astis::cli
