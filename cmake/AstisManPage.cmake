# AstisManPage.cmake — cmake -P script: one gzipped man page with help2man.
# Inputs (-D): HELP2MAN, PROGRAM, OUTPUT (.1.gz), NAME (the NAME section),
# SOURCE_DIR; optional HELP_OPTION (default --help) and VERSION (then
# PROGRAM --version is not run). The page's date is $SOURCE_DATE_EPOCH, else
# the last commit's, else 0, and gzip -n drops the name and time stamp: the
# same commit gives the same bytes.
if(NOT "$ENV{SOURCE_DATE_EPOCH}" STREQUAL "")
  set(epoch "$ENV{SOURCE_DATE_EPOCH}")
else()
  set(epoch 0)
  find_program(ASTIS_GIT git)
  if(ASTIS_GIT AND EXISTS "${SOURCE_DIR}/.git")
    execute_process(COMMAND ${ASTIS_GIT} -C "${SOURCE_DIR}" log -1 --format=%ct
      OUTPUT_VARIABLE out RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0 AND out MATCHES "^[0-9]+$")
      set(epoch "${out}")
    endif()
  endif()
endif()
set(ENV{SOURCE_DATE_EPOCH} "${epoch}")
if(NOT HELP_OPTION)
  set(HELP_OPTION --help)
endif()
set(args --no-info --no-discard-stderr "--name=${NAME}" "--help-option=${HELP_OPTION}")
if(VERSION)
  list(APPEND args "--version-string=${VERSION}")
endif()
get_filename_component(dir "${OUTPUT}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
string(REGEX REPLACE "\\.gz$" "" page "${OUTPUT}")
execute_process(COMMAND ${HELP2MAN} ${args} --output=${page} ${PROGRAM} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man ${PROGRAM} failed (${rc})")
endif()
execute_process(COMMAND gzip -n -9 -f ${page} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip ${page} failed (${rc})")
endif()
