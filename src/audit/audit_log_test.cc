#include "audit/audit_log.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/encoding.h"
#include "common/json.h"
#include "common/testing/temp_dir.h"
#include "crypto/sha256.h"

namespace astis::audit {
namespace {

// A member named like secret material must not exist on AuditEvent.
template <typename T>
concept HasPlaintext = requires(T t) { t.plaintext; };
template <typename T>
concept HasDek = requires(T t) { t.dek; };
template <typename T>
concept HasToken = requires(T t) { t.token; };
template <typename T>
concept HasApiKeySecret = requires(T t) { t.api_key_secret; };
template <typename T>
concept HasApiKey = requires(T t) { t.api_key; };
template <typename T>
concept HasSecret = requires(T t) { t.secret; };
template <typename T>
concept HasCiphertext = requires(T t) { t.ciphertext; };
template <typename T>
concept HasCt = requires(T t) { t.ct; };
template <typename T>
concept HasEnc = requires(T t) { t.enc; };

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(tmp_.path().empty());
    dir_ = tmp_.path();
    path_ = dir_ + "/audit.log";
  }

  AuditEvent Event(int i) {
    AuditEvent e;
    e.event = "unwrap";
    e.decision = i % 2 == 0 ? Decision::kAllow : Decision::kDeny;
    e.gate = i % 5;
    e.code = i % 2 == 0 ? Code::kOk : Code::kPodNotLive;
    e.reason = "event number " + std::to_string(i);
    e.cluster = "prod-eu1";
    e.namespace_ = "payments";
    e.service_account = "api";
    e.pod = "api-7d9f";
    e.pod_uid = "uid-" + std::to_string(i);
    e.request_id = "req-" + std::to_string(i);
    return e;
  }

  void WriteEvents(int n) {
    auto log = FileAuditLog::Open(path_, clock_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 0; i < n; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  }

  std::vector<std::string> ReadLines() {
    std::ifstream in(path_, std::ios::binary);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
  }

  void WriteLines(const std::vector<std::string>& lines) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    for (const auto& l : lines) out << l << '\n';
  }

  VerifyReport Verify() {
    auto report = VerifyAuditLog(path_);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : VerifyReport{};
  }

  FakeClock clock_{1764115200};
  test::TempDir tmp_{"astis-audit"};
  std::string dir_;
  std::string path_;
};

TEST_F(AuditLogTest, ChainVerifies) {
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 5u);
  EXPECT_EQ(r.last_seq, 5u);
  EXPECT_EQ(r.head_hash, (*log)->head_hash());

  std::vector<std::string> lines = ReadLines();
  ASSERT_EQ(lines.size(), 5u);
  auto first = ParseJsonObject(lines[0]);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["prev"], std::string(GenesisPrev()));
  EXPECT_EQ((*first)["seq"], 1);
  EXPECT_EQ((*first)["time"], "2025-11-26T00:00:00.000Z");
  auto second = ParseJsonObject(lines[1]);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)["prev"], HexEncode(Sha256(lines[0])));
  EXPECT_EQ(GenesisPrev(), HexEncode(Sha256(std::string_view("astis audit log v1 genesis"))));
}

TEST_F(AuditLogTest, EmptyLogVerifies) {
  WriteEvents(0);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.lines, 0u);
  EXPECT_EQ(r.head_hash, GenesisPrev());
}

TEST_F(AuditLogTest, DetectsEditedLine) {
  WriteEvents(5);
  std::vector<std::string> lines = ReadLines();
  size_t at = lines[2].find("event number 2");
  ASSERT_NE(at, std::string::npos);
  lines[2].replace(at, 14, "event number 9");  // still valid JSON, same seq/prev
  WriteLines(lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_line, 4u);  // line 4's prev no longer matches line 3
  EXPECT_NE(r.problem.find("line 3"), std::string::npos) << r.problem;
}

TEST_F(AuditLogTest, DetectsDeletedLine) {
  WriteEvents(5);
  std::vector<std::string> lines = ReadLines();
  lines.erase(lines.begin() + 2);
  WriteLines(lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_line, 3u);
}

TEST_F(AuditLogTest, DetectsDeletedFirstLine) {
  WriteEvents(3);
  std::vector<std::string> lines = ReadLines();
  lines.erase(lines.begin());
  WriteLines(lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_line, 1u);
}

TEST_F(AuditLogTest, DetectsReorderedLines) {
  WriteEvents(5);
  std::vector<std::string> lines = ReadLines();
  std::swap(lines[1], lines[2]);
  WriteLines(lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_line, 2u);
}

TEST_F(AuditLogTest, DetectsInsertedLine) {
  WriteEvents(5);
  std::vector<std::string> lines = ReadLines();
  // A forged line that chains correctly to line 2 and claims seq 3: the
  // original line 3 that follows it no longer fits.
  Json forged = {{"seq", 3}, {"prev", HexEncode(Sha256(lines[1]))}, {"event", "unwrap"}, {"decision", "allow"}};
  lines.insert(lines.begin() + 2, DumpJson(forged));
  WriteLines(lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_line, 4u);
}

TEST_F(AuditLogTest, DetectsTruncatedTail) {
  WriteEvents(5);
  auto size = std::filesystem::file_size(path_);
  std::filesystem::resize_file(path_, size - 10);  // a crash mid-write
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.torn_tail);
  EXPECT_EQ(r.first_bad_line, 5u);
  EXPECT_EQ(r.lines, 4u);
}

TEST_F(AuditLogTest, ReopenRefusesTornTail) {
  WriteEvents(3);
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - 1);  // drop only the '\n'
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Code::kFailedPrecondition);
}

TEST_F(AuditLogTest, ReopenRepairsTornTail) {
  WriteEvents(3);
  std::filesystem::resize_file(path_, std::filesystem::file_size(path_) - 7);
  FileAuditOptions options;
  options.repair_torn_tail = true;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_TRUE((*log)->Append(Event(7)).ok());
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 4u);  // 2 intact + audit.torn_tail + the new event
  std::vector<std::string> lines = ReadLines();
  EXPECT_NE(lines[2].find("audit.torn_tail"), std::string::npos);
}

TEST_F(AuditLogTest, ReopenContinuesChain) {
  WriteEvents(3);
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->next_seq(), 4u);
  EXPECT_EQ((*log)->head_hash(), HexEncode(Sha256(ReadLines().back())));
  ASSERT_TRUE((*log)->Append(Event(3)).ok());
  ASSERT_TRUE((*log)->Append(Event(4)).ok());
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 5u);
}

TEST_F(AuditLogTest, ReopenRefusesForeignLastLine) {
  WriteLines({"not a chain line"});
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Code::kFailedPrecondition);
}

TEST_F(AuditLogTest, CreatesFileOwnerOnly) {
  WriteEvents(1);
  struct stat st{};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);
}

TEST_F(AuditLogTest, ConcurrentAppendsStayChained) {
  FileAuditOptions options;
  options.sync_every_lines = 0;  // batch: one Sync at the end
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) EXPECT_TRUE((*log)->Append(Event(t * 1000 + i)).ok());
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE((*log)->Sync().ok());
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(AuditLogTest, EveryAppendDurableBeforeReturn) {
  auto log = FileAuditLog::Open(path_, clock_);  // default: sync_every_lines = 1
  ASSERT_TRUE(log.ok());
  for (uint64_t i = 1; i <= 5; ++i) {
    ASSERT_TRUE((*log)->Append(Event(static_cast<int>(i))).ok());
    EXPECT_EQ((*log)->syncs(), i);  // alone, every line gets its own fdatasync
  }
}

// The embedded CVS's line is written without its own fdatasync; the edge's
// line for the same request, appended next, makes both durable with one.
TEST_F(AuditLogTest, DeferredLineDurableWithTheNextAppend) {
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok());
  DeferSyncSink cvs_sink(**log);
  ASSERT_TRUE(cvs_sink.Append(Event(1)).ok());
  EXPECT_EQ((*log)->syncs(), 0u);  // written, not yet synced
  EXPECT_EQ((*log)->next_seq(), 2u);
  ASSERT_TRUE((*log)->Append(Event(2)).ok());
  EXPECT_EQ((*log)->syncs(), 1u);  // one sync for both lines
  ASSERT_TRUE(cvs_sink.Append(Event(3)).ok());
  ASSERT_TRUE((*log)->Sync().ok());  // an explicit Sync covers it too
  ASSERT_TRUE((*log)->Append(Event(4)).ok());
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 4u);
}

TEST_F(AuditLogTest, GroupCommitKeepsChainAndDurability) {
  auto log = FileAuditLog::Open(path_, clock_);  // default: each Append durable on return
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) EXPECT_TRUE((*log)->Append(Event(t * 1000 + i)).ok());
    });
  }
  for (auto& th : threads) th.join();
  // Concurrent appenders share syncs, never need more than one per line.
  EXPECT_GE((*log)->syncs(), 1u);
  EXPECT_LE((*log)->syncs(), static_cast<uint64_t>(kThreads * kPerThread));
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, static_cast<uint64_t>(kThreads * kPerThread));
}

// AppendThen (docs/audit-log.md "Durability"): the caller does not wait;
// durable runs once the line is on disk, on the log's sync thread.
TEST_F(AuditLogTest, AppendThenReportsOnceDurable) {
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok());
  std::promise<std::pair<Status, uint64_t>> reported;
  (*log)->AppendThen(Event(1), [&](Status s) { reported.set_value({s, (*log)->syncs()}); });
  auto [status, syncs_then] = reported.get_future().get();
  EXPECT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(syncs_then, 1u);  // the fdatasync came before the report
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 1u);
}

// Lines appended while a sync (or its reports) is under way share the next
// fdatasync: the first report blocks the sync thread until 200 more lines
// are queued, and one sync then covers them all.
TEST_F(AuditLogTest, AppendThenLinesShareOneSync) {
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok());
  constexpr int kLines = 200;
  std::promise<void> all_queued;
  std::shared_future<void> queued = all_queued.get_future().share();
  std::mutex mu;
  std::condition_variable cv;
  int ok = 0;
  int reports = 0;
  auto report = [&](Status s) {
    std::lock_guard<std::mutex> lock(mu);
    ok += s.ok() ? 1 : 0;
    ++reports;
    cv.notify_all();
  };
  (*log)->AppendThen(Event(0), [&](Status s) {
    queued.wait();
    report(s);
  });
  for (int i = 1; i <= kLines; ++i) (*log)->AppendThen(Event(i), report);
  all_queued.set_value();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return reports == kLines + 1; });
  EXPECT_EQ(ok, kLines + 1);
  EXPECT_LE((*log)->syncs(), 2u);  // the first line's, then one for the 200
  EXPECT_EQ((*log)->lines(), static_cast<uint64_t>(kLines + 1));
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, static_cast<uint64_t>(kLines + 1));
}

// AppendThen and Append from many threads keep one chain in file order.
TEST_F(AuditLogTest, AppendThenAndAppendKeepOneChain) {
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok());
  constexpr int kThreads = 6;
  constexpr int kPerThread = 40;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (t % 2 == 0) {
          std::promise<Status> p;
          (*log)->AppendThen(Event(t * 1000 + i), [&p](Status s) { p.set_value(s); });
          if (p.get_future().get().ok()) ++ok;
        } else if ((*log)->Append(Event(t * 1000 + i)).ok()) {
          ++ok;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, static_cast<uint64_t>(kThreads * kPerThread));
}

// A line that cannot be written is reported at once, on the caller's
// thread, and the log stays broken (as Append).
TEST_F(AuditLogTest, AppendThenWriteFailureReportedOnCallerThread) {
  int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full < 0) GTEST_SKIP() << "no /dev/full";
  FileAuditOptions options;
  options.stream_fd = full;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  std::optional<Status> got;
  std::thread::id where;
  (*log)->AppendThen(Event(1), [&](Status s) {
    got = s;
    where = std::this_thread::get_id();
  });
  ASSERT_TRUE(got.has_value());  // before AppendThen returned
  EXPECT_EQ(got->code(), Code::kIo);
  EXPECT_EQ(where, std::this_thread::get_id());
  EXPECT_EQ((*log)->Append(Event(2)).code(), Code::kIo);
  ::close(full);
}

// Closing the log reports every pending line, durable, before it returns.
TEST_F(AuditLogTest, AppendThenPendingReportedBeforeClose) {
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok());
  constexpr int kLines = 50;
  std::atomic<int> ok{0};
  std::atomic<int> reports{0};
  for (int i = 0; i < kLines; ++i) {
    (*log)->AppendThen(Event(i), [&](Status s) {
      ok += s.ok() ? 1 : 0;
      ++reports;
    });
  }
  log->reset();
  EXPECT_EQ(reports.load(), kLines);
  EXPECT_EQ(ok.load(), kLines);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, static_cast<uint64_t>(kLines));
}

// With a policy that syncs no single line, AppendThen reports on the
// caller's thread, like Append would return.
TEST_F(AuditLogTest, AppendThenWithBatchedSyncReportsAtOnce) {
  FileAuditOptions options;
  options.sync_every_lines = 10;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  std::optional<Status> got;
  (*log)->AppendThen(Event(1), [&](Status s) { got = s; });
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok());
  EXPECT_EQ((*log)->syncs(), 0u);
}

// Stats counts this process's lines and every fdatasync, also those of a
// batched sync policy.
TEST_F(AuditLogTest, StatsCountLinesAndSyncs) {
  FileAuditOptions options;
  options.sync_every_lines = 3;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  std::optional<AuditStats> stats = (*log)->Stats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->lines, 7u);
  EXPECT_EQ(stats->syncs, 2u);  // after lines 3 and 6
  log->reset();
  auto reopened = FileAuditLog::Open(path_, clock_);  // counts start again; the chain goes on
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE((*reopened)->Append(Event(8)).ok());
  EXPECT_EQ((*reopened)->lines(), 1u);
  EXPECT_EQ((*reopened)->syncs(), 1u);
  EXPECT_EQ((*reopened)->next_seq(), 9u);
}

TEST_F(AuditLogTest, RefusesOversizeEvent) {
  FileAuditOptions options;
  options.max_line_bytes = 1024;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  AuditEvent e = Event(0);
  e.reason.assign(2048, 'x');
  Status s = (*log)->Append(e);
  EXPECT_EQ(s.code(), Code::kTooLarge);
  EXPECT_TRUE((*log)->Append(Event(1)).ok());  // the log is still usable
  EXPECT_TRUE(Verify().ok);
}

// ---- rotation, stream sink, torn tail after a kill, upgrade

std::vector<std::string> FileLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void WriteFileLines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const auto& l : lines) out << l << '\n';
}

std::string FileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST_F(AuditLogTest, RotationKeepsOneChain) {
  FileAuditOptions options;
  options.max_file_bytes = 1200;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  const uint64_t rotations = (*log)->rotations();
  ASSERT_GE(rotations, 3u);
  for (uint64_t n = 1; n <= rotations; ++n) {
    const std::string file = RotatedAuditPath(path_, n);
    ASSERT_TRUE(std::filesystem::exists(file)) << file;
    EXPECT_LE(std::filesystem::file_size(file), options.max_file_bytes);
  }
  EXPECT_FALSE(std::filesystem::exists(RotatedAuditPath(path_, rotations + 1)));
  // The live file's first line chains to the newest rotated file's last.
  auto first = ParseJsonObject(FileLines(path_).front());
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)["prev"], HexEncode(Sha256(FileLines(RotatedAuditPath(path_, rotations)).back())));
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.file << ": " << r.problem;
  EXPECT_EQ(r.lines, 30u);
  EXPECT_EQ(r.last_seq, 30u);
  EXPECT_EQ(r.files, rotations + 1);
  EXPECT_EQ(r.head_hash, (*log)->head_hash());
  // Reopened, the log continues in the live file and rotates on.
  log->reset();
  auto again = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->next_seq(), 31u);
  for (int i = 30; i < 40; ++i) ASSERT_TRUE((*again)->Append(Event(i)).ok());
  EXPECT_GE((*again)->rotations(), 1u);
  r = Verify();
  EXPECT_TRUE(r.ok) << r.file << ": " << r.problem;
  EXPECT_EQ(r.lines, 40u);
}

TEST_F(AuditLogTest, NamesMissingRotatedFile) {
  FileAuditOptions options;
  options.max_file_bytes = 1200;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  ASSERT_GE((*log)->rotations(), 3u);
  std::filesystem::remove(RotatedAuditPath(path_, 2));
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.file, RotatedAuditPath(path_, 2));
  EXPECT_NE(r.problem.find("missing"), std::string::npos) << r.problem;
  // The oldest file gone is named too.
  std::filesystem::remove(RotatedAuditPath(path_, 1));
  r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.file, RotatedAuditPath(path_, 1));
}

TEST_F(AuditLogTest, NamesEditedRotatedFileAndLine) {
  FileAuditOptions options;
  options.max_file_bytes = 1200;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 30; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  ASSERT_GE((*log)->rotations(), 3u);
  log->reset();
  const std::string old_file = RotatedAuditPath(path_, 1);
  const std::vector<std::string> original = FileLines(old_file);
  ASSERT_GE(original.size(), 3u);
  // Line 2 of the oldest file edited: line 3's prev no longer matches.
  std::vector<std::string> lines = original;
  lines[1].replace(lines[1].find("prod-eu1"), 8, "prod-eu2");
  WriteFileLines(old_file, lines);
  VerifyReport r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.file, old_file);
  EXPECT_EQ(r.first_bad_line, 3u);
  EXPECT_NE(r.problem.find("line 2"), std::string::npos) << r.problem;
  // Its last line edited: the next file's first line is reported, naming it.
  lines = original;
  lines.back().replace(lines.back().find("prod-eu1"), 8, "prod-eu2");
  WriteFileLines(old_file, lines);
  r = Verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.file, RotatedAuditPath(path_, 2));
  EXPECT_EQ(r.first_bad_line, 1u);
  EXPECT_NE(r.problem.find(old_file), std::string::npos) << r.problem;
}

// A crash after the rename and before the new live file holds a line: the
// live file is missing or empty, and the chain goes on from the newest
// rotated file.
TEST_F(AuditLogTest, OpenAfterCrashMidRotationContinuesChain) {
  WriteEvents(4);
  std::filesystem::rename(path_, RotatedAuditPath(path_, 1));
  VerifyReport r = Verify();  // no live file: the rotated set alone
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 4u);
  auto log = FileAuditLog::Open(path_, clock_);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->next_seq(), 5u);
  ASSERT_TRUE((*log)->Append(Event(5)).ok());
  r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 5u);
  EXPECT_EQ(r.files, 2u);
}

// The embedded CVS's deferred line is written to the file about to be
// rotated: the rotation syncs it before the rename, so it is durable before
// the edge's line (in the new file) is.
TEST_F(AuditLogTest, DeferredLineDurableAcrossRotation) {
  FileAuditOptions options;
  options.max_file_bytes = 600;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  DeferSyncSink cvs_sink(**log);
  ASSERT_TRUE(cvs_sink.Append(Event(1)).ok());
  EXPECT_EQ((*log)->syncs(), 0u);
  ASSERT_TRUE((*log)->Append(Event(2)).ok());  // does not fit: rotates first
  EXPECT_EQ((*log)->rotations(), 1u);
  EXPECT_EQ((*log)->syncs(), 2u);  // the old file at the rotation, the new one for the line
  EXPECT_EQ(FileLines(RotatedAuditPath(path_, 1)).size(), 1u);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 2u);
}

TEST_F(AuditLogTest, StreamGetsTheSameLines) {
  const std::string stream_path = dir_ + "/stdout.capture";
  int stream = ::open(stream_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(stream, 0);
  FileAuditOptions options;
  options.stream_fd = stream;
  options.max_file_bytes = 1200;
  {
    auto log = FileAuditLog::Open(path_, clock_, options);
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
    // Each durable line was synced in the file and in the stream (a file).
    EXPECT_EQ((*log)->syncs(), 10u + (*log)->rotations());
  }
  ::close(stream);
  std::string files;
  for (uint64_t n = 1; std::filesystem::exists(RotatedAuditPath(path_, n)); ++n) {
    files += FileText(RotatedAuditPath(path_, n));
  }
  files += FileText(path_);
  EXPECT_EQ(FileText(stream_path), files);
  auto capture = VerifyAuditLog(stream_path);
  ASSERT_TRUE(capture.ok());
  EXPECT_TRUE(capture->ok) << capture->problem;
  EXPECT_EQ(capture->lines, 10u);
}

TEST_F(AuditLogTest, StreamOnlyLogStartsAtGenesis) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  FileAuditOptions options;
  options.stream_fd = fds[1];
  {
    auto log = FileAuditLog::Open("", clock_, options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*log)->Append(Event(i)).ok());
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  std::ofstream(path_, std::ios::binary) << text;
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 3u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/.1"));
}

TEST_F(AuditLogTest, RefusesNoFileAndNoStream) {
  auto log = FileAuditLog::Open("", clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Code::kInvalidArgument);
}

// A stream that cannot take the line fails the append, and the log refuses
// further appends: no decision is reported recorded that a collector missed.
TEST_F(AuditLogTest, StreamWriteFailureFailsClosed) {
  int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full < 0) GTEST_SKIP() << "no /dev/full";
  FileAuditOptions options;
  options.stream_fd = full;
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->Append(Event(1)).code(), Code::kIo);
  EXPECT_EQ((*log)->Append(Event(2)).code(), Code::kIo);
  ::close(full);
}

// SIGKILL while appending (docs/audit-log.md "Torn tail"): the process dies
// between lines or inside one; reopening with repair_torn_tail (as `astis
// serve` does) truncates a partial line, records it, and the set verifies.
TEST_F(AuditLogTest, KilledWriterRepairedOnOpen) {
  FileAuditOptions options;
  options.max_file_bytes = 4096;
  options.sync_every_lines = 0;
  for (int round = 0; round < 3; ++round) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto log = FileAuditLog::Open(path_, clock_, [&] {
        FileAuditOptions o = options;
        o.repair_torn_tail = true;
        return o;
      }());
      if (!log.ok()) ::_exit(2);
      for (int i = 0;; ++i) {
        if (!(*log)->Append(Event(i)).ok()) ::_exit(3);
      }
    }
    // Kill it mid-stream: once it has rotated in this round (bounded poll
    // of the file system, not a sync), then a little later each round.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!std::filesystem::exists(RotatedAuditPath(path_, static_cast<uint64_t>(round) + 1)) &&
           std::chrono::steady_clock::now() < deadline) {
      ::usleep(1000);
    }
    ::usleep(static_cast<useconds_t>(round * 3000));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited with " << WEXITSTATUS(status);
    // Make sure the tail is torn at least once: a line cut mid-way.
    if (round == 1) std::ofstream(path_, std::ios::binary | std::ios::app) << "{\"seq\":99999,\"prev\":\"ab";
    FileAuditOptions repair = options;
    repair.repair_torn_tail = true;
    auto log = FileAuditLog::Open(path_, clock_, repair);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log->reset();
    VerifyReport r = Verify();
    EXPECT_TRUE(r.ok) << r.file << ":" << r.first_bad_line << ": " << r.problem;
    EXPECT_GT(r.files, 1u);
  }
  bool torn_recorded = false;
  for (const std::string& line : ReadLines()) torn_recorded |= line.find("audit.torn_tail") != std::string::npos;
  for (uint64_t n = 1; std::filesystem::exists(RotatedAuditPath(path_, n)); ++n) {
    for (const std::string& line : FileLines(RotatedAuditPath(path_, n))) {
      torn_recorded |= line.find("audit.torn_tail") != std::string::npos;
    }
  }
  EXPECT_TRUE(torn_recorded);
}

// A log written by the release before rotation (testdata/audit/v1) verifies
// as is and becomes the first file of a rotated set.
TEST_F(AuditLogTest, UpgradeFixtureVerifiesAndContinues) {
  const std::string fixture = std::string(ASTIS_TESTDATA_DIR) + "/audit/v1/audit.jsonl";
  std::filesystem::copy_file(fixture, path_);
  VerifyReport r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 7u);
  FileAuditOptions options;
  options.max_file_bytes = std::filesystem::file_size(path_);
  auto log = FileAuditLog::Open(path_, clock_, options);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  EXPECT_EQ((*log)->next_seq(), 8u);
  ASSERT_TRUE((*log)->Append(Event(8)).ok());
  EXPECT_EQ((*log)->rotations(), 1u);
  EXPECT_EQ(FileText(RotatedAuditPath(path_, 1)), FileText(fixture));
  r = Verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.lines, 8u);
  EXPECT_EQ(r.files, 2u);
}

TEST(AuditEventTest, NoSecretFields) {
  static_assert(!HasPlaintext<AuditEvent> && !HasDek<AuditEvent> && !HasToken<AuditEvent> &&
                !HasApiKeySecret<AuditEvent> && !HasApiKey<AuditEvent> && !HasSecret<AuditEvent> &&
                !HasCiphertext<AuditEvent> && !HasCt<AuditEvent> && !HasEnc<AuditEvent>);
  static_assert(!HasCiphertext<CapsuleRef> && !HasCt<CapsuleRef> && !HasEnc<CapsuleRef> && !HasDek<CapsuleRef>);

  // An operator-supplied reason cannot forge a second line or new members:
  // control characters and quotes are escaped by the serializer.
  AuditEvent e;
  e.event = "admin.test";
  e.decision = Decision::kWouldDeny;
  e.reason = "x\n{\"seq\":1,\"prev\":\"00\"}\r\x01\"";
  std::string line = SerializeEvent(e);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.find('\x01'), std::string::npos);
  auto parsed = ParseJsonObject(line);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ((*parsed)["reason"], e.reason);
  EXPECT_EQ((*parsed)["decision"], "would_deny");
  EXPECT_FALSE(parsed->contains("seq"));
}

TEST(AuditEventTest, FormatsRfc3339Utc) {
  EXPECT_EQ(FormatRfc3339Millis(1764115200123), "2025-11-26T00:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
}

// Writes testdata/audit/v1/ (the upgrade fixture, testdata/SOURCES.md) into
// $ASTIS_AUDIT_FIXTURE_OUT. Disabled: run by hand with
// --gtest_also_run_disabled_tests, at the release the fixture stands for.
TEST(AuditFixture, DISABLED_GenerateUpgradeFixture) {
  const char* out = std::getenv("ASTIS_AUDIT_FIXTURE_OUT");
  ASSERT_NE(out, nullptr);
  FakeClock clock{1764115200};
  const std::string path = std::string(out) + "/audit.jsonl";
  auto log = FileAuditLog::Open(path, clock);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  AuditEvent est;
  est.event = "session.establish";
  est.cluster = "prod-eu1";
  est.namespace_ = "payments";
  est.service_account = "api";
  est.pod = "api-7d9f";
  est.pod_uid = "8c1d3f9e-0000-4000-8000-000000000001";
  est.api_key_id = "ak_fixture";
  est.jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
  est.request_id = "req-1";
  ASSERT_TRUE((*log)->Append(est).ok());
  clock.Advance(1);
  AuditEvent rewrap = est;
  rewrap.event = "cvs.rewrap";
  rewrap.capsules.push_back({"kid-2026-01", "prod-eu1", "payments", "api", "db-creds", "password", Code::kOk});
  rewrap.request_id = "req-2";
  DeferSyncSink cvs(**log);
  ASSERT_TRUE(cvs.Append(rewrap).ok());
  AuditEvent unwrap = rewrap;
  unwrap.event = "edge.unwrap";
  ASSERT_TRUE((*log)->Append(unwrap).ok());
  clock.Advance(1);
  AuditEvent deny = est;
  deny.event = "unwrap";
  deny.decision = Decision::kDeny;
  deny.gate = 4;
  deny.code = Code::kImageNotAllowed;
  deny.reason = "container sidecar imageID has no allowlisted digest";
  deny.request_id = "req-3";
  ASSERT_TRUE((*log)->Append(deny).ok());
  AuditEvent end = est;
  end.event = "session.end";
  end.request_id = "req-4";
  ASSERT_TRUE((*log)->Append(end).ok());
  log->reset();
  // A torn tail, repaired on reopen: the fixture carries an audit.torn_tail line.
  {
    std::ofstream torn(path, std::ios::binary | std::ios::app);
    torn << "{\"seq\":6,\"prev\":\"";
  }
  FileAuditOptions repair;
  repair.repair_torn_tail = true;
  auto reopened = FileAuditLog::Open(path, clock, repair);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  AuditEvent admin;
  admin.event = "admin.cluster.add";
  admin.reason = "cluster staging added in audit mode";
  ASSERT_TRUE((*reopened)->Append(admin).ok());
}

}  // namespace
}  // namespace astis::audit
