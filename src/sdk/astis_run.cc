// astis-run: fetch secrets through the pod SDK, then run a command with them
// in its environment or in files on a private tmpfs (docs/sdk.md "astis-run").
//
//   astis-run [--env VAR=SECRET]... [--file FILE=SECRET]... -- CMD [ARG]...
//   (FILE may also be an absolute path in an existing directory on a tmpfs,
//   e.g. an in-memory emptyDir the `astis inject` webhook mounts there)
//   astis-run --install-to DIR
//   astis-run --version
//
// --install-to copies this executable to DIR/astis-run (mode 0555): the init
// container of the astis-run image has no shell and no cp, and puts it on a
// volume shared with the application's container (docs/deploy.md "Images").
//
// Configuration comes from the environment like every SDK client
// (ASTIS_EDGE_URL, ...). All secrets are fetched in one batch before CMD is
// started; on any failure nothing is run and astis-run exits 125. Files go in
// a fresh 0700 directory under $XDG_RUNTIME_DIR (else /dev/shm), each 0400,
// named by ASTIS_RUN_DIR in CMD's environment; astis-run forks, waits for CMD,
// forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to it, removes the directory and
// exits with CMD's exit code (128+N when CMD died of signal N). Exit 126/127
// when CMD cannot be executed / is not found.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "astis/client.hpp"

extern char** environ;

namespace {

constexpr int kRefused = 125;  // like env(1): astis-run itself failed

struct Binding {
  std::string target;  // env var name or file name
  std::string secret;  // secret name
  bool file = false;
};

void Usage(FILE* out) {
  std::fprintf(out,
               "usage: astis-run [--env VAR=SECRET]... [--file FILE=SECRET]... -- CMD [ARG]...\n"
               "       astis-run --install-to DIR\n"
               "       astis-run --version\n"
               "Fetches each SECRET through the ASTIS edge, then runs CMD with it:\n"
               "  --env VAR=SECRET    in environment variable VAR (inherited by CMD's children,\n"
               "                      readable in /proc/PID/environ by the same user)\n"
               "  --file FILE=SECRET  in file $ASTIS_RUN_DIR/FILE (mode 0400, private tmpfs dir,\n"
               "                      removed when CMD exits); FILE=/ABS/PATH: that new file, in an\n"
               "                      existing directory on a tmpfs (mode 0400, removed when CMD exits)\n"
               "Nothing is run if any secret cannot be fetched (exit 125). Exit status: CMD's.\n"
               "SDK settings: ASTIS_EDGE_URL, ASTIS_CA_FILE, ASTIS_API_KEY(_FILE), ASTIS_TOKEN_PATH,\n"
               "ASTIS_SECRETS_DIR, ASTIS_ENV_PREFIX, ASTIS_PIN_WAIT_SECONDS (see docs/sdk.md).\n"
               "--install-to DIR copies this executable to DIR/astis-run (mode 0555) and exits;\n"
               "an existing DIR/astis-run is kept if identical, else refused (exit 125).\n");
}

bool ValidEnvName(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// ValidFileName accepts a plain file name: [-._a-zA-Z0-9]+, not starting
// with '.', so it cannot escape the directory or hide.
bool ValidFileName(std::string_view s) {
  if (s.empty() || s[0] == '.' || s.size() > 255) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.')) {
      return false;
    }
  }
  return true;
}

// ValidAbsolutePath accepts /dir/.../name: components of [-._a-zA-Z0-9],
// none empty, "." or "..", so the path names exactly the file it appears to.
bool ValidAbsolutePath(std::string_view s) {
  if (s.size() < 2 || s.size() > 4096 || s[0] != '/') return false;
  size_t start = 1;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view part = s.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    for (char c : part) {
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
            c == '.')) {
        return false;
      }
    }
    start = end + 1;
  }
  return true;
}

// OnTmpfs reports whether the directory of path is on a tmpfs (a plaintext
// file must never reach a disk).
bool OnTmpfs(const std::string& path) {
  constexpr long kTmpfsMagic = 0x01021994;  // TMPFS_MAGIC, linux/magic.h
  struct statfs fs {};
  const std::string dir = path.substr(0, std::max<size_t>(path.rfind('/'), 1));
  return statfs(dir.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == kTmpfsMagic;
}

int Refuse(const std::string& why) {
  std::fprintf(stderr, "astis-run: not running the command: %s\n", why.c_str());
  return kRefused;
}

volatile sig_atomic_t g_child = 0;

void Forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

// WriteAll writes the whole buffer; false on error.
bool WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// PrivateDir makes a fresh 0700 directory on a tmpfs ($XDG_RUNTIME_DIR, else
// /dev/shm); empty on failure.
std::string PrivateDir() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  struct stat st {};
  std::string base = (xdg != nullptr && *xdg == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode)) ? xdg : "/dev/shm";
  std::string tmpl = base + "/astis-run.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return "";  // mkdtemp creates it 0700
  return tmpl;
}

// RemoveFiles unlinks the files this run created, then its private
// directory (if it made one).
void RemoveFiles(const std::string& dir, const std::vector<std::string>& created) {
  for (const std::string& f : created) unlink(f.c_str());
  if (!dir.empty()) rmdir(dir.c_str());
}

void Wipe(std::string& s) {
  explicit_bzero(s.data(), s.size());
  s.clear();
}

// SystemCaFile returns the CA bundle to use for "the system store" when
// neither ASTIS_CA_FILE nor OpenSSL's SSL_CERT_FILE/SSL_CERT_DIR is set and
// the store compiled into this static build (Debian's /usr/lib/ssl) is not in
// this image: the first bundle found where the common distributions keep it
// (Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, Alpine/BSD). Empty: leave
// OpenSSL's default. Test: images_astis_run_empty_root.
std::string SystemCaFile() {
  for (const char* var : {"ASTIS_CA_FILE", "SSL_CERT_FILE", "SSL_CERT_DIR"}) {
    if (std::getenv(var) != nullptr) return "";
  }
  struct stat st {};
  if (stat("/usr/lib/ssl/certs", &st) == 0 || stat("/usr/lib/ssl/cert.pem", &st) == 0) return "";
  for (const char* f : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                        "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem"}) {
    if (stat(f, &st) == 0 && S_ISREG(st.st_mode)) return f;
  }
  return "";
}

int InstallRefused(const std::string& why) {
  std::fprintf(stderr, "astis-run: --install-to: %s\n", why.c_str());
  return kRefused;
}

// ReadAll reads the whole file at fd into out; false on error.
bool ReadAll(int fd, std::string& out) {
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) return true;
    out.append(buf, static_cast<size_t>(r));
  }
}

bool ReadFile(const std::string& path, std::string& out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  const bool ok = ReadAll(fd, out);
  close(fd);
  return ok;
}

// InstallTo copies this executable into dir/astis-run, mode 0555. The copy is
// written to a temporary name in dir and linked into place, so a reader never
// sees a partial file and an existing one is never replaced: an identical
// astis-run is kept (an init container that ran before), a different one is
// refused. The executable is /proc/self/exe, else argv[0] when /proc is not
// mounted (a bare chroot). Test: images_astis_run_install_to.
int InstallTo(const std::string& dir, const char* argv0) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return InstallRefused(dir + " is not a directory");
  std::string self;
  if (!ReadFile("/proc/self/exe", self)) {
    self.clear();
    if (std::strchr(argv0, '/') == nullptr || !ReadFile(argv0, self)) {
      return InstallRefused("cannot read this executable (no /proc/self/exe, argv[0] is not a path)");
    }
  }
  const std::string dest = dir + "/astis-run";
  std::string tmp = dir + "/.astis-run.XXXXXX";
  const int fd = mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return InstallRefused("cannot create a file in " + dir + ": " + std::strerror(errno));
  const bool written = WriteAll(fd, reinterpret_cast<const uint8_t*>(self.data()), self.size()) &&
                       fchmod(fd, 0555) == 0 && fsync(fd) == 0;
  const int write_errno = errno;
  if (close(fd) != 0 || !written) {
    unlink(tmp.c_str());
    return InstallRefused("cannot write " + tmp + ": " + std::strerror(write_errno));
  }
  if (link(tmp.c_str(), dest.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    if (err != EEXIST) return InstallRefused("cannot create " + dest + ": " + std::strerror(err));
    std::string existing;
    if (!ReadFile(dest, existing) || existing != self) {
      return InstallRefused(dest + " exists and is not this astis-run; not replacing it");
    }
    return 0;
  }
  unlink(tmp.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    // The library's version block (astis_version()), named for this program.
    std::string_view text = astis_version();
    constexpr std::string_view kLib = "libastis ";
    if (text.substr(0, kLib.size()) == kLib) text.remove_prefix(kLib.size());
    std::printf("astis-run %.*s", static_cast<int>(text.size()), text.data());
    return 0;
  }
  if (argc >= 2 && std::string_view(argv[1]) == "--install-to") {
    if (argc != 3 || argv[2][0] == '\0') {
      Usage(stderr);
      return InstallRefused("takes one argument, the directory");
    }
    return InstallTo(argv[2], argv[0]);
  }
  std::vector<Binding> bindings;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--help" || arg == "-h") {
      Usage(stdout);
      return 0;
    }
    if ((arg == "--env" || arg == "--file") && i + 1 < argc) {
      const std::string_view spec = argv[++i];
      const size_t eq = spec.find('=');
      Binding b{std::string(spec.substr(0, eq == std::string_view::npos ? spec.size() : eq)),
                eq == std::string_view::npos ? "" : std::string(spec.substr(eq + 1)), arg == "--file"};
      if (b.secret.empty()) return Refuse(std::string(arg) + " needs TARGET=SECRET, got '" + std::string(spec) + "'");
      if (!b.file && !ValidEnvName(b.target)) return Refuse("invalid environment variable name '" + b.target + "'");
      if (b.file && b.target.starts_with('/')) {
        if (!ValidAbsolutePath(b.target)) return Refuse("invalid absolute file path '" + b.target + "'");
        if (!OnTmpfs(b.target)) return Refuse("the directory of " + b.target + " is missing or not on a tmpfs");
      } else if (b.file && !ValidFileName(b.target)) {
        return Refuse("invalid file name '" + b.target + "'");
      }
      bindings.push_back(std::move(b));
      continue;
    }
    Usage(stderr);
    return Refuse("unknown or incomplete option '" + std::string(arg) + "'");
  }
  if (i >= argc) {
    Usage(stderr);
    return Refuse("no command given after --");
  }
  if (bindings.empty()) return Refuse("no --env or --file secret given");
  std::set<std::string> targets;
  for (const Binding& b : bindings) {
    if (!targets.insert((b.file ? "file:" : "env:") + b.target).second) return Refuse("duplicate target " + b.target);
  }
  // The parent holds plaintext until the fork: no core dump, no ptrace by
  // other processes of this user. (Reset by execve for CMD.)
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

  std::vector<std::string> names;
  std::map<std::string, size_t> index;
  for (const Binding& b : bindings) {
    if (index.emplace(b.secret, names.size()).second) names.push_back(b.secret);
  }
  std::vector<std::string> env_entries;  // "VAR=plaintext"; wiped after the fork
  std::string dir;
  std::vector<std::string> created;  // files this run wrote, removed when it ends
  {
    auto config = astis::sdk::Config::FromEnv();
    if (!config) return Refuse(std::string(config.error().name()) + ": " + config.error().message());
    if (const std::string ca = SystemCaFile(); !ca.empty()) {
      if (auto err = config->SetCaFile(ca)) return Refuse(std::string(err->name()) + ": " + err->message());
    }
    auto client = astis::sdk::Client::Create(*config);
    if (!client) return Refuse(std::string(client.error().name()) + ": " + client.error().message());
    auto secrets = client->GetMany(names);
    if (!secrets) return Refuse(std::string(secrets.error().name()) + ": " + secrets.error().message());
    for (const Binding& b : bindings) {
      const astis::sdk::Secret& s = (*secrets)[index.at(b.secret)];
      if (b.file) {
        const bool absolute = b.target.starts_with('/');
        if (!absolute && dir.empty()) {
          dir = PrivateDir();
          if (dir.empty()) return Refuse(std::string("cannot create a private directory: ") + std::strerror(errno));
        }
        const std::string path = absolute ? b.target : dir + "/" + b.target;
        const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
        if (fd >= 0) created.push_back(path);  // O_EXCL: ours, never a file that was there
        const bool written = fd >= 0 && WriteAll(fd, s.bytes().data(), s.size());
        if (fd >= 0) close(fd);
        if (!written) {
          RemoveFiles(dir, created);
          for (std::string& e : env_entries) Wipe(e);
          return Refuse("cannot write " + path);
        }
      } else {
        if (s.view().find('\0') != std::string_view::npos) {
          RemoveFiles(dir, created);
          for (std::string& e : env_entries) Wipe(e);
          return Refuse("secret " + b.secret + " holds a NUL byte; use --file for it");
        }
        std::string entry;
        entry.reserve(b.target.size() + 1 + s.size());  // no reallocation: one copy to wipe
        entry.append(b.target).append("=").append(s.view());
        env_entries.push_back(std::move(entry));
      }
    }
  }  // every Secret zeroed, then the session ended and the keys wiped

  // CMD's environment: ours, minus the overridden names, plus the secrets.
  std::set<std::string> overridden;
  for (const Binding& b : bindings) {
    if (!b.file) overridden.insert(b.target);
  }
  if (!dir.empty()) overridden.insert("ASTIS_RUN_DIR");
  std::string run_dir_entry = "ASTIS_RUN_DIR=" + dir;
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (overridden.count(std::string(entry.substr(0, entry.find('=')))) == 0) envp.push_back(*e);
  }
  for (std::string& e : env_entries) envp.push_back(e.data());
  if (!dir.empty()) envp.push_back(run_dir_entry.data());
  envp.push_back(nullptr);

  struct sigaction sa {};
  sa.sa_handler = Forward;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(sig, &sa, nullptr);

  const pid_t pid = fork();
  if (pid < 0) {
    for (std::string& e : env_entries) Wipe(e);
    RemoveFiles(dir, created);
    return Refuse(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaction(sig, &dfl, nullptr);
    execvpe(argv[i], argv + i, envp.data());
    const int err = errno;
    static const char kMsg[] = "astis-run: cannot execute the command\n";
    (void)!write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    _exit(err == ENOENT ? 127 : 126);
  }
  g_child = pid;
  for (std::string& e : env_entries) Wipe(e);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  RemoveFiles(dir, created);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kRefused;
}
