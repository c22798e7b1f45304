// The backend-independent conformance suite of astis::store.
//
// Every Store backend must pass StoreConformanceTest. A backend's test file
// instantiates it with one or more StoreBackend values, e.g.
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformanceTest,
//                            ::testing::Values(SqliteMemoryBackend(), SqliteFileBackend()),
//                            StoreBackendName);
//
// and links the astis_store_conformance object library (which holds the
// TEST_P bodies). Tests use only injected times, never the wall clock.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "store/store.h"

namespace astis::store::testing {

// StoreTestEnv is one fresh, empty database for one test.
class StoreTestEnv {
 public:
  virtual ~StoreTestEnv() = default;
  // Open returns a new Store with its own connection to this test's
  // database; the caller owns it. Errors are the backend's.
  virtual Result<std::unique_ptr<Store>> Open() = 0;
  // SharesState reports whether two Open() results see one database (false
  // for a private in-memory database); multi-store tests skip when false.
  virtual bool SharesState() const = 0;
};

// StoreBackend names a backend and makes a fresh StoreTestEnv per test.
struct StoreBackend {
  std::string name;
  std::function<std::unique_ptr<StoreTestEnv>()> make_env;
};

// PrintTo prints a backend by name in test output.
void PrintTo(const StoreBackend& backend, std::ostream* os);

// StoreBackendName is the INSTANTIATE_TEST_SUITE_P name generator.
std::string StoreBackendName(const ::testing::TestParamInfo<StoreBackend>& info);

// StoreConformanceTest opens one store on a fresh env in SetUp (store_).
class StoreConformanceTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  // OpenAnother opens a second store on the same database (asserts success).
  std::unique_ptr<Store> OpenAnother();
  // Replicas returns the stores a race test spreads its callers over:
  // store_, plus a second store on the same database when the backend
  // shares state (kept open by this fixture). Opening it failing is a test
  // failure; callers ASSERT_FALSE(HasFailure()) before racing.
  std::vector<Store*> Replicas();

  std::unique_ptr<StoreTestEnv> env_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Store> replica_;  // Replicas()' second store
};

// ExpectUpgradedPinReleasesOnRestart checks a store just upgraded in place
// from a schema without sessions.pod_restarts that holds the active session
// "s-old" (cluster "prod", pod uid "uid-0", another jkt): the old row reads
// pod_restarts 0 and still pins the pod against a new key "s-new" at now,
// and a restart seen after the upgrade releases the pin so "s-new" is
// created. Each backend's upgrade test calls it between building the old
// schema and checking the rows with raw SQL (wrap it in
// ASSERT_NO_FATAL_FAILURE).
void ExpectUpgradedPinReleasesOnRestart(Store& store, int64_t now);

}  // namespace astis::store::testing
