// The header section of a message Boost.Beast parsed. Beast adds a
// chunked body's trailer fields to the same field list as the header
// fields; RFC 9110 §6.5.1 forbids merging them. The server copies the
// header fields when the header completes (internal::HeaderSection; tests
// NetTest.TrailerFieldsAreNotHeaders, TrailerFieldWithHeaderNameIsNotHeader).
// The client counts the fields when the header completes and keeps that
// many (NetTest.ClientIgnoresResponseTrailerFields); that is not exact:
// Beast inserts a field whose name is already present just after the last
// such field, so a trailer repeating a header name lands inside the counted
// range and pushes the header's last field out.
//
// Internal to astis::net (and its fuzz target): it exposes Boost.Beast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>

#include "net/http_types.h"

namespace astis::net::internal {

// FieldCount is the number of fields the parser holds; called when the
// header is complete it is the header section's size. It cannot fail.
template <class Parser>
size_t FieldCount(const Parser& parser) {
  const auto& message = parser.get();
  return static_cast<size_t>(std::distance(message.begin(), message.end()));
}

// CopyFields copies the first `count` fields (all by default) in order.
template <class Fields>
HeaderList CopyFields(const Fields& fields, size_t count = SIZE_MAX) {
  HeaderList out;
  for (const auto& field : fields) {
    if (out.size() == count) break;
    out.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return out;
}

}  // namespace astis::net::internal
