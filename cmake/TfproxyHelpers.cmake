# tfproxy_add_library(name SOURCES ... DEPS ...): one static library per module.
function(tfproxy_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE tfproxy_options ${ARG_PRIVATE_DEPS})
endfunction()

# tfproxy_add_test(name SOURCES ... LIBS ... LABELS unit|integration): one executable per
# test file, registered with ctest under its label so `ctest -L unit` needs no Redis.
function(tfproxy_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main
                        tfproxy_options)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name})
  # Short bounds, so that a hung test fails in minutes rather than holding CI: unit tests
  # take milliseconds, the longest integration program about 20 s.
  if(NOT ARG_TIMEOUT)
    if(ARG_LABELS STREQUAL "unit")
      set(ARG_TIMEOUT 60)
    else()
      set(ARG_TIMEOUT 180)
    endif()
  endif()
  set(env "TFPROXY_BINARY=$<TARGET_FILE:tfproxy>")
  if(TFPROXY_TSAN)
    list(APPEND env "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp")
  endif()
  if(TFPROXY_SANITIZE)
    # A small quarantine, so that the memory-growth tests measure tfproxy and not ASan's
    # store of freed blocks (256 MB by default).
    list(APPEND env "ASAN_OPTIONS=quarantine_size_mb=4")
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
                       ENVIRONMENT "${env}")
endfunction()
