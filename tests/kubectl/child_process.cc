#include "child_process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string_view>

extern char** environ;

namespace astis::kubestandin::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Proc RunChild(const std::string& program, const std::vector<std::string>& args, const std::string& dir,
              unsigned timeout_seconds) {
  static std::atomic<int> counter{0};
  const std::string out = dir + "/child" + std::to_string(++counter) + ".out", err = out + ".err";
  std::vector<std::string> argv = {program};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> env = {"HOME=" + dir};
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("HOME=", 0) != 0) env.emplace_back(*e);
  }
  std::vector<char*> cenv;
  for (std::string& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    ::alarm(timeout_seconds);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) _exit(126);
    ::execve(program.c_str(), cargv.data(), cenv.data());
    _exit(127);
  }
  Proc r;
  if (pid < 0) {
    r.err = "fork failed";
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadAll(out);
  r.err = ReadAll(err);
  return r;
}

}  // namespace astis::kubestandin::testing
