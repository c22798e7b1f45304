// Permission rule for files that hold a secret (the org private key set, the
// PostgreSQL DSN with its password).
#pragma once

#include <sys/stat.h>

#include <string>

#include "common/status.h"

namespace astis {

// CheckSecretFileMode applies one rule to the stat of a file holding a
// secret, so every loader refuses the same mistakes (tests in
// file_mode_test.cc):
//   - others may have no access at all, and group no write or execute;
//   - group READ is accepted only when root owns the file. That is exactly
//     how the kubelet projects a Secret volume for a non-root container
//     with fsGroup (root:<fsGroup>, 0440): root granted that group access on
//     purpose. A group-readable file owned by anyone else is refused as the
//     usual chmod mistake (test GroupReadableOwnedByUserRefused).
// Returns kPermissionDenied naming `what` and path (never the contents).
Status CheckSecretFileMode(const struct stat& st, const std::string& what, const std::string& path);

}  // namespace astis
