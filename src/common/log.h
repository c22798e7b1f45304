// Operational logs (docs/operations.md "Logs"): one line per event on
// stderr, as a JSON object (the default in the shipped manifests) or as
// text, with time (RFC 3339, UTC, milliseconds), level, component, request
// id, message and fields.
//
// A small sink of our own rather than spdlog: the lines are a fixed shape
// made by nlohmann::json (already a dependency, and what escapes every
// field), each written with one write(2) under a mutex so lines from
// threads never interleave, and nothing here formats a value it was not
// given. Secrets never reach a Logger: callers pass only names, codes,
// identities and thumbprints (the canary test checks every line).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace astis::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kJson, kText };

// ParseLevel reads "debug", "info", "warn" or "error"; ParseFormat "json" or
// "text". kInvalidArgument otherwise (the message names the accepted values).
Result<Level> ParseLevel(std::string_view s);
Result<Format> ParseFormat(std::string_view s);
std::string_view LevelName(Level l);

// Logger writes lines to a file descriptor (stderr by default). Thread-safe.
// Borrows clock, which must outlive it.
class Logger {
 public:
  explicit Logger(Format format = Format::kText, Level min_level = Level::kInfo, int fd = 2,
                  const Clock* clock = nullptr);

  // Log writes one line when level >= the minimum: JSON
  //   {"time":"...","level":"info","component":"edge","request_id":"...","msg":"...",<fields>}
  // (request_id only when non-empty; fields must be a JSON object, whose
  // members follow, never overriding the five above), or text
  //   2026-12-06T20:00:00.123Z INFO edge [req] msg key=value ...
  // A write error is ignored: logging never fails a request.
  void Log(Level level, std::string_view component, std::string_view msg, const Json& fields = Json::object(),
           std::string_view request_id = "");

  void Info(std::string_view component, std::string_view msg, const Json& fields = Json::object()) {
    Log(Level::kInfo, component, msg, fields);
  }
  void Warn(std::string_view component, std::string_view msg, const Json& fields = Json::object()) {
    Log(Level::kWarn, component, msg, fields);
  }
  void Error(std::string_view component, std::string_view msg, const Json& fields = Json::object()) {
    Log(Level::kError, component, msg, fields);
  }

  // Render renders the line Log would write (without the newline); for tests.
  std::string Render(Level level, std::string_view component, std::string_view msg, const Json& fields,
                     std::string_view request_id) const;

  Format format() const { return format_.load(); }

  // Configure changes the format and the minimum level; safe while other
  // threads log (a line is written whole in either the old or the new form).
  void Configure(Format format, Level min_level);

 private:
  std::atomic<Format> format_;
  std::atomic<Level> min_level_;
  const int fd_;
  const Clock* clock_;
  std::mutex mu_;
};

// Process is the process-wide logger the binaries configure at start
// (`astis serve`, `astis edge`, `astis cvs`); text on stderr until then.
Logger& Process();
// ConfigureProcess sets the process-wide logger's format and level.
void ConfigureProcess(Format format, Level min_level);

}  // namespace astis::log
