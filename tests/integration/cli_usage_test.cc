// In-process tests of how `astis` answers a mistyped command (RunCli): the
// nearest subcommands at every level of the tree, exit 1 (usage), and that
// `astis version` and a missing subcommand keep their answers.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/cli.h"
#include "common/clock.h"
#include "common/testing/temp_dir.h"
#include "support/cli_run.h"

namespace astis::cli {
namespace {

class CliUsageTest : public ::testing::Test {
 protected:
  integration::CliResult Cli(std::vector<std::string> args) { return integration::CliRun(std::move(args), clock_); }
  FakeClock clock_{1'750'000'000};
};

TEST_F(CliUsageTest, TypoSuggestsTopLevelCommand) {
  auto r = Cli({"seel"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "astis: 'seel' is not an astis command. The most similar command is: seal\n");
  EXPECT_EQ(r.out, "");
  // A transposition costs one edit; a prefix names every command it starts.
  EXPECT_EQ(Cli({"clsuter", "list"}).err,
            "astis: 'clsuter' is not an astis command. The most similar command is: cluster\n");
  auto se = Cli({"se"});
  EXPECT_EQ(se.code, kExitUsage);
  EXPECT_EQ(se.err, "astis: 'se' is not an astis command. The most similar commands are: seal, serve, session\n");
  // Nothing near: the help to read instead.
  auto far = Cli({"frobnicate"});
  EXPECT_EQ(far.code, kExitUsage);
  EXPECT_EQ(far.err, "astis: 'frobnicate' is not an astis command. See 'astis --help'.\n");
  // Hidden commands are never suggested.
  EXPECT_EQ(Cli({"__complete-bsh"}).err, "astis: '__complete-bsh' is not an astis command. See 'astis --help'.\n");
}

TEST_F(CliUsageTest, TypoSuggestsNestedCommand) {
  auto r = Cli({"cluster", "lst"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_EQ(r.err, "astis: 'lst' is not an 'astis cluster' command. The most similar command is: list\n");
  // Three levels down, with options after the word.
  auto deep = Cli({"workload", "images", "ad", "--store", "x.db"});
  EXPECT_EQ(deep.code, kExitUsage);
  EXPECT_EQ(deep.err, "astis: 'ad' is not an 'astis workload images' command. The most similar command is: add\n");
  EXPECT_EQ(Cli({"org", "key", "rotat"}).err,
            "astis: 'rotat' is not an 'astis org key' command. The most similar command is: rotate\n");
}

TEST_F(CliUsageTest, MissingSubcommandAndVersionKeepTheirAnswers) {
  auto none = Cli({"cluster"});
  EXPECT_EQ(none.code, kExitUsage);
  EXPECT_NE(none.err.find("A subcommand is required"), std::string::npos) << none.err;
  // An unexpected positional of a leaf command is CLI11's own error.
  auto extra = Cli({"version", "extra"});
  EXPECT_EQ(extra.code, kExitUsage);
  EXPECT_EQ(extra.err.find("is not an"), std::string::npos) << extra.err;
  auto version = Cli({"version"});
  EXPECT_EQ(version.code, kExitOk);
  EXPECT_EQ(version.out.rfind("astis ", 0), 0u) << version.out;
}

// `astis lint --selector` and the astis.io/lint: skip annotation: the left-out
// objects are listed, the exit code is that of the objects linted, and a
// malformed selector is refused (exit 2) before anything is read.
TEST_F(CliUsageTest, LintSelectorAndSkipAnnotation) {
  test::TempDir tmp{"astis-lint"};
  ASSERT_FALSE(tmp.path().empty());
  const std::string file = tmp.path() + "/apps.yaml";
  std::ofstream(file) << "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\n"
                         "spec: {template: {spec: {containers: [{name: web, image: 'nginx:latest'}]}}}\n"
                         "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: own\n"
                         "  annotations: {astis.io/lint: skip}\n"
                         "spec: {template: {spec: {containers: [{name: x, image: 'x:1'}]}}}\n";
  auto all = Cli({"lint", "-f", file});
  EXPECT_EQ(all.code, kExitInput) << all.out;
  EXPECT_NE(all.out.find(": skipped Deployment own: annotation astis.io/lint: skip\n"), std::string::npos) << all.out;
  EXPECT_EQ(all.out.find("[image-not-pinned] Deployment own"), std::string::npos) << all.out;
  auto selected = Cli({"lint", "-f", file, "--selector", "app!=web", "--format", "json"});
  EXPECT_EQ(selected.code, kExitOk) << selected.out << selected.err;
  EXPECT_NE(selected.out.find(R"("reason":"labels do not match --selector")"), std::string::npos) << selected.out;
  EXPECT_NE(selected.out.find(R"("objects":0)"), std::string::npos) << selected.out;
  auto bad = Cli({"lint", "-f", file, "-l", "app in (web)"});
  EXPECT_EQ(bad.code, kExitInput);
  EXPECT_NE(bad.err.find("astis lint: invalid_argument: --selector: only equality-based"), std::string::npos)
      << bad.err;
  EXPECT_EQ(bad.out, "");
}

}  // namespace
}  // namespace astis::cli
