#include "common/file_mode.h"

namespace astis {

Status CheckSecretFileMode(const struct stat& st, const std::string& what, const std::string& path) {
  const bool others = (st.st_mode & S_IRWXO) != 0;
  const bool group_write = (st.st_mode & (S_IWGRP | S_IXGRP)) != 0;
  const bool group_read = (st.st_mode & S_IRGRP) != 0;
  if (others || group_write || (group_read && st.st_uid != 0)) {
    return Error(Code::kPermissionDenied, what + " " + path +
                                              " is accessible by group or others; chmod 600 it (group read is "
                                              "accepted only on a root-owned file, as a Secret volume with fsGroup)");
  }
  return OkStatus();
}

}  // namespace astis
