# AstisVersion.cmake — the version has one source, project(VERSION) in the
# top-level CMakeLists.txt. Everything else derives from PROJECT_VERSION:
# the SONAME and package version of libastis (src/sdk), the Python package
# (python/), the Go module tag (tests/install) and `astis --version`.
#
# The git commit and dirty flag change without a re-configure, so they are
# read at every build by the astis_build_info target, which rewrites
# ${ASTIS_BUILD_INFO_DIR}/astis_build_info.h only when they change
# (cmake/AstisBuildInfo.cmake). src/common/version.cc is its only reader.
set(ASTIS_BUILD_INFO_DIR ${PROJECT_BINARY_DIR}/generated)
set(ASTIS_BUILD_INFO_H ${ASTIS_BUILD_INFO_DIR}/astis_build_info.h)
set(ASTIS_BUILD_INFO_ARGS
  -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUTPUT=${ASTIS_BUILD_INFO_H}
  -DVERSION=${PROJECT_VERSION} -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
  -P ${PROJECT_SOURCE_DIR}/cmake/AstisBuildInfo.cmake)
# Once now, so the header exists for tools that read compile_commands.json.
execute_process(COMMAND ${CMAKE_COMMAND} ${ASTIS_BUILD_INFO_ARGS})
add_custom_target(astis_build_info
  COMMAND ${CMAKE_COMMAND} ${ASTIS_BUILD_INFO_ARGS}
  BYPRODUCTS ${ASTIS_BUILD_INFO_H}
  VERBATIM)
