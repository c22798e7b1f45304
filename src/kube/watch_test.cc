// Tests of kube::PodWatcher against a small fake API server (net::HttpServer,
// plain HTTP on 127.0.0.1 port 0) and of the watch-event parser.
#include "kube/watch.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/json.h"
#include "net/http_server.h"

namespace astis::kube {
namespace {

using namespace std::chrono_literals;

constexpr char kNs[] = "ns1";
const std::string kDigest = "sha256:" + std::string(64, 'a');

std::string PodJson(const std::string& name, const std::string& uid, const std::string& rv,
                    const std::string& ns = kNs) {
  Json container = Json::object();
  container["name"] = "app";
  container["image"] = "app:1";
  Json status = container;
  status["imageID"] = "registry.example.com/app@" + kDigest;
  Json pod = Json::object();
  pod["kind"] = "Pod";
  pod["apiVersion"] = "v1";
  pod["metadata"] = Json{{"name", name}, {"namespace", ns}, {"uid", uid}, {"resourceVersion", rv}};
  pod["spec"] = Json{{"containers", Json::array({container})}};
  pod["status"] = Json{{"phase", "Running"}, {"containerStatuses", Json::array({status})}};
  return DumpJson(pod);
}

// BadPodJson is a pod ParsePod refuses (no metadata.uid, a container image
// that is not a string) but whose name, namespace and resourceVersion are
// readable.
std::string BadPodJson(const std::string& name, const std::string& rv, const std::string& ns = kNs) {
  Json pod = Json::object();
  pod["kind"] = "Pod";
  pod["apiVersion"] = "v1";
  pod["metadata"] = Json{{"name", name}, {"namespace", ns}, {"resourceVersion", rv}};
  pod["spec"] = Json{{"containers", Json::array({Json{{"name", "app"}, {"image", 7}}})}};
  return DumpJson(pod);
}

std::string Event(const std::string& type, const std::string& object) {
  return R"({"type":")" + type + R"(","object":)" + object + "}";
}
std::string Bookmark(const std::string& rv) {
  return Event("BOOKMARK", R"({"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":")" + rv + R"("}})");
}
std::string ListJson(const std::vector<std::string>& pods, const std::string& rv) {
  std::string items;
  for (const auto& p : pods) items += (items.empty() ? "" : ",") + p;
  return R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")" + rv + R"("},"items":[)" + items +
         "]}";
}
const std::string kGoneLine =
    R"J({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)J"
    R"J("message":"too old resource version: 1 (3171407)","reason":"Expired","code":410}})J";

// Script is how the fake answers one watch request: a status, some lines,
// then either the end of the body or (hold) an open stream until released.
struct Script {
  int status = 200;
  std::vector<std::string> lines;
  bool hold = false;
};

// FakeApi serves LIST and WATCH of namespace ns1 from scripts.
class FakeApi {
 public:
  FakeApi() {
    net::ServerConfig cfg;
    cfg.threads = 4;
    server_ = std::move(net::HttpServer::Start(cfg, [this](const net::ServerRequest& r) { return Handle(r); })).value();
  }
  ~FakeApi() {
    Release();
    server_->Stop(0ms);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  void AddList(int status, std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    lists_.push_back({status, std::move(body)});
  }
  void AddWatch(Script s) {
    std::lock_guard<std::mutex> lock(mu_);
    watches_.push_back(std::move(s));
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::vector<std::string> watch_queries() {
    std::lock_guard<std::mutex> lock(mu_);
    return watch_queries_;
  }
  int list_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return list_calls_;
  }
  std::string last_authorization() {
    std::lock_guard<std::mutex> lock(mu_);
    return authorization_;
  }

 private:
  net::ServerResponse Handle(const net::ServerRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    authorization_ = r.Header("Authorization").value_or("");
    net::ServerResponse resp;
    if (r.path != std::string("/api/v1/namespaces/") + kNs + "/pods") {
      resp.status = 404;
      return resp;
    }
    if (r.query.empty()) {
      ++list_calls_;
      auto [status, body] = lists_.empty() ? std::pair<int, std::string>{200, ListJson({}, "1")} : lists_.front();
      if (lists_.size() > 1) lists_.pop_front();
      resp.status = status;
      resp.body = body;
      return resp;
    }
    watch_queries_.push_back(r.query);
    Script s;
    s.hold = true;
    if (!watches_.empty()) {
      s = watches_.front();
      watches_.pop_front();
    }
    resp.status = s.status;
    if (s.status != 200) return resp;
    auto state = std::make_shared<std::pair<Script, size_t>>(std::move(s), 0);
    resp.stream = [this, state](net::StreamWriter& w) {
      auto& [script, next] = *state;
      if (next < script.lines.size()) return w.WriteLine(script.lines[next++]);
      if (!script.hold) return false;
      std::unique_lock<std::mutex> hold(mu_);
      cv_.wait_for(hold, 50ms, [this] { return released_; });
      return !released_;
    };
    return resp;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<int, std::string>> lists_;
  std::deque<Script> watches_;
  std::vector<std::string> watch_queries_;
  std::string authorization_;
  int list_calls_ = 0;
  bool released_ = false;
  std::unique_ptr<net::HttpServer> server_;
};

// FixedRandom fills with one byte value (deterministic jitter).
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(uint8_t b, bool fail = false) : b_(b), fail_(fail) {}
  Status Fill(std::span<uint8_t> out) override {
    if (fail_) return Error(Code::kCrypto, "test rng off");
    for (auto& x : out) x = b_;
    return OkStatus();
  }

 private:
  uint8_t b_;
  bool fail_;
};

// Harness runs one PodWatcher against a FakeApi and records its changes.
class Harness {
 public:
  Harness() : clock_(1'800'000'000) {}
  ~Harness() {
    if (watcher) watcher->Stop();
  }

  void Start(WatchOptions options = {}) {
    ClusterConnection conn;
    conn.api_url = api.url();
    conn.token = SecretBytes::CopyFrom(std::string_view("test-token"));
    options.on_state = [this] { Poke(); };
    options.sleeper = [this](std::chrono::milliseconds d) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        backoffs.push_back(d);
      }
      Poke();
    };
    options.initial_backoff = 1ms;
    options.max_backoff = 4ms;
    watcher = std::move(PodWatcher::Start(
                            conn, kNs, clock_, rng_,
                            [this](const PodChange& c) {
                              {
                                std::lock_guard<std::mutex> lock(mu_);
                                changes.push_back(c);
                              }
                              Poke();
                            },
                            options))
                  .value();
  }
  void Poke() {
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }
  // WaitUntil waits (bounded, woken by the watcher's callbacks) for pred.
  bool WaitUntil(const std::function<bool()>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, 10s, [&] {
      lock.unlock();
      bool ok = pred();
      lock.lock();
      return ok;
    });
  }
  std::vector<PodChange> Changes() {
    std::lock_guard<std::mutex> lock(mu_);
    return changes;
  }
  std::vector<std::chrono::milliseconds> Backoffs() {
    std::lock_guard<std::mutex> lock(mu_);
    return backoffs;
  }

  FakeApi api;
  FakeClock clock_;
  FixedRandom rng_{0};
  std::unique_ptr<PodWatcher> watcher;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PodChange> changes;
  std::vector<std::chrono::milliseconds> backoffs;
};

TEST(WatchEvent, ParsesEventShapes) {
  auto added = ParseWatchEvent(Event("ADDED", PodJson("a", "u1", "11")));
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_EQ(added->type, WatchEventType::kAdded);
  EXPECT_EQ(added->resource_version, "11");
  EXPECT_EQ(added->pod->uid, "u1");
  auto bookmark = ParseWatchEvent(Bookmark("12746"));
  ASSERT_TRUE(bookmark.ok());
  EXPECT_EQ(bookmark->type, WatchEventType::kBookmark);
  EXPECT_EQ(bookmark->resource_version, "12746");
  auto gone = ParseWatchEvent(kGoneLine);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->type, WatchEventType::kError);
  EXPECT_EQ(gone->error_code, 410);
  EXPECT_EQ(gone->error_reason, "Expired");
  auto list = ParsePodList(ListJson({PodJson("a", "u1", "5"), PodJson("b", "u2", "6")}, "7"), 1 << 20);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list->resource_version, "7");
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[1].name, "b");
}

TEST(WatchEvent, RejectsMalformedEvents) {
  for (const std::string& bad : std::vector<std::string>{
           "", "{", "[]", R"({"type":"ADDED"})", R"({"type":"ADDED","object":{}})", R"({"type":1,"object":{}})",
           Event("SOMETHING", PodJson("a", "u", "1")), Event("BOOKMARK", R"({"metadata":{}})"),
           Event("ERROR", R"({"code":"410"})"), R"({"type":"ADDED","type":"ADDED","object":{}})",
           Event("ADDED", PodJson("a", "u", "")), Event("ADDED", R"({"kind":"Secret","metadata":{}})")}) {
    EXPECT_FALSE(ParseWatchEvent(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParsePodList(R"({"kind":"PodList","items":[]})", 1 << 20).ok());  // no resourceVersion
  EXPECT_FALSE(ParsePodList(ListJson({PodJson("a", "u", "1")}, "2"), 16).ok());  // over the size bound
}

TEST(WatchEvent, ParsesUnparsablePodEventAsSkipped) {
  for (const char* type : {"ADDED", "MODIFIED", "DELETED"}) {
    const std::string line = Event(type, BadPodJson("x", "12"));
    EXPECT_FALSE(ParseWatchEvent(line).ok()) << type;  // the strict parser still refuses it
    auto ev = ParseWatchLine(line);
    ASSERT_TRUE(ev.ok()) << type << ": " << ev.status().ToString();
    EXPECT_FALSE(ev->pod.has_value());
    EXPECT_EQ(ev->resource_version, "");
    ASSERT_TRUE(ev->skipped.has_value());
    EXPECT_EQ(ev->skipped->name, "x");
    EXPECT_EQ(ev->skipped->ns, kNs);
    EXPECT_EQ(ev->skipped->resource_version, "12");
    EXPECT_FALSE(ev->skipped->error.empty());
  }
  // A parsable pod without a resourceVersion is skipped too; an object with
  // nothing readable is skipped with empty fields.
  auto no_rv = ParseWatchLine(Event("ADDED", PodJson("a", "u", "")));
  ASSERT_TRUE(no_rv.ok());
  ASSERT_TRUE(no_rv->skipped.has_value());
  EXPECT_EQ(no_rv->skipped->name, "a");
  auto secret = ParseWatchLine(Event("ADDED", R"({"kind":"Secret","metadata":{"name":7}})"));
  ASSERT_TRUE(secret.ok());
  ASSERT_TRUE(secret->skipped.has_value());
  EXPECT_EQ(secret->skipped->name, "");
  // A good event is parsed as by ParseWatchEvent.
  auto good = ParseWatchLine(Event("ADDED", PodJson("a", "u1", "11")));
  ASSERT_TRUE(good.ok());
  EXPECT_FALSE(good->skipped.has_value());
  EXPECT_EQ(good->pod->uid, "u1");
  // A malformed envelope is still an error.
  for (const std::string& bad : std::vector<std::string>{
           "", "{", "[]", R"({"type":"ADDED"})", R"({"type":"ADDED","object":[]})", R"({"type":1,"object":{}})",
           Event("SOMETHING", PodJson("a", "u", "1")), Event("BOOKMARK", R"({"metadata":{}})"),
           Event("ERROR", R"({"code":"410"})"), R"({"type":"ADDED","type":"ADDED","object":{}})"}) {
    EXPECT_FALSE(ParseWatchLine(bad).ok()) << bad;
  }
}

TEST(WatchBackoff, BackoffIsCappedExponentialWithJitter) {
  FixedRandom failing(0, true);
  EXPECT_EQ(NextBackoff(1, 250ms, 30s, failing), 250ms);
  EXPECT_EQ(NextBackoff(3, 250ms, 30s, failing), 1000ms);
  EXPECT_EQ(NextBackoff(40, 250ms, 30s, failing), 30s);
  FixedRandom zeros(0);
  EXPECT_EQ(NextBackoff(5, 250ms, 30s, zeros), 0ms);
  FixedRandom ones(1);  // 0x0101..01 mod (cap+1)
  const auto d = NextBackoff(2, 250ms, 30s, ones);
  EXPECT_LE(d, 500ms);
  EXPECT_EQ(d.count(), static_cast<int64_t>(0x0101010101010101ULL % 501));
}

TEST(PodWatcher, ListThenWatchAppliesEvents) {
  Harness h;
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5")}, "10"));
  h.api.AddWatch(Script{200,
                        {Event("ADDED", PodJson("b", "ub", "11")), Event("MODIFIED", PodJson("a", "ua", "12")),
                         Event("DELETED", PodJson("b", "ub", "13"))},
                        true});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.Changes().size() >= 4 && h.watcher->Stats().healthy; }));
  auto changes = h.Changes();
  EXPECT_FALSE(changes[0].before.has_value());  // listed a
  EXPECT_EQ(changes[0].after->name, "a");
  EXPECT_EQ(changes[1].after->name, "b");       // ADDED b
  EXPECT_EQ(changes[2].before->resource_version, "5");
  EXPECT_EQ(changes[2].after->resource_version, "12");
  EXPECT_EQ(changes[3].before->name, "b");      // DELETED b
  EXPECT_FALSE(changes[3].after.has_value());
  auto a = h.watcher->CachedPod("a");
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->resource_version, "12");
  auto b = h.watcher->CachedPod("b");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_value());
  auto q = h.api.watch_queries();
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0], "watch=1&allowWatchBookmarks=true&resourceVersion=10&timeoutSeconds=60");
  EXPECT_EQ(h.api.last_authorization(), "Bearer test-token");
}

TEST(PodWatcher, BookmarkThenResumeFromResourceVersion) {
  Harness h;
  h.api.AddList(200, ListJson({}, "10"));
  h.api.AddWatch(Script{200, {Bookmark("20")}, false});  // then the stream ends normally
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.api.watch_queries().size() >= 2 && h.watcher->Stats().healthy; }));
  auto q = h.api.watch_queries();
  EXPECT_NE(q[1].find("resourceVersion=20&"), std::string::npos) << q[1];
  EXPECT_EQ(h.api.list_calls(), 1);  // resumed, not re-listed
  EXPECT_EQ(h.watcher->Stats().restarts, 1u);
  EXPECT_TRUE(h.Backoffs().empty());  // a normal end is not a failure
}

TEST(PodWatcher, ErrorGoneRelistsWithDiff) {
  Harness h;
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5"), PodJson("b", "ub", "6")}, "10"));
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5"), PodJson("c", "uc", "25")}, "30"));
  h.api.AddWatch(Script{200, {kGoneLine}, false});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.api.watch_queries().size() >= 2 && h.watcher->Stats().healthy; }));
  auto changes = h.Changes();
  ASSERT_EQ(changes.size(), 4u);  // a, b listed; then c added and b vanished
  EXPECT_EQ(changes[2].after->name, "c");
  EXPECT_EQ(changes[3].before->name, "b");
  EXPECT_FALSE(changes[3].after.has_value());
  EXPECT_NE(h.api.watch_queries()[1].find("resourceVersion=30&"), std::string::npos);
  EXPECT_EQ(h.watcher->Stats().relists, 1u);
  EXPECT_FALSE(h.watcher->CachedPod("b")->has_value());
}

TEST(PodWatcher, GoneStatusRelists) {
  Harness h;
  h.api.AddList(200, ListJson({}, "10"));
  h.api.AddList(200, ListJson({}, "40"));
  h.api.AddWatch(Script{410, {}, false});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.api.watch_queries().size() >= 2 && h.watcher->Stats().healthy; }));
  EXPECT_EQ(h.api.list_calls(), 2);
  EXPECT_NE(h.api.watch_queries()[1].find("resourceVersion=40&"), std::string::npos);
}

TEST(PodWatcher, StreamFailureReconnectsWithBackoff) {
  Harness h;
  h.api.AddList(500, "");                                  // LIST fails once
  h.api.AddList(200, ListJson({}, "10"));
  h.api.AddWatch(Script{503, {}, false});                  // the first watch is refused
  h.api.AddWatch(Script{200, {Event("ADDED", PodJson("a", "ua", "11"))}, true});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.watcher->Stats().healthy && !h.Changes().empty(); }));
  auto backoffs = h.Backoffs();
  ASSERT_EQ(backoffs.size(), 2u);
  for (auto d : backoffs) EXPECT_LE(d, 4ms);
  EXPECT_EQ(h.watcher->Stats().failures, 2u);
  EXPECT_TRUE(h.watcher->CachedPod("a")->has_value());
}

TEST(PodWatcher, EmptyStreamBacksOff) {
  Harness h;
  h.api.AddList(200, ListJson({}, "10"));
  h.api.AddWatch(Script{200, {}, false});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.api.watch_queries().size() >= 2 && h.watcher->Stats().healthy; }));
  EXPECT_EQ(h.Backoffs().size(), 1u);
}

TEST(PodWatcher, OversizeLineReconnects) {
  Harness h;
  h.api.AddList(200, ListJson({}, "10"));
  h.api.AddWatch(Script{200, {std::string(4096, 'x')}, true});
  h.api.AddWatch(Script{200, {Event("ADDED", PodJson("a", "ua", "11"))}, true});
  WatchOptions o;
  o.max_line_bytes = 2048;
  h.Start(o);
  ASSERT_TRUE(h.WaitUntil([&] { return !h.Changes().empty() && h.watcher->Stats().healthy; }));
  EXPECT_EQ(h.watcher->Stats().failures, 1u);
  EXPECT_NE(h.api.watch_queries()[1].find("resourceVersion=10&"), std::string::npos);
}

TEST(PodWatcher, MalformedEventReconnects) {
  Harness h;
  h.api.AddList(200, ListJson({}, "10"));
  h.api.AddWatch(Script{200, {"{not json"}, true});
  h.api.AddWatch(Script{200, {R"({"type":"ADDED","object":[]})"}, true});  // object not an object
  h.api.AddWatch(Script{200, {Event("ADDED", PodJson("z", "uz", "11", "other-ns"))}, true});  // wrong namespace
  h.api.AddWatch(Script{200, {R"({"type":"ERROR","object":{"code":500}})"}, true});
  h.api.AddWatch(Script{200, {Event("ADDED", PodJson("a", "ua", "11"))}, true});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return !h.Changes().empty() && h.watcher->Stats().healthy; }));
  EXPECT_EQ(h.watcher->Stats().failures, 4u);
  EXPECT_FALSE(h.watcher->CachedPod("z")->has_value());
  EXPECT_TRUE(h.watcher->CachedPod("a")->has_value());
}

TEST(PodWatcher, UnparsablePodInListIsSkippedAndCounted) {
  // The parser: bad items are left out and recorded, the rest kept.
  auto parsed = ParsePodList(ListJson({PodJson("a", "ua", "5"), BadPodJson("x", "6"), "5", PodJson("b", "ub", "7")},
                                      "10"),
                             1 << 20);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->items.size(), 2u);
  EXPECT_EQ(parsed->items[0].name, "a");
  EXPECT_EQ(parsed->items[1].name, "b");
  ASSERT_EQ(parsed->skipped.size(), 2u);
  EXPECT_EQ(parsed->skipped[0].name, "x");
  EXPECT_EQ(parsed->skipped[1].name, "");  // not an object: no name to read

  // The watcher: the first LIST has an unparsable pod x, yet the watch
  // becomes healthy; x is counted and unknown (nullopt: gate 4 reads the API).
  // After 410 the re-LIST shows a pod y that was fine and is now unparsable:
  // the cache drops it rather than serve the stale version.
  Harness h;
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5"), BadPodJson("x", "6"), PodJson("y", "uy", "7")}, "10"));
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5"), BadPodJson("x", "6"), BadPodJson("y", "20")}, "30"));
  h.api.AddWatch(Script{200, {kGoneLine}, false});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.watcher->Stats().relists == 1 && h.watcher->Stats().healthy; }));
  WatchStats stats = h.watcher->Stats();
  EXPECT_EQ(stats.skipped_pods, 3u);  // x twice, y once
  EXPECT_EQ(stats.pods, 1u);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_TRUE(h.watcher->CachedPod("a")->has_value());
  EXPECT_FALSE(h.watcher->CachedPod("x")->has_value());
  EXPECT_FALSE(h.watcher->CachedPod("y")->has_value());
  auto changes = h.Changes();
  ASSERT_EQ(changes.size(), 3u);  // a, y listed; then y vanished
  EXPECT_EQ(changes[2].before->name, "y");
  EXPECT_FALSE(changes[2].after.has_value());
}

TEST(PodWatcher, UnparsablePodEventIsSkippedAndCounted) {
  Harness h;
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5"), PodJson("c", "uc", "6")}, "10"));
  h.api.AddList(200, ListJson({PodJson("b", "ub", "13"), PodJson("c", "uc", "6")}, "20"));
  // One stream: a becomes unparsable, then b is added (the stream went on),
  // then an unparsable object with no readable name (re-LIST: any cached
  // pod might be the stale one).
  h.api.AddWatch(Script{200,
                        {Event("MODIFIED", BadPodJson("a", "12")), Event("ADDED", PodJson("b", "ub", "13")),
                         Event("MODIFIED", R"({"kind":"Pod","metadata":{"namespace":"ns1"}})")},
                        false});
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.api.watch_queries().size() >= 2 && h.watcher->Stats().healthy; }));
  WatchStats stats = h.watcher->Stats();
  EXPECT_EQ(stats.skipped_pods, 2u);
  EXPECT_EQ(stats.failures, 0u);
  EXPECT_TRUE(h.Backoffs().empty());
  EXPECT_EQ(h.api.list_calls(), 2);
  EXPECT_FALSE(h.watcher->CachedPod("a")->has_value());
  EXPECT_TRUE(h.watcher->CachedPod("b")->has_value());
  auto changes = h.Changes();
  ASSERT_GE(changes.size(), 4u);  // a, c listed; a dropped; b added
  EXPECT_EQ(changes[2].before->name, "a");  // the stale a is not kept
  EXPECT_FALSE(changes[2].after.has_value());
  EXPECT_EQ(changes[3].after->name, "b");
  EXPECT_NE(h.api.watch_queries()[1].find("resourceVersion=20&"), std::string::npos) << h.api.watch_queries()[1];
}

TEST(PodWatcher, UnparsablePodEventResumesAfterItsResourceVersion) {
  Harness h;
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5")}, "10"));
  h.api.AddWatch(Script{200, {Event("MODIFIED", BadPodJson("a", "12"))}, false});  // then a normal end
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.api.watch_queries().size() >= 2 && h.watcher->Stats().healthy; }));
  EXPECT_NE(h.api.watch_queries()[1].find("resourceVersion=12&"), std::string::npos) << h.api.watch_queries()[1];
  EXPECT_EQ(h.watcher->Stats().skipped_pods, 1u);
  EXPECT_EQ(h.api.list_calls(), 1);
  EXPECT_FALSE(h.watcher->CachedPod("a")->has_value());
  // An unparsable pod of another namespace is still a broken stream.
  Harness other;
  other.api.AddList(200, ListJson({}, "10"));
  other.api.AddWatch(Script{200, {Event("ADDED", BadPodJson("z", "11", "other-ns"))}, true});
  other.api.AddWatch(Script{200, {Event("ADDED", PodJson("a", "ua", "12"))}, true});
  other.Start();
  ASSERT_TRUE(other.WaitUntil([&] { return !other.Changes().empty() && other.watcher->Stats().healthy; }));
  EXPECT_EQ(other.watcher->Stats().failures, 1u);
  EXPECT_EQ(other.watcher->Stats().skipped_pods, 0u);
}

TEST(PodWatcher, UnhealthyWhenStaleOrDisconnected) {
  Harness h;
  h.api.AddList(200, ListJson({PodJson("a", "ua", "5")}, "10"));
  WatchOptions o;
  o.staleness_seconds = 30;
  h.Start(o);
  ASSERT_TRUE(h.WaitUntil([&] { return h.watcher->Stats().healthy; }));
  EXPECT_TRUE(h.watcher->CachedPod("a").ok());
  h.clock_.Advance(31);  // silence beyond the bound
  EXPECT_FALSE(h.watcher->Stats().healthy);
  auto stale = h.watcher->CachedPod("a");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), Code::kKubeUnavailable);
}

TEST(PodWatcher, NeverHealthyWithoutList) {
  Harness h;
  h.api.AddList(403, "");
  h.Start();
  ASSERT_TRUE(h.WaitUntil([&] { return h.Backoffs().size() >= 2; }));
  EXPECT_FALSE(h.watcher->Stats().healthy);
  EXPECT_EQ(h.watcher->CachedPod("a").status().code(), Code::kKubeUnavailable);
}

TEST(PodWatcher, StopIsPrompt) {
  Harness h;
  h.api.AddList(200, ListJson({}, "10"));
  h.Start();  // the watch stays open (held by the fake)
  ASSERT_TRUE(h.WaitUntil([&] { return h.watcher->Stats().connected; }));
  const auto t0 = std::chrono::steady_clock::now();
  h.watcher->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_FALSE(h.watcher->Stats().connected);
}

TEST(PodWatcher, RejectsBadNamespace) {
  FakeClock clock(1);
  FixedRandom rng(0);
  ClusterConnection conn;
  conn.api_url = "http://127.0.0.1:1";
  auto w = PodWatcher::Start(conn, "Bad/NS", clock, rng, [](const PodChange&) {});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::kube
