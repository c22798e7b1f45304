#include "net/https_client.h"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <charconv>
#include <mutex>
#include <type_traits>
#include <vector>

#include "net/internal/header_fields.h"
#include "net/internal/tls_context.h"

namespace astis::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using SteadyTime = std::chrono::steady_clock::time_point;

struct Origin {
  bool tls = true;
  std::string host;         // without brackets
  std::string port;         // decimal
  uint16_t port_number = 0;
  std::string host_header;  // "host:port", IPv6 in brackets
  std::string base_path;    // "" or "/prefix" without trailing '/'
};

Result<Origin> ParseBaseUrl(std::string_view url) {
  Origin origin;
  if (url.starts_with("https://")) {
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    origin.tls = false;
    url.remove_prefix(7);
  } else {
    return Status(Code::kInvalidArgument, "base URL must start with https:// (or http:// for loopback tests)");
  }
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view path = url.substr(slash);
    while (path.ends_with('/')) path.remove_suffix(1);
    if (path.find_first_of("?# ") != std::string_view::npos) {
      return Status(Code::kInvalidArgument, "base URL path must not hold a query, fragment or space");
    }
    origin.base_path = std::string(path);
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status(Code::kInvalidArgument, "unterminated IPv6 literal in base URL");
    origin.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return Status(Code::kInvalidArgument, "junk after IPv6 literal in base URL");
      port = rest.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    origin.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (origin.host.empty() || origin.host.find_first_of("@ ") != std::string::npos) {
    return Status(Code::kInvalidArgument, "base URL has no usable host");
  }
  if (port.empty()) {
    origin.port = origin.tls ? "443" : "80";
  } else {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return Status(Code::kInvalidArgument, "base URL port is not 1..65535");
    }
    origin.port = std::string(port);
  }
  origin.port_number = static_cast<uint16_t>(std::stoul(origin.port));  // validated 1..65535 above
  const bool v6 = origin.host.find(':') != std::string::npos;
  origin.host_header = (v6 ? "[" + origin.host + "]" : origin.host) + ":" + origin.port;
  return origin;
}

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" || method == "OPTIONS";
}

// Runs one async operation on a private io_context until it completes. The
// operation's own deadline (tcp_stream::expires_at) bounds the wait.
template <class Start>
error_code RunOne(asio::io_context& ioc, Start&& start) {
  error_code result = asio::error::would_block;
  ioc.restart();
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.run();
  return result;
}

// Connection is one TCP (+TLS) connection with its own io_context, used by
// one thread at a time.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Status Connect(const Origin& origin, const std::string& tls_name, bool verify_hostname,
                         SteadyTime connect_deadline) = 0;
  virtual error_code Write(http::request<http::string_body>& req, SteadyTime deadline) = 0;
  virtual error_code ReadHeader(http::response_parser<http::string_body>& parser, SteadyTime deadline) = 0;
  virtual error_code Read(http::response_parser<http::string_body>& parser, SteadyTime deadline) = 0;
  virtual error_code ReadHeader(http::response_parser<http::buffer_body>& parser, SteadyTime deadline) = 0;
  virtual error_code ReadSome(http::response_parser<http::buffer_body>& parser, SteadyTime deadline) = 0;
  // Close closes the socket; posted from another thread it aborts pending I/O.
  virtual void Close() = 0;
  // LooksAlive is false if the peer closed or sent unsolicited bytes.
  virtual bool LooksAlive() = 0;

  asio::io_context& ioc() { return ioc_; }
  bool reused = false;

 protected:
  asio::io_context ioc_{1};
  beast::flat_buffer buffer_;
};

template <class Stream>
class ConnectionT final : public Connection {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  explicit ConnectionT(ssl::context* ctx) : stream_(Make(ioc_, ctx)) {}
  ~ConnectionT() override { Close(); }

  Status Connect(const Origin& origin, const std::string& tls_name, bool verify_hostname,
                 SteadyTime deadline) override {
    auto& tcp_layer = beast::get_lowest_layer(stream_);
    error_code ec;
    const asio::ip::address literal = asio::ip::make_address(origin.host, ec);
    if (!ec) {
      // An IP literal needs no resolver (and no resolver thread).
      tcp_layer.expires_at(deadline);
      tcp::endpoint endpoint(literal, origin.port_number);
      ec = RunOne(ioc_, [&](auto handler) { tcp_layer.async_connect(endpoint, std::move(handler)); });
    } else {
      ASTIS_ASSIGN_OR_RETURN(tcp::resolver::results_type endpoints, Resolve(origin, deadline));
      tcp_layer.expires_at(deadline);
      ec = RunOne(ioc_, [&](auto handler) { tcp_layer.async_connect(endpoints, std::move(handler)); });
    }
    if (ec) return Status(Code::kUnavailable, "connecting to " + origin.host_header + ": " + ec.message());
    error_code opt_ec;
    tcp_layer.socket().set_option(tcp::no_delay(true), opt_ec);
    if constexpr (kTls) {
      ASTIS_RETURN_IF_ERROR(internal::ConfigureClientSsl(stream_.native_handle(), tls_name, verify_hostname));
      tcp_layer.expires_at(deadline);
      ec = RunOne(ioc_, [&](auto handler) { stream_.async_handshake(ssl::stream_base::client, std::move(handler)); });
      if (ec) return Status(Code::kUnavailable, "TLS handshake with " + origin.host_header + ": " + ec.message());
    }
    return OkStatus();
  }

  Result<tcp::resolver::results_type> Resolve(const Origin& origin, SteadyTime deadline) {
    tcp::resolver resolver(ioc_);
    tcp::resolver::results_type endpoints;
    error_code ec = asio::error::would_block;
    ioc_.restart();
    resolver.async_resolve(origin.host, origin.port, tcp::resolver::numeric_service,
                           [&](error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                           });
    ioc_.run_until(deadline);
    if (ec == asio::error::would_block) {
      resolver.cancel();
      ioc_.restart();
      ioc_.run();
      return Status(Code::kUnavailable, "resolving " + origin.host + ": timed out");
    }
    if (ec) return Status(Code::kUnavailable, "resolving " + origin.host + ": " + ec.message());
    return endpoints;
  }

  error_code Write(http::request<http::string_body>& req, SteadyTime deadline) override {
    beast::get_lowest_layer(stream_).expires_at(deadline);
    return RunOne(ioc_, [&](auto handler) { http::async_write(stream_, req, std::move(handler)); });
  }
  error_code ReadHeader(http::response_parser<http::string_body>& parser, SteadyTime deadline) override {
    beast::get_lowest_layer(stream_).expires_at(deadline);
    return RunOne(ioc_, [&](auto handler) { http::async_read_header(stream_, buffer_, parser, std::move(handler)); });
  }
  error_code Read(http::response_parser<http::string_body>& parser, SteadyTime deadline) override {
    beast::get_lowest_layer(stream_).expires_at(deadline);
    return RunOne(ioc_, [&](auto handler) { http::async_read(stream_, buffer_, parser, std::move(handler)); });
  }
  error_code ReadHeader(http::response_parser<http::buffer_body>& parser, SteadyTime deadline) override {
    beast::get_lowest_layer(stream_).expires_at(deadline);
    return RunOne(ioc_, [&](auto handler) { http::async_read_header(stream_, buffer_, parser, std::move(handler)); });
  }
  error_code ReadSome(http::response_parser<http::buffer_body>& parser, SteadyTime deadline) override {
    beast::get_lowest_layer(stream_).expires_at(deadline);
    return RunOne(ioc_, [&](auto handler) { http::async_read_some(stream_, buffer_, parser, std::move(handler)); });
  }
  void Close() override {
    error_code ec;
    beast::get_lowest_layer(stream_).socket().close(ec);
  }
  bool LooksAlive() override {
    auto& socket = beast::get_lowest_layer(stream_).socket();
    if (!socket.is_open() || buffer_.size() != 0) return false;
    pollfd pfd{socket.native_handle(), POLLIN | POLLRDHUP, 0};
    return ::poll(&pfd, 1, 0) == 0;
  }

 private:
  static Stream Make(asio::io_context& ioc, ssl::context* ctx) {
    if constexpr (kTls) {
      return Stream(ioc, *ctx);
    } else {
      (void)ctx;
      return Stream(ioc);
    }
  }
  Stream stream_;
};

Status Unavailable(const Origin& origin, std::string_view phase, const error_code& ec) {
  return Status(Code::kUnavailable, std::string(phase) + " " + origin.host_header + ": " + ec.message());
}

Status ValidateRequest(const HttpRequest& request) {
  if (request.method.empty() || request.method.size() > 16 ||
      !std::all_of(request.method.begin(), request.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return Status(Code::kInvalidArgument, "request method must be upper-case letters");
  }
  // RFC 9112 §3.2.1: origin-form = absolute-path [ "?" query ].
  if (!request.target.starts_with('/') ||
      std::any_of(request.target.begin(), request.target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '#'; })) {
    return Status(Code::kInvalidArgument, "request target must be origin-form without spaces or controls");
  }
  for (const auto& [name, value] : request.headers) ASTIS_RETURN_IF_ERROR(ValidateHeaderField(name, value));
  return OkStatus();
}

class LineStreamImpl final : public LineStream {
 public:
  LineStreamImpl(std::unique_ptr<Connection> conn, std::unique_ptr<http::response_parser<http::buffer_body>> parser,
                 Origin origin, size_t max_line)
      : conn_(std::move(conn)), parser_(std::move(parser)), origin_(std::move(origin)), max_line_(max_line) {
    status_ = static_cast<int>(parser_->get().result_int());
    headers_ = internal::CopyFields(parser_->get());
    eof_ = parser_->is_done();
  }

  int status() const override { return status_; }
  const HeaderList& headers() const override { return headers_; }

  Result<std::optional<std::string>> NextLine(SteadyTime deadline) override {
    while (true) {
      if (!failed_.ok()) return failed_;
      size_t newline = pending_.find('\n');
      if (newline != std::string::npos) {
        std::string line = pending_.substr(0, newline);
        pending_.erase(0, newline + 1);
        if (line.ends_with('\r')) line.pop_back();
        return std::optional<std::string>(std::move(line));
      }
      if (pending_.size() > max_line_) return Fail("line exceeds the size limit");
      if (eof_) {
        if (pending_.empty()) return std::optional<std::string>();
        std::string last = std::move(pending_);
        pending_.clear();
        return std::optional<std::string>(std::move(last));
      }
      if (cancelled_.load()) return Fail("cancelled");
      char chunk[8192];
      parser_->get().body().data = chunk;
      parser_->get().body().size = sizeof chunk;
      error_code ec = conn_->ReadSome(*parser_, deadline);
      if (ec == http::error::need_buffer) ec = {};
      pending_.append(chunk, sizeof chunk - parser_->get().body().size);
      if (cancelled_.load()) return Fail("cancelled");
      if (ec) return Fail("reading stream from " + origin_.host_header + ": " + ec.message());
      eof_ = parser_->is_done();
    }
  }

  void Cancel() override {
    cancelled_.store(true);
    Connection* conn = conn_.get();
    asio::post(conn->ioc(), [conn] { conn->Close(); });
  }

 private:
  Status Fail(std::string message) {
    failed_ = Status(Code::kUnavailable, std::move(message));
    conn_->Close();
    return failed_;
  }

  std::unique_ptr<Connection> conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  Origin origin_;
  size_t max_line_;
  int status_ = 0;
  HeaderList headers_;
  std::string pending_;
  bool eof_ = false;
  Status failed_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

class HttpsClient::Impl {
 public:
  Impl(Origin origin, std::shared_ptr<ssl::context> ctx, std::string tls_name, bool verify_hostname,
       ClientOptions options)
      : origin_(std::move(origin)),
        ctx_(std::move(ctx)),
        tls_name_(std::move(tls_name)),
        verify_hostname_(verify_hostname),
        options_(options) {}

  Result<HttpResponse> Send(const HttpRequest& request) {
    ASTIS_RETURN_IF_ERROR(ValidateRequest(request));
    const SteadyTime deadline = std::chrono::steady_clock::now() + options_.request_timeout;
    ASTIS_ASSIGN_OR_RETURN(http::request<http::string_body> req, BuildRequest(request));
    for (int attempt = 0;; ++attempt) {
      ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Acquire(deadline, /*allow_pooled=*/attempt == 0));
      http::response_parser<http::string_body> parser;
      parser.body_limit(options_.max_response_body_bytes);
      parser.header_limit(static_cast<uint32_t>(options_.max_response_header_bytes));
      if (request.method == "HEAD") parser.skip(true);
      error_code ec = conn->Write(req, deadline);
      const char* phase = "sending request to";
      // Only the header section's fields are kept, never trailer fields
      // (net/internal/header_fields.h): a trailer must not, e.g., supply the
      // DPoP-Nonce the SDK reads. Test: NetTest.ClientIgnoresResponseTrailerFields.
      size_t header_fields = 0;
      if (!ec) {
        phase = "reading response from";
        ec = conn->ReadHeader(parser, deadline);
        header_fields = internal::FieldCount(parser);
        if (!ec && !parser.is_done()) ec = conn->Read(parser, deadline);
      }
      if (ec) {
        // A pooled connection the server closed while idle: retry once on a
        // fresh one, but only when no response byte arrived and resending
        // cannot duplicate an effect (RFC 9110 §9.2.2).
        const bool stale = conn->reused && !parser.got_some() && ec != beast::error::timeout;
        if (stale && attempt == 0 && IsIdempotent(request.method)) continue;
        if (ec == http::error::body_limit || ec == http::error::header_limit) {
          return Status(Code::kUnavailable, "response from " + origin_.host_header + " exceeds the size limit");
        }
        return Unavailable(origin_, phase, ec);
      }
      HttpResponse response;
      response.status = static_cast<int>(parser.get().result_int());
      response.headers = internal::CopyFields(parser.get(), header_fields);
      const bool keep = parser.get().keep_alive();
      response.body = std::move(parser.get().body());
      if (keep) Release(std::move(conn));
      return response;
    }
  }

  Result<std::unique_ptr<LineStream>> OpenLineStream(const HttpRequest& request) {
    ASTIS_RETURN_IF_ERROR(ValidateRequest(request));
    const SteadyTime deadline = std::chrono::steady_clock::now() + options_.request_timeout;
    ASTIS_ASSIGN_OR_RETURN(http::request<http::string_body> req, BuildRequest(request));
    ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Acquire(deadline, /*allow_pooled=*/false));
    auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->body_limit(boost::none);  // unbounded stream; each line is bounded instead
    parser->header_limit(static_cast<uint32_t>(options_.max_response_header_bytes));
    error_code ec = conn->Write(req, deadline);
    if (ec) return Unavailable(origin_, "sending request to", ec);
    ec = conn->ReadHeader(*parser, deadline);
    if (ec) return Unavailable(origin_, "reading response header from", ec);
    return std::unique_ptr<LineStream>(
        std::make_unique<LineStreamImpl>(std::move(conn), std::move(parser), origin_, options_.max_line_bytes));
  }

  size_t connections_opened() const { return opened_.load(); }

 private:
  Result<http::request<http::string_body>> BuildRequest(const HttpRequest& request) const {
    try {
      return BuildRequestOrThrow(request);
    } catch (const std::exception&) {
      return Status(Code::kInvalidArgument, "request cannot be serialised (e.g. a body on TRACE)");
    }
  }
  http::request<http::string_body> BuildRequestOrThrow(const HttpRequest& request) const {
    http::request<http::string_body> req;
    req.method_string(request.method);
    req.target(origin_.base_path + request.target);
    req.version(11);
    req.set(http::field::host, origin_.host_header);
    for (const auto& [name, value] : request.headers) req.insert(name, value);
    req.body() = request.body;
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" || request.method == "PATCH") {
      req.prepare_payload();
    }
    req.keep_alive(true);
    return req;
  }

  Result<std::unique_ptr<Connection>> Acquire(SteadyTime deadline, bool allow_pooled) {
    if (allow_pooled) {
      std::lock_guard<std::mutex> lock(mu_);
      while (!idle_.empty()) {
        std::unique_ptr<Connection> conn = std::move(idle_.back());
        idle_.pop_back();
        if (conn->LooksAlive()) {
          conn->reused = true;
          return conn;
        }
      }
    }
    std::unique_ptr<Connection> conn;
    if (ctx_) {
      conn = std::make_unique<ConnectionT<beast::ssl_stream<beast::tcp_stream>>>(ctx_.get());
    } else {
      conn = std::make_unique<ConnectionT<beast::tcp_stream>>(nullptr);
    }
    opened_.fetch_add(1);
    const SteadyTime connect_deadline =
        std::min(deadline, std::chrono::steady_clock::now() + options_.connect_timeout);
    ASTIS_RETURN_IF_ERROR(conn->Connect(origin_, tls_name_, verify_hostname_, connect_deadline));
    return conn;
  }

  void Release(std::unique_ptr<Connection> conn) {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(conn));
  }

  const Origin origin_;
  const std::shared_ptr<ssl::context> ctx_;  // null for http://
  const std::string tls_name_;
  const bool verify_hostname_;
  const ClientOptions options_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::atomic<size_t> opened_{0};
};

Result<std::unique_ptr<HttpsClient>> HttpsClient::Create(std::string_view base_url, const TlsClientConfig& tls,
                                                         ClientOptions options) {
  ASTIS_ASSIGN_OR_RETURN(Origin origin, ParseBaseUrl(base_url));
  std::shared_ptr<ssl::context> ctx;
  if (origin.tls) {
    ASTIS_ASSIGN_OR_RETURN(ctx, internal::MakeClientContext(tls));
  }
  std::string tls_name = tls.server_name.empty() ? origin.host : tls.server_name;
  auto impl = std::make_unique<Impl>(std::move(origin), std::move(ctx), std::move(tls_name), tls.verify_hostname,
                                     options);
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

Result<HttpResponse> HttpsClient::Send(const HttpRequest& request) { return impl_->Send(request); }

Result<std::unique_ptr<LineStream>> HttpsClient::OpenLineStream(const HttpRequest& request) {
  return impl_->OpenLineStream(request);
}

size_t HttpsClient::connections_opened() const { return impl_->connections_opened(); }

}  // namespace astis::net
