#include "net/internal/request_parse.h"

#include <algorithm>
#include <string>

#include <boost/beast/core/string.hpp>

namespace astis::net::internal {
namespace beast = boost::beast;
namespace http = boost::beast::http;

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// IsDecimal: Content-Length = 1*DIGIT (RFC 9110 §8.6).
bool IsDecimal(beast::string_view value) { return !value.empty() && std::all_of(value.begin(), value.end(), IsDigit); }

// IsValidHost: Host = uri-host [ ":" port ] (RFC 9110 §7.2), uri-host being
// an IP-literal in brackets, an IPv4 address or a reg-name (RFC 3986
// §3.2.2), port = *DIGIT. Checked by character class and shape, not
// resolved; empty is allowed (RFC 9112 §3.2).
bool IsValidHost(beast::string_view value) {
  auto reg_name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || IsDigit(c) ||
           std::string_view("-._~%!$&'()*+,;=").find(c) != std::string_view::npos;
  };
  beast::string_view port;
  if (value.starts_with('[')) {  // IP-literal: "[" IPv6address / IPvFuture "]"
    const size_t close = value.find(']');
    if (close == beast::string_view::npos) return false;
    for (char c : value.substr(1, close - 1)) {
      if (!reg_name_char(c) && c != ':') return false;
    }
    const beast::string_view rest = value.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    port = rest;
  } else {
    const size_t colon = value.find(':');
    const beast::string_view name = value.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), reg_name_char)) return false;
    if (colon != beast::string_view::npos) port = value.substr(colon);
  }
  if (port.empty()) return true;
  port.remove_prefix(1);  // the ':'
  return std::all_of(port.begin(), port.end(), IsDigit);
}

// CheckFraming refuses any request whose body length more than one reading
// could disagree on (request smuggling): the body must be delimited by
// "Transfer-Encoding: chunked" alone or by one decimal Content-Length, and
// the request must name exactly one valid Host. Beast refuses some of these
// itself while parsing (e.g. chunked followed by Content-Length), but accepts
// others (an unknown coding, "chunked, chunked", equal duplicate lengths,
// no Host), so every rule is checked here on the parsed header.
std::optional<Refusal> CheckFraming(const http::request<http::string_body>& req) {
  size_t te_fields = 0, cl_fields = 0, host_fields = 0;
  beast::string_view te, cl, host;
  for (const auto& field : req) {
    switch (field.name()) {
      case http::field::transfer_encoding:
        ++te_fields;
        te = field.value();
        break;
      case http::field::content_length:
        ++cl_fields;
        cl = field.value();
        break;
      case http::field::host:
        ++host_fields;
        host = field.value();
        break;
      default:
        break;
    }
  }
  if (te_fields > 0) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty
    // framing (test TransferEncodingNotChunkedRefusedAndClosed).
    if (req.version() < 11) return Refusal{400, "bad_request", "Transfer-Encoding in an HTTP/1.0 request"};
    // RFC 9112 §6.1, §6.3 item 3: both fields is refused, then closed
    // (test TransferEncodingWithContentLengthRefusedAndClosed).
    if (cl_fields > 0) return Refusal{400, "bad_request", "both Transfer-Encoding and Content-Length"};
    // RFC 9112 §6.1, §6.3 item 4, §7: only "chunked", alone and once; any
    // other coding is not understood (test
    // TransferEncodingNotChunkedRefusedAndClosed).
    if (te_fields != 1 || !beast::iequals(te, "chunked")) {
      return Refusal{400, "bad_request", "Transfer-Encoding must be exactly chunked"};
    }
  }
  // RFC 9112 §6.3 item 5: one field with one decimal value, nothing else;
  // equal duplicates and lists are refused too (test
  // ConflictingContentLengthRefusedAndClosed).
  if (cl_fields > 1 || (cl_fields == 1 && !IsDecimal(cl))) {
    return Refusal{400, "bad_request", "Content-Length must be one decimal value"};
  }
  // RFC 9112 §3.2: exactly one Host field, with a valid value (tests
  // MissingHostRefusedAndClosed, DuplicateHostRefusedAndClosed,
  // InvalidHostRefusedAndClosed). Required of HTTP/1.0 requests too.
  if (host_fields == 0) return Refusal{400, "bad_request", "missing Host"};
  if (host_fields > 1) return Refusal{400, "bad_request", "more than one Host"};
  if (!IsValidHost(host)) return Refusal{400, "bad_request", "invalid Host"};
  return std::nullopt;
}

}  // namespace

void ApplyLimits(RequestParser& parser, const ServerLimits& limits) {
  parser.header_limit(static_cast<uint32_t>(limits.max_header_bytes));
  parser.body_limit(limits.max_body_bytes);
}

std::optional<Refusal> CheckHeader(const RequestParser& parser, const ServerLimits& limits) {
  const auto& req = parser.get();
  if (FieldCount(parser) > limits.max_header_count) {
    return Refusal{431, "bad_request", "too many header fields"};
  }
  // RFC 9112 §3.2: only origin-form is served (no absolute-form,
  // authority-form or asterisk-form).
  if (!req.target().starts_with('/')) return Refusal{400, "bad_request", "request target must be origin-form"};
  return CheckFraming(req);
}

std::optional<Refusal> RefusalForReadError(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit) return Refusal{413, "too_large", "request body too large"};
  if (ec == http::error::header_limit) return Refusal{431, "bad_request", "request header too large"};
  const bool http_syntax = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                           ec != http::error::end_of_stream && ec != http::error::partial_message;
  if (http_syntax) return Refusal{400, "bad_request", "malformed request"};
  return std::nullopt;
}

HeaderList HeaderSection(const RequestParser& parser) { return CopyFields(parser.get()); }

ServerRequest TakeRequest(RequestParser& parser, HeaderList headers) {
  auto& req = parser.get();
  ServerRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  const size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  if (q != std::string::npos) request.query = request.target.substr(q + 1);
  request.headers = std::move(headers);  // never the trailer fields Beast added to req
  request.body = std::move(req.body());
  return request;
}

}  // namespace astis::net::internal
