// Message sizes for astis-bench's transport floor (docs/performance.md "The
// wire floor"): how large a body makes an HTTP/1.1 message of a given wire
// size, counted as load_generator.cc counts the edge's exchanges (request
// or status line, header fields "name: value\r\n", blank line, body). Pure
// functions, unit-tested in wire_size_test.cc. Benchmark tool.
#pragma once

#include <cstddef>
#include <string_view>

namespace astis::bench {

// ContentLengthFieldBytes is the size of "Content-Length: <body>\r\n".
// Cannot fail.
size_t ContentLengthFieldBytes(size_t body);

// PadBodyBytes is the body size b that makes a message of `fixed_bytes`
// (everything but the body and its Content-Length field) closest to
// `wire_bytes`: fixed_bytes + ContentLengthFieldBytes(b) + b; 0 when even an
// empty body's message is that large (or wire_bytes is not a number).
// Cannot fail.
size_t PadBodyBytes(double wire_bytes, size_t fixed_bytes);

// TransportRequestFixedBytes is a transport-floor request's size without
// body and Content-Length: "POST <path> HTTP/1.1\r\n", "Host: <host>\r\n",
// "Content-Type: application/json\r\n" and the blank line. Cannot fail.
size_t TransportRequestFixedBytes(std::string_view path, std::string_view host);

// TransportResponseFixedBytes is the transport server's answer without body
// and Content-Length: "HTTP/1.1 200 OK\r\n", "Content-Type:
// application/json\r\n", "Cache-Control: no-store\r\n" and the blank line.
// Cannot fail.
size_t TransportResponseFixedBytes();

}  // namespace astis::bench
