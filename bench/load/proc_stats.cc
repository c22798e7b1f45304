// ReadProcStats: proc(5) fields 14 (utime) and 15 (stime) of
// /proc/<pid>/stat, VmRSS / VmHWM / Threads of /proc/<pid>/status.
#include "load/proc_stats.h"

#include <time.h>
#include <unistd.h>

#include <charconv>
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

}  // namespace

Result<ProcStats> ReadProcStats(int64_t pid) {
  const std::string base = pid == 0 ? "/proc/self" : "/proc/" + std::to_string(pid);
  std::ifstream stat_in(base + "/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_in)), std::istreambuf_iterator<char>());
  if (stat.empty()) return Error(Code::kIo, "cannot read " + base + "/stat");
  // The command name (field 2) may hold spaces and ')': fields resume after
  // the last ')'. Field 3 (state) is then the first token.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return Error(Code::kInvalidArgument, base + "/stat has no ')'");
  std::istringstream fields(stat.substr(close + 1));
  std::string tok;
  int64_t utime = 0, stime = 0;
  for (int field = 3; field <= 15 && (fields >> tok); ++field) {
    if (field == 14) utime = ParseInt(tok);
    if (field == 15) stime = ParseInt(tok);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return Error(Code::kInvalidArgument, "no _SC_CLK_TCK");
  ProcStats s;
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);

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

double ThreadCpuSeconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace astis::bench
