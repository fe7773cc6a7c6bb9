# V8 from Debian's libnode-dev: headers under /usr/include/node, the engine
# inside libnode.so (the inspector's symbols included). Defines the imported target V8::V8.
find_path(V8_INCLUDE_DIR NAMES v8.h PATH_SUFFIXES node)
# v8-inspector.h ships in libnode-dev too, with V8's full include folder (the same headers).
find_path(V8_INSPECTOR_INCLUDE_DIR NAMES v8-inspector.h PATH_SUFFIXES nodejs/deps/v8/include)
find_library(V8_LIBRARY NAMES node)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(V8Libnode
                                  REQUIRED_VARS V8_INCLUDE_DIR V8_INSPECTOR_INCLUDE_DIR V8_LIBRARY)
if(V8Libnode_FOUND AND NOT TARGET V8::V8)
  add_library(V8::V8 UNKNOWN IMPORTED)
  set_target_properties(V8::V8 PROPERTIES IMPORTED_LOCATION "${V8_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES
                        "${V8_INCLUDE_DIR};${V8_INSPECTOR_INCLUDE_DIR}")
endif()
