# Shared compile flags and helpers for every astis target.

add_library(astis_flags INTERFACE)
target_compile_options(astis_flags INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wimplicit-fallthrough
  -Wno-missing-field-initializers
  $<$<BOOL:${ASTIS_WERROR}>:-Werror>)
# GCC 12 at -O2 reports false -Warray-bounds / -Wstringop-overflow /
# -Wrestrict inside libstdc++'s vector::insert and pop_back after inlining
# (GCC PR 105329, 105651, 107852; fixed in GCC 13). They would break
# -Werror on correct code, so they are off for GCC 12 only; clang and the
# sanitizer builds still check bounds at run time.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(astis_flags INTERFACE
    -Wno-array-bounds -Wno-stringop-overflow -Wno-stringop-overread -Wno-restrict)
endif()
target_compile_definitions(astis_flags INTERFACE
  $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
target_include_directories(astis_flags INTERFACE
  ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/include)

# astis_component(NAME SOURCES... DEPS ...) defines library astis_NAME with
# alias astis::NAME.
function(astis_component name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(astis_${name} STATIC ${A_SOURCES})
  add_library(astis::${name} ALIAS astis_${name})
  target_link_libraries(astis_${name} PUBLIC astis_flags ${A_PUBLIC_DEPS} PRIVATE ${A_DEPS})
endfunction()

# astis_test(NAME SOURCES... DEPS ...) builds a GoogleTest binary and registers
# its tests with CTest. Tests find data through ASTIS_TESTDATA_DIR.
function(astis_test name)
  if(NOT ASTIS_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "TIMEOUT" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE astis_flags ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE ASTIS_TESTDATA_DIR="${ASTIS_TESTDATA_DIR}")
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  include(GoogleTest)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "ASTIS_TESTDATA_DIR=${ASTIS_TESTDATA_DIR}")
endfunction()

# astis_bench(NAME SOURCES... DEPS ...) builds a Google Benchmark binary.
function(astis_bench name)
  if(NOT ASTIS_BUILD_BENCH)
    return()
  endif()
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE astis_flags ${A_DEPS} benchmark::benchmark benchmark::benchmark_main)
endfunction()

# astis_fuzzer(NAME SOURCES... DEPS ...) builds a libFuzzer target (clang).
function(astis_fuzzer name)
  if(NOT ASTIS_BUILD_FUZZ)
    return()
  endif()
  cmake_parse_arguments(A "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE astis_flags ${A_DEPS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endfunction()
