// Boost assertion handler for builds with assertions (Debug: the asan, tsan
// and fuzz presets; NDEBUG builds compile BOOST_ASSERT out, see
// BOOST_ENABLE_ASSERT_DEBUG_HANDLER in src/net/CMakeLists.txt).
//
// It aborts like assert(), except for one assertion that is wrong in the
// Boost.Beast of Debian 12 (Boost 1.81): basic_parser::parse_chunk_header
// asserts `n >= 5` when a chunked body's last chunk is re-presented, but a
// client whose "0\r\n\r\n" arrives as "0\r\n", "\r", "\n" makes it 3 or 4,
// and the code after the assertion handles that (it asks for more input).
// Upstream corrected the assertion in boostorg/beast#2861 (Boost 1.86).
// Found by http_request_fuzz; test NetTest.ChunkedEndSplitAcrossReads.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  const std::string_view f(file);
  if (std::strcmp(expr, "n >= 5") == 0 && f.ends_with("boost/beast/http/impl/basic_parser.ipp")) return;
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line) {
  std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr, msg);
  std::abort();
}

}  // namespace boost
