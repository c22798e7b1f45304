// The server's HTTP/1.1 request handling that does not need a socket:
// parser limits, the header checks made before the body is read, the answer
// to a parse error, and turning a parsed request into a ServerRequest.
// net::HttpServer's sessions call these on bytes from the wire, and
// fuzz/http_request_fuzz.cc calls the same functions on bytes in memory, so
// the fuzzer exercises exactly what the server runs (Boost.Beast's parser
// under the server's limits, then our checks and conversion).
//
// Internal to astis::net (and its fuzz target): it exposes Boost.Beast.
#pragma once

#include <optional>
#include <string_view>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/http_server.h"
#include "net/internal/header_fields.h"

namespace astis::net::internal {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Refusal is the error response the server sends instead of handling a
// request, then closes the connection.
struct Refusal {
  int status;
  std::string_view code;
  std::string_view message;
};

// ApplyLimits sets limits.max_header_bytes and max_body_bytes on a fresh
// parser (Beast then fails with header_limit / body_limit). It cannot fail.
void ApplyLimits(RequestParser& parser, const ServerLimits& limits);

// CheckHeader runs the checks made once the header is parsed and before the
// body is read: more than max_header_count fields is 431 (test:
// RejectsTooManyHeaders); a target that is not origin-form is 400 (RFC 9112
// §3.2; test: RejectsNonOriginFormTarget); so is any framing two readers
// could disagree on (RFC 9112 §6.1, §6.3: a Transfer-Encoding other than
// "chunked" alone, or in HTTP/1.0; Transfer-Encoding with Content-Length;
// a Content-Length that is not one field with one decimal value) and a
// missing, repeated or invalid Host (RFC 9112 §3.2); tests
// NetTest.*RefusedAndClosed. nullopt: go on. Every refusal closes the
// connection.
std::optional<Refusal> CheckHeader(const RequestParser& parser, const ServerLimits& limits);

// RefusalForReadError maps a parse error to its answer: body_limit 413,
// header_limit 431, any other HTTP syntax error 400. nullopt for errors
// that are not the client's request (end of stream, timeouts, resets): the
// connection is closed without an answer.
std::optional<Refusal> RefusalForReadError(const boost::system::error_code& ec);

// HeaderSection copies the parsed header fields, in order; call it once
// the header is complete and before the body is read. It cannot fail.
HeaderList HeaderSection(const RequestParser& parser);

// TakeRequest moves a complete request out of parser into a ServerRequest
// (method, target split into path and query at the first '?', `headers` as
// given, body); peer fields are left to the caller. `headers` must be what
// HeaderSection returned when the header completed: Beast adds a chunked
// body's trailer fields to the same field list, and RFC 9110 §6.5.1 forbids
// merging trailer fields into the header section (a client could otherwise
// add credential headers, or fields past max_header_count, after the header
// checks ran). Counting the header's fields and keeping that many is not
// enough: Beast inserts a field whose name is already present right after
// the last such field, not at the end, so a trailer field can land inside
// the header's range. Tests: NetTest.TrailerFieldsAreNotHeaders,
// NetTest.TrailerFieldWithHeaderNameIsNotHeader (both found by
// http_request_fuzz). It cannot fail.
ServerRequest TakeRequest(RequestParser& parser, HeaderList headers);

}  // namespace astis::net::internal
