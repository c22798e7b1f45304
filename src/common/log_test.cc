#include "common/log.h"

#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace astis::log {
namespace {

TEST(LogTest, JsonLineHasFixedMembersFirst) {
  FakeClock clock(1764115200);
  Logger l(Format::kJson, Level::kInfo, 2, &clock);
  std::string line = l.Render(Level::kWarn, "edge", "cvs unreachable", Json{{"org", "acme"}, {"status", 503}}, "r1");
  EXPECT_EQ(line,
            R"({"time":"2025-11-26T00:00:00.000Z","level":"warn","component":"edge","request_id":"r1",)"
            R"("msg":"cvs unreachable","org":"acme","status":503})");
  auto parsed = ParseJson(line);
  ASSERT_TRUE(parsed.ok());
}

TEST(LogTest, FieldsNeverOverrideFixedMembers) {
  FakeClock clock(1764115200);
  Logger l(Format::kJson, Level::kInfo, 2, &clock);
  std::string line = l.Render(Level::kInfo, "edge", "real", Json{{"msg", "forged"}, {"level", "error"}}, "");
  auto j = ParseJson(line);
  ASSERT_TRUE(j.ok()) << line;  // strict parser: a duplicate member would fail here
  EXPECT_EQ((*j)["msg"], "real");
  EXPECT_EQ((*j)["level"], "info");
  EXPECT_FALSE(j->contains("request_id"));
}

TEST(LogTest, TextLineIsOneLine) {
  FakeClock clock(1764115200);
  Logger l(Format::kText, Level::kInfo, 2, &clock);
  std::string line = l.Render(Level::kError, "cvs", "bad\nthing", Json{{"path", "/a b"}, {"n", 2}}, "");
  // Fields in key order (Json objects are sorted).
  EXPECT_EQ(line, R"(2025-11-26T00:00:00.000Z ERROR cvs: bad thing n=2 path="/a b")");
}

TEST(LogTest, JsonEscapesControlCharacters) {
  FakeClock clock(1764115200);
  Logger l(Format::kJson, Level::kInfo, 2, &clock);
  std::string line = l.Render(Level::kInfo, "edge", "a\nb\"c", Json{{"k", "v\r\n"}}, "");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(ParseJson(line).ok());
}

TEST(LogTest, LevelFiltersAndParses) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    Logger l(Format::kText, Level::kWarn, fds[1]);
    l.Info("edge", "hidden");
    l.Warn("edge", "shown");
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  std::string out(buf, n > 0 ? static_cast<size_t>(n) : 0);
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("shown"), std::string::npos);
  EXPECT_EQ(ParseLevel("warn").value(), Level::kWarn);
  EXPECT_EQ(ParseLevel("WARN").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ParseFormat("json").value(), Format::kJson);
  EXPECT_EQ(ParseFormat("yaml").status().code(), Code::kInvalidArgument);
}

TEST(LogTest, ConcurrentLinesNeverInterleave) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string out;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  });
  {
    Logger l(Format::kJson, Level::kInfo, fds[1]);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&l, t] {
        for (int i = 0; i < 200; ++i) l.Info("edge", std::string(300, static_cast<char>('a' + t)), Json{{"i", i}});
      });
    }
    for (auto& t : ts) t.join();
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  size_t lines = 0, start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    ASSERT_NE(nl, std::string::npos);
    EXPECT_TRUE(ParseJson(std::string_view(out).substr(start, nl - start)).ok());
    ++lines;
    start = nl + 1;
  }
  EXPECT_EQ(lines, 800u);
}

}  // namespace
}  // namespace astis::log
