// The audit log: one hash-chained JSON line per security decision.
//
// Every line is a JSON object carrying "seq" (1, 2, 3, ...) and "prev", the
// lower-case hex SHA-256 of the exact bytes of the previous line (without its
// '\n'); the first line chains to GenesisPrev(). Editing, deleting, inserting
// or reordering lines breaks the chain, and VerifyAuditLog finds the first
// line where it breaks. See docs/audit-log.md for the format, the fsync
// policy and what the chain cannot detect on its own (removal of whole lines
// at the tail: anchor the head hash elsewhere).
//
// A log may rotate by size (FileAuditOptions::max_file_bytes): the live file
// is renamed to RotatedAuditPath(path, n) and a new live file continues the
// same chain (its first line's "prev" is the hash of the previous file's
// last line, and "seq" goes on), so a rotated set verifies as one chain.
// The same lines can also go to a stream such as stdout for log collectors
// (FileAuditOptions::stream_fd).
//
// AuditEvent has no member for plaintext, DEKs, API key secrets, tokens or
// ciphertext, so none can be logged by accident (audit_log_test.cc
// NoSecretFields).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/time_format.h"

namespace astis::audit {

// GenesisPrev returns the "prev" value of the first line of every log: the hex
// SHA-256 of the ASCII string "astis audit log v1 genesis".
std::string_view GenesisPrev();

// Decision is the outcome recorded for an event.
enum class Decision : uint8_t { kAllow, kDeny, kWouldDeny };

// DecisionName returns "allow", "deny" or "would_deny". It cannot fail.
std::string_view DecisionName(Decision d);

// CapsuleRef identifies a capsule in an event by its key id and binding and
// the per-capsule outcome; it deliberately has no room for enc/ct bytes.
struct CapsuleRef {
  std::string kid;
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  std::string name;
  std::string key;
  Code code = Code::kOk;
};

// AuditEvent is one decision. Strings are operator-facing identifiers and
// reasons; callers never put secret material in them (the type has no
// secret-bearing member). Empty strings and a zero gate are omitted from the
// line.
struct AuditEvent {
  // time_unix_ms is the event time; 0 means "stamp it with the sink's clock".
  int64_t time_unix_ms = 0;
  std::string event;  // "session.establish", "unwrap", "session.rotate", "session.end", "admin.*", "cvs.rewrap"
  Decision decision = Decision::kAllow;
  int gate = 0;            // 1-4 for a gate decision, 0 otherwise
  Code code = Code::kOk;   // recorded as its wire name
  std::string reason;      // detailed operator text (never sent to clients)
  // org is the organisation the decision belongs to (docs/tenancy.md);
  // empty for the organisation "default" and for service-wide events, so
  // single-organisation lines are unchanged. OrgAuditRouter files an event
  // with a non-empty org in that organisation's own trail.
  std::string org;
  std::string cluster;
  std::string namespace_;
  std::string service_account;
  std::string pod;
  std::string pod_uid;
  std::string api_key_id;  // the public id part of the API key, never its secret
  std::string jkt;         // DPoP key thumbprint
  std::vector<CapsuleRef> capsules;
  std::string request_id;
};

// FormatRfc3339Millis renders a line's "time", Unix milliseconds, as
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (RFC 3339 §5.6, UTC; common/time_format.h).
// It cannot fail.
inline std::string FormatRfc3339Millis(int64_t unix_ms) { return FormatRfc3339(unix_ms, TimePrecision::kMillis); }

// SerializeEvent renders the event members of a line (without "seq" and
// "prev") as a compact JSON object; control characters in every string are
// escaped, so no field can break a line. It cannot fail.
std::string SerializeEvent(const AuditEvent& event);

// AuditStats counts what a sink did since it was opened (this process):
// lines appended and fdatasync calls. lines / syncs is how many lines one
// sync covered on average (group commit; docs/audit-log.md "Durability").
struct AuditStats {
  uint64_t lines = 0;
  uint64_t syncs = 0;
};

// AuditSink receives audit events. Implementations are thread-safe.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Append records event durably per the sink's policy. A non-OK result
  // means the event may not be recorded; callers on a request path fail
  // closed on it.
  virtual Status Append(const AuditEvent& event) = 0;
  // AppendThen records event like Append and calls durable exactly once
  // with the outcome Append would have returned, without making the caller
  // wait for it: a request path hands its answer to durable and frees its
  // thread while the line syncs (docs/audit-log.md "Durability"). durable
  // may run on the calling thread before AppendThen returns, or on a thread
  // of the sink; it must not block for long. This default calls Append.
  virtual void AppendThen(const AuditEvent& event, std::function<void(Status)> durable) {
    durable(Append(event));
  }
  // Stats reports the sink's counters for /metrics; nullopt when the sink
  // keeps none (this default).
  virtual std::optional<AuditStats> Stats() const { return std::nullopt; }
};

// FileAuditOptions tunes a FileAuditLog.
struct FileAuditOptions {
  // sync_every_lines: fdatasync after every N appended lines. 1 (default)
  // makes each line durable before Append returns; N > 1 trades the last
  // N-1 lines on power loss for throughput; 0 syncs only on Sync().
  uint32_t sync_every_lines = 1;
  // repair_torn_tail: when the existing log ends in a torn line (a crash
  // mid-write), truncate it and append an "audit.torn_tail" event recording
  // how many bytes were dropped and their SHA-256. When false (default),
  // Open refuses such a log with kFailedPrecondition so an operator looks.
  bool repair_torn_tail = false;
  // max_line_bytes bounds one line; a longer event is refused (kTooLarge).
  size_t max_line_bytes = 256 * 1024;
  // max_file_bytes: when appending a line would make the live file larger
  // than this, the file is synced and renamed to RotatedAuditPath(path, n)
  // (n = the highest number present + 1) and a new live file continues the
  // chain. 0 (default) never rotates. A file holds at least one line.
  uint64_t max_file_bytes = 0;
  // stream_fd: when >= 0, every line is also written, in full and before
  // Append returns, to this descriptor (STDOUT_FILENO for log collectors);
  // fdatasync'd too when it is a regular file. Not owned. With an empty path
  // the stream is the only output and the chain starts at the genesis value
  // on every Open (docs/audit-log.md "stdout").
  int stream_fd = -1;
};

// RotatedAuditPath is the name of the n-th rotated file of the log at path:
// path + "." + n (n >= 1; 1 is the oldest). It cannot fail.
std::string RotatedAuditPath(std::string_view path, uint64_t n);

// FileAuditLog appends hash-chained JSON lines to one file (created 0600).
// Thread-safe: appends are serialised, so seq and prev always follow file
// order. After a failed write the log refuses further appends (kIo): the
// chain would otherwise continue past a possibly torn line.
class FileAuditLog final : public AuditSink {
 public:
  // Open opens or creates path and continues the chain from its last line,
  // or, when the live file is empty, from the last line of its newest
  // rotated file (a crash between a rotation's rename and the first line of
  // the new file). An empty path with options.stream_fd >= 0 opens a
  // stream-only log. Errors: kInvalidArgument for an empty path without a
  // stream; kIo when the file cannot be opened or read; kFailedPrecondition
  // when the last line is torn (unless options.repair_torn_tail) or is not a
  // chain line. clock must outlive the log.
  static Result<std::unique_ptr<FileAuditLog>> Open(const std::string& path, Clock& clock,
                                                    FileAuditOptions options = {});
  ~FileAuditLog() override;
  FileAuditLog(const FileAuditLog&) = delete;
  FileAuditLog& operator=(const FileAuditLog&) = delete;

  // Append writes one line (see the file comment), rotating first when the
  // line would not fit (max_file_bytes). Errors: kTooLarge for an oversize
  // line, kIo for a write, sync or rotation failure (then the log is broken,
  // except when the rename itself failed and nothing changed).
  // With sync_every_lines == 1 the line is durable when Append returns, by
  // group commit: concurrent appenders write their lines in chain order and
  // one of them fdatasyncs for all (tests EveryAppendDurableBeforeReturn,
  // GroupCommitKeepsChainAndDurability).
  Status Append(const AuditEvent& event) override;
  // AppendDeferringSync writes the line like Append but does not wait for
  // it to reach the disk: the next Append (or Sync) makes it durable along
  // with its own line. Only for a record whose decision takes effect after
  // a later Append by the same request: the embedded CVS's rewrap line,
  // whose DEKs reach the pod only after the edge's line for that request is
  // durable (docs/audit-log.md "Durability"; test
  // DeferredLineDurableWithTheNextAppend). Errors as Append.
  Status AppendDeferringSync(const AuditEvent& event);
  // AppendThen writes the line like Append and calls durable once it is
  // durable, from the log's sync thread (started on first use), which
  // fdatasyncs once for every line written meanwhile: a request does not
  // hold a thread while its line syncs, and concurrent lines share one
  // fdatasync. A write error, or a policy that syncs no single line
  // (sync_every_lines != 1), calls durable on the calling thread. A failed
  // sync reports kIo to every line it covered, as Append does. The
  // destructor completes every pending durable first (tests
  // AuditLogTest.AppendThen*).
  void AppendThen(const AuditEvent& event, std::function<void(Status)> durable) override;
  // Sync fdatasyncs the file now. Errors: kIo.
  Status Sync();
  // next_seq is the seq the next line will carry.
  uint64_t next_seq() const;
  // head_hash is the hex SHA-256 of the last line (GenesisPrev() if empty).
  std::string head_hash() const;
  // syncs counts the fdatasync calls made so far (metrics and tests).
  uint64_t syncs() const;
  // lines counts the lines this log appended since Open (metrics and tests).
  uint64_t lines() const;
  // Stats is {lines(), syncs()}.
  std::optional<AuditStats> Stats() const override;
  // rotations counts the rotations this log made (metrics and tests).
  uint64_t rotations() const;
  // options are the options the log was opened with.
  const FileAuditOptions& options() const { return options_; }

 private:
  FileAuditLog(int fd, Clock& clock, FileAuditOptions options, uint64_t next_seq, std::string prev);
  Status AppendLocked(const AuditEvent& event);
  Status RotateLocked();
  Status SyncFds(int fd);
  void SyncLoop();

  mutable std::mutex mu_;
  int fd_;  // -1 for a stream-only log; replaced by a rotation (under mu_ and sync_mu_)
  std::string path_;
  uint64_t size_ = 0;
  uint64_t rotations_ = 0;
  uint64_t lines_ = 0;  // appended since Open (under mu_)
  bool stream_is_file_ = false;
  Clock& clock_;
  FileAuditOptions options_;
  uint64_t next_seq_;
  std::string prev_;
  uint32_t unsynced_ = 0;
  bool broken_ = false;

  // Group commit state (sync_every_lines == 1), guarded by sync_mu_:
  // written_ is the count of lines written, synced_ of lines known durable.
  Status SyncThrough(uint64_t line_count);
  mutable std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  uint64_t written_ = 0;
  uint64_t synced_ = 0;
  bool syncing_ = false;
  bool sync_failed_ = false;
  uint64_t syncs_ = 0;
  // AppendThen's waiters, in line order (the line count that makes each
  // durable), served by sync_thread_; guarded by sync_mu_.
  std::deque<std::pair<uint64_t, std::function<void(Status)>>> waiters_;
  std::condition_variable waiter_cv_;
  bool stopping_ = false;
  std::thread sync_thread_;
};

// DeferSyncSink is an AuditSink over a FileAuditLog whose Append is the
// log's AppendDeferringSync (see there for when that is sound). It borrows
// the log.
class DeferSyncSink final : public AuditSink {
 public:
  explicit DeferSyncSink(FileAuditLog& log) : log_(log) {}
  Status Append(const AuditEvent& event) override { return log_.AppendDeferringSync(event); }

 private:
  FileAuditLog& log_;
};

// VerifyReport is the outcome of VerifyAuditLog.
struct VerifyReport {
  bool ok = false;
  uint64_t lines = 0;            // complete lines read, in all files
  uint64_t files = 0;            // files read (rotated ones and the live one)
  std::string file;              // the file first_bad_line is in (or missing); the live file when ok
  uint64_t first_bad_line = 0;   // 1-based within file; 0 when ok or when file is missing
  std::string problem;           // what is wrong at first_bad_line
  bool torn_tail = false;        // the file ends in a line without '\n'
  uint64_t last_seq = 0;         // seq of the last good line
  std::string head_hash;         // hex SHA-256 of the last good line
};

// VerifyAuditLog reads the log at path as one chain: its rotated files
// RotatedAuditPath(path, 1..n) in order, then path itself, and checks every
// line: valid JSON object, "seq" one more than the line before (1 for the
// first), "prev" equal to the hash of the line before (across files too).
// It reports the file and line where a check first fails (for an edited
// line k that is line k+1, whose "prev" no longer matches, or line 1 of the
// next file), and a gap in the numbering as that file missing. A missing
// live file next to rotated ones reads as empty (a crash mid-rotation).
// Errors (as opposed to a bad report): kIo / kNotFound when a file cannot
// be read or there is no file at all.
Result<VerifyReport> VerifyAuditLog(const std::string& path);

}  // namespace astis::audit
