// Reveal audit (issue #9): every raw access to secret bytes goes through
// SecretBytes::Reveal / RevealString / RevealMutable, and every product file
// that calls them is listed, with its exact number of call sites, in the
// machine-read table of docs/secret-hygiene.md (between the
// "reveal-audit:begin" and "reveal-audit:end" markers). A new call site, or
// a new file, fails this test until the table (and so a reviewer) says why
// it is needed and how the copy is wiped. Test code (*_test.cc,
// *_test_util.h, testing/ and tests/ folders) is not product code and is
// not counted.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace astis::hardening {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool IsTestCode(const std::string& rel) {
  return rel.find("/testing/") != std::string::npos || rel.find("/tests/") != std::string::npos ||
         rel.ends_with("_test.cc") || rel.ends_with("_test_util.h") || rel.ends_with("_test.c");
}

// CountCallSites counts member calls .Reveal( / ->Reveal( (and the String
// and Mutable variants) in text.
size_t CountCallSites(const std::string& text) {
  static const std::regex call(R"((\.|->)Reveal(String|Mutable)?\()");
  return static_cast<size_t>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), call), std::sregex_iterator()));
}

// ScanSources maps each product source file (relative path) to its count.
std::map<std::string, size_t> ScanSources(const fs::path& root) {
  std::map<std::string, size_t> found;
  for (const char* top : {"src", "include"}) {
    if (!fs::exists(root / top)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / top)) {
      if (!e.is_regular_file()) continue;
      const std::string ext = e.path().extension().string();
      if (ext != ".cc" && ext != ".h" && ext != ".c" && ext != ".cpp") continue;
      const std::string rel = fs::relative(e.path(), root).generic_string();
      if (IsTestCode(rel)) continue;
      const size_t n = CountCallSites(ReadFile(e.path()));
      if (n > 0) found[rel] = n;
    }
  }
  return found;
}

// ParseAuditTable reads the rows "| `path` | count | ..." between the markers.
std::map<std::string, size_t> ParseAuditTable(const std::string& doc) {
  std::map<std::string, size_t> listed;
  const size_t begin = doc.find("<!-- reveal-audit:begin -->");
  const size_t end = doc.find("<!-- reveal-audit:end -->");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return listed;
  static const std::regex row(R"(^\|\s*`([^`]+)`\s*\|\s*([0-9]+)\s*\|)");
  std::istringstream in(doc.substr(begin, end - begin));
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) listed[m[1].str()] = std::stoul(m[2].str());
  }
  return listed;
}

TEST(RevealAuditTest, EveryRevealCallSiteIsListed) {
  const fs::path root = ASTIS_SOURCE_DIR;
  const std::map<std::string, size_t> found = ScanSources(root);
  const std::map<std::string, size_t> listed = ParseAuditTable(ReadFile(root / "docs/secret-hygiene.md"));
  ASSERT_FALSE(listed.empty()) << "docs/secret-hygiene.md has no reveal-audit table";
  ASSERT_FALSE(found.empty());
  for (const auto& [file, n] : found) {
    auto it = listed.find(file);
    if (it == listed.end()) {
      ADD_FAILURE() << file << ": " << n << " Reveal call site(s) not listed in docs/secret-hygiene.md";
    } else {
      EXPECT_EQ(it->second, n) << file << ": docs/secret-hygiene.md lists " << it->second << ", the source has " << n
                               << " (review the new or removed call sites and update the table)";
    }
  }
  for (const auto& [file, n] : listed) {
    EXPECT_TRUE(found.count(file) == 1) << file << " is listed but has no Reveal call site any more";
  }
}

// Positive and negative controls for the scanner and the table parser.
TEST(RevealAuditTest, ScannerCountsCallsNotDeclarations) {
  EXPECT_EQ(CountCallSites("a.Reveal(); b->RevealString(); c.RevealMutable().data();"), 3u);
  EXPECT_EQ(CountCallSites("std::span<const uint8_t> Reveal() const; // Reveal gives"), 0u);
  EXPECT_TRUE(IsTestCode("src/edge/testing/edge_harness.h"));
  EXPECT_FALSE(IsTestCode("src/edge/service.cc"));
  const auto t = ParseAuditTable(
      "x\n<!-- reveal-audit:begin -->\n| `src/a.cc` | 2 | why | wipe |\n| file | n |\n"
      "<!-- reveal-audit:end -->\n| `src/b.cc` | 1 |\n");
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.at("src/a.cc"), 2u);
}

}  // namespace
}  // namespace astis::hardening
