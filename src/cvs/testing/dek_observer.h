// Test-only hook: observe every DEK the in-process CVS opens (the hardening
// canary test, tests/hardening/canary_test.cc, searches all outputs for them).
//
// How the production binary is kept from enabling it: cvs.cc calls the hook
// through a *weak* undefined symbol (astis_cvs_testing_observe_dek). Only
// dek_observer.cc, in the separate library astis::cvs_testing, defines it.
// The `astis` executable never links astis::cvs_testing, so in it the symbol
// resolves to null at link time and the call is skipped: there is no setter,
// no flag and no environment variable to turn it on. The test
// ProductionBinaryHasNoDekObserver (tests/hardening) checks the `astis`
// binary holds no SetDekObserverForTesting symbol. Never link
// astis::cvs_testing into a product target.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace astis::cvs::testing {

// DekObserver receives a view of a DEK right after the CVS opened it and
// before it is wiped; the view is valid only during the call. It must not
// throw and must be thread-safe (the CVS serves calls concurrently).
using DekObserver = std::function<void(std::span<const uint8_t> dek)>;

// SetDekObserverForTesting installs observer process-wide (replacing any
// previous one); an empty function removes it. It cannot fail. The observer
// is copied and owned by the hook.
void SetDekObserverForTesting(DekObserver observer);

}  // namespace astis::cvs::testing
