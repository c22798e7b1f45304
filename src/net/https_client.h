// HttpsClient: the outbound HTTP/1.1 client of astis (edge -> CVS over mutual
// TLS, the Kubernetes API client, the pod SDK). Boost-free header (pimpl).
//
// Every call has a deadline; transport, TLS and timeout failures are
// Code::kUnavailable with a message that never holds a secret or the raw
// response body. See docs/net.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "net/http_types.h"
#include "net/tls.h"

namespace astis::net {

// HttpRequest is one request. target is origin-form ("/path?query").
struct HttpRequest {
  std::string method = "GET";
  std::string target = "/";
  HeaderList headers;
  std::string body;
};

// HttpResponse is one complete response.
struct HttpResponse {
  int status = 0;
  HeaderList headers;
  std::string body;

  // Header returns the first header named name (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const { return FindHeader(headers, name); }
};

// ClientOptions bound every request.
struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};  // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{30000};  // whole request, connect included
  size_t max_response_body_bytes = 16 * 1024 * 1024;
  size_t max_response_header_bytes = 64 * 1024;
  size_t max_idle_connections = 8;                 // keep-alive pool size
  size_t max_line_bytes = 4 * 1024 * 1024;         // LineStream: longest line
};

// LineStream reads a streaming response body (chunked or not) line by line,
// e.g. a Kubernetes watch. One thread reads; Cancel may come from any thread.
class LineStream {
 public:
  virtual ~LineStream() = default;
  // status is the response's HTTP status; headers its header fields.
  virtual int status() const = 0;
  virtual const HeaderList& headers() const = 0;
  // NextLine returns the next line without its "\n" (and "\r"), nullopt at
  // the end of the body. Fails with kUnavailable when the deadline passes,
  // the connection breaks, a line exceeds max_line_bytes, or after Cancel; a
  // failed stream stays failed.
  virtual Result<std::optional<std::string>> NextLine(std::chrono::steady_clock::time_point deadline) = 0;
  // Cancel makes a blocked or future NextLine fail promptly. Thread-safe;
  // must not race with destruction.
  virtual void Cancel() = 0;
};

// HttpsClient sends requests to one origin over a pool of keep-alive
// connections. Thread-safe: many threads may call Send concurrently.
class HttpsClient {
 public:
  // Create parses base_url ("https://host:port", host a name, IPv4 or
  // [IPv6]; "http://" is accepted for loopback tests) and builds the TLS
  // context. No connection is made yet. Fails with kInvalidArgument on a bad
  // URL or TLS config.
  static Result<std::unique_ptr<HttpsClient>> Create(std::string_view base_url, const TlsClientConfig& tls,
                                                     ClientOptions options = {});
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Send performs one request within options.request_timeout and returns the
  // response (any HTTP status). A stale pooled connection is replaced once
  // for idempotent methods. Fails with kInvalidArgument on a malformed
  // request (target not origin-form, CR/LF in a header) and kUnavailable on
  // transport, TLS or timeout failure or an oversize response.
  Result<HttpResponse> Send(const HttpRequest& request);

  // OpenLineStream sends request on a fresh dedicated connection, reads the
  // response header within options.request_timeout and returns a reader for
  // the body. Errors as Send.
  Result<std::unique_ptr<LineStream>> OpenLineStream(const HttpRequest& request);

  // connections_opened counts TCP connections made so far (for tests and
  // metrics).
  size_t connections_opened() const;

  class Impl;

 private:
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace astis::net
