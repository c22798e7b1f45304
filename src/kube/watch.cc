#include "kube/watch.h"

#include <algorithm>
#include <array>
#include <utility>

#include "common/json.h"
#include "crypto/secret_bytes.h"
#include "net/https_client.h"
#include "net/tls.h"

namespace astis::kube {
namespace {

// kMaxEnvelopeDepth: a Pod may nest 64 levels (pod.cc); the event or list
// envelope adds two.
constexpr size_t kMaxEnvelopeDepth = 66;
// kStreamSlack is how long past timeoutSeconds the watcher waits for a line
// before it gives the stream up as hung.
constexpr std::chrono::seconds kStreamSlack{30};

Status Bad(std::string what) { return Error(Code::kInvalidArgument, "watch: " + std::move(what)); }
Status Unavailable(std::string what) { return Error(Code::kKubeUnavailable, "pod watch: " + std::move(what)); }

// IsSafeResourceVersion accepts the opaque resourceVersion only when it can
// be put into a query string as is (etcd's are decimal).
bool IsSafeResourceVersion(std::string_view rv) {
  if (rv.empty() || rv.size() > 64) return false;
  return std::all_of(rv.begin(), rv.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
           c == '.';
  });
}

Result<std::string> MetadataResourceVersion(const Json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return Bad("object.metadata missing");
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return Bad("object.metadata.resourceVersion missing");
  return rv->get<std::string>();
}

// ReadableMetadata returns metadata.<key> of object when it is a non-empty
// string, else "".
std::string ReadableMetadata(const Json& object, std::string_view key) {
  if (!object.is_object()) return std::string();
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return std::string();
  auto it = meta->find(key);
  if (it == meta->end() || !it->is_string()) return std::string();
  return it->get<std::string>();
}

// Skipped describes a pod object ParsePod refused with error.
SkippedPod Skipped(const Json& object, std::string error) {
  return SkippedPod{ReadableMetadata(object, "name"), ReadableMetadata(object, "namespace"),
                    ReadableMetadata(object, "resourceVersion"), std::move(error)};
}

// ParseLine parses one watch line; with skip_bad_pods, a pod event whose
// object is not a usable pod comes back with skipped set instead of failing.
Result<WatchEvent> ParseLine(std::string_view line, bool skip_bad_pods) {
  auto parsed = ParseJsonObject(line, JsonLimits{kMaxWatchLineBytes, kMaxEnvelopeDepth});
  if (!parsed.ok()) return Bad("event is not a JSON object: " + parsed.status().message());
  const Json& j = *parsed;
  auto type = j.find("type");
  auto object = j.find("object");
  if (type == j.end() || !type->is_string()) return Bad("event.type missing");
  if (object == j.end() || !object->is_object()) return Bad("event.object missing");
  const std::string& t = type->get_ref<const std::string&>();
  WatchEvent ev;
  if (t == "ADDED" || t == "MODIFIED" || t == "DELETED") {
    ev.type = t == "ADDED" ? WatchEventType::kAdded : t == "MODIFIED" ? WatchEventType::kModified
                                                                      : WatchEventType::kDeleted;
    auto pod = ParsePod(DumpJson(*object));
    // An unusable pod in a well-formed envelope is skipped, not a broken
    // stream (test UnparsablePodEventIsSkippedAndCounted).
    if (!pod.ok()) {
      if (!skip_bad_pods) return Bad("event.object: " + pod.status().message());
      ev.skipped = Skipped(*object, pod.status().message());
      return ev;
    }
    if (pod->resource_version.empty()) {
      if (!skip_bad_pods) return Bad("event.object.metadata.resourceVersion missing");
      ev.skipped = Skipped(*object, "metadata.resourceVersion is missing or empty");
      return ev;
    }
    ev.resource_version = pod->resource_version;
    ev.pod = std::move(pod).value();
  } else if (t == "BOOKMARK") {
    ev.type = WatchEventType::kBookmark;
    ASTIS_ASSIGN_OR_RETURN(ev.resource_version, MetadataResourceVersion(*object));
    if (ev.resource_version.empty()) return Bad("bookmark without resourceVersion");
  } else if (t == "ERROR") {
    ev.type = WatchEventType::kError;
    if (auto code = object->find("code"); code != object->end()) {
      if (!code->is_number_integer()) return Bad("error event code is not an integer");
      ev.error_code = code->get<int64_t>();
    }
    if (auto reason = object->find("reason"); reason != object->end() && reason->is_string()) {
      ev.error_reason = reason->get<std::string>().substr(0, 64);
    }
  } else {
    return Bad("unknown event type");
  }
  return ev;
}

}  // namespace

Result<WatchEvent> ParseWatchEvent(std::string_view line) { return ParseLine(line, false); }

Result<WatchEvent> ParseWatchLine(std::string_view line) { return ParseLine(line, true); }

Result<PodList> ParsePodList(std::string_view json, size_t max_bytes) {
  auto parsed = ParseJsonObject(json, JsonLimits{max_bytes, kMaxEnvelopeDepth});
  if (!parsed.ok()) return Bad("pod list is not a JSON object: " + parsed.status().message());
  const Json& j = *parsed;
  if (auto kind = j.find("kind"); kind != j.end() && (!kind->is_string() || *kind != "PodList")) {
    return Bad("pod list kind is not PodList");
  }
  PodList list;
  ASTIS_ASSIGN_OR_RETURN(list.resource_version, MetadataResourceVersion(j));
  auto items = j.find("items");
  if (items != j.end() && !items->is_null()) {
    if (!items->is_array()) return Bad("pod list items is not an array");
    // One unparsable pod must not make the namespace unwatchable: it is
    // skipped and counted (test UnparsablePodInListIsSkippedAndCounted).
    for (const Json& item : *items) {
      if (!item.is_object()) {
        list.skipped.push_back(SkippedPod{"", "", "", "pod list item is not an object"});
        continue;
      }
      auto pod = ParsePod(DumpJson(item));
      if (!pod.ok()) {
        list.skipped.push_back(Skipped(item, pod.status().message()));
        continue;
      }
      list.items.push_back(std::move(pod).value());
    }
  }
  return list;
}

std::chrono::milliseconds NextBackoff(int attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max,
                                      Random& rng) {
  int64_t cap = std::max<int64_t>(initial.count(), 1);
  for (int i = 1; i < attempt && cap < max.count(); ++i) cap *= 2;
  cap = std::min<int64_t>(cap, max.count());
  std::array<uint8_t, 8> b{};
  if (!rng.Fill(b).ok()) return std::chrono::milliseconds(cap);
  uint64_t r = 0;
  for (uint8_t x : b) r = (r << 8) | x;
  return std::chrono::milliseconds(static_cast<int64_t>(r % (static_cast<uint64_t>(cap) + 1)));
}

Result<std::unique_ptr<PodWatcher>> PodWatcher::Start(const ClusterConnection& conn, std::string ns,
                                                      const Clock& clock, Random& rng, PodChangeCallback on_change,
                                                      WatchOptions options) {
  // The namespace becomes a request path: only a valid object name gets there.
  if (!IsValidObjectName(ns)) return Error(Code::kInvalidArgument, "pod watch: namespace is not a valid name");
  net::TlsClientConfig tls = TlsConfigOf(conn);
  net::ClientOptions copts;
  copts.connect_timeout = options.client.connect_timeout;
  copts.request_timeout = options.client.request_timeout;
  copts.max_response_body_bytes = options.max_list_bytes;
  copts.max_line_bytes = options.max_line_bytes;  // bounded lines (test OversizeLineReconnects)
  auto http = net::HttpsClient::Create(conn.api_url, tls, copts);
  if (!http.ok()) return Error(Code::kInvalidArgument, "pod watch: " + http.status().message());
  std::unique_ptr<PodWatcher> w(new PodWatcher(std::move(*http), MakeTokenSource(conn, clock), std::move(ns), clock,
                                               rng, std::move(on_change), std::move(options)));
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  return w;
}

PodWatcher::PodWatcher(std::unique_ptr<net::HttpsClient> http, std::unique_ptr<TokenSource> token, std::string ns,
                       const Clock& clock, Random& rng, PodChangeCallback on_change, WatchOptions options)
    : http_(std::move(http)),
      token_(std::move(token)),
      ns_(std::move(ns)),
      clock_(clock),
      rng_(rng),
      on_change_(std::move(on_change)),
      options_(std::move(options)) {}

PodWatcher::~PodWatcher() { Stop(); }

void PodWatcher::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    if (stream_ != nullptr) stream_->Cancel();  // test StopIsPrompt
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PodWatcher::HealthyLocked() const {
  return stats_.listed && stats_.connected && !need_list_ &&
         clock_.NowUnixMillis() - last_activity_ms_ <= options_.staleness_seconds * 1000;
}

Result<std::optional<PodView>> PodWatcher::CachedPod(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!HealthyLocked()) return Unavailable("namespace " + ns_ + " is not being watched right now");
  const PodView* p = cache_.Find(name);
  return p == nullptr ? std::optional<PodView>() : std::optional<PodView>(*p);
}

WatchStats PodWatcher::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  WatchStats s = stats_;
  s.healthy = HealthyLocked();
  s.pods = cache_.size();
  return s;
}

void PodWatcher::Notify() {
  if (options_.on_state) options_.on_state();
}

Result<std::string> PodWatcher::Authorization() {
  if (token_ == nullptr) return std::string();
  auto token = token_->Token();
  if (!token.ok()) return Unavailable("credential: " + token.status().message());
  std::string value = "Bearer ";
  value.append(token->RevealString());
  return value;
}

namespace {
void WipeAuthorization(net::HttpRequest& req) {
  for (auto& [name, value] : req.headers) {
    if (name == "Authorization") SecureWipe(value.data(), value.size());
  }
}
}  // namespace

Status PodWatcher::List() {
  net::HttpRequest req;
  req.target = "/api/v1/namespaces/" + ns_ + "/pods";
  req.headers.emplace_back("Accept", "application/json");
  ASTIS_ASSIGN_OR_RETURN(std::string auth, Authorization());
  if (!auth.empty()) req.headers.emplace_back("Authorization", std::move(auth));
  SecureWipe(auth.data(), auth.size());
  auto resp = http_->Send(req);
  WipeAuthorization(req);
  if (!resp.ok()) return Unavailable("list: " + resp.status().message());
  if (resp->status != 200) return Unavailable("list answered HTTP " + std::to_string(resp->status));
  auto list = ParsePodList(resp->body, options_.max_list_bytes);
  if (!list.ok()) return Unavailable("list: " + list.status().message());
  if (!IsSafeResourceVersion(list->resource_version)) return Unavailable("list: unusable resourceVersion");
  for (const PodView& p : list->items) {
    if (p.ns != ns_) return Unavailable("list returned a pod of another namespace");
  }
  for (const SkippedPod& p : list->skipped) {
    if (!p.ns.empty() && p.ns != ns_) return Unavailable("list returned a pod of another namespace");
  }
  std::vector<PodChange> changes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Skipped pods are absent from items, so Replace drops any cached
    // version of them: CachedPod answers nullopt and gate 4 reads the API.
    stats_.skipped_pods += list->skipped.size();
    changes = cache_.Replace(std::move(list->items));
    resource_version_ = list->resource_version;
    need_list_ = false;
    if (stats_.listed) ++stats_.relists;
    stats_.listed = true;
    last_activity_ms_ = clock_.NowUnixMillis();
    attempt_ = 0;
  }
  for (const PodChange& c : changes) on_change_(c);
  Notify();
  return OkStatus();
}

Status PodWatcher::WatchOnce() {
  net::HttpRequest req;
  {
    std::lock_guard<std::mutex> lock(mu_);
    req.target = "/api/v1/namespaces/" + ns_ + "/pods?watch=1&allowWatchBookmarks=true&resourceVersion=" +
                 resource_version_ + "&timeoutSeconds=" + std::to_string(options_.timeout_seconds);
  }
  req.headers.emplace_back("Accept", "application/json");
  ASTIS_ASSIGN_OR_RETURN(std::string auth, Authorization());
  if (!auth.empty()) req.headers.emplace_back("Authorization", std::move(auth));
  SecureWipe(auth.data(), auth.size());
  auto opened = http_->OpenLineStream(req);
  WipeAuthorization(req);
  if (!opened.ok()) return Unavailable("watch: " + opened.status().message());
  std::unique_ptr<net::LineStream> stream = std::move(opened).value();
  if (stream->status() == 410) {
    // k8s-watch-events.md: a compacted resourceVersion may be refused up
    // front with HTTP 410: re-LIST (test GoneStatusRelists).
    std::lock_guard<std::mutex> lock(mu_);
    need_list_ = true;
    return OkStatus();
  }
  if (stream->status() != 200) return Unavailable("watch answered HTTP " + std::to_string(stream->status()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return OkStatus();
    stream_ = stream.get();
    if (opened_once_) ++stats_.restarts;
    opened_once_ = true;
    stats_.connected = true;
    last_activity_ms_ = clock_.NowUnixMillis();
  }
  Notify();
  Status result = OkStatus();
  size_t lines = 0;
  while (true) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options_.timeout_seconds) +
                          kStreamSlack;
    auto line = stream->NextLine(deadline);
    if (!line.ok()) {
      result = Unavailable("stream broke: " + line.status().message());
      break;
    }
    if (!line->has_value()) {
      // A normal end (timeoutSeconds): resume from the last resourceVersion.
      // A stream that ends without a single line is a failure, so a broken
      // server cannot make the watcher spin (test EmptyStreamBacksOff).
      if (lines == 0) result = Unavailable("stream ended without an event");
      break;
    }
    if ((*line)->empty()) continue;
    ++lines;
    auto ev = ParseWatchLine(**line);
    if (!ev.ok()) {
      result = Unavailable(ev.status().message());  // test MalformedEventReconnects
      break;
    }
    if (ev->skipped) {
      // An unparsable pod in a well-formed event: that pod is unknown from
      // now on, the stream goes on (test UnparsablePodEventIsSkippedAndCounted).
      const SkippedPod& sp = *ev->skipped;
      if (!sp.ns.empty() && sp.ns != ns_) {
        result = Unavailable("event for a pod of another namespace");
        break;
      }
      if (sp.name.empty()) {
        // No name: any cached pod may be the stale one, so re-LIST (which
        // skips the pod if it is still unparsable).
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.skipped_pods;
        need_list_ = true;
        break;
      }
      std::optional<PodChange> change;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++stats_.skipped_pods;
        ++stats_.events;
        if (IsSafeResourceVersion(sp.resource_version)) resource_version_ = sp.resource_version;
        last_activity_ms_ = clock_.NowUnixMillis();
        attempt_ = 0;
        change = cache_.Remove(sp.name);  // never serve a stale version of it
      }
      if (change) on_change_(*change);
      Notify();
      continue;
    }
    if (ev->type == WatchEventType::kError) {
      if (ev->error_code == 410) {
        // RFC-less but documented (k8s-watch-events.md, client-go Reflector):
        // Expired/Gone means re-LIST and diff (test ErrorGoneRelistsWithDiff).
        std::lock_guard<std::mutex> lock(mu_);
        need_list_ = true;
      } else {
        result = Unavailable("error event with code " + std::to_string(ev->error_code));
      }
      break;
    }
    if (!IsSafeResourceVersion(ev->resource_version)) {
      result = Unavailable("event with an unusable resourceVersion");
      break;
    }
    if (ev->pod && ev->pod->ns != ns_) {
      result = Unavailable("event for a pod of another namespace");
      break;
    }
    std::optional<PodChange> change;
    {
      std::lock_guard<std::mutex> lock(mu_);
      resource_version_ = ev->resource_version;
      ++stats_.events;
      last_activity_ms_ = clock_.NowUnixMillis();
      attempt_ = 0;
      if (ev->type == WatchEventType::kAdded || ev->type == WatchEventType::kModified) {
        change = cache_.Upsert(*ev->pod);
      } else if (ev->type == WatchEventType::kDeleted) {
        change = cache_.Remove(ev->pod->name);
      }
    }
    if (change) on_change_(*change);
    Notify();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = nullptr;
    stats_.connected = false;
  }
  Notify();
  return result;
}

void PodWatcher::Backoff() {
  std::unique_lock<std::mutex> lock(mu_);
  ++stats_.failures;
  ++attempt_;
  const auto wait = NextBackoff(attempt_, options_.initial_backoff, options_.max_backoff, rng_);
  if (options_.sleeper) {
    lock.unlock();
    options_.sleeper(wait);
    return;
  }
  cv_.wait_for(lock, wait, [this] { return stop_; });
}

void PodWatcher::Run() {
  bool relisted_quietly = false;  // a re-LIST followed by 410 again without progress
  while (true) {
    bool need_list = false;
    uint64_t events_before = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      need_list = need_list_;
      events_before = stats_.events;
    }
    Status s = OkStatus();
    if (need_list) s = List();
    if (s.ok()) s = WatchOnce();
    bool gone_again = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      const bool progressed = stats_.events != events_before;
      gone_again = s.ok() && need_list_ && need_list && !progressed && relisted_quietly;
      relisted_quietly = s.ok() && need_list_ && !progressed;
    }
    if (!s.ok() || gone_again) Backoff();
  }
}

}  // namespace astis::kube
