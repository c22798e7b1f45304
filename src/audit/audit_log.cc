#include "audit/audit_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <charconv>
#include <span>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/json.h"
#include "crypto/sha256.h"

namespace astis::audit {
namespace {

using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kGenesisInput = "astis audit log v1 genesis";

std::string HashLine(std::string_view line) { return HexEncode(Sha256(line)); }

std::string Errno(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

void PutIfSet(OrderedJson& obj, const char* name, const std::string& value) {
  if (!value.empty()) obj[name] = value;
}

// AppendEventMembers adds the event's members to obj in a fixed order.
void AppendEventMembers(OrderedJson& obj, const AuditEvent& e, int64_t time_ms) {
  obj["time"] = FormatRfc3339Millis(time_ms);
  obj["event"] = e.event;
  obj["decision"] = std::string(DecisionName(e.decision));
  if (e.gate != 0) obj["gate"] = e.gate;
  obj["code"] = std::string(WireName(e.code));
  PutIfSet(obj, "reason", e.reason);
  PutIfSet(obj, "org", e.org);
  PutIfSet(obj, "cluster", e.cluster);
  PutIfSet(obj, "namespace", e.namespace_);
  PutIfSet(obj, "serviceAccount", e.service_account);
  PutIfSet(obj, "pod", e.pod);
  PutIfSet(obj, "podUid", e.pod_uid);
  PutIfSet(obj, "apiKeyId", e.api_key_id);
  PutIfSet(obj, "jkt", e.jkt);
  if (!e.capsules.empty()) {
    OrderedJson caps = OrderedJson::array();
    for (const CapsuleRef& c : e.capsules) {
      OrderedJson ref = OrderedJson::object();
      ref["kid"] = c.kid;
      ref["bind"] = {{"cluster", c.cluster},
                     {"namespace", c.namespace_},
                     {"serviceAccount", c.service_account},
                     {"name", c.name},
                     {"key", c.key}};
      ref["code"] = std::string(WireName(c.code));
      caps.push_back(std::move(ref));
    }
    obj["capsules"] = std::move(caps);
  }
  PutIfSet(obj, "requestId", e.request_id);
}

// Dump never throws: invalid UTF-8 is replaced, control characters escaped.
std::string Dump(const OrderedJson& obj) {
  return obj.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

Status ReadAt(int fd, uint64_t offset, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(Code::kIo, n < 0 ? Errno("audit log read") : "audit log read: unexpected end");
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

Status WriteAll(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error(Code::kIo, n < 0 ? Errno("audit log write") : "audit log write: no progress");
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

// LineStart returns the offset just after the last '\n' before end (or 0),
// scanning backwards at most max_line bytes.
Result<uint64_t> LineStart(int fd, uint64_t end, size_t max_line) {
  constexpr size_t kBlock = 4096;
  std::vector<uint8_t> buf(kBlock);
  uint64_t pos = end;
  while (pos > 0) {
    if (end - pos > max_line) return Error(Code::kFailedPrecondition, "audit log: last line exceeds the line limit");
    size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, pos));
    ASTIS_RETURN_IF_ERROR(ReadAt(fd, pos - n, std::span<uint8_t>(buf.data(), n)));
    for (size_t i = n; i > 0; --i) {
      if (buf[i - 1] == '\n') return pos - n + i;
    }
    pos -= n;
  }
  return uint64_t{0};
}

Result<std::string> ReadRange(int fd, uint64_t begin, uint64_t end) {
  std::string out(static_cast<size_t>(end - begin), '\0');
  ASTIS_RETURN_IF_ERROR(ReadAt(fd, begin, std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size())));
  return out;
}

struct ChainLine {
  int64_t seq = 0;
  std::string prev;
};

// ParseChainLine checks that line is a JSON object with an integer "seq" and
// a string "prev". The message never echoes the line.
Result<ChainLine> ParseChainLine(std::string_view line, size_t max_bytes) {
  JsonLimits limits;
  limits.max_bytes = max_bytes;
  auto obj = ParseJsonObject(line, limits);
  if (!obj.ok()) return Error(Code::kFailedPrecondition, "not a JSON object");
  auto seq = GetInt(*obj, "seq");
  auto prev = GetString(*obj, "prev");
  if (!seq.ok() || !prev.ok()) return Error(Code::kFailedPrecondition, "missing \"seq\" or \"prev\"");
  return ChainLine{*seq, *prev};
}

// StreamWriteMutex serialises whole-line writes to a stream (stdout) shared
// by several chains (the per-organisation trails), so lines never interleave
// even past PIPE_BUF.
std::mutex& StreamWriteMutex() {
  static std::mutex mu;
  return mu;
}

std::pair<std::string, std::string> SplitDirBase(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {".", std::string(path)};
  return {slash == 0 ? "/" : std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

// ListRotated returns the rotated files of the log at path, (n, file) sorted
// by n: the directory entries named base + "." + a decimal n >= 1.
Result<std::vector<std::pair<uint64_t, std::string>>> ListRotated(std::string_view path) {
  auto [dir, base] = SplitDirBase(path);
  std::vector<std::pair<uint64_t, std::string>> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, Errno("audit log directory " + dir));
  const std::string prefix = base + ".";
  while (struct dirent* ent = readdir(d)) {
    std::string_view name(ent->d_name);
    if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) continue;
    std::string_view digits = name.substr(prefix.size());
    if (digits.size() > 18 || digits[0] == '0') continue;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec != std::errc() || end != digits.data() + digits.size()) continue;
    out.emplace_back(n, RotatedAuditPath(path, n));
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// SyncDir makes a file's creation or rename in path's directory durable.
Status SyncDir(std::string_view path) {
  const std::string dir = SplitDirBase(path).first;
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error(Code::kIo, Errno("audit log directory " + dir));
  const int rc = fsync(fd);
  close(fd);
  if (rc != 0) return Error(Code::kIo, Errno("audit log directory sync " + dir));
  return OkStatus();
}

struct Head {
  uint64_t seq = 0;
  std::string hash;
};

// LastChainLine reads the last line of the size bytes of fd, which end in
// '\n', and returns its seq and hash.
Result<Head> LastChainLine(int fd, uint64_t size, size_t max_line, const std::string& path) {
  ASTIS_ASSIGN_OR_RETURN(uint64_t start, LineStart(fd, size - 1, max_line));
  ASTIS_ASSIGN_OR_RETURN(std::string line, ReadRange(fd, start, size - 1));
  auto parsed = ParseChainLine(line, max_line);
  if (!parsed.ok() || parsed->seq < 1)
    return Error(Code::kFailedPrecondition, "audit log " + path + ": last line is not a chain line");
  return Head{static_cast<uint64_t>(parsed->seq), HashLine(line)};
}

// NewestRotatedHead returns the head of the newest rotated file of path, if
// there is one. Test: AuditLogTest.OpenAfterCrashMidRotationContinuesChain.
Result<std::optional<Head>> NewestRotatedHead(const std::string& path, size_t max_line) {
  auto rotated = ListRotated(path);
  if (!rotated.ok()) return rotated.status();
  if (rotated->empty()) return std::optional<Head>();
  const std::string& file = rotated->back().second;
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Code::kIo, Errno("audit log open " + file));
  struct stat st{};
  Result<Head> head = Error(Code::kFailedPrecondition, "audit log " + file + ": empty rotated file");
  uint8_t last = 0;
  if (fstat(fd, &st) != 0) {
    head = Error(Code::kIo, Errno("audit log stat " + file));
  } else if (st.st_size > 0) {
    Status read = ReadAt(fd, static_cast<uint64_t>(st.st_size) - 1, std::span<uint8_t>(&last, 1));
    if (!read.ok()) {
      head = read;
    } else if (last != '\n') {
      head = Error(Code::kFailedPrecondition, "audit log " + file + ": rotated file ends in a torn line");
    } else {
      head = LastChainLine(fd, static_cast<uint64_t>(st.st_size), max_line, file);
    }
  }
  close(fd);
  if (!head.ok()) return head.status();
  return std::optional<Head>(std::move(head).value());
}

}  // namespace

std::string RotatedAuditPath(std::string_view path, uint64_t n) {
  return std::string(path) + "." + std::to_string(n);
}

std::string_view GenesisPrev() {
  static const std::string genesis = HashLine(kGenesisInput);
  return genesis;
}

std::string_view DecisionName(Decision d) {
  switch (d) {
    case Decision::kAllow:
      return "allow";
    case Decision::kDeny:
      return "deny";
    case Decision::kWouldDeny:
      return "would_deny";
  }
  return "deny";
}

std::string SerializeEvent(const AuditEvent& event) {
  OrderedJson obj = OrderedJson::object();
  AppendEventMembers(obj, event, event.time_unix_ms);
  return Dump(obj);
}

FileAuditLog::FileAuditLog(int fd, Clock& clock, FileAuditOptions options, uint64_t next_seq, std::string prev)
    : fd_(fd), clock_(clock), options_(options), next_seq_(next_seq), prev_(std::move(prev)) {}

FileAuditLog::~FileAuditLog() {
  {
    std::lock_guard<std::mutex> g(sync_mu_);
    stopping_ = true;
  }
  waiter_cv_.notify_all();
  // The sync thread serves every waiter before it ends.
  if (sync_thread_.joinable()) sync_thread_.join();
  if (unsynced_ > 0) (void)SyncFds(fd_);
  if (fd_ >= 0) close(fd_);
}

Result<std::unique_ptr<FileAuditLog>> FileAuditLog::Open(const std::string& path, Clock& clock,
                                                         FileAuditOptions options) {
  bool stream_is_file = false;
  if (options.stream_fd >= 0) {
    struct stat sst{};
    if (fstat(options.stream_fd, &sst) != 0) return Error(Code::kIo, Errno("audit stream stat"));
    stream_is_file = S_ISREG(sst.st_mode);
  }
  if (path.empty()) {
    if (options.stream_fd < 0) return Error(Code::kInvalidArgument, "audit log: no file and no stream");
    std::unique_ptr<FileAuditLog> log(new FileAuditLog(-1, clock, options, 1, std::string(GenesisPrev())));
    log->stream_is_file_ = stream_is_file;
    return log;
  }
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, Errno("audit log open " + path));
  // Owning the fd from here on: every error path below closes it.
  std::unique_ptr<FileAuditLog> log(new FileAuditLog(fd, clock, options, 1, std::string(GenesisPrev())));
  log->path_ = path;
  log->stream_is_file_ = stream_is_file;

  struct stat st{};
  if (fstat(fd, &st) != 0) return Error(Code::kIo, Errno("audit log stat " + path));
  if (!S_ISREG(st.st_mode)) return Error(Code::kIo, "audit log " + path + " is not a regular file");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0) {
    // A new (or emptied) live file: its name must survive a power loss
    // before any line in it is reported durable; and after a rotation it
    // continues the chain of the newest rotated file.
    ASTIS_RETURN_IF_ERROR(SyncDir(path));
    ASTIS_ASSIGN_OR_RETURN(std::optional<Head> head, NewestRotatedHead(path, options.max_line_bytes));
    if (head.has_value()) {
      log->next_seq_ = head->seq + 1;
      log->prev_ = std::move(head->hash);
    }
    return log;
  }

  uint8_t last = 0;
  ASTIS_RETURN_IF_ERROR(ReadAt(fd, size - 1, std::span<uint8_t>(&last, 1)));
  std::string torn_hash;
  uint64_t torn_bytes = 0;
  if (last != '\n') {
    // A line without its '\n' is a write cut short (crash, full disk).
    // Test: ReopenRefusesTornTail / ReopenRepairsTornTail.
    ASTIS_ASSIGN_OR_RETURN(uint64_t start, LineStart(fd, size, options.max_line_bytes));
    if (!options.repair_torn_tail)
      return Error(Code::kFailedPrecondition,
                   "audit log " + path + ": torn last line at byte " + std::to_string(start) +
                       " (verify the log; reopen with repair to truncate it)");
    ASTIS_ASSIGN_OR_RETURN(std::string torn, ReadRange(fd, start, size));
    torn_hash = HashLine(torn);
    torn_bytes = size - start;
    if (ftruncate(fd, static_cast<off_t>(start)) != 0) return Error(Code::kIo, Errno("audit log truncate"));
    if (fdatasync(fd) != 0) return Error(Code::kIo, Errno("audit log sync"));
    size = start;
  }
  if (size > 0) {
    ASTIS_ASSIGN_OR_RETURN(Head head, LastChainLine(fd, size, options.max_line_bytes, path));
    log->next_seq_ = head.seq + 1;
    log->prev_ = std::move(head.hash);
  } else {
    ASTIS_ASSIGN_OR_RETURN(std::optional<Head> head, NewestRotatedHead(path, options.max_line_bytes));
    if (head.has_value()) {
      log->next_seq_ = head->seq + 1;
      log->prev_ = std::move(head->hash);
    }
  }
  log->size_ = size;
  if (torn_bytes > 0) {
    AuditEvent e;
    e.event = "audit.torn_tail";
    e.decision = Decision::kAllow;
    e.reason = "truncated a torn last line of " + std::to_string(torn_bytes) + " bytes, sha256 " + torn_hash;
    ASTIS_RETURN_IF_ERROR(log->Append(e));
  }
  return log;
}

Status FileAuditLog::Append(const AuditEvent& event) {
  if (options_.sync_every_lines != 1) {
    std::lock_guard<std::mutex> lock(mu_);
    return AppendLocked(event);
  }
  uint64_t mine = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASTIS_RETURN_IF_ERROR(AppendLocked(event));
    std::lock_guard<std::mutex> g(sync_mu_);
    mine = ++written_;
  }
  return SyncThrough(mine);
}

Status FileAuditLog::AppendDeferringSync(const AuditEvent& event) {
  std::lock_guard<std::mutex> lock(mu_);
  ASTIS_RETURN_IF_ERROR(AppendLocked(event));
  if (options_.sync_every_lines == 1) {
    // Counted as written, not synced: the next SyncThrough covers it.
    std::lock_guard<std::mutex> g(sync_mu_);
    ++written_;
  }
  return OkStatus();
}

void FileAuditLog::AppendThen(const AuditEvent& event, std::function<void(Status)> durable) {
  if (options_.sync_every_lines != 1) return durable(Append(event));
  Status written = OkStatus();
  uint64_t mine = 0;
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    written = AppendLocked(event);
    if (written.ok()) {
      std::lock_guard<std::mutex> g(sync_mu_);
      mine = ++written_;
      if (!sync_thread_.joinable()) {
        try {
          sync_thread_ = std::thread(&FileAuditLog::SyncLoop, this);
        } catch (const std::system_error&) {
          // No thread to be had: this caller syncs for itself below.
        }
      }
      if (sync_thread_.joinable()) {
        // Under both locks: the waiters stay in line order.
        waiters_.emplace_back(mine, std::move(durable));
        queued = true;
      }
    }
  }
  // Reported here, outside the locks: an error (nothing queued), or the
  // line synced on this thread.
  if (!written.ok()) return durable(written);
  if (!queued) return durable(SyncThrough(mine));
  waiter_cv_.notify_one();
}

// SyncLoop (the sync thread) makes the waiters' lines durable: one
// SyncThrough covers every line written so far, so all the waiters queued
// by then share it; then their callbacks run, outside every lock.
void FileAuditLog::SyncLoop() {
  std::unique_lock<std::mutex> g(sync_mu_);
  for (;;) {
    waiter_cv_.wait(g, [this] { return stopping_ || !waiters_.empty(); });
    if (waiters_.empty()) return;  // stopping, nothing left to serve
    const uint64_t target = waiters_.back().first;
    g.unlock();
    const Status synced = SyncThrough(target);
    g.lock();
    std::vector<std::function<void(Status)>> done;
    while (!waiters_.empty() && (waiters_.front().first <= target || !synced.ok())) {
      done.push_back(std::move(waiters_.front().second));
      waiters_.pop_front();
    }
    g.unlock();
    for (auto& d : done) d(synced);
    done.clear();  // the callbacks' captures go before the lock is retaken
    g.lock();
  }
}

// SyncThrough returns once the first line_count lines written are durable.
// Whoever finds no sync in progress becomes the leader and fdatasyncs every
// line written so far; the others wait for a sync that covers their line.
// A failed sync breaks the log for everyone waiting (they may not report a
// decision as recorded when it may not be).
Status FileAuditLog::SyncThrough(uint64_t line_count) {
  std::unique_lock<std::mutex> g(sync_mu_);
  while (synced_ < line_count) {
    if (sync_failed_) return Error(Code::kIo, "audit log: a sync failed; the log is broken");
    if (syncing_) {
      sync_cv_.wait(g);
      continue;
    }
    syncing_ = true;
    const uint64_t target = written_;
    // A rotation replaces fd_ only under sync_mu_ and while no sync runs.
    const int fd = fd_;
    g.unlock();
    Status synced = SyncFds(fd);
    g.lock();
    syncing_ = false;
    ++syncs_;
    if (!synced.ok()) {
      sync_failed_ = true;
      sync_cv_.notify_all();
      g.unlock();
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = true;
      return synced;
    }
    synced_ = std::max(synced_, target);
    sync_cv_.notify_all();
  }
  return OkStatus();
}

uint64_t FileAuditLog::syncs() const {
  std::lock_guard<std::mutex> g(sync_mu_);
  return syncs_;
}

uint64_t FileAuditLog::lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

std::optional<AuditStats> FileAuditLog::Stats() const { return AuditStats{lines(), syncs()}; }

uint64_t FileAuditLog::rotations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rotations_;
}

// SyncFds fdatasyncs the file fd (unless -1) and the stream when it is a
// regular file. A pipe or terminal needs nothing more: write(2) returned.
Status FileAuditLog::SyncFds(int fd) {
  if (fd >= 0 && fdatasync(fd) != 0) return Error(Code::kIo, Errno("audit log sync"));
  if (stream_is_file_ && fdatasync(options_.stream_fd) != 0) return Error(Code::kIo, Errno("audit stream sync"));
  return OkStatus();
}

// RotateLocked (mu_ held) makes every line written so far durable, renames
// the live file to the next RotatedAuditPath and opens a new live file; the
// chain state (next_seq_, prev_) carries on into it. Deferred lines are
// covered by the sync here, so the durability rule holds across the switch.
// Test: AuditLogTest.RotationKeepsOneChain, DeferredLineDurableAcrossRotation.
Status FileAuditLog::RotateLocked() {
  std::unique_lock<std::mutex> g(sync_mu_);
  sync_cv_.wait(g, [this] { return !syncing_ || sync_failed_; });
  if (sync_failed_) return Error(Code::kIo, "audit log: a sync failed; the log is broken");
  auto fail = [&](Status s) {
    broken_ = true;
    sync_failed_ = true;
    sync_cv_.notify_all();
    return s;
  };
  ++syncs_;
  if (fdatasync(fd_) != 0) return fail(Error(Code::kIo, Errno("audit log sync")));
  unsynced_ = 0;
  synced_ = written_;
  sync_cv_.notify_all();
  auto rotated = ListRotated(path_);
  if (!rotated.ok()) return rotated.status();
  const uint64_t n = rotated->empty() ? 1 : rotated->back().first + 1;
  const std::string target = RotatedAuditPath(path_, n);
  if (::rename(path_.c_str(), target.c_str()) != 0) return Error(Code::kIo, Errno("audit log rotate to " + target));
  int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail(Error(Code::kIo, Errno("audit log open " + path_)));
  close(fd_);
  fd_ = fd;
  size_ = 0;
  ++rotations_;
  if (Status s = SyncDir(path_); !s.ok()) return fail(s);
  return OkStatus();
}

Status FileAuditLog::AppendLocked(const AuditEvent& event) {
  if (broken_) return Error(Code::kIo, "audit log: refusing to append after a failed write");
  OrderedJson obj = OrderedJson::object();
  obj["seq"] = next_seq_;
  obj["prev"] = prev_;
  AppendEventMembers(obj, event, event.time_unix_ms != 0 ? event.time_unix_ms : clock_.NowUnixMillis());
  std::string line = Dump(obj);
  if (line.size() > options_.max_line_bytes) return Error(Code::kTooLarge, "audit log: event exceeds the line limit");
  std::string hash = HashLine(line);
  line.push_back('\n');
  if (fd_ >= 0 && options_.max_file_bytes > 0 && size_ > 0 && size_ + line.size() > options_.max_file_bytes) {
    ASTIS_RETURN_IF_ERROR(RotateLocked());
  }
  // One write() of the whole line; O_APPEND places it at the end.
  Status written = fd_ >= 0 ? WriteAll(fd_, line) : OkStatus();
  if (written.ok() && options_.stream_fd >= 0) {
    std::lock_guard<std::mutex> stream_lock(StreamWriteMutex());
    written = WriteAll(options_.stream_fd, line);
  }
  if (!written.ok()) {
    broken_ = true;
    return written;
  }
  size_ += line.size();
  ++lines_;
  ++unsynced_;
  // sync_every_lines == 1 is group-committed by Append (SyncThrough).
  if (options_.sync_every_lines > 1 && unsynced_ >= options_.sync_every_lines) {
    if (Status s = SyncFds(fd_); !s.ok()) {
      broken_ = true;
      return s;
    }
    unsynced_ = 0;
    std::lock_guard<std::mutex> g(sync_mu_);
    ++syncs_;
  }
  prev_ = std::move(hash);
  ++next_seq_;
  return OkStatus();
}

Status FileAuditLog::Sync() {
  std::lock_guard<std::mutex> lock(mu_);
  ASTIS_RETURN_IF_ERROR(SyncFds(fd_));
  unsynced_ = 0;
  std::lock_guard<std::mutex> g(sync_mu_);
  ++syncs_;
  synced_ = written_;
  return OkStatus();
}

uint64_t FileAuditLog::next_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_;
}

std::string FileAuditLog::head_hash() const {
  std::lock_guard<std::mutex> lock(mu_);
  return prev_;
}

namespace {

// VerifyFile checks the lines of one file of a set, continuing the chain in
// report (last_seq, head_hash, lines). prev_file names the file before it
// ("" for the first). Returns false once report holds a problem.
Result<bool> VerifyFile(const std::string& path, const std::string& prev_file, bool live, VerifyReport& report) {
  std::FILE* f = std::fopen(path.c_str(), "rbe");
  if (f == nullptr) return Error(errno == ENOENT ? Code::kNotFound : Code::kIo, Errno("audit log open " + path));
  ++report.files;
  report.file = path;
  char* buf = nullptr;
  size_t cap = 0;
  uint64_t line_no = 0;
  auto fail = [&](std::string problem) {
    report.ok = false;
    report.first_bad_line = line_no + 1;
    report.problem = std::move(problem);
  };
  for (;;) {
    errno = 0;
    ssize_t n = getline(&buf, &cap, f);
    if (n < 0) {
      if (errno != 0) {
        std::free(buf);
        std::fclose(f);
        return Error(Code::kIo, Errno("audit log read " + path));
      }
      break;
    }
    std::string_view line(buf, static_cast<size_t>(n));
    if (line.back() != '\n') {
      report.torn_tail = live;
      fail(live ? "torn last line (no newline)" : "torn last line (no newline) in a rotated file");
      break;
    }
    line.remove_suffix(1);
    const uint64_t expected_seq = report.last_seq + 1;
    auto parsed = ParseChainLine(line, std::max<size_t>(line.size(), 1));
    if (!parsed.ok()) {
      fail(parsed.status().message());
      break;
    }
    if (parsed->seq < 1 || static_cast<uint64_t>(parsed->seq) != expected_seq) {
      fail("seq " + std::to_string(parsed->seq) + " where " + std::to_string(expected_seq) + " was expected");
      break;
    }
    if (parsed->prev != report.head_hash) {
      if (expected_seq == 1) {
        fail("first line does not chain to the genesis value");
      } else if (line_no == 0) {
        fail("first line does not chain to the last line of " + prev_file + " (seq " +
             std::to_string(expected_seq - 1) + ")");
      } else {
        fail("prev does not match the hash of line " + std::to_string(line_no));
      }
      break;
    }
    report.head_hash = HashLine(line);
    report.last_seq = expected_seq;
    ++report.lines;
    ++line_no;
  }
  std::free(buf);
  std::fclose(f);
  return report.ok;
}

}  // namespace

// Test: AuditLogTest.RotationKeepsOneChain, NamesMissingRotatedFile,
// NamesEditedRotatedFileAndLine.
Result<VerifyReport> VerifyAuditLog(const std::string& path) {
  VerifyReport report;
  report.head_hash = std::string(GenesisPrev());
  report.ok = true;
  auto rotated = ListRotated(path);
  if (!rotated.ok()) return rotated.status();
  std::string prev_file;
  uint64_t expected = 1;
  for (const auto& [n, file] : *rotated) {
    if (n != expected) {
      // A gap in the numbering: that file was removed (or renamed away).
      report.ok = false;
      report.file = RotatedAuditPath(path, expected);
      report.problem = "file missing from the rotated set" +
                       (prev_file.empty() ? std::string(" (the oldest)") : " (after " + prev_file + ")");
      return report;
    }
    ++expected;
    ASTIS_ASSIGN_OR_RETURN(bool good, VerifyFile(file, prev_file, false, report));
    if (!good) return report;
    prev_file = file;
  }
  struct stat st{};
  if (!rotated->empty() && ::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    report.file = path;  // between a rotation's rename and the new file: empty
    return report;
  }
  ASTIS_ASSIGN_OR_RETURN(bool good, VerifyFile(path, prev_file, true, report));
  (void)good;
  return report;
}

}  // namespace astis::audit
