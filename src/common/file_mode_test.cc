#include "common/file_mode.h"

#include <gtest/gtest.h>

namespace astis {
namespace {

struct stat Stat(mode_t mode, uid_t uid) {
  struct stat st {};
  st.st_mode = S_IFREG | mode;
  st.st_uid = uid;
  return st;
}

TEST(FileModeTest, OwnerOnlyAccepted) {
  EXPECT_TRUE(CheckSecretFileMode(Stat(0600, 1000), "key file", "/k").ok());
  EXPECT_TRUE(CheckSecretFileMode(Stat(0400, 0), "key file", "/k").ok());
}

// The kubelet's projection of a Secret volume with fsGroup: root:<fsGroup> 0440.
TEST(FileModeTest, RootOwnedGroupReadableAccepted) {
  EXPECT_TRUE(CheckSecretFileMode(Stat(0440, 0), "key file", "/k").ok());
  EXPECT_TRUE(CheckSecretFileMode(Stat(0640, 0), "key file", "/k").ok());
}

TEST(FileModeTest, GroupReadableOwnedByUserRefused) {
  Status s = CheckSecretFileMode(Stat(0640, 1000), "key file", "/k");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_NE(s.message().find("/k"), std::string::npos);
}

TEST(FileModeTest, GroupWriteRefusedEvenForRoot) {
  EXPECT_EQ(CheckSecretFileMode(Stat(0660, 0), "key file", "/k").code(), Code::kPermissionDenied);
  EXPECT_EQ(CheckSecretFileMode(Stat(0610, 0), "key file", "/k").code(), Code::kPermissionDenied);
}

TEST(FileModeTest, OthersAccessRefusedEvenForRoot) {
  for (mode_t m : {0604, 0602, 0601, 0644}) {
    EXPECT_EQ(CheckSecretFileMode(Stat(m, 0), "key file", "/k").code(), Code::kPermissionDenied) << std::oct << m;
  }
}

}  // namespace
}  // namespace astis
