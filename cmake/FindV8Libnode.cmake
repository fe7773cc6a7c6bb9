# V8 from Debian's libnode-dev: headers under /usr/include/node, the engine
# inside libnode.so. Defines the imported target V8::V8.
find_path(V8_INCLUDE_DIR NAMES v8.h PATH_SUFFIXES node)
find_library(V8_LIBRARY NAMES node)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(V8Libnode REQUIRED_VARS V8_INCLUDE_DIR V8_LIBRARY)
if(V8Libnode_FOUND AND NOT TARGET V8::V8)
  add_library(V8::V8 UNKNOWN IMPORTED)
  set_target_properties(V8::V8 PROPERTIES IMPORTED_LOCATION "${V8_LIBRARY}"
                        INTERFACE_INCLUDE_DIRECTORIES "${V8_INCLUDE_DIR}")
endif()
