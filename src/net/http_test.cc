// Tests of HttpServer and HttpsClient over loopback (port 0, test PKI).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "net/http_server.h"
#include "net/https_client.h"
#include "net/testing/test_pki.h"

namespace astis::net {
namespace {

using namespace std::chrono_literals;
using testing::TestCert;
using testing::TestPki;

// --- raw socket helpers (for clients that misbehave on purpose) ---

class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{5, 0};  // safety net only: no test waits this long when passing
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawSocket() { ::close(fd_); }
  bool connected() const { return connected_; }
  void Send(std::string_view data) { ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL), ssize_t(data.size())); }
  // ReadSome reads what is available (one recv).
  std::string ReadSome() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  // ReadAll reads until the peer closes (or the safety timeout).
  std::string ReadAll(bool* closed) {
    std::string out;
    char buf[4096];
    while (true) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
        continue;
      }
      *closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      return out;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// A listening socket that never accepts or answers.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  uint16_t port() const { return port_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// A plain-HTTP listener that answers one connection with canned bytes, for
// responses our own server never sends (e.g. a chunked body with trailers).
class ScriptedListener {
 public:
  explicit ScriptedListener(std::string response) : response_(std::move(response)) {
    thread_ = std::thread([this] {
      const int conn = ::accept(listener_.fd(), nullptr, nullptr);
      if (conn < 0) return;
      std::string request;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(conn, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      ::send(conn, response_.data(), response_.size(), MSG_NOSIGNAL);
      ::close(conn);
    });
  }
  ~ScriptedListener() {
    ::shutdown(listener_.fd(), SHUT_RDWR);  // wakes accept() if no client came
    thread_.join();
  }
  uint16_t port() const { return listener_.port(); }

 private:
  SilentListener listener_;
  std::string response_;
  std::thread thread_;
};

ServerResponse Echo(const ServerRequest& req) {
  ServerResponse res;
  res.headers.emplace_back("Content-Type", "application/json");
  res.headers.emplace_back("X-Echo-Path", req.path);
  nlohmann::json body = {{"method", req.method}, {"path", req.path}, {"query", req.query},
                         {"body", req.body},     {"peer", req.peer_address},
                         {"test_header", req.Header("x-test").value_or("")},
                         {"test_count", req.HeaderCount("X-Test")}};
  res.body = body.dump();
  return res;
}

class NetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<TestPki> pki = TestPki::Create();
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_ = std::make_unique<TestPki>(std::move(*pki));
  }

  ServerConfig TlsConfig() {
    ServerConfig config;
    config.tls = pki_->ServerTls();
    config.threads = 2;
    return config;
  }

  std::unique_ptr<HttpServer> Start(const ServerConfig& config, Handler handler = Echo) {
    Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(config, std::move(handler));
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(*server) : nullptr;
  }

  std::unique_ptr<HttpsClient> Client(uint16_t port, const TlsClientConfig& tls, ClientOptions options = {},
                                      std::string scheme = "https") {
    Result<std::unique_ptr<HttpsClient>> client =
        HttpsClient::Create(scheme + "://127.0.0.1:" + std::to_string(port), tls, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

  static HttpRequest Get(std::string target = "/") {
    HttpRequest req;
    req.target = std::move(target);
    return req;
  }

  std::unique_ptr<TestPki> pki_;
};

TEST_F(NetTest, ServerAnswersOverTls) {
  auto server = Start(TlsConfig());
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0);
  auto client = Client(server->port(), pki_->ClientTls());
  HttpRequest req;
  req.method = "POST";
  req.target = "/v1/echo?x=1";
  req.headers = {{"X-Test", "yes"}, {"Content-Type", "application/json"}};
  req.body = R"({"hello":"world"})";
  Result<HttpResponse> res = client->Send(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->Header("x-echo-path"), "/v1/echo");
  EXPECT_EQ(res->Header("X-Missing"), std::nullopt);
  nlohmann::json body = nlohmann::json::parse(res->body);
  EXPECT_EQ(body["method"], "POST");
  EXPECT_EQ(body["path"], "/v1/echo");
  EXPECT_EQ(body["query"], "x=1");
  EXPECT_EQ(body["body"], req.body);
  EXPECT_EQ(body["peer"], "127.0.0.1");
  EXPECT_EQ(body["test_header"], "yes");
  EXPECT_EQ(body["test_count"], 1);
}

TEST_F(NetTest, ListeningSocketIsCloseOnExec) {
  auto server = Start(TlsConfig());
  ASSERT_NE(server, nullptr);
  // Find the fd bound to the server's port and check FD_CLOEXEC, so a forked
  // and exec'd child cannot keep the port after Stop().
  int found = 0;
  for (int fd = 3; fd < 1024; ++fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || addr.sin_family != AF_INET) continue;
    if (ntohs(addr.sin_port) != server->port()) continue;
    int type = 0;
    socklen_t tlen = sizeof(type);
    int accepting = 0;
    socklen_t alen = sizeof(accepting);
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) continue;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen) != 0 || accepting == 0) continue;
    ++found;
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "fd " << fd;
  }
  EXPECT_EQ(found, 1);
}

TEST_F(NetTest, HeaderCountSeesDuplicates) {
  auto server = Start(TlsConfig());
  auto client = Client(server->port(), pki_->ClientTls());
  HttpRequest req = Get();
  req.headers = {{"X-Test", "a"}, {"x-test", "b"}};
  Result<HttpResponse> res = client->Send(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(nlohmann::json::parse(res->body)["test_count"], 2);
}

TEST_F(NetTest, KeepAliveReusesConnection) {
  auto server = Start(TlsConfig());
  auto client = Client(server->port(), pki_->ClientTls());
  for (int i = 0; i < 5; ++i) {
    Result<HttpResponse> res = client->Send(Get("/n/" + std::to_string(i)));
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->Header("X-Echo-Path"), "/n/" + std::to_string(i));
  }
  EXPECT_EQ(client->connections_opened(), 1u);
}

TEST_F(NetTest, MutualTlsRequiresClientCert) {
  ServerConfig config = TlsConfig();
  config.tls->client_ca_pem = pki_->ca_cert_pem();
  std::optional<Sha256Digest> seen;
  std::mutex mu;
  auto server = Start(config, [&](const ServerRequest& req) {
    std::lock_guard<std::mutex> lock(mu);
    seen = req.peer_cert_sha256;
    return Echo(req);
  });
  auto anonymous = Client(server->port(), pki_->ClientTls());
  Result<HttpResponse> refused = anonymous->Send(Get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);

  Result<TestCert> cert = pki_->IssueClientCert("edge");
  ASSERT_TRUE(cert.ok());
  auto authenticated = Client(server->port(), pki_->ClientTls(&*cert));
  Result<HttpResponse> res = authenticated->Send(Get());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(*seen, cert->sha256);
}

TEST_F(NetTest, MutualTlsRejectsUnpinnedClientCert) {
  Result<TestCert> pinned = pki_->IssueClientCert("edge-a");
  Result<TestCert> other = pki_->IssueClientCert("edge-b");
  ASSERT_TRUE(pinned.ok() && other.ok());
  ServerConfig config = TlsConfig();
  config.tls->client_ca_pem = pki_->ca_cert_pem();
  config.tls->pinned_client_cert_sha256 = {pinned->sha256};
  auto server = Start(config);
  Result<HttpResponse> refused = Client(server->port(), pki_->ClientTls(&*other))->Send(Get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  Result<HttpResponse> accepted = Client(server->port(), pki_->ClientTls(&*pinned))->Send(Get());
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  EXPECT_EQ(accepted->status, 200);
}

TEST_F(NetTest, ClientRejectsUnpinnedServerCert) {
  auto server = Start(TlsConfig());
  TlsClientConfig wrong_pin = pki_->ClientTls();
  wrong_pin.pinned_server_cert_sha256 = {Sha256("not the server certificate")};
  Result<HttpResponse> refused = Client(server->port(), wrong_pin)->Send(Get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  TlsClientConfig right_pin = pki_->ClientTls();
  right_pin.pinned_server_cert_sha256 = {pki_->server().sha256};
  Result<HttpResponse> accepted = Client(server->port(), right_pin)->Send(Get());
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
}

// The SPKI pin accepts the server's key whatever its certificate, and
// refuses another key even under the trusted CA and the right name.
TEST_F(NetTest, ClientAcceptsPinnedSpkiAndRefusesAnotherKey) {
  auto server = Start(TlsConfig());
  auto spki = SpkiSha256(pki_->server().cert_pem);
  ASSERT_TRUE(spki.ok());
  EXPECT_NE(*spki, pki_->server().sha256);  // not the certificate's digest
  TlsClientConfig right = pki_->ClientTls();
  right.pinned_server_spki_sha256 = {*spki};
  Result<HttpResponse> accepted = Client(server->port(), right)->Send(Get());
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
  auto other = pki_->IssueServerCert({"localhost", "127.0.0.1"});
  ASSERT_TRUE(other.ok());
  auto other_spki = SpkiSha256(other->cert_pem);
  ASSERT_TRUE(other_spki.ok());
  TlsClientConfig wrong = pki_->ClientTls();
  wrong.pinned_server_spki_sha256 = {*other_spki};
  Result<HttpResponse> refused = Client(server->port(), wrong)->Send(Get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  // Both pins set: both must hold.
  TlsClientConfig both = pki_->ClientTls();
  both.pinned_server_cert_sha256 = {pki_->server().sha256};
  both.pinned_server_spki_sha256 = {*other_spki};
  EXPECT_FALSE(Client(server->port(), both)->Send(Get()).ok());
  EXPECT_EQ(SpkiSha256("not a certificate").status().code(), Code::kInvalidArgument);
}

TEST_F(NetTest, ClientRejectsWrongCa) {
  auto server = Start(TlsConfig());
  Result<TestPki> other = TestPki::Create();
  ASSERT_TRUE(other.ok());
  Result<HttpResponse> res = Client(server->port(), other->ClientTls())->Send(Get());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kUnavailable);
}

TEST_F(NetTest, ClientRejectsHostnameMismatch) {
  auto server = Start(TlsConfig());
  TlsClientConfig wrong = pki_->ClientTls();
  wrong.server_name = "wrong.example";
  Result<HttpResponse> refused = Client(server->port(), wrong)->Send(Get());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  TlsClientConfig right = pki_->ClientTls();
  right.server_name = "localhost";
  Result<HttpResponse> accepted = Client(server->port(), right)->Send(Get());
  ASSERT_TRUE(accepted.ok()) << accepted.status().ToString();
}

TEST_F(NetTest, RefusesTls11) {
  auto server = Start(TlsConfig());
  namespace asio = boost::asio;
  auto handshake = [&](int version) {
    asio::io_context ioc;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    SSL_CTX_set_security_level(ctx.native_handle(), 0);  // let OpenSSL 3 offer TLS 1.1 at all
    SSL_CTX_set_min_proto_version(ctx.native_handle(), version);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), version);
    ctx.set_verify_mode(asio::ssl::verify_none);
    asio::ssl::stream<asio::ip::tcp::socket> stream(ioc, ctx);
    stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), server->port()});
    boost::system::error_code ec;
    stream.handshake(asio::ssl::stream_base::client, ec);
    return ec ? 0 : SSL_version(stream.native_handle());
  };
  EXPECT_EQ(handshake(TLS1_1_VERSION), 0);
  EXPECT_EQ(handshake(TLS1_VERSION), 0);
  EXPECT_EQ(handshake(TLS1_2_VERSION), TLS1_2_VERSION);
  EXPECT_EQ(handshake(TLS1_3_VERSION), TLS1_3_VERSION);
}

TEST_F(NetTest, RejectsOversizeBody) {
  ServerConfig config = TlsConfig();
  config.limits.max_body_bytes = 1024;
  std::atomic<int> calls{0};
  auto server = Start(config, [&](const ServerRequest& req) {
    ++calls;
    return Echo(req);
  });
  auto client = Client(server->port(), pki_->ClientTls());
  HttpRequest req;
  req.method = "POST";
  req.target = "/v1/unwrap";
  req.body = std::string(64 * 1024, 'a');
  Result<HttpResponse> res = client->Send(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 413);
  nlohmann::json body = nlohmann::json::parse(res->body);
  EXPECT_EQ(body["error"]["code"], "too_large");
  EXPECT_EQ(calls.load(), 0);
  req.body = std::string(1024, 'a');  // exactly at the limit: served
  Result<HttpResponse> ok = client->Send(req);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(NetTest, RejectsOversizeChunkedBody) {
  ServerConfig config;  // plain HTTP: raw client
  config.limits.max_body_bytes = 16;
  auto server = Start(config);
  RawSocket raw(server->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + std::string(32, 'b') +
           "\r\n0\r\n\r\n");
  bool closed = false;
  std::string response = raw.ReadAll(&closed);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 413")) << response;
  EXPECT_TRUE(closed);
}

// The last chunk of a chunked body arriving as "0\r\n", "\r", "\n" (a slow
// or adversarial client) is a valid request. Boost 1.81's Beast asserts on
// it (boostorg/beast#2861) and aborted builds with assertions on; found by
// http_request_fuzz (src/net/internal/boost_assert.cc).
TEST_F(NetTest, ChunkedEndSplitAcrossReads) {
  ServerConfig config;  // plain HTTP: raw client
  auto server = Start(config);
  RawSocket raw(server->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n");
  std::this_thread::sleep_for(100ms);
  raw.Send("\r");
  std::this_thread::sleep_for(100ms);
  raw.Send("\n");
  bool closed = false;
  std::string response = raw.ReadAll(&closed);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
}

// RFC 9110 §6.5.1: trailer fields must not be merged into the header
// section. Beast appends them to the request's fields; the server drops
// them, or a client could add fields (credentials, or more than
// max_header_count) after the header checks ran. Found by
// http_request_fuzz.
TEST_F(NetTest, TrailerFieldsAreNotHeaders) {
  ServerConfig config;  // plain HTTP: raw client
  auto server = Start(config);
  RawSocket raw(server->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           "5\r\nhello\r\n0\r\nX-Test: smuggled\r\n\r\n");
  bool closed = false;
  std::string response = raw.ReadAll(&closed);
  ASSERT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
  const nlohmann::json body = nlohmann::json::parse(response.substr(response.find("\r\n\r\n") + 4));
  EXPECT_EQ(body.at("body"), "hello");
  EXPECT_EQ(body.at("test_header"), "");
  EXPECT_EQ(body.at("test_count"), 0);
}

// A trailer field whose name the header section already has: Beast inserts
// it just after that field, not at the end, so keeping the first N fields
// (N counted when the header completed) kept the trailer field and lost
// the header's last field. The server now copies the header section when
// it completes. Found by http_request_fuzz's Host invariant.
TEST_F(NetTest, TrailerFieldWithHeaderNameIsNotHeader) {
  ServerConfig config;  // plain HTTP: raw client
  auto server = Start(config);
  RawSocket raw(server->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("POST / HTTP/1.1\r\nX-Test: header\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           "5\r\nhello\r\n0\r\nX-Test: trailer\r\n\r\n");
  bool closed = false;
  std::string response = raw.ReadAll(&closed);
  ASSERT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
  const nlohmann::json body = nlohmann::json::parse(response.substr(response.find("\r\n\r\n") + 4));
  EXPECT_EQ(body.at("body"), "hello");
  EXPECT_EQ(body.at("test_header"), "header");
  EXPECT_EQ(body.at("test_count"), 1);
}

TEST_F(NetTest, RejectsTooManyHeaders) {
  ServerConfig config = TlsConfig();
  config.limits.max_header_count = 64;
  auto server = Start(config);
  auto client = Client(server->port(), pki_->ClientTls());
  HttpRequest req = Get();
  for (int i = 0; i < 70; ++i) req.headers.emplace_back("X-H" + std::to_string(i), "v");
  Result<HttpResponse> res = client->Send(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 431);
}

TEST_F(NetTest, RejectsOversizeHeader) {
  auto server = Start(TlsConfig());
  auto client = Client(server->port(), pki_->ClientTls());
  HttpRequest req = Get();
  req.headers.emplace_back("X-Big", std::string(9 * 1024, 'h'));
  Result<HttpResponse> res = client->Send(req);
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 431);
}

TEST_F(NetTest, RejectsNonOriginFormTarget) {
  auto server = Start(ServerConfig{});
  RawSocket raw(server->port());
  raw.Send("GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n");
  bool closed = false;
  std::string response = raw.ReadAll(&closed);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 400")) << response;
  EXPECT_TRUE(closed);
}

TEST_F(NetTest, RejectsMalformedRequest) {
  auto server = Start(ServerConfig{});
  RawSocket raw(server->port());
  raw.Send("GET / HTTP/1.1\r\nBad Header Line\r\n\r\n");
  bool closed = false;
  std::string response = raw.ReadAll(&closed);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 400")) << response;
  EXPECT_TRUE(closed);
}

// --- request framing (RFC 9112): refused with 400, then the connection is
// closed, so nothing the client sends after an ambiguous request is served ---

// HeaderSectionLower is the status line and header fields of the first
// response in raw, lower-cased ("" if incomplete).
std::string HeaderSectionLower(const std::string& raw) {
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return "";
  std::string head = raw.substr(0, end + 2);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return head;
}

// ResponseCount counts status lines in bytes read from one connection.
size_t ResponseCount(const std::string& raw) {
  size_t n = raw.starts_with("HTTP/1.") ? 1 : 0;
  for (size_t at = raw.find("\r\nHTTP/1."); at != std::string::npos; at = raw.find("\r\nHTTP/1.", at + 1)) ++n;
  return n;
}

// A valid request pipelined after the bad one: it must never be answered.
constexpr std::string_view kFollowUp = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n";

// ExpectRefusedAndClosed sends `bad` and then a valid request on the same
// connection (pipelined), and checks that the only answer is a 400 carrying
// Cache-Control: no-store and Connection: close, followed by EOF.
void ExpectRefusedAndClosed(uint16_t port, const std::string& bad) {
  SCOPED_TRACE(bad);
  RawSocket raw(port);
  ASSERT_TRUE(raw.connected());
  raw.Send(bad + std::string(kFollowUp));
  bool closed = false;
  const std::string response = raw.ReadAll(&closed);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 400 ")) << response;
  const std::string head = HeaderSectionLower(response);
  EXPECT_NE(head.find("\r\ncache-control: no-store\r\n"), std::string::npos) << response;
  EXPECT_NE(head.find("\r\nconnection: close\r\n"), std::string::npos) << response;
  EXPECT_EQ(ResponseCount(response), 1u) << response;
  EXPECT_EQ(response.find("/second"), std::string::npos) << response;
  EXPECT_TRUE(closed);
}

// RFC 9112 §6.1, §6.3 item 4: only "chunked" alone is a transfer coding the
// server accepts; anything else would let the client and the server (or a
// proxy in front) disagree on where the body ends.
TEST_F(NetTest, TransferEncodingNotChunkedRefusedAndClosed) {
  auto server = Start(ServerConfig{});
  const std::string body = "5\r\nhello\r\n0\r\n\r\n";
  for (const char* te : {"xchunked", "gzip, chunked", "chunked, chunked", "identity", "chunked;q=1", ""}) {
    ExpectRefusedAndClosed(server->port(),
                           std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + te + "\r\n\r\n" + body);
  }
  // Two fields (Beast takes the last one's "chunked").
  ExpectRefusedAndClosed(server->port(),
                         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             body);
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing.
  ExpectRefusedAndClosed(server->port(),
                         "POST / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             body);
}

// RFC 9112 §6.1, §6.3 item 3: Transfer-Encoding with Content-Length is the
// classic request-smuggling shape.
TEST_F(NetTest, TransferEncodingWithContentLengthRefusedAndClosed) {
  auto server = Start(ServerConfig{});
  ExpectRefusedAndClosed(server->port(),
                         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 15\r\n\r\n"
                         "5\r\nhello\r\n0\r\n\r\n");
  ExpectRefusedAndClosed(server->port(),
                         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n0\r\n\r\n");
  // Beast ignores a Transfer-Encoding it does not know and frames by
  // Content-Length: the case that used to be served.
  ExpectRefusedAndClosed(server->port(),
                         "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello");
}

// RFC 9112 §6.3 item 5: exactly one Content-Length field holding one
// decimal value; duplicates, even equal ones, and lists are refused.
TEST_F(NetTest, ConflictingContentLengthRefusedAndClosed) {
  auto server = Start(ServerConfig{});
  ExpectRefusedAndClosed(server->port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!");
  ExpectRefusedAndClosed(server->port(),
                         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
  ExpectRefusedAndClosed(server->port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello");
  ExpectRefusedAndClosed(server->port(),
                         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello");
  ExpectRefusedAndClosed(server->port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello");
}

// RFC 9112 §3.2: a request without Host is refused (HTTP/1.0 too: stricter
// than the RFC, which requires Host of HTTP/1.1 requests).
TEST_F(NetTest, MissingHostRefusedAndClosed) {
  auto server = Start(ServerConfig{});
  ExpectRefusedAndClosed(server->port(), "GET / HTTP/1.1\r\n\r\n");
  ExpectRefusedAndClosed(server->port(), "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  ExpectRefusedAndClosed(server->port(), "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
}

// RFC 9112 §3.2: more than one Host field line is refused.
TEST_F(NetTest, DuplicateHostRefusedAndClosed) {
  auto server = Start(ServerConfig{});
  ExpectRefusedAndClosed(server->port(), "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  ExpectRefusedAndClosed(server->port(), "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n");
}

// RFC 9112 §3.2, RFC 9110 §7.2: a Host whose value is not uri-host [":"
// port] is refused.
TEST_F(NetTest, InvalidHostRefusedAndClosed) {
  auto server = Start(ServerConfig{});
  for (const char* host : {"a b", "a/b", "user@a", "a, b", "a:80x", "a\"b"}) {
    ExpectRefusedAndClosed(server->port(), std::string("GET / HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
  }
}

// docs/protocol.md §4.6: the answers the HTTP layer makes itself carry
// Cache-Control: no-store, as handler answers do.
TEST_F(NetTest, LayerResponsesCarryNoStore) {
  ServerConfig config;  // plain HTTP: raw client
  config.limits.max_body_bytes = 16;
  config.limits.max_header_count = 8;
  auto server = Start(config);
  struct Case {
    std::string request;
    std::string_view status;
  };
  const std::vector<Case> cases = {
      {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n" + std::string(17, 'b'), "413"},
      {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + std::string(32, 'b') +
           "\r\n0\r\n\r\n",
       "413"},
      {"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'h') + "\r\n\r\n", "431"},
      {"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\nH: 1\r\n\r\n", "431"},
      {"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n", "400"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.request.substr(0, 80));
    RawSocket raw(server->port());
    ASSERT_TRUE(raw.connected());
    raw.Send(c.request + std::string(kFollowUp));
    bool closed = false;
    const std::string response = raw.ReadAll(&closed);
    EXPECT_TRUE(response.starts_with("HTTP/1.1 " + std::string(c.status) + " ")) << response;
    const std::string head = HeaderSectionLower(response);
    EXPECT_NE(head.find("\r\ncache-control: no-store\r\n"), std::string::npos) << response;
    EXPECT_NE(head.find("\r\nconnection: close\r\n"), std::string::npos) << response;
    EXPECT_EQ(ResponseCount(response), 1u) << response;
    EXPECT_TRUE(closed);
  }
  // 500 from a throwing handler, an invalid handler header, a body on 204.
  std::atomic<int> which{0};
  auto failing = Start(ServerConfig{}, [&](const ServerRequest&) -> ServerResponse {
    ServerResponse res;
    switch (which.load()) {
      case 0:
        throw std::runtime_error("boom");
      case 1:
        res.headers.emplace_back("X-Split", "a\r\nb");
        return res;
      default:
        res.status = 204;
        res.body = "not allowed";
        return res;
    }
  });
  auto client = Client(failing->port(), TlsClientConfig{}, {}, "http");
  for (int i = 0; i < 3; ++i) {
    which = i;
    Result<HttpResponse> res = client->Send(Get());
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->status, 500) << i;
    EXPECT_EQ(res->Header("Cache-Control"), "no-store") << i;
  }
}

// ReadResponse reads one response with a Content-Length body from raw.
std::string ReadResponse(RawSocket& raw, std::string& pending) {
  while (true) {
    const size_t end = pending.find("\r\n\r\n");
    if (end != std::string::npos) {
      const std::string head = HeaderSectionLower(pending);
      const size_t cl = head.find("\r\ncontent-length: ");
      const size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 18));
      if (pending.size() >= end + 4 + length) {
        std::string response = pending.substr(0, end + 4 + length);
        pending.erase(0, end + 4 + length);
        return response;
      }
    }
    const std::string more = raw.ReadSome();
    if (more.empty()) return "";
    pending += more;
  }
}

// The framings the server accepts: one Host, and either one decimal
// Content-Length or "Transfer-Encoding: chunked" alone; the connection
// stays open for the next request.
TEST_F(NetTest, WellFramedRequestsKeepConnectionAlive) {
  auto server = Start(ServerConfig{});
  RawSocket raw(server->port());
  ASSERT_TRUE(raw.connected());
  raw.Send("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
           "POST /b HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nContent-Length: 5\r\n\r\nworld");
  std::string pending;
  const std::string first = ReadResponse(raw, pending);
  ASSERT_TRUE(first.starts_with("HTTP/1.1 200 ")) << first;
  EXPECT_NE(first.find(R"("body":"hello")"), std::string::npos) << first;
  const std::string second = ReadResponse(raw, pending);
  ASSERT_TRUE(second.starts_with("HTTP/1.1 200 ")) << second;
  EXPECT_NE(second.find(R"("body":"world")"), std::string::npos) << second;
  EXPECT_EQ(HeaderSectionLower(second).find("connection: close"), std::string::npos) << second;
  raw.Send("POST /c HTTP/1.1\r\nHost: [::1]:443\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  const std::string third = ReadResponse(raw, pending);
  ASSERT_TRUE(third.starts_with("HTTP/1.1 200 ")) << third;
  EXPECT_NE(third.find(R"("body":"ok")"), std::string::npos) << third;
}

TEST_F(NetTest, SlowClientHeaderTimeout) {
  ServerConfig config;  // plain HTTP so the raw client can speak it
  config.threads = 1;   // one thread: a slow client must not hold it
  config.limits.header_timeout = 300ms;
  auto server = Start(config);
  RawSocket slow(server->port());
  slow.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Half: ");
  auto client = Client(server->port(), TlsClientConfig{}, {}, "http");
  for (int i = 0; i < 3; ++i) {
    Result<HttpResponse> res = client->Send(Get());
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->status, 200);
  }
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  std::string response = slow.ReadAll(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(response, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(NetTest, SilentClientHandshakeTimeout) {
  ServerConfig config = TlsConfig();
  config.limits.handshake_timeout = 300ms;
  auto server = Start(config);
  RawSocket silent(server->port());
  bool closed = false;
  silent.ReadAll(&closed);
  EXPECT_TRUE(closed);
}

TEST_F(NetTest, ClientTimesOutOnSilentServer) {
  SilentListener listener;
  ClientOptions options;
  options.request_timeout = 300ms;
  auto client = Client(listener.port(), pki_->ClientTls(), options);
  const auto start = std::chrono::steady_clock::now();
  Result<HttpResponse> res = client->Send(Get());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

// RFC 9110 §6.5.1: a response's trailer fields are not header fields. The
// SDK takes the DPoP-Nonce from the response headers, so a trailer must not
// be able to add one (or anything else) after the header section.
TEST_F(NetTest, ClientIgnoresResponseTrailerFields) {
  ScriptedListener server(
      "HTTP/1.1 200 OK\r\nX-Header: h\r\nTransfer-Encoding: chunked\r\nTrailer: DPoP-Nonce\r\n"
      "Connection: close\r\n\r\n4\r\nbody\r\n0\r\nDPoP-Nonce: from-trailer\r\nX-Extra: t\r\n\r\n");
  Result<HttpResponse> res = Client(server.port(), TlsClientConfig{}, {}, "http")->Send(Get());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->body, "body");
  EXPECT_EQ(res->Header("X-Header"), "h");
  EXPECT_EQ(res->Header("DPoP-Nonce"), std::nullopt);
  EXPECT_EQ(res->Header("X-Extra"), std::nullopt);
  EXPECT_EQ(res->headers.size(), 4u);
}

TEST_F(NetTest, ClientConnectRefusedIsUnavailable) {
  uint16_t port = 0;
  {
    SilentListener listener;  // learn a free port, then close it
    port = listener.port();
  }
  Result<HttpResponse> res = Client(port, pki_->ClientTls())->Send(Get());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kUnavailable);
}

TEST_F(NetTest, ClientRejectsMalformedRequests) {
  auto client = Client(1, pki_->ClientTls());
  HttpRequest injected = Get();
  injected.headers.emplace_back("X-A", "v\r\nX-Injected: 1");
  EXPECT_EQ(client->Send(injected).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(client->Send(Get("http://absolute/")).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(client->Send(Get("/a b")).status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(HttpsClient::Create("ftp://127.0.0.1:1", pki_->ClientTls()).ok());
  EXPECT_FALSE(HttpsClient::Create("https://127.0.0.1:99999", pki_->ClientTls()).ok());
  EXPECT_FALSE(HttpsClient::Create("https://[::1", pki_->ClientTls()).ok());
}

TEST_F(NetTest, ClientRejectsOversizeResponse) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) {
    ServerResponse res;
    res.body = std::string(64 * 1024, 'r');
    return res;
  });
  ClientOptions options;
  options.max_response_body_bytes = 1024;
  Result<HttpResponse> res = Client(server->port(), pki_->ClientTls(), options)->Send(Get());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), Code::kUnavailable);
  EXPECT_EQ(res.status().message().find("rrrr"), std::string::npos);
}

TEST_F(NetTest, ConcurrentClients) {
  ServerConfig config = TlsConfig();
  config.threads = 4;
  auto server = Start(config);
  ClientOptions options;
  options.max_idle_connections = 8;
  auto client = Client(server->port(), pki_->ClientTls(), options);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        HttpRequest req;
        req.method = "POST";
        req.target = "/c";
        req.body = std::to_string(t) + ":" + std::to_string(i);
        Result<HttpResponse> res = client->Send(req);
        if (res.ok() && res->status == 200 && nlohmann::json::parse(res->body)["body"] == req.body) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_LE(client->connections_opened(), 16u);
}

TEST_F(NetTest, GracefulStopFinishesInFlight) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto server = Start(TlsConfig(), [&](const ServerRequest& req) {
    entered.set_value();
    released.wait();
    return Echo(req);
  });
  const uint16_t port = server->port();
  auto client = Client(port, pki_->ClientTls());
  auto in_flight = std::async(std::launch::async, [&] { return client->Send(Get("/slow")); });
  entered.get_future().wait();
  RawSocket idle(port);  // an idle connection: Stop closes it at once
  auto stopper = std::async(std::launch::async, [&] { server->Stop(5s); });
  bool closed = false;
  idle.ReadAll(&closed);  // returns once Stop has begun
  EXPECT_TRUE(closed);
  release.set_value();
  Result<HttpResponse> res = in_flight.get();
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->Header("Connection"), "close");
  stopper.get();
  EXPECT_EQ(server->active_connections(), 0u);
  Result<HttpResponse> after = Client(port, pki_->ClientTls())->Send(Get());
  EXPECT_EQ(after.status().code(), Code::kUnavailable);
}

// ---- held responses (ServerResponse::hold)

// HeldSlot keeps the Release of the one held response a test makes.
struct HeldSlot {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Release> release;

  void Put(Release r) {
    std::lock_guard<std::mutex> lock(mu);
    release = std::move(r);
    cv.notify_all();
  }
  Release Take() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release.has_value(); });
    Release r = std::move(*release);
    release.reset();
    return r;
  }
};

// HoldingHandler holds "/held" (its body says "held") in slot and echoes
// everything else.
Handler HoldingHandler(HeldSlot& slot) {
  return [&slot](const ServerRequest& req) {
    ServerResponse res = Echo(req);
    if (req.path == "/held") {
      res.body = "held";
      res.hold = [&slot](Release r) { slot.Put(std::move(r)); };
    }
    return res;
  };
}

// A held response is sent when released, and meanwhile the server's only
// thread serves other connections.
TEST_F(NetTest, HeldResponseSentWhenReleasedWithoutHoldingAThread) {
  HeldSlot slot;
  ServerConfig config = TlsConfig();
  config.threads = 1;
  auto server = Start(config, HoldingHandler(slot));
  auto held_client = Client(server->port(), pki_->ClientTls());
  auto held = std::async(std::launch::async, [&] { return held_client->Send(Get("/held")); });
  Release release = slot.Take();
  Result<HttpResponse> other = Client(server->port(), pki_->ClientTls())->Send(Get("/other"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(other->status, 200);
  EXPECT_EQ(held.wait_for(50ms), std::future_status::timeout);  // nothing sent before the release
  release(std::nullopt);
  Result<HttpResponse> res = held.get();
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "held");
  Result<HttpResponse> again = held_client->Send(Get("/again"));  // the connection lives on
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(held_client->connections_opened(), 1u);
}

// The holder may answer something else (the edge: the audit line failed).
TEST_F(NetTest, HeldResponseReplacedOnRelease) {
  HeldSlot slot;
  auto server = Start(TlsConfig(), HoldingHandler(slot));
  auto client = Client(server->port(), pki_->ClientTls());
  auto held = std::async(std::launch::async, [&] { return client->Send(Get("/held")); });
  std::thread([r = slot.Take()] { r(JsonError(503, "unavailable", "not now")); }).join();
  Result<HttpResponse> res = held.get();
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(nlohmann::json::parse(res->body)["error"]["code"], "unavailable");
  EXPECT_EQ(res->body.find("held"), std::string::npos);
}

// A holder that drops its Release, or throws, does not leave the client
// waiting: it gets 500.
TEST_F(NetTest, HeldReleaseDroppedAnswers500) {
  auto server = Start(TlsConfig(), [](const ServerRequest& req) {
    ServerResponse res = Echo(req);
    if (req.path == "/drop") res.hold = [](Release) {};
    if (req.path == "/throw") res.hold = [](Release) { throw std::runtime_error("holder failed"); };
    return res;
  });
  auto client = Client(server->port(), pki_->ClientTls());
  for (const char* path : {"/drop", "/throw"}) {
    Result<HttpResponse> res = client->Send(Get(path));
    ASSERT_TRUE(res.ok()) << path << ": " << res.status().ToString();
    EXPECT_EQ(res->status, 500) << path;
    EXPECT_EQ(nlohmann::json::parse(res->body)["error"]["code"], "internal_error");
  }
}

// Stop waits for a held response like for a request in flight; the
// client gets the answer, with Connection: close.
TEST_F(NetTest, HeldResponseFinishesBeforeStopReturns) {
  HeldSlot slot;
  auto server = Start(TlsConfig(), HoldingHandler(slot));
  auto client = Client(server->port(), pki_->ClientTls());
  auto held = std::async(std::launch::async, [&] { return client->Send(Get("/held")); });
  Release release = slot.Take();
  auto stopper = std::async(std::launch::async, [&] { server->Stop(5s); });
  EXPECT_EQ(stopper.wait_for(50ms), std::future_status::timeout);  // Stop waits for the release
  release(std::nullopt);
  Result<HttpResponse> res = held.get();
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->Header("Connection"), "close");
  stopper.get();
  EXPECT_EQ(server->active_connections(), 0u);
}

// A Release called after the grace period still completes Stop (the
// connection was force-closed; nothing touches the stopped server).
TEST_F(NetTest, HeldReleaseAfterGraceCompletesStop) {
  HeldSlot slot;
  auto server = Start(TlsConfig(), HoldingHandler(slot));
  auto client = Client(server->port(), pki_->ClientTls());
  auto held = std::async(std::launch::async, [&] { return client->Send(Get("/held")); });
  Release release = slot.Take();
  auto stopper = std::async(std::launch::async, [&] { server->Stop(0ms); });
  EXPECT_EQ(stopper.wait_for(100ms), std::future_status::timeout);
  release(std::nullopt);
  stopper.get();
  server.reset();
  (void)held.get();  // the answer or a closed connection: either way it returns
}

// AwaitHeld resolves a hold in-process: the held response, a replacement,
// or 500 for a dropped Release.
TEST(AwaitHeldTest, ResolvesHeldResponses) {
  ServerResponse plain;
  plain.body = "plain";
  EXPECT_EQ(AwaitHeld(plain).body, "plain");

  ServerResponse held;
  held.body = "held";
  held.hold = [](Release r) { std::thread([r] { r(std::nullopt); }).detach(); };
  ServerResponse out = AwaitHeld(held);
  EXPECT_EQ(out.body, "held");
  EXPECT_FALSE(out.hold);

  held.hold = [](Release r) { r(JsonError(503, "unavailable", "x")); };
  EXPECT_EQ(AwaitHeld(held).status, 503);

  held.hold = [](Release) {};
  EXPECT_EQ(AwaitHeld(held).status, 500);
}

TEST_F(NetTest, HandlerExceptionBecomes500) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) -> ServerResponse {
    throw std::runtime_error("internal detail that must not leak");
  });
  auto client = Client(server->port(), pki_->ClientTls());
  Result<HttpResponse> res = client->Send(Get());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(nlohmann::json::parse(res->body)["error"]["code"], "internal_error");
  EXPECT_EQ(res->body.find("internal detail"), std::string::npos);
  Result<HttpResponse> again = client->Send(Get());  // the server still serves
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 500);
}

TEST_F(NetTest, HandlerInvalidHeaderBecomes500) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) {
    ServerResponse res;
    res.headers.emplace_back("X-Split", "a\r\nSet-Cookie: evil=1");
    return res;
  });
  Result<HttpResponse> res = Client(server->port(), pki_->ClientTls())->Send(Get());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->Header("Set-Cookie"), std::nullopt);
}

TEST_F(NetTest, HandlerBodyOn204Becomes500) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) {
    ServerResponse res;
    res.status = 204;
    res.body = "a 204 must not have a body";
    return res;
  });
  Result<HttpResponse> res = Client(server->port(), pki_->ClientTls())->Send(Get());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->status, 500);
}

TEST_F(NetTest, ExpectContinueGets100) {
  auto server = Start(ServerConfig{});
  RawSocket raw(server->port());
  raw.Send("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(raw.ReadSome(), "HTTP/1.1 100 Continue\r\n\r\n");
  raw.Send("hello");
  bool closed = false;
  std::string response = raw.ReadAll(&closed);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 200")) << response;
  EXPECT_NE(response.find(R"("body":"hello")"), std::string::npos) << response;
}

TEST_F(NetTest, StreamingChunkedLines) {
  std::atomic<bool> client_done{false};
  auto server = Start(TlsConfig(), [&](const ServerRequest&) {
    ServerResponse res;
    res.headers.emplace_back("Content-Type", "application/json");
    auto sent = std::make_shared<int>(0);
    res.stream = [sent, &client_done](StreamWriter& writer) {
      if (*sent < 3) return writer.WriteLine(R"({"n":)" + std::to_string((*sent)++) + "}");
      // Nothing more to send: wait briefly, as a watch with no events does.
      std::this_thread::sleep_for(10ms);
      return !client_done.load();
    };
    return res;
  });
  auto client = Client(server->port(), pki_->ClientTls());
  Result<std::unique_ptr<LineStream>> stream = client->OpenLineStream(Get("/watch"));
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  EXPECT_EQ((*stream)->status(), 200);
  EXPECT_EQ(FindHeader((*stream)->headers(), "transfer-encoding"), "chunked");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (int i = 0; i < 3; ++i) {
    Result<std::optional<std::string>> line = (*stream)->NextLine(deadline);
    ASSERT_TRUE(line.ok()) << line.status().ToString();
    ASSERT_TRUE(line->has_value());
    EXPECT_EQ(**line, R"({"n":)" + std::to_string(i) + "}");
  }
  // Cancel from another thread unblocks a NextLine that has nothing to read.
  std::thread canceller([&] { (*stream)->Cancel(); });
  const auto start = std::chrono::steady_clock::now();
  Result<std::optional<std::string>> blocked = (*stream)->NextLine(std::chrono::steady_clock::now() + 10s);
  canceller.join();
  EXPECT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  client_done = true;
}

TEST_F(NetTest, StreamingEndsAtEof) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) {
    ServerResponse res;
    auto sent = std::make_shared<int>(0);
    res.stream = [sent](StreamWriter& writer) {
      if (*sent == 2) return false;
      return writer.WriteLine("line" + std::to_string((*sent)++));
    };
    return res;
  });
  auto client = Client(server->port(), pki_->ClientTls());
  Result<std::unique_ptr<LineStream>> stream = client->OpenLineStream(Get("/watch"));
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  EXPECT_EQ((*stream)->NextLine(deadline).value(), std::optional<std::string>("line0"));
  EXPECT_EQ((*stream)->NextLine(deadline).value(), std::optional<std::string>("line1"));
  EXPECT_EQ((*stream)->NextLine(deadline).value(), std::nullopt);
}

TEST_F(NetTest, LineStreamReadsPlainBody) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) {
    ServerResponse res;
    res.body = "a\nbb\r\n\nlast";
    return res;
  });
  auto client = Client(server->port(), pki_->ClientTls());
  Result<std::unique_ptr<LineStream>> stream = client->OpenLineStream(Get());
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::vector<std::string> lines;
  while (true) {
    Result<std::optional<std::string>> line = (*stream)->NextLine(deadline);
    ASSERT_TRUE(line.ok()) << line.status().ToString();
    if (!line->has_value()) break;
    lines.push_back(**line);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "bb", "", "last"}));
}

TEST_F(NetTest, LineStreamRejectsOverlongLine) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) {
    ServerResponse res;
    res.body = std::string(4096, 'x') + "\n";
    return res;
  });
  ClientOptions options;
  options.max_line_bytes = 1024;
  auto client = Client(server->port(), pki_->ClientTls(), options);
  Result<std::unique_ptr<LineStream>> stream = client->OpenLineStream(Get());
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  Result<std::optional<std::string>> line = (*stream)->NextLine(std::chrono::steady_clock::now() + 5s);
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status().code(), Code::kUnavailable);
}

TEST_F(NetTest, StopEndsStreams) {
  auto server = Start(TlsConfig(), [](const ServerRequest&) {
    ServerResponse res;
    res.stream = [](StreamWriter& writer) {
      std::this_thread::sleep_for(5ms);  // an idle watch
      return !writer.stopping();
    };
    return res;
  });
  auto client = Client(server->port(), pki_->ClientTls());
  Result<std::unique_ptr<LineStream>> stream = client->OpenLineStream(Get("/watch"));
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  server->Stop(2s);
  Result<std::optional<std::string>> line = (*stream)->NextLine(std::chrono::steady_clock::now() + 5s);
  // The server ends the body cleanly (last chunk) when it stops.
  ASSERT_TRUE(line.ok()) << line.status().ToString();
  EXPECT_EQ(*line, std::nullopt);
}

TEST_F(NetTest, PlainHttpLoopback) {
  auto server = Start(ServerConfig{});
  Result<HttpResponse> res = Client(server->port(), TlsClientConfig{}, {}, "http")->Send(Get("/p"));
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  EXPECT_EQ(res->Header("X-Echo-Path"), "/p");
}

TEST_F(NetTest, MaxConnectionsClosesExtra) {
  ServerConfig config;
  config.limits.max_connections = 1;
  auto server = Start(config);
  auto client = Client(server->port(), TlsClientConfig{}, {}, "http");
  ASSERT_TRUE(client->Send(Get()).ok());  // holds the one allowed connection (keep-alive)
  RawSocket extra(server->port());
  bool closed = false;
  std::string response = extra.ReadAll(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(response, "");
}

TEST_F(NetTest, StartRejectsBadBindAddress) {
  ServerConfig config;
  config.bind_address = "not-an-ip";
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(config, Echo);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace astis::net
