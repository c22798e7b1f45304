// `astis lint`: checks Kubernetes manifests for the ASTIS workload rules
// (docs/lint.md lists every rule id, what it checks and its fix).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "lint/contract.h"

namespace astis::lint {

enum class Severity { kError, kWarning };

// SeverityName returns "error" or "warning"; it cannot fail.
std::string_view SeverityName(Severity s);

// Finding is one rule violation in one object. No field ever holds a
// Secret's value: messages name keys, never data.
struct Finding {
  Severity severity = Severity::kError;
  std::string rule;       // stable id, e.g. "image-not-pinned"
  std::string file;       // the input's name
  std::string kind;       // object kind ("Deployment"), empty for a file-level finding
  std::string namespace_;
  std::string name;
  std::string message;
  std::string fix;        // a concrete change that resolves it
};

// LintInput is one manifest text and the name findings report it under.
struct LintInput {
  std::string file;
  std::string text;
};

// kMaxReportedFindings bounds the findings a report keeps. Aliases let a
// small text name one container many thousand times, and every finding
// would otherwise be held, formatted and (over MCP) serialised twice.
inline constexpr size_t kMaxReportedFindings = 1000;

// kMaxFindingFieldBytes bounds each text field of a Finding (names longer
// than Kubernetes allows are cut, marked with "...").
inline constexpr size_t kMaxFindingFieldBytes = 512;

// LintReport holds the first kMaxReportedFindings findings in input order
// and counts the rest. Test: LintTest.CapsFindingsAndCountsTheRest.
struct LintReport {
  std::vector<Finding> findings;
  size_t objects = 0;           // Kubernetes objects examined
  size_t omitted_errors = 0;    // findings past the cap, by severity
  size_t omitted_warnings = 0;
  size_t errors() const;        // including the omitted ones
  size_t warnings() const;
  size_t omitted() const { return omitted_errors + omitted_warnings; }
  void Add(Finding f);          // keeps or counts f; clips its fields
};

// Lint checks every document of every input. It cannot fail: an input that
// does not parse is reported as an "yaml-invalid" error finding and the rest
// are still checked. With contract null, contract-only rules are skipped and
// the audience defaults to "astis". Tests: LintTest.* (one positive and one
// negative test per rule).
LintReport Lint(std::span<const LintInput> inputs, const Contract* contract);

// ReadLintInputs reads path: a file, or a directory whose *.yaml, *.yml and
// *.json files (not recursive, sorted by name) are read. kNotFound when path
// does not exist, kIo on read errors, kTooLarge above kMaxManifestFileBytes
// per file, kInvalidArgument for a directory with no manifest files.
Result<std::vector<LintInput>> ReadLintInputs(const std::string& path);

// FormatText renders one line per kept finding, a line for the omitted
// ones, and a summary line; it cannot fail.
std::string FormatText(const LintReport& report);

// ToJson renders {"errors":N,"warnings":N,"objects":N,"omitted":N,
// "findings":[...]}; it cannot fail.
Json ToJson(const LintReport& report);

}  // namespace astis::lint
