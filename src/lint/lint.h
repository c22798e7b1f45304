// `astis lint`: checks Kubernetes manifests for the ASTIS workload rules
// (docs/lint.md lists every rule id, what it checks and its fix).
#pragma once

#include <optional>
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

// ---------------------------------------------------------------- exclusions
//
// Which objects a run leaves out (docs/lint.md "Leaving objects out"): those
// annotated astis.io/lint: skip, and with a --selector those whose own
// metadata.labels do not match it. A left-out object is listed in the
// report (SkippedObject), never dropped silently.

// kLintAnnotation set to kLintSkip on an object's metadata.annotations
// leaves the object out. Test: LintTest.SkipAnnotationListsTheObject.
inline constexpr std::string_view kLintAnnotation = "astis.io/lint";
inline constexpr std::string_view kLintSkip = "skip";

// LabelRequirement is one equality-based requirement of a label selector.
struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists };
  Op op = Op::kExists;
  std::string key, value;
};

// LabelSelector is kubectl's equality-based `-l`: comma-separated
// requirements that must all hold: k=v (or k==v), k!=v (also true when k is
// absent), k (present), !k (absent).
struct LabelSelector {
  std::vector<LabelRequirement> requirements;
  // Matches tests labels (an object's metadata.labels; null or not an
  // object = no labels); it cannot fail.
  bool Matches(const Json* labels) const;
};

// ParseLabelSelector reads a selector; kInvalidArgument for an empty one, an
// empty requirement, set-based syntax (in, notin, parentheses) or a key or
// value that is not a Kubernetes label key/value.
// Tests: LintTest.SelectorParsesEqualityForms, SelectorRefusesMalformed.
Result<LabelSelector> ParseLabelSelector(std::string_view text);

// LintOptions narrows a run; the default lints every object not annotated
// astis.io/lint: skip.
struct LintOptions {
  std::optional<LabelSelector> selector;  // lint only the objects it matches
};

// SkippedObject is one object a run left out, and why.
struct SkippedObject {
  std::string file, kind, namespace_, name;
  std::string reason;  // "annotation astis.io/lint: skip" | "labels do not match --selector"
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
  // Objects not examined (not in objects), in input order: the first
  // kMaxReportedFindings kept (fields clipped like a Finding's), the rest
  // counted. Test: LintTest.CapsSkippedObjects.
  std::vector<SkippedObject> skipped;
  size_t omitted_skipped = 0;
  size_t skipped_total() const { return skipped.size() + omitted_skipped; }
  void AddSkipped(SkippedObject k);
  size_t errors() const;        // including the omitted ones
  size_t warnings() const;
  size_t omitted() const { return omitted_errors + omitted_warnings; }
  void Add(Finding f);          // keeps or counts f; clips its fields
};

// Lint checks every document of every input. It cannot fail: an input that
// does not parse is reported as an "yaml-invalid" error finding and the rest
// are still checked. With contract null, contract-only rules are skipped and
// the audience defaults to "astis". Tests: LintTest.* (one positive and one
// negative test per rule). options leaves objects out (see above).
LintReport Lint(std::span<const LintInput> inputs, const Contract* contract, const LintOptions& options = {});

// ReadLintInputs reads path: a file, or a directory whose *.yaml, *.yml and
// *.json files (not recursive, sorted by name) are read. kNotFound when path
// does not exist, kIo on read errors, kTooLarge above kMaxManifestFileBytes
// per file, kInvalidArgument for a directory with no manifest files.
Result<std::vector<LintInput>> ReadLintInputs(const std::string& path);

// FormatText renders one line per kept finding, a line for the omitted
// ones, one per skipped object, and a summary line; it cannot fail.
std::string FormatText(const LintReport& report);

// ToJson renders {"errors":N,"warnings":N,"objects":N,"omitted":N,
// "findings":[...],"skipped":[{file,kind,namespace,name,reason}],
// "skipped_omitted":N}; it cannot fail.
Json ToJson(const LintReport& report);

}  // namespace astis::lint
