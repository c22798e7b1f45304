// Test-only: a cvs::VerifiedScope without running the edge's gates, for
// CVS unit tests and the test, fuzz and bench worlds that drive a CvsPort
// directly. Product code never includes this header: in the product a scope
// comes only from edge::Admission or the remote CVS request decoder
// (cvs/cvs.h VerifiedScope).
#pragma once

#include <string>
#include <utility>

#include "cvs/cvs.h"

namespace astis::cvs::testing {

struct ScopeForTests {
  static VerifiedScope Make(std::string org, std::string cluster, std::string ns, std::string service_account) {
    return VerifiedScope(VerifiedScope::Key(), std::move(org), std::move(cluster), std::move(ns),
                         std::move(service_account));
  }
};

// TestScope is ScopeForTests::Make in organisation kDefaultOrg.
inline VerifiedScope TestScope(std::string cluster, std::string ns, std::string service_account) {
  return ScopeForTests::Make(std::string(kDefaultOrg), std::move(cluster), std::move(ns), std::move(service_account));
}

// TestScope with an organisation is ScopeForTests::Make.
inline VerifiedScope TestScope(std::string org, std::string cluster, std::string ns, std::string service_account) {
  return ScopeForTests::Make(std::move(org), std::move(cluster), std::move(ns), std::move(service_account));
}

}  // namespace astis::cvs::testing
