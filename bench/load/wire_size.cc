// Message sizes for the transport floor (wire_size.h).
#include "load/wire_size.h"

#include <cmath>
#include <string>

namespace astis::bench {

size_t ContentLengthFieldBytes(size_t body) {
  return std::string_view("Content-Length: ").size() + std::to_string(body).size() + 2;
}

size_t PadBodyBytes(double wire_bytes, size_t fixed_bytes) {
  if (!std::isfinite(wire_bytes)) return 0;
  const double room = wire_bytes - static_cast<double>(fixed_bytes + ContentLengthFieldBytes(0));
  if (room <= 0) return 0;
  // The body's own digits lengthen the Content-Length field: try the body
  // that fits with each digit count, keep the closest message.
  size_t best = 0;
  double best_miss = room;  // the empty body misses by `room`
  const double target = std::round(wire_bytes);
  for (size_t digits = 1; digits <= 19; ++digits) {
    const double b = target - static_cast<double>(fixed_bytes) - (16.0 + static_cast<double>(digits) + 2.0);
    if (b < 0 || b > 1e18) continue;
    const size_t body = static_cast<size_t>(b);
    const double total = static_cast<double>(fixed_bytes + ContentLengthFieldBytes(body) + body);
    const double miss = std::fabs(total - wire_bytes);
    if (miss < best_miss) {
      best = body;
      best_miss = miss;
    }
  }
  return best;
}

size_t TransportRequestFixedBytes(std::string_view path, std::string_view host) {
  return std::string_view("POST ").size() + path.size() + std::string_view(" HTTP/1.1\r\n").size() +
         std::string_view("Host: ").size() + host.size() + 2 +
         std::string_view("Content-Type: application/json\r\n").size() + 2;
}

size_t TransportResponseFixedBytes() {
  return std::string_view("HTTP/1.1 200 OK\r\n").size() +
         std::string_view("Content-Type: application/json\r\n").size() +
         std::string_view("Cache-Control: no-store\r\n").size() + 2;
}

}  // namespace astis::bench
