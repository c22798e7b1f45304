// HttpServer: the inbound HTTPS (HTTP/1.1) server of astis (edge, CVS, the
// Kubernetes stand-in in tests). Boost-free header (pimpl).
//
// Asynchronous: a slow or idle client costs a socket and a little memory,
// never a thread. Handlers are synchronous and run on the server's thread
// pool. Limits and their defaults are documented in docs/net.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/sha256.h"
#include "net/http_types.h"
#include "net/tls.h"

namespace astis::net {

// ServerLimits bound what one client can make the server hold.
struct ServerLimits {
  size_t max_body_bytes = 256 * 1024;    // larger -> 413 too_large
  size_t max_header_bytes = 8 * 1024;    // request line + fields; larger -> 431
  size_t max_header_count = 64;          // more fields -> 431
  std::chrono::milliseconds header_timeout{5000};   // whole header, from its first byte
  std::chrono::milliseconds body_timeout{10000};    // whole body, after the header
  std::chrono::milliseconds idle_timeout{30000};    // keep-alive wait for the next request
  std::chrono::milliseconds handshake_timeout{5000};  // TLS handshake
  std::chrono::milliseconds write_timeout{10000};   // writing one response (or stream chunk)
  size_t max_connections = 4096;         // beyond: accepted and closed at once
};

// ServerConfig configures HttpServer::Start.
struct ServerConfig {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0 = ephemeral; read HttpServer::port()
  // tls must be set for anything but loopback tests: nullopt serves plain
  // HTTP.
  std::optional<TlsServerConfig> tls;
  unsigned threads = 0;  // 0 = std::thread::hardware_concurrency()
  ServerLimits limits;
};

// ServerRequest is one complete, size-checked request.
struct ServerRequest {
  std::string method;
  std::string target;  // raw origin-form target as received
  std::string path;    // target before '?', not percent-decoded
  std::string query;   // target after '?', without it ("" if none)
  HeaderList headers;
  std::string body;
  std::string peer_address;  // IP of the client
  // peer_cert_sha256 is the SHA-256 of the verified client certificate's DER
  // (mutual TLS only).
  std::optional<Sha256Digest> peer_cert_sha256;
  // peer_cert_der is that certificate's DER (mutual TLS only), shared by the
  // connection's requests; the admin API reads the caller's role from it
  // (admin::PrincipalFromCertificate).
  std::shared_ptr<const std::vector<uint8_t>> peer_cert_der;

  // Header returns the first field named name (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const { return FindHeader(headers, name); }
  // HeaderCount returns how many fields are named name (RFC 9449 §4.3 (1):
  // "not more than one DPoP HTTP request header field").
  size_t HeaderCount(std::string_view name) const { return CountHeader(headers, name); }
};

// StreamWriter writes a streaming (chunked) response body.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // WriteLine sends line + "\n" as one chunk and waits until it is written.
  // Returns false if the client is gone, the write timed out, or the server
  // is stopping: the stream callback should then return false.
  virtual bool WriteLine(std::string_view line) = 0;
  // stopping is true once HttpServer::Stop has begun.
  virtual bool stopping() const = 0;
};

struct ServerResponse;

// Release is how a held response is let go (ServerResponse::hold): called
// once, on any thread, with nullopt to send the held response as it is, or
// with the response to send instead.
using Release = std::function<void(std::optional<ServerResponse>)>;

// ServerResponse is a handler's answer. If stream is set, status and headers
// are sent with chunked transfer-encoding, body is ignored, and the server
// calls stream repeatedly on a dedicated thread until it returns false, a
// write fails, or the server stops; then the connection is closed. stream
// must not block for long between checks (e.g. wait at most ~100 ms for new
// data), so Stop stays prompt.
//
// If hold is set (and stream is not), the response waits for a condition
// the handler could not wait for without holding a server thread (the
// edge: its audit line becoming durable). The server calls hold once, after
// the handler returned, with a Release; nothing of the response is sent
// until the Release is called, and the server's threads serve other
// connections meanwhile. A Release destroyed without being called answers
// 500 internal_error. Stop waits for held responses like for requests in
// flight (tests NetTest.Held*, AwaitHeldTest.ResolvesHeldResponses).
struct ServerResponse {
  int status = 200;
  HeaderList headers;
  std::string body;
  std::function<bool(StreamWriter&)> stream;
  std::function<void(Release)> hold;
};

// AwaitHeld returns response with its hold resolved: the response itself
// when there is no hold, else what its Release sends, waiting on this thread
// for it. For callers that answer in-process (tests, embedding) rather than
// through HttpServer. It cannot fail.
ServerResponse AwaitHeld(ServerResponse response);

// Handler answers one request. It may throw: the server answers 500
// internal_error and logs nothing of the exception's text to the client.
using Handler = std::function<ServerResponse(const ServerRequest&)>;

// JsonError builds {"error":{"code":code,"message":message}} with status;
// message must be client-safe text.
ServerResponse JsonError(int status, std::string_view code, std::string_view message);

// HttpServer serves HTTP/1.1 (over TLS unless configured otherwise).
class HttpServer {
 public:
  // Start binds, listens and starts the thread pool. Fails with
  // kInvalidArgument (bad address or TLS config) or kUnavailable (bind or
  // listen failed, e.g. port in use).
  static Result<std::unique_ptr<HttpServer>> Start(const ServerConfig& config, Handler handler);
  // ~HttpServer calls Stop with a zero grace period if still running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // port is the bound TCP port (the ephemeral one when config.port was 0).
  uint16_t port() const;

  // Stop shuts down gracefully: stop accepting, close idle connections, let
  // requests already being read or handled finish (their connections then
  // close) for up to grace, then close everything and join the threads.
  // Idempotent; must not be called from a handler.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));

  // active_connections is the number of open client connections.
  size_t active_connections() const;

  // ReloadTls replaces the TLS configuration (certificate, key, client CA,
  // client pins) used for connections accepted from now on; connections
  // already open keep the context they were accepted with, so no request in
  // flight fails (docs/operations.md "Certificate rotation"). On any error
  // nothing changes: kFailedPrecondition on a plain-HTTP server,
  // kInvalidArgument when config does not parse, its key does not match the
  // certificate, or it would turn mutual TLS or client pinning off where
  // Start turned them on. Thread-safe. Tests: TlsReloadTest.SwapUnderLoadFailsNoRequest,
  // TlsReloadTest.ReloadTlsRefusesBadConfigAndDroppingMtls.
  Status ReloadTls(const TlsServerConfig& config);

  class Impl;

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace astis::net
