#include "common/log.h"

#include <unistd.h>

#include <cerrno>

#include "common/time_format.h"

namespace astis::log {
namespace {

// TextValue renders one field for the text format: strings bare when they
// hold no space, quote or control character, else JSON-quoted; other JSON
// values as JSON.
std::string TextValue(const Json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    bool plain = !s.empty();
    for (unsigned char c : s) {
      if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) plain = false;
    }
    return plain ? s : DumpJson(v);
  }
  return DumpJson(v);
}

void WriteAll(int fd, const std::string& line) {
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    off += static_cast<size_t>(n);
  }
}

}  // namespace

Result<Level> ParseLevel(std::string_view s) {
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn") return Level::kWarn;
  if (s == "error") return Level::kError;
  return astis::Error(Code::kInvalidArgument, "log level must be debug, info, warn or error");
}

Result<Format> ParseFormat(std::string_view s) {
  if (s == "json") return Format::kJson;
  if (s == "text") return Format::kText;
  return astis::Error(Code::kInvalidArgument, "log format must be json or text");
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

Logger::Logger(Format format, Level min_level, int fd, const Clock* clock)
    : format_(format), min_level_(min_level), fd_(fd), clock_(clock) {}

std::string Logger::Render(Level level, std::string_view component, std::string_view msg, const Json& fields,
                           std::string_view request_id) const {
  static const SystemClock kSystem;
  const int64_t now_ms = (clock_ != nullptr ? clock_ : &kSystem)->NowUnixMillis();
  const std::string time = FormatRfc3339(now_ms, TimePrecision::kMillis);
  if (format_.load() == Format::kJson) {
    // The five fixed members first, in this order, then the fields; a field
    // never overrides a fixed member (test LogTest.FieldsNeverOverrideFixedMembers).
    std::string out = "{\"time\":" + DumpJson(Json(time)) + ",\"level\":\"" + std::string(LevelName(level)) +
                      "\",\"component\":" + DumpJson(Json(std::string(component)));
    if (!request_id.empty()) out += ",\"request_id\":" + DumpJson(Json(std::string(request_id)));
    out += ",\"msg\":" + DumpJson(Json(std::string(msg)));
    if (fields.is_object()) {
      for (auto it = fields.begin(); it != fields.end(); ++it) {
        const std::string& k = it.key();
        if (k == "time" || k == "level" || k == "component" || k == "request_id" || k == "msg") continue;
        out += "," + DumpJson(Json(k)) + ":" + DumpJson(it.value());
      }
    }
    out += "}";
    return out;
  }
  std::string level_text(LevelName(level));
  for (char& c : level_text) c = static_cast<char>(c - 'a' + 'A');
  std::string out = time + " " + level_text + " " + std::string(component);
  if (!request_id.empty()) out += " [" + std::string(request_id) + "]";
  out += ": ";
  for (char c : msg) out += (c == '\n' || c == '\r') ? ' ' : c;  // one line per event
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) out += " " + it.key() + "=" + TextValue(it.value());
  }
  return out;
}

void Logger::Log(Level level, std::string_view component, std::string_view msg, const Json& fields,
                 std::string_view request_id) {
  if (static_cast<int>(level) < static_cast<int>(min_level_.load())) return;
  std::string line = Render(level, component, msg, fields, request_id);
  line += '\n';
  std::lock_guard<std::mutex> lock(mu_);
  WriteAll(fd_, line);
}

void Logger::Configure(Format format, Level min_level) {
  format_.store(format);
  min_level_.store(min_level);
}

Logger& Process() {
  static Logger* logger = new Logger();  // never destroyed: threads may log during exit
  return *logger;
}

void ConfigureProcess(Format format, Level min_level) { Process().Configure(format, min_level); }

}  // namespace astis::log
