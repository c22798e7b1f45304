// Builds boost::asio::ssl::context objects from TlsServerConfig /
// TlsClientConfig (internal: pulls in Boost.Asio SSL; only src/net/*.cc
// include it).
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>

#include "common/status.h"
#include "net/tls.h"

namespace astis::net::internal {

// MakeServerContext builds a server context (TLS 1.2+, AEAD suites, no
// compression, no renegotiation; mTLS and client pinning per config). Fails
// with kInvalidArgument on unusable PEM, kCrypto on an OpenSSL failure.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeServerContext(const TlsServerConfig& config);

// MakeClientContext builds a client context (same policy; peer verification
// always on; server pinning per config). Hostname verification is set per
// connection by ConfigureClientSsl. Errors as MakeServerContext.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientContext(const TlsClientConfig& config);

// ConfigureClientSsl sets SNI (unless host is an IP literal) and, when
// verify_hostname, the expected host/IP on one SSL connection. kCrypto on
// failure.
Status ConfigureClientSsl(SSL* ssl, const std::string& host, bool verify_hostname);

}  // namespace astis::net::internal
