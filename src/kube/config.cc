#include "kube/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/encoding.h"

namespace astis::kube {
namespace {

constexpr size_t kMaxTokenBytes = 64 * 1024;
constexpr size_t kMaxPemBytes = 1024 * 1024;
constexpr size_t kMaxKubeconfigBytes = 4 * 1024 * 1024;

// ReadFileInto reads at most max_bytes of path into out (wiped by the caller
// when secret). kIo names the path; the contents never appear in errors.
Status ReadFileInto(const std::string& path, size_t max_bytes, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Code::kIo, "cannot open " + path + ": " + std::strerror(errno));
  out.clear();
  char buf[4096];
  Status status;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = Error(Code::kIo, "cannot read " + path + ": " + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      status = Error(Code::kIo, path + " is larger than " + std::to_string(max_bytes) + " bytes");
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  SecureWipe(buf, sizeof buf);
  ::close(fd);
  return status;
}

Result<std::string> ReadPublicFile(const std::string& path, size_t max_bytes) {
  std::string out;
  ASTIS_RETURN_IF_ERROR(ReadFileInto(path, max_bytes, out));
  return out;
}

Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes) {
  std::string out;
  Status s = ReadFileInto(path, max_bytes, out);
  SecretBytes secret = SecretBytes::CopyFrom(out);
  SecureWipe(out.data(), out.size());
  if (!s.ok()) return s;
  return secret;
}

// CheckCaPem refuses text that holds no PEM certificate; full parsing happens
// when the TLS context is built.
Status CheckCaPem(std::string_view pem, std::string_view what) {
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) {
    return Error(Code::kInvalidArgument, std::string(what) + " holds no PEM certificate");
  }
  return OkStatus();
}

Status CheckHttpsUrl(std::string_view url, std::string_view what) {
  constexpr std::string_view kHttps = "https://";
  if (url.substr(0, kHttps.size()) != kHttps || url.size() == kHttps.size()) {
    return Error(Code::kInvalidArgument, std::string(what) + " must be an https:// URL");
  }
  return OkStatus();
}

// ValidateToken trims surrounding whitespace and requires visible ASCII, so
// the token can go into an Authorization header unchanged.
Result<SecretBytes> ValidateToken(std::string_view raw, std::string_view what) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  size_t b = 0, e = raw.size();
  while (b < e && is_space(raw[b])) ++b;
  while (e > b && is_space(raw[e - 1])) --e;
  std::string_view t = raw.substr(b, e - b);
  if (t.empty()) return Error(Code::kInvalidArgument, std::string(what) + " holds an empty token");
  for (char c : t) {
    if (c < 0x21 || c > 0x7e) {
      return Error(Code::kInvalidArgument, std::string(what) + " holds a token with a non-printable byte");
    }
  }
  return SecretBytes::CopyFrom(t);
}

std::string ProcessGetenv(const std::string& name, const EnvLookup& lookup) {
  if (lookup) return lookup(name).value_or("");
  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read at start-up
  return v == nullptr ? "" : v;
}

// --- kubeconfig ---------------------------------------------------------

// Str reads an optional scalar string member.
Result<std::string> Str(const YAML::Node& node, const char* key, const std::string& where) {
  YAML::Node v = node[key];
  if (!v || v.IsNull()) return std::string();
  if (!v.IsScalar()) return Error(Code::kInvalidArgument, where + "." + key + " is not a string");
  return v.as<std::string>();
}

// FindNamed finds the entry called name in the list at node[list] and
// returns its member `inner` ("cluster", "user", "context").
Result<YAML::Node> FindNamed(const YAML::Node& root, const char* list, const char* inner, const std::string& name) {
  YAML::Node items = root[list];
  if (!items || items.IsNull()) return Error(Code::kInvalidArgument, std::string("kubeconfig has no ") + list);
  if (!items.IsSequence()) return Error(Code::kInvalidArgument, std::string("kubeconfig ") + list + " is not a list");
  std::optional<YAML::Node> found;
  for (const YAML::Node& item : items) {
    if (!item.IsMap()) return Error(Code::kInvalidArgument, std::string("kubeconfig ") + list + " has a non-map entry");
    ASTIS_ASSIGN_OR_RETURN(std::string n, Str(item, "name", list));
    if (n != name) continue;
    if (found) return Error(Code::kInvalidArgument, std::string(list) + ": \"" + name + "\" is defined twice");
    YAML::Node v = item[inner];
    if (!v || !v.IsMap()) {
      return Error(Code::kInvalidArgument, std::string(list) + ": \"" + name + "\" has no " + inner + " map");
    }
    found = v;
  }
  if (!found) return Error(Code::kInvalidArgument, std::string(list) + ": no entry named \"" + name + "\"");
  return *found;
}

std::string Resolve(const std::filesystem::path& dir, const std::string& p) {
  std::filesystem::path path(p);
  return path.is_absolute() ? p : (dir / path).string();
}

Result<std::string> DecodeB64Public(const std::string& text, const std::string& field) {
  Result<std::vector<uint8_t>> bytes = B64Decode(text);
  if (!bytes.ok()) return Error(Code::kInvalidArgument, field + " is not valid base64");
  return std::string(AsStringView(*bytes));
}

Result<SecretBytes> DecodeB64Secret(const std::string& text, const std::string& field) {
  Result<std::vector<uint8_t>> bytes = B64Decode(text);
  if (!bytes.ok()) return Error(Code::kInvalidArgument, field + " is not valid base64");
  SecretBytes out = SecretBytes::CopyFrom(*bytes);
  SecureWipe(bytes->data(), bytes->size());
  return out;
}

Status RefuseIfPresent(const YAML::Node& node, const char* key, const std::string& where, const char* why) {
  YAML::Node v = node[key];
  if (v && !v.IsNull()) {
    return Error(Code::kInvalidArgument, where + "." + key + " is not supported (" + why + ")");
  }
  return OkStatus();
}

Result<ClusterConnection> ParseKubeconfig(const YAML::Node& root, const std::filesystem::path& dir,
                                          const std::optional<std::string>& context_name) {
  if (!root.IsMap()) return Error(Code::kInvalidArgument, "kubeconfig is not a YAML map");
  std::string ctx_name;
  if (context_name) {
    ctx_name = *context_name;
  } else {
    ASTIS_ASSIGN_OR_RETURN(ctx_name, Str(root, "current-context", "kubeconfig"));
    if (ctx_name.empty()) return Error(Code::kInvalidArgument, "kubeconfig has no current-context and none was given");
  }
  ASTIS_ASSIGN_OR_RETURN(YAML::Node ctx, FindNamed(root, "contexts", "context", ctx_name));
  const std::string cwhere = "contexts[" + ctx_name + "].context";
  ASTIS_ASSIGN_OR_RETURN(std::string cluster_name, Str(ctx, "cluster", cwhere));
  ASTIS_ASSIGN_OR_RETURN(std::string user_name, Str(ctx, "user", cwhere));
  if (cluster_name.empty()) return Error(Code::kInvalidArgument, cwhere + ".cluster is missing");
  if (user_name.empty()) return Error(Code::kInvalidArgument, cwhere + ".user is missing");

  ClusterConnection conn;
  ASTIS_ASSIGN_OR_RETURN(YAML::Node cluster, FindNamed(root, "clusters", "cluster", cluster_name));
  const std::string kwhere = "clusters[" + cluster_name + "].cluster";
  ASTIS_ASSIGN_OR_RETURN(conn.api_url, Str(cluster, "server", kwhere));
  ASTIS_RETURN_IF_ERROR(CheckHttpsUrl(conn.api_url, kwhere + ".server"));
  if (YAML::Node skip = cluster["insecure-skip-tls-verify"]; skip && !skip.IsNull()) {
    if (!skip.IsScalar() || skip.as<std::string>() != "false") {
      return Error(Code::kInvalidArgument, kwhere + ".insecure-skip-tls-verify is refused: the API must be verified");
    }
  }
  ASTIS_RETURN_IF_ERROR(RefuseIfPresent(cluster, "proxy-url", kwhere, "no proxy support"));
  ASTIS_ASSIGN_OR_RETURN(conn.tls_server_name, Str(cluster, "tls-server-name", kwhere));
  ASTIS_ASSIGN_OR_RETURN(std::string ca_data, Str(cluster, "certificate-authority-data", kwhere));
  ASTIS_ASSIGN_OR_RETURN(std::string ca_file, Str(cluster, "certificate-authority", kwhere));
  if (!ca_data.empty()) {
    ASTIS_ASSIGN_OR_RETURN(std::string pem, DecodeB64Public(ca_data, kwhere + ".certificate-authority-data"));
    ASTIS_RETURN_IF_ERROR(CheckCaPem(pem, kwhere + ".certificate-authority-data"));
    conn.ca_pem = std::move(pem);
  } else if (!ca_file.empty()) {
    const std::string path = Resolve(dir, ca_file);
    ASTIS_ASSIGN_OR_RETURN(std::string pem, ReadPublicFile(path, kMaxPemBytes));
    ASTIS_RETURN_IF_ERROR(CheckCaPem(pem, path));
    conn.ca_pem = std::move(pem);
  }

  ASTIS_ASSIGN_OR_RETURN(YAML::Node user, FindNamed(root, "users", "user", user_name));
  const std::string uwhere = "users[" + user_name + "].user";
  ASTIS_RETURN_IF_ERROR(RefuseIfPresent(user, "exec", uwhere, "exec credential plugins are not run; use a token"));
  ASTIS_RETURN_IF_ERROR(RefuseIfPresent(user, "auth-provider", uwhere, "auth-provider plugins are not run"));
  ASTIS_RETURN_IF_ERROR(RefuseIfPresent(user, "username", uwhere, "basic auth"));
  ASTIS_RETURN_IF_ERROR(RefuseIfPresent(user, "password", uwhere, "basic auth"));
  for (const char* imp : {"as", "as-uid", "as-groups", "as-user-extra"}) {
    ASTIS_RETURN_IF_ERROR(RefuseIfPresent(user, imp, uwhere, "impersonation"));
  }
  ASTIS_ASSIGN_OR_RETURN(std::string token, Str(user, "token", uwhere));
  ASTIS_ASSIGN_OR_RETURN(std::string token_file, Str(user, "tokenFile", uwhere));
  if (!token.empty()) {
    Result<SecretBytes> t = ValidateToken(token, uwhere + ".token");
    SecureWipe(token.data(), token.size());
    if (!t.ok()) return t.status();
    conn.token = std::move(*t);
  } else if (!token_file.empty()) {
    conn.token_file = Resolve(dir, token_file);
    ASTIS_RETURN_IF_ERROR(ReadTokenFile(conn.token_file));  // fail early
  }

  ASTIS_ASSIGN_OR_RETURN(std::string cert_data, Str(user, "client-certificate-data", uwhere));
  ASTIS_ASSIGN_OR_RETURN(std::string cert_file, Str(user, "client-certificate", uwhere));
  ASTIS_ASSIGN_OR_RETURN(std::string key_data, Str(user, "client-key-data", uwhere));
  ASTIS_ASSIGN_OR_RETURN(std::string key_file, Str(user, "client-key", uwhere));
  const bool has_cert = !cert_data.empty() || !cert_file.empty();
  const bool has_key = !key_data.empty() || !key_file.empty();
  if (has_cert != has_key) {
    SecureWipe(key_data.data(), key_data.size());
    return Error(Code::kInvalidArgument, uwhere + " has a client certificate without a key or a key without one");
  }
  if (has_cert) {
    if (!cert_data.empty()) {
      ASTIS_ASSIGN_OR_RETURN(conn.client_cert_pem, DecodeB64Public(cert_data, uwhere + ".client-certificate-data"));
    } else {
      ASTIS_ASSIGN_OR_RETURN(conn.client_cert_pem, ReadPublicFile(Resolve(dir, cert_file), kMaxPemBytes));
    }
    if (!key_data.empty()) {
      Result<SecretBytes> key = DecodeB64Secret(key_data, uwhere + ".client-key-data");
      SecureWipe(key_data.data(), key_data.size());
      if (!key.ok()) return key.status();
      conn.client_key_pem = std::move(*key);
    } else {
      ASTIS_ASSIGN_OR_RETURN(conn.client_key_pem, ReadSecretFile(Resolve(dir, key_file), kMaxPemBytes));
    }
  }
  if (conn.token.empty() && conn.token_file.empty() && !conn.client_cert_pem) {
    return Error(Code::kInvalidArgument, uwhere + " has no supported credential (token, tokenFile or client certificate)");
  }
  return conn;
}

}  // namespace

Result<SecretBytes> ReadTokenFile(const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(SecretBytes raw, ReadSecretFile(path, kMaxTokenBytes));
  return ValidateToken(raw.RevealString(), path);
}

Result<ClusterConnection> InClusterConnection(const InClusterOptions& options) {
  const std::string host = ProcessGetenv("KUBERNETES_SERVICE_HOST", options.getenv);
  const std::string port = ProcessGetenv("KUBERNETES_SERVICE_PORT", options.getenv);
  if (host.empty() || port.empty()) {
    return Error(Code::kFailedPrecondition,
                 "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  unsigned port_num = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_num);
  if (ec != std::errc() || end != port.data() + port.size() || port_num == 0 || port_num > 65535) {
    return Error(Code::kInvalidArgument, "KUBERNETES_SERVICE_PORT is not a port number");
  }
  for (char c : host) {
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == '[' || c == ']') {
      return Error(Code::kInvalidArgument, "KUBERNETES_SERVICE_HOST is not a host name or address");
    }
  }
  ClusterConnection conn;
  // net.JoinHostPort: an IPv6 literal is bracketed.
  const bool ipv6 = host.find(':') != std::string::npos;
  conn.api_url = "https://" + (ipv6 ? "[" + host + "]" : host) + ":" + port;
  const std::string ca_path = options.base_dir + "/ca.crt";
  ASTIS_ASSIGN_OR_RETURN(std::string ca, ReadPublicFile(ca_path, kMaxPemBytes));
  ASTIS_RETURN_IF_ERROR(CheckCaPem(ca, ca_path));
  conn.ca_pem = std::move(ca);
  conn.token_file = options.base_dir + "/token";
  ASTIS_RETURN_IF_ERROR(ReadTokenFile(conn.token_file));  // fail early
  return conn;
}

Result<ClusterConnection> FromKubeconfig(const std::string& path, const std::optional<std::string>& context) {
  ASTIS_ASSIGN_OR_RETURN(SecretBytes text, ReadSecretFile(path, kMaxKubeconfigBytes));
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  try {
    YAML::Node root = YAML::Load(std::string(text.RevealString()));
    Result<ClusterConnection> conn = ParseKubeconfig(root, dir, context);
    if (!conn.ok()) return conn.status().Annotate(path);
    return conn;
  } catch (const YAML::Exception& e) {
    // The mark locates the error without quoting the (secret-bearing) text.
    return Error(Code::kInvalidArgument, path + ": malformed kubeconfig YAML at line " +
                                             std::to_string(e.mark.line + 1));
  } catch (const std::exception&) {
    return Error(Code::kInvalidArgument, path + ": malformed kubeconfig");
  }
}

Result<ClusterConnection> Explicit(const std::string& api_url, const std::string& ca_file,
                                   const std::string& token_file) {
  ClusterConnection conn;
  ASTIS_RETURN_IF_ERROR(CheckHttpsUrl(api_url, "Kubernetes API URL"));
  conn.api_url = api_url;
  ASTIS_ASSIGN_OR_RETURN(std::string ca, ReadPublicFile(ca_file, kMaxPemBytes));
  ASTIS_RETURN_IF_ERROR(CheckCaPem(ca, ca_file));
  conn.ca_pem = std::move(ca);
  conn.token_file = token_file;
  ASTIS_RETURN_IF_ERROR(ReadTokenFile(conn.token_file));
  return conn;
}

FileTokenSource::FileTokenSource(std::string path, const Clock& clock, int64_t max_age_seconds)
    : path_(std::move(path)), clock_(clock), max_age_seconds_(max_age_seconds) {}

Result<SecretBytes> FileTokenSource::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  struct stat st {};
  // stat follows symlinks, so a swapped ..data link shows a new inode.
  if (::stat(path_.c_str(), &st) != 0) {
    cached_.Wipe();
    cached_id_.reset();
    return Error(Code::kIo, "cannot stat token file " + path_ + ": " + std::strerror(errno));
  }
  FileId id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
            static_cast<int64_t>(st.st_mtim.tv_sec), static_cast<int64_t>(st.st_mtim.tv_nsec)};
  const int64_t now = clock_.NowUnix();
  const bool fresh = cached_id_ && *cached_id_ == id && now >= read_at_ && now - read_at_ < max_age_seconds_;
  if (!fresh) {
    Result<SecretBytes> token = ReadTokenFile(path_);
    if (!token.ok()) {
      cached_.Wipe();
      cached_id_.reset();
      return token.status();
    }
    cached_ = std::move(*token);
    cached_id_ = id;
    read_at_ = now;
  }
  return cached_.Clone();
}

std::unique_ptr<TokenSource> MakeTokenSource(const ClusterConnection& conn, const Clock& clock) {
  if (!conn.token_file.empty()) return std::make_unique<FileTokenSource>(conn.token_file, clock);
  if (!conn.token.empty()) return std::make_unique<StaticTokenSource>(conn.token.Clone());
  return nullptr;
}

net::TlsClientConfig TlsConfigOf(const ClusterConnection& conn) {
  net::TlsClientConfig tls;
  tls.ca_pem = conn.ca_pem;
  tls.server_name = conn.tls_server_name;
  if (conn.client_cert_pem) {
    tls.client_cert_pem = conn.client_cert_pem;
    tls.client_key_pem = conn.client_key_pem.Clone();
  }
  return tls;
}

}  // namespace astis::kube
