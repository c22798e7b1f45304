// In-process tests of how `astis` answers a mistyped command (RunCli): the
// nearest subcommands at every level of the tree, exit 1 (usage), and that
// `astis version` and a missing subcommand keep their answers.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/cli.h"
#include "common/clock.h"
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

}  // namespace
}  // namespace astis::cli
