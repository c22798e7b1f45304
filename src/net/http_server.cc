#include "net/http_server.h"

#include <fcntl.h>
#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "net/internal/ossl.h"
#include "net/internal/request_parse.h"
#include "net/internal/tls_context.h"

namespace astis::net {
namespace {

// SetCloseOnExec marks fd FD_CLOEXEC; a failure only means a forked child
// could inherit it, so it is not fatal.
void SetCloseOnExec(int fd) {
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) (void)::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr size_t kLingerDrainBytes = 1024 * 1024;
constexpr std::chrono::milliseconds kLingerTimeout{1000};
constexpr std::chrono::milliseconds kLingerTimeoutStopping{100};

}  // namespace

ServerResponse JsonError(int status, std::string_view code, std::string_view message) {
  ServerResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "application/json");
  nlohmann::json body = {{"error", {{"code", code}, {"message", message}}}};
  response.body = body.dump();
  return response;
}

namespace {

// LayerError is an error answer the HTTP layer makes itself (a refused
// request, a failed handler). docs/protocol.md §4.6: every response, including
// these, carries Cache-Control: no-store (test LayerResponsesCarryNoStore).
// Handler answers add their own.
ServerResponse LayerError(int status, std::string_view code, std::string_view message) {
  ServerResponse response = JsonError(status, code, message);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

// Validated returns response, or a 500 in its place when its status or a
// header field could not be sent as given.
ServerResponse Validated(ServerResponse response) {
  bool valid = response.status >= 200 && response.status <= 599;
  for (const auto& [name, value] : response.headers) valid = valid && ValidateHeaderField(name, value).ok();
  return valid ? std::move(response) : LayerError(500, "internal_error", "internal error");
}

// ReleaseOnce makes the Release of a held response: sink runs exactly once,
// on the first call, or with a 500 when the last copy of the Release is
// destroyed uncalled (a holder that dropped it must not leave the client
// waiting, nor Stop).
Release ReleaseOnce(std::function<void(std::optional<ServerResponse>)> sink) {
  struct State {
    explicit State(std::function<void(std::optional<ServerResponse>)> s) : sink(std::move(s)) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
      if (!fired.load()) sink(LayerError(500, "internal_error", "internal error"));
    }
    void Fire(std::optional<ServerResponse> response) {
      if (fired.exchange(true)) return;
      auto s = std::move(sink);
      s(std::move(response));
    }
    std::function<void(std::optional<ServerResponse>)> sink;
    std::atomic<bool> fired{false};
  };
  auto state = std::make_shared<State>(std::move(sink));
  return [state](std::optional<ServerResponse> response) { state->Fire(std::move(response)); };
}

// StartHold calls response's hold (set) with a Release that hands deliver
// the answer to send, once: the held response or the holder's replacement,
// either with hold cleared. Used by the server and by AwaitHeld.
void StartHold(ServerResponse response, std::function<void(ServerResponse)> deliver) {
  std::function<void(Release)> hold = std::move(response.hold);
  response.hold = nullptr;
  auto held = std::make_shared<ServerResponse>(std::move(response));
  Release release = ReleaseOnce([held, deliver = std::move(deliver)](std::optional<ServerResponse> other) mutable {
    ServerResponse out = other.has_value() ? std::move(*other) : std::move(*held);
    out.hold = nullptr;
    deliver(std::move(out));
  });
  try {
    hold(std::move(release));
  } catch (...) {
    // A holder that throws: if it dropped the Release, that delivered a 500.
  }
}

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Begin() = 0;
  // StopIdle closes the connection unless a request is in flight (posted to
  // the session's strand).
  virtual void StopIdle() = 0;
  // ForceClose closes the connection now (posted to the session's strand).
  virtual void ForceClose() = 0;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(ServerLimits limits, Handler handler, std::shared_ptr<ssl::context> ctx, unsigned threads)
      : limits_(limits),
        handler_(std::move(handler)),
        tls_(ctx != nullptr),
        ctx_(std::move(ctx)),
        thread_count_(threads),
        acceptor_(asio::make_strand(ioc_)),
        retry_timer_(acceptor_.get_executor()) {}

  Status Listen(const std::string& address, uint16_t port) {
    error_code ec;
    asio::ip::address addr = asio::ip::make_address(address, ec);
    if (ec) return Status(Code::kInvalidArgument, "bind address is not an IP address: " + address);
    tcp::endpoint endpoint(addr, port);
    acceptor_.open(endpoint.protocol(), ec);
    // Asio does not open sockets close-on-exec: a child a test (or an
    // embedding program) forks would inherit the listening port and keep it
    // bound after Stop(). Test: ListeningSocketIsCloseOnExec.
    if (!ec) SetCloseOnExec(acceptor_.native_handle());
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status(Code::kUnavailable, "listening on " + address + ":" + std::to_string(port) + ": " + ec.message());
    port_ = acceptor_.local_endpoint(ec).port();
    return OkStatus();
  }

  void Run() {
    Accept();
    for (unsigned i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  void Stop(std::chrono::milliseconds grace) {
    if (stopped_.exchange(true)) return;
    stopping_.store(true);
    asio::post(acceptor_.get_executor(), [this] {
      error_code ec;
      acceptor_.close(ec);
      retry_timer_.cancel();
    });
    ForEachSession([](SessionBase& s) { s.StopIdle(); });
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    cv_.wait_until(lock, deadline, [this] { return sessions_.empty() && outside_ == 0; });
    lock.unlock();
    ForEachSession([](SessionBase& s) { s.ForceClose(); });
    lock.lock();
    // Stream threads and held responses must end before the io_context
    // stops: a stream's writes complete on it and a Release posts to it.
    // Closed sockets make every pending write fail at once; a held response
    // waits for its holder (e.g. an audit fdatasync), not a client.
    cv_.wait(lock, [this] { return outside_ == 0; });
    lock.unlock();
    work_.reset();
    ioc_.stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  void Register(const std::shared_ptr<SessionBase>& session) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_[session.get()] = session;
  }
  void Deregister(SessionBase* session) {
    std::lock_guard<std::mutex> lock(mu_);
    sessions_.erase(session);
    cv_.notify_all();
  }
  // OutsideStarted / OutsideDone bracket work that runs off the server's
  // threads and completes on its io_context: a stream's thread, a held
  // response until its Release.
  void OutsideStarted() {
    std::lock_guard<std::mutex> lock(mu_);
    ++outside_;
  }
  void OutsideDone() {
    std::lock_guard<std::mutex> lock(mu_);
    --outside_;
    cv_.notify_all();  // under the lock: Stop may destroy *this once it sees 0
  }
  size_t active_connections() {
    std::lock_guard<std::mutex> lock(mu_);
    return sessions_.size();
  }

  const ServerLimits& limits() const { return limits_; }
  const Handler& handler() const { return handler_; }

  // context is the TLS context for the next accepted connection (null:
  // plain HTTP). Each session keeps its own reference.
  std::shared_ptr<ssl::context> context() {
    std::lock_guard<std::mutex> lock(ctx_mu_);
    return ctx_;
  }
  Status SwapContext(const TlsServerConfig& config) {
    if (!tls_) return Status(Code::kFailedPrecondition, "the server does not serve TLS");
    if (mutual_tls_ && !config.client_ca_pem.has_value()) {
      return Status(Code::kInvalidArgument, "a reload may not turn mutual TLS off");
    }
    if (client_pins_ && config.pinned_client_cert_sha256.empty()) {
      return Status(Code::kInvalidArgument, "a reload may not drop the client certificate pins");
    }
    ASTIS_ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> next, internal::MakeServerContext(config));
    std::lock_guard<std::mutex> lock(ctx_mu_);
    ctx_ = std::move(next);
    return OkStatus();
  }
  void SetTlsFloor(const TlsServerConfig& config) {
    mutual_tls_ = config.client_ca_pem.has_value();
    client_pins_ = !config.pinned_client_cert_sha256.empty();
  }
  bool stopping() const { return stopping_.load(); }
  uint16_t port() const { return port_; }

 private:
  void ForEachSession(const std::function<void(SessionBase&)>& fn) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [raw, weak] : sessions_) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) fn(*s);
  }

  void Accept();
  void OnAccept(error_code ec, tcp::socket socket);

  const ServerLimits limits_;
  const Handler handler_;
  const bool tls_;
  bool mutual_tls_ = false;   // set once by Start: a reload keeps mutual TLS on
  bool client_pins_ = false;  // set once by Start: a reload keeps client pins
  std::mutex ctx_mu_;
  std::shared_ptr<ssl::context> ctx_;  // null: plain HTTP; swapped by ReloadTls
  const unsigned thread_count_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_;
  size_t outside_ = 0;  // streams running and held responses not yet released (OutsideStarted)
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  uint16_t port_ = 0;
  // Declared after everything a queued handler may touch: destroyed first.
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  tcp::acceptor acceptor_;
  asio::steady_timer retry_timer_;
  std::vector<std::thread> threads_;
};

namespace {

template <class Stream>
class Session final : public SessionBase {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  enum class State { kHandshake, kIdle, kReadingHeader, kBusy, kStreaming, kClosing };

 public:
  // ctx is held for the session's life: a reload swaps the server's
  // context, never one a connection is using.
  Session(HttpServer::Impl* server, tcp::socket socket, std::shared_ptr<ssl::context> ctx)
      : server_(server), ctx_(std::move(ctx)), stream_(Make(std::move(socket), ctx_.get())) {
    error_code ec;
    tcp::endpoint remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) peer_address_ = remote.address().to_string();
  }
  ~Session() override { server_->Deregister(this); }

  void Begin() override {
    asio::dispatch(stream_.get_executor(), [self = Self()] { self->DoHandshake(); });
  }

  void StopIdle() override {
    asio::post(stream_.get_executor(), [self = Self()] {
      if (self->state_ == State::kHandshake || self->state_ == State::kIdle ||
          self->state_ == State::kReadingHeader) {
        self->Close();
      }
    });
  }

  void ForceClose() override {
    asio::post(stream_.get_executor(), [self = Self()] { self->Close(); });
  }

 private:
  class Writer final : public StreamWriter {
   public:
    explicit Writer(std::shared_ptr<Session> session) : session_(std::move(session)) {}
    bool WriteLine(std::string_view line) override {
      if (failed_ || session_->server_->stopping()) return false;
      auto chunk = std::make_shared<std::string>();
      char size_hex[32];
      std::snprintf(size_hex, sizeof size_hex, "%zx\r\n", line.size() + 1);
      *chunk = std::string(size_hex) + std::string(line) + "\n\r\n";
      failed_ = !session_->WriteRawAndWait(std::move(chunk));
      return !failed_;
    }
    bool stopping() const override { return session_->server_->stopping(); }
    bool failed() const { return failed_; }

   private:
    std::shared_ptr<Session> session_;
    bool failed_ = false;
  };

  static Stream Make(tcp::socket socket, ssl::context* ctx) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *ctx);
    } else {
      (void)ctx;
      return Stream(std::move(socket));
    }
  }
  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  const ServerLimits& limits() const { return server_->limits(); }
  auto& tcp_layer() { return beast::get_lowest_layer(stream_); }

  void DoHandshake() {
    if constexpr (kTls) {
      tcp_layer().expires_after(limits().handshake_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = Self()](error_code ec) {
        if (ec) return self->Close();
        if (X509* cert = SSL_get0_peer_certificate(self->stream_.native_handle())) {
          Result<Sha256Digest> digest = internal::DerSha256(cert);
          if (!digest.ok()) return self->Close();
          self->peer_cert_sha256_ = *digest;
          unsigned char* der = nullptr;
          const int len = i2d_X509(cert, &der);
          if (len <= 0) return self->Close();
          self->peer_cert_der_ = std::make_shared<const std::vector<uint8_t>>(der, der + len);
          OPENSSL_free(der);
        }
        self->WaitForRequest(self->limits().header_timeout);
      });
    } else {
      WaitForRequest(limits().header_timeout);
    }
  }

  // WaitForRequest waits up to `wait` for the first byte of the next request
  // (the keep-alive idle timeout), then gives the whole header
  // header_timeout: a client trickling a header byte by byte is closed when
  // it expires (slowloris). Checked by SlowClientHeaderTimeout.
  void WaitForRequest(std::chrono::milliseconds wait) {
    if (server_->stopping()) return Close();
    state_ = State::kIdle;
    if (buffer_.size() > 0) return ReadHeader();
    tcp_layer().expires_after(wait);
    stream_.async_read_some(buffer_.prepare(4096), [self = Self()](error_code ec, size_t n) {
      self->buffer_.commit(n);
      if (ec) return self->Close();
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    state_ = State::kReadingHeader;
    parser_.emplace();
    internal::ApplyLimits(*parser_, limits());
    tcp_layer().expires_after(limits().header_timeout);
    http::async_read_header(stream_, buffer_, *parser_, [self = Self()](error_code ec, size_t) {
      self->OnHeader(ec);
    });
  }

  void OnHeader(error_code ec) {
    if (ec) return OnReadError(ec);
    state_ = State::kBusy;
    // Checked by RejectsTooManyHeaders (431), RejectsNonOriginFormTarget and
    // the framing and Host rules of RFC 9112 §3.2, §6.1, §6.3 (tests
    // *RefusedAndClosed; see internal::CheckHeader). A refusal is sent with
    // Connection: close and the connection is closed after it, before any
    // byte of the body is read: nothing after an ambiguously framed request
    // on this connection is ever parsed as a request.
    if (auto refusal = internal::CheckHeader(*parser_, limits())) {
      return SendError(refusal->status, refusal->code, refusal->message);
    }
    header_ = internal::HeaderSection(*parser_);
    const auto& req = parser_->get();
    // RFC 9110 §10.1.1: a server that will read the body SHOULD answer
    // "100-continue" with an interim 100 response.
    if (!parser_->is_done() && beast::iequals(req[http::field::expect], "100-continue")) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      tcp_layer().expires_after(limits().write_timeout);
      asio::async_write(stream_, asio::buffer(kContinue), [self = Self()](error_code e, size_t) {
        if (e) return self->Close();
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    tcp_layer().expires_after(limits().body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = Self()](error_code e, size_t) {
      if (e) return self->OnReadError(e);
      self->Dispatch();
    });
  }

  void OnReadError(const error_code& ec) {
    // Checked by RejectsOversizeBody (413) and RejectsTooManyHeaders (431).
    if (auto refusal = internal::RefusalForReadError(ec)) {
      return SendError(refusal->status, refusal->code, refusal->message);
    }
    // Timeouts (the timer already closed the socket), resets, TLS errors.
    Close();
  }

  void Dispatch() {
    const bool keep_alive = parser_->get().keep_alive();
    ServerRequest request = internal::TakeRequest(*parser_, std::move(header_));
    header_.clear();
    request.peer_address = peer_address_;
    request.peer_cert_sha256 = peer_cert_sha256_;
    request.peer_cert_der = peer_cert_der_;
    parser_.reset();

    ServerResponse response;
    try {
      response = server_->handler()(request);
    } catch (...) {
      // Handler exceptions stop here. Checked by HandlerExceptionBecomes500.
      response = LayerError(500, "internal_error", "internal error");
    }
    if (response.stream) return StartStream(Validated(std::move(response)));
    if (response.hold) return Hold(std::move(response), keep_alive);
    WriteResponse(Validated(std::move(response)), keep_alive && !server_->stopping());
  }

  // Hold hands a held response's Release to its holder; the session stays
  // busy (no read, no timeout) until the Release posts the answer back to
  // the session's strand. The Release owns the session until then.
  void Hold(ServerResponse response, bool keep_alive) {
    HttpServer::Impl* server = server_;
    server->OutsideStarted();
    StartHold(std::move(response), [self = Self(), keep_alive, server](ServerResponse out) mutable {
      out.stream = nullptr;  // a replacement is a plain response
      out = Validated(std::move(out));
      // The session reference moves into the posted handler: once OutsideDone
      // lets Stop go on, nothing on this thread refers to the server.
      auto executor = self->stream_.get_executor();
      asio::post(executor, [s = std::move(self), out = std::move(out), keep_alive]() mutable {
        s->WriteResponse(std::move(out), keep_alive && !s->server_->stopping());
      });
      server->OutsideDone();
    });
  }

  void WriteResponse(ServerResponse response, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>();
    try {
      BuildResponse(*res, std::move(response), keep_alive);
    } catch (const std::exception&) {
      // Beast refuses e.g. a body on a 204/304: answer 500 instead.
      keep_alive = false;
      *res = {};
      BuildResponse(*res, LayerError(500, "internal_error", "internal error"), keep_alive);
    }
    tcp_layer().expires_after(limits().write_timeout);
    http::async_write(stream_, *res, [self = Self(), res, keep_alive](error_code ec, size_t) {
      if (ec) return self->Close();
      if (!keep_alive) return self->LingeringClose();
      self->WaitForRequest(self->limits().idle_timeout);
    });
  }

  static void BuildResponse(http::response<http::string_body>& res, ServerResponse response, bool keep_alive) {
    res.result(static_cast<unsigned>(response.status));
    res.version(11);
    for (const auto& [name, value] : response.headers) res.insert(name, value);
    res.body() = std::move(response.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
  }

  void SendError(int status, std::string_view code, std::string_view message) {
    state_ = State::kBusy;
    WriteResponse(LayerError(status, code, message), /*keep_alive=*/false);
  }

  void StartStream(ServerResponse response) {
    state_ = State::kStreaming;
    auto res = std::make_shared<http::response<http::empty_body>>();
    res->result(static_cast<unsigned>(response.status));
    res->version(11);
    for (const auto& [name, value] : response.headers) res->insert(name, value);
    res->keep_alive(false);
    res->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    tcp_layer().expires_after(limits().write_timeout);
    server_->OutsideStarted();
    http::async_write_header(
        stream_, *serializer,
        [self = Self(), res, serializer, stream = std::move(response.stream)](error_code ec, size_t) mutable {
          if (ec) {
            self->server_->OutsideDone();
            return self->Close();
          }
          try {
            std::thread(&Session::RunStream, self, std::move(stream)).detach();
          } catch (const std::system_error&) {
            self->server_->OutsideDone();  // no thread available: end the response
            self->Close();
          }
        });
  }

  // RunStream runs on its own thread: calls the handler's stream callback
  // until it returns false, a write fails or the server stops.
  static void RunStream(std::shared_ptr<Session> self, std::function<bool(StreamWriter&)> stream) {
    HttpServer::Impl* server = self->server_;
    {
      Writer writer(self);
      try {
        while (!server->stopping() && !writer.failed() && stream(writer)) {
        }
      } catch (...) {
        // A throwing stream callback ends the stream; the body is truncated.
      }
      stream = nullptr;
      if (!writer.failed()) {
        auto last = std::make_shared<std::string>("0\r\n\r\n");
        self->WriteRawAndWait(std::move(last));
      }
      asio::post(self->stream_.get_executor(), [s = self] { s->LingeringClose(); });
      self.reset();
    }
    server->OutsideDone();
  }

  // WriteRawAndWait writes bytes on the session's strand and waits for the
  // result (called from a stream thread).
  bool WriteRawAndWait(std::shared_ptr<std::string> bytes) {
    auto done = std::make_shared<std::promise<bool>>();
    std::future<bool> result = done->get_future();
    asio::post(stream_.get_executor(), [self = Self(), bytes, done] {
      self->tcp_layer().expires_after(self->limits().write_timeout);
      asio::async_write(self->stream_, asio::buffer(*bytes),
                        [done, bytes](error_code ec, size_t) { done->set_value(!ec); });
    });
    try {
      return result.get();
    } catch (const std::future_error&) {
      return false;  // the io_context dropped the operation
    }
  }

  // LingeringClose sends FIN, then drains what the client still sends for a
  // short while so the response is not lost to a TCP reset.
  void LingeringClose() {
    if (state_ == State::kClosing) return;
    state_ = State::kClosing;
    error_code ec;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    // While stopping, linger only briefly so Stop stays prompt.
    tcp_layer().expires_after(server_->stopping() ? kLingerTimeoutStopping : kLingerTimeout);
    Drain();
  }
  void Drain() {
    tcp_layer().async_read_some(asio::buffer(drain_), [self = Self()](error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kLingerDrainBytes) return self->Close();
      self->Drain();
    });
  }

  void Close() {
    state_ = State::kClosing;
    error_code ec;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp_layer().socket().close(ec);
  }

  HttpServer::Impl* const server_;
  const std::shared_ptr<ssl::context> ctx_;  // declared before stream_: outlives it
  Stream stream_;
  beast::flat_buffer buffer_{16 * 1024};
  std::optional<http::request_parser<http::string_body>> parser_;
  HeaderList header_;  // the header section, copied when it completed (never trailer fields)
  State state_ = State::kHandshake;
  std::string peer_address_;
  std::optional<Sha256Digest> peer_cert_sha256_;
  std::shared_ptr<const std::vector<uint8_t>> peer_cert_der_;
  std::array<char, 4096> drain_{};
  size_t drained_ = 0;
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void HttpServer::Impl::OnAccept(error_code ec, tcp::socket socket) {
  if (stopping_.load() || ec == asio::error::operation_aborted) return;
  if (ec) {
    // E.g. EMFILE: back off briefly instead of spinning.
    retry_timer_.expires_after(std::chrono::milliseconds(100));
    retry_timer_.async_wait([this](error_code e) {
      if (!e && !stopping_.load()) Accept();
    });
    return;
  }
  SetCloseOnExec(socket.native_handle());
  // No Nagle: a TLS 1.3 server sends its session tickets and then the
  // response as separate small segments; with Nagle the second waits for
  // the client's delayed ACK (40 ms on Linux). A fresh SDK connection (a
  // pod's cold start) paid that once: 14 ms best, 55 ms median, before this
  // (docs/performance.md "SDK cold start").
  {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
  }
  if (active_connections() >= limits_.max_connections) {
    error_code ignored;
    socket.close(ignored);  // over the connection limit: closed at once
  } else {
    std::shared_ptr<SessionBase> session;
    if (std::shared_ptr<ssl::context> ctx = context()) {
      session =
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(this, std::move(socket), std::move(ctx));
    } else {
      session = std::make_shared<Session<beast::tcp_stream>>(this, std::move(socket), nullptr);
    }
    Register(session);
    session->Begin();
    // Stop may have taken its snapshot of sessions (to close idle ones)
    // between the stopping_ check above and Register: a connection accepted
    // in that window is told here instead, so it cannot hold Stop for the
    // whole grace period (test GracefulStopFinishesInFlight).
    if (stopping_.load()) session->StopIdle();
  }
  Accept();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const ServerConfig& config, Handler handler) {
  if (!handler) return Status(Code::kInvalidArgument, "HttpServer needs a handler");
  std::shared_ptr<ssl::context> ctx;
  if (config.tls.has_value()) {
    ASTIS_ASSIGN_OR_RETURN(ctx, internal::MakeServerContext(*config.tls));
  }
  unsigned threads = config.threads != 0 ? config.threads : std::max(1u, std::thread::hardware_concurrency());
  auto impl = std::make_shared<Impl>(config.limits, std::move(handler), std::move(ctx), threads);
  if (config.tls.has_value()) impl->SetTlsFloor(*config.tls);
  ASTIS_RETURN_IF_ERROR(impl->Listen(config.bind_address, config.port));
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { impl_->Stop(std::chrono::milliseconds(0)); }

uint16_t HttpServer::port() const { return impl_->port(); }

void HttpServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

size_t HttpServer::active_connections() const { return impl_->active_connections(); }

Status HttpServer::ReloadTls(const TlsServerConfig& config) { return impl_->SwapContext(config); }

ServerResponse AwaitHeld(ServerResponse response) {
  if (!response.hold) return response;
  auto released = std::make_shared<std::promise<ServerResponse>>();
  std::future<ServerResponse> answer = released->get_future();
  StartHold(std::move(response), [released](ServerResponse out) { released->set_value(std::move(out)); });
  return answer.get();
}

}  // namespace astis::net
