// astis-kube-standin: runs the kube-apiserver stand-in (test/demo tool) and
// writes what a script needs to talk to it into --dir (docs/kube-standin.md).
// DIR/url is written last, atomically, so a script can wait for it.
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "kube-standin/kube_standin.h"
#include "net/signals.h"

namespace {

using astis::Code;
using astis::Error;
using astis::Status;

int Usage() {
  std::cerr << "usage: astis-kube-standin --dir DIR [--port N] [--bind ADDR] [--issuer URL] "
               "[--token-alg RS256|ES256] [--bookmark-ms N] [--service NS/NAME[:PORT]=HOST:PORT]...\n";
  return 2;
}

// WriteAtomic writes text to path through a temporary file and a rename.
Status WriteAtomic(const std::string& path, std::string_view text, mode_t mode) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Error(Code::kIo, "cannot write " + tmp);
    ::chmod(tmp.c_str(), mode);
    out << text;
    if (!out.flush()) return Error(Code::kIo, "cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Error(Code::kIo, "cannot rename " + tmp);
  return astis::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  astis::kubestandin::StandinOptions options;
  // --service: where a webhook's clientConfig.service is reached (kube-apiserver
  // would resolve the Service; docs/kube-standin.md "Admission").
  struct Service {
    std::string ns, name, address;
    int port = 443;
  };
  std::vector<Service> services;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return Usage();
    const std::string v = argv[++i];
    if (a == "--dir") {
      dir = v;
    } else if (a == "--port") {
      char* end = nullptr;
      const long p = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || p < 0 || p > 65535) return Usage();
      options.port = static_cast<uint16_t>(p);
    } else if (a == "--bind") {
      options.bind_address = v;
    } else if (a == "--issuer") {
      options.issuer = v;
    } else if (a == "--token-alg") {
      if (v != "RS256" && v != "ES256") return Usage();
      options.token_alg = v == "RS256" ? astis::kubestandin::TokenAlg::kRs256 : astis::kubestandin::TokenAlg::kEs256;
    } else if (a == "--service") {
      const size_t slash = v.find('/'), eq = v.find('=');
      if (slash == std::string::npos || eq == std::string::npos || slash > eq) return Usage();
      Service svc{v.substr(0, slash), v.substr(slash + 1, eq - slash - 1), v.substr(eq + 1)};
      const size_t colon = svc.name.find(':');
      if (colon != std::string::npos) {
        svc.port = std::atoi(svc.name.c_str() + colon + 1);
        svc.name.resize(colon);
      }
      if (svc.ns.empty() || svc.name.empty() || svc.address.empty() || svc.port <= 0) return Usage();
      services.push_back(std::move(svc));
    } else if (a == "--bookmark-ms") {
      options.bookmark_interval = std::chrono::milliseconds(std::strtol(v.c_str(), nullptr, 10));
    } else {
      return Usage();
    }
  }
  if (dir.empty()) return Usage();
  // The directory is created (0700: it holds the tokens) when missing.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::cerr << "astis-kube-standin: cannot create " << dir << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  options.log = [](std::string_view line) { std::cerr << "kube-standin: " << line << std::endl; };

  // Block SIGTERM/SIGINT before any thread starts, so only sigwait sees them.
  astis::net::BlockTerminationSignals();

  auto standin = astis::kubestandin::KubeStandin::Start(std::move(options));
  if (!standin.ok()) {
    std::cerr << "astis-kube-standin: " << standin.status().ToString() << "\n";
    return 1;
  }
  astis::kubestandin::KubeStandin& s = **standin;
  for (const Service& svc : services) s.SetServiceEndpoint(svc.ns, svc.name, svc.port, svc.address);
  const std::string admin(s.AdminToken().RevealString());
  const std::string read(s.ReadToken().RevealString());
  for (const Status& st : {WriteAtomic(dir + "/ca.crt", s.ca_cert_pem(), 0644),
                           WriteAtomic(dir + "/admin.token", admin + "\n", 0600),
                           WriteAtomic(dir + "/read.token", read + "\n", 0600),
                           s.WriteKubeconfig(dir + "/kubeconfig", admin),
                           s.WriteKubeconfig(dir + "/kubeconfig-read", read),
                           WriteAtomic(dir + "/jwks.json", s.JwksJson() + "\n", 0644),
                           WriteAtomic(dir + "/issuer", s.issuer() + "\n", 0644),
                           WriteAtomic(dir + "/url", s.url() + "\n", 0644)}) {
    if (!st.ok()) {
      std::cerr << "astis-kube-standin: " << st.ToString() << "\n";
      return 1;
    }
  }
  std::cerr << "kube-standin: serving " << s.url() << " (state in " << dir << ")" << std::endl;
  const int sig = astis::net::WaitForTerminationSignal();
  std::cerr << "kube-standin: signal " << sig << ", stopping" << std::endl;
  s.Stop();
  return 0;
}
