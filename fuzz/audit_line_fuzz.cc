// libFuzzer target for the audit log reader: VerifyAuditLog on the input as a
// file, then FileAuditLog::Open (which parses the last line to continue the
// chain) and one Append.
//
// So that inputs get past the hash chain, "$SEQ" and "$PREV" in each line are
// replaced by the line's 1-based number and the hex SHA-256 of the previous
// (substituted) line, or GenesisPrev() on the first line; the seeds use them.
//
// Invariant (trap on violation): a log VerifyAuditLog accepts whole (ok, no
// torn tail) must reopen, take one more line, and verify again with exactly
// one more line and its seq, chained to the old head.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/encoding.h"
#include "crypto/sha256.h"
#include "temp_file.h"

namespace {

std::string Rechain(std::string_view input) {
  std::string out;
  std::string prev(astis::audit::GenesisPrev());
  uint64_t seq = 1;
  while (!input.empty()) {
    const size_t nl = input.find('\n');
    std::string line(input.substr(0, nl));
    for (size_t p = line.find("$SEQ"); p != std::string::npos; p = line.find("$SEQ", p)) {
      line.replace(p, 4, std::to_string(seq));
    }
    for (size_t p = line.find("$PREV"); p != std::string::npos; p = line.find("$PREV", p + prev.size())) {
      line.replace(p, 5, prev);
    }
    out += line;
    if (nl == std::string_view::npos) break;
    out += '\n';
    prev = astis::HexEncode(astis::Sha256(line));
    ++seq;
    input.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool repair = (data[0] & 1) != 0;
  const std::string text = Rechain(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  const std::string& path = astis_fuzz::TempFilePath("audit.log");
  if (!astis_fuzz::WriteFile(path, text)) __builtin_trap();

  auto before = astis::audit::VerifyAuditLog(path);
  if (!before.ok()) __builtin_trap();  // the file exists and is readable
  if (before->ok && before->first_bad_line != 0) __builtin_trap();
  if (!before->ok && before->first_bad_line != before->lines + 1) __builtin_trap();

  astis::FakeClock clock(1'800'000'000);
  astis::audit::FileAuditOptions options;
  options.sync_every_lines = 0;  // no fdatasync per input
  options.repair_torn_tail = repair;
  auto log = astis::audit::FileAuditLog::Open(path, clock, options);
  const bool whole = before->ok && !before->torn_tail;
  if (whole && !log.ok()) __builtin_trap();
  if (!log.ok()) return 0;
  astis::audit::AuditEvent e;
  e.event = "fuzz";
  e.reason = "line\nbreak\x01";
  const bool appended = (*log)->Append(e).ok();
  if (whole && !appended) __builtin_trap();
  log->reset();

  if (whole) {
    auto after = astis::audit::VerifyAuditLog(path);
    if (!after.ok() || !after->ok || after->lines != before->lines + 1 || after->last_seq != before->last_seq + 1) {
      __builtin_trap();
    }
  }
  return 0;
}
