// ReadProcStats: proc(5) fields 14 (utime) and 15 (stime) of
// /proc/<pid>/stat, VmRSS / VmHWM / Threads of /proc/<pid>/status.
#include "load/proc_stats.h"

#include <time.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace astis::bench {
namespace {

// ParseInt reads the leading decimal integer of text after spaces (0 if none).
int64_t ParseInt(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

// StatTicks reads utime + stime (fields 14 and 15) of a /proc .../stat file
// (a process's or one thread's). Fails with kIo when it cannot be read,
// kInvalidArgument when it has no ')'.
Result<int64_t> StatTicks(const std::string& path) {
  std::ifstream stat_in(path);
  std::string stat((std::istreambuf_iterator<char>(stat_in)), std::istreambuf_iterator<char>());
  if (stat.empty()) return Error(Code::kIo, "cannot read " + path);
  // The command name (field 2) may hold spaces and ')': fields resume after
  // the last ')'. Field 3 (state) is then the first token.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return Error(Code::kInvalidArgument, path + " has no ')'");
  std::istringstream fields(stat.substr(close + 1));
  std::string tok;
  int64_t utime = 0, stime = 0;
  for (int field = 3; field <= 15 && (fields >> tok); ++field) {
    if (field == 14) utime = ParseInt(tok);
    if (field == 15) stime = ParseInt(tok);
  }
  return utime + stime;
}

}  // namespace

Result<ProcStats> ReadProcStats(int64_t pid) {
  const std::string base = pid == 0 ? "/proc/self" : "/proc/" + std::to_string(pid);
  ASTIS_ASSIGN_OR_RETURN(int64_t cpu_ticks, StatTicks(base + "/stat"));
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return Error(Code::kInvalidArgument, "no _SC_CLK_TCK");
  ProcStats s;
  s.cpu_seconds = static_cast<double>(cpu_ticks) / static_cast<double>(ticks);

  std::ifstream status(base + "/status");
  std::string line;
  while (std::getline(status, line)) {
    auto value = [&](const char* key) -> int64_t {
      return ParseInt(std::string_view(line).substr(std::string_view(key).size()));
    };
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = value("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kb = value("VmHWM:");
    if (line.rfind("Threads:", 0) == 0) s.threads = value("Threads:");
  }
  if (s.rss_kb == 0) return Error(Code::kIo, "no VmRSS in " + base + "/status");
  return s;
}

Result<double> RunSeconds(int64_t pid) {
  const std::string base = (pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid)) + "/task";
  std::error_code ec;
  int64_t ns = 0;
  size_t read = 0;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    std::ifstream in(entry.path() / "schedstat");
    int64_t run = 0;
    if (in >> run) {
      ns += run;
      ++read;
    }
  }
  if (ec || read == 0) return Error(Code::kIo, "cannot read " + base + "/*/schedstat");
  return static_cast<double>(ns) / 1e9;
}

double ThreadCpuSeconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::vector<int64_t> ListThreadIds() {
  std::vector<int64_t> tids;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    tids.push_back(ParseInt(entry.path().filename().string()));
  }
  return tids;
}

double ThreadsCpuSeconds(const std::vector<int64_t>& tids) {
  const long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) return 0;
  int64_t sum = 0;
  for (int64_t tid : tids) {
    auto t = StatTicks("/proc/self/task/" + std::to_string(tid) + "/stat");
    if (t.ok()) sum += *t;
  }
  return static_cast<double>(sum) / static_cast<double>(hz);
}

}  // namespace astis::bench
