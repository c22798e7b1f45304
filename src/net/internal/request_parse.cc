#include "net/internal/request_parse.h"

#include <string>

namespace astis::net::internal {
namespace http = boost::beast::http;

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
  return std::nullopt;
}

std::optional<Refusal> RefusalForReadError(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit) return Refusal{413, "too_large", "request body too large"};
  if (ec == http::error::header_limit) return Refusal{431, "bad_request", "request header too large"};
  const bool http_syntax = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                           ec != http::error::end_of_stream && ec != http::error::partial_message;
  if (http_syntax) return Refusal{400, "bad_request", "malformed request"};
  return std::nullopt;
}

ServerRequest TakeRequest(RequestParser& parser, size_t header_fields) {
  auto& req = parser.get();
  ServerRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  const size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  if (q != std::string::npos) request.query = request.target.substr(q + 1);
  request.headers = CopyFields(req, header_fields);  // the rest are trailer fields
  request.body = std::move(req.body());
  return request;
}

}  // namespace astis::net::internal
