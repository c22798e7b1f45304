// libFuzzer target for the server's HTTP/1.1 request parsing: Boost.Beast's
// request parser under net::HttpServer's limits, fed the input in pieces as
// a socket delivers it, then the server's own header checks, error mapping
// and request conversion (net::internal, src/net/internal/request_parse.h —
// the functions the server's sessions call). Pipelined requests after the
// first are parsed in turn, as on a keep-alive connection.
//
// Byte 0: bits 0-2 choose the piece size (1, 2, 3, 7, 64, 512, 4096 or all
// at once); bit 3 selects small limits (64-byte header, 16-byte body, 4
// fields) so the limit paths are reached from small inputs.
//
// Invariants (trap on violation): a refusal is 400 bad_request, 413
// too_large or 431 bad_request; a completed request has a non-empty
// method, an origin-form target equal to path ["?" query], a body within
// max_body_bytes and at most max_header_count fields (trailer fields are
// not header fields: found here, see TakeRequest), each with a non-empty
// name and a value free of CR, LF and NUL; and unambiguous framing (RFC 9112
// §3.2, §6.1, §6.3): exactly one Host, never both Transfer-Encoding and
// Content-Length, a Transfer-Encoding only as one field "chunked", a
// Content-Length only as one field of digits.
#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/http_types.h"
#include "net/internal/request_parse.h"

namespace {

namespace http = boost::beast::http;
using astis::net::ServerLimits;
using astis::net::internal::Refusal;
using astis::net::internal::RequestParser;

void CheckRefusal(const Refusal& r) {
  const bool ok = (r.status == 400 && r.code == "bad_request") || (r.status == 413 && r.code == "too_large") ||
                  (r.status == 431 && r.code == "bad_request");
  if (!ok || r.message.empty()) __builtin_trap();
}

void CheckRequest(const astis::net::ServerRequest& req, const ServerLimits& limits) {
  if (req.method.empty() || req.path.empty() || req.path[0] != '/') __builtin_trap();
  const std::string rebuilt = req.target.find('?') == std::string::npos ? req.path : req.path + "?" + req.query;
  if (rebuilt != req.target) __builtin_trap();
  if (req.body.size() > limits.max_body_bytes) __builtin_trap();
  if (req.headers.size() > limits.max_header_count) __builtin_trap();
  for (const auto& [name, value] : req.headers) {
    if (name.empty()) __builtin_trap();
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) __builtin_trap();
  }
  if (astis::net::CountHeader(req.headers, "Host") != 1) __builtin_trap();
  const size_t te = astis::net::CountHeader(req.headers, "Transfer-Encoding");
  const size_t cl = astis::net::CountHeader(req.headers, "Content-Length");
  if (te > 1 || cl > 1 || (te == 1 && cl == 1)) __builtin_trap();
  if (te == 1) {
    std::string coding = *astis::net::FindHeader(req.headers, "Transfer-Encoding");
    for (char& c : coding) c = static_cast<char>(c | 0x20);  // ASCII letters to lower case
    if (coding != "chunked") __builtin_trap();
  }
  if (cl == 1) {
    const std::string length = *astis::net::FindHeader(req.headers, "Content-Length");
    if (length.empty() || length.find_first_not_of("0123456789") != std::string::npos) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr size_t kPieces[] = {1, 2, 3, 7, 64, 512, 4096, SIZE_MAX};
  const size_t piece = kPieces[data[0] & 7];
  ServerLimits limits;
  if (data[0] & 8) {
    limits.max_header_bytes = 64;
    limits.max_body_bytes = 16;
    limits.max_header_count = 4;
  }
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  size_t delivered = 0;  // bytes of input "received" so far
  std::string pending;   // received, not yet consumed by the parser

  for (int message = 0; message < 8; ++message) {
    RequestParser parser;
    astis::net::internal::ApplyLimits(parser, limits);
    std::optional<astis::net::HeaderList> header;  // set once the header passed the server's checks
    boost::system::error_code ec;
    while (!parser.is_done()) {
      size_t used = pending.empty() ? 0 : parser.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == http::error::need_more || (!ec && used == 0)) {
        ec = {};
        if (delivered == input.size()) {
          // The client closed the connection. Beast's read does the same:
          // end_of_stream before any byte of a message, else put_eof.
          if (!parser.got_some()) return 0;
          parser.put_eof(ec);
          if (!ec && !parser.is_done()) return 0;
          break;
        }
        const size_t n = std::min(piece, input.size() - delivered);
        pending.append(input.substr(delivered, n));
        delivered += n;
        continue;
      }
      if (ec) break;
      if (parser.is_header_done() && !header) {
        // As the server: checked once the header is parsed, before the body.
        if (auto refusal = astis::net::internal::CheckHeader(parser, limits)) {
          CheckRefusal(*refusal);
          return 0;  // the server answers and closes
        }
        header = astis::net::internal::HeaderSection(parser);
      }
    }
    if (ec) {
      if (auto refusal = astis::net::internal::RefusalForReadError(ec)) CheckRefusal(*refusal);
      return 0;
    }
    // Beast's put stops when the header completes (eager off), so every
    // complete message passed the check above; value() fails loudly if not.
    const bool keep_alive = parser.get().keep_alive();
    astis::net::ServerRequest req = astis::net::internal::TakeRequest(parser, std::move(header.value()));
    CheckRequest(req, limits);
    if (!keep_alive) return 0;
  }
  return 0;
}
