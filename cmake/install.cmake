# What 'cmake --install build [--prefix P]' puts where. Every installed path is relative to the
# prefix, and the pkg-config file, the CMake package, the program and the Python module find the rest
# of the tree relative to themselves, so P may differ from CMAKE_INSTALL_PREFIX and may be moved.
include(CMakePackageConfigHelpers)

# ---- the program, the libraries, the header ----
install(TARGETS vkgen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set_target_properties(vkgen_shared PROPERTIES EXPORT_NAME vkgen)
install(TARGETS vkgen_shared EXPORT vkgenTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vkgen_lib ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/vkgen.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# ---- default weights: share/vkgen/assets, where the installed program and library look ----
file(GLOB shipped_weights ${CMAKE_SOURCE_DIR}/assets/*.safetensors)
install(FILES ${shipped_weights} ${CMAKE_SOURCE_DIR}/assets/README.md DESTINATION ${VKGEN_ASSETS_INSTALL_DIR})

# ---- pkg-config: vkgen.pc (prefix relative to the file itself) ----
file(RELATIVE_PATH pc_to_prefix /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
# The static library also needs what the shared one links privately (pkg-config --static). They are
# plain -l flags, not Requires.private, so that compiling against the shared library does not need
# the dependencies' development files (pkg-config reads Requires.private even for --cflags).
set(pc_libs_private "-lvulkan -lcjson -lz -lstb -lm")
if(hot_reload)
  foreach(lib ${glslang_libs})
    if(lib MATCHES "^/.*/lib([^/]+)\\.(a|so)$")
      string(APPEND pc_libs_private " -l${CMAKE_MATCH_1}")
    elseif(NOT TARGET ${lib})
      string(APPEND pc_libs_private " -l${lib}")
    endif()
  endforeach()
  string(APPEND pc_libs_private " -pthread")
endif()
if(VKGEN_HAVE_MPI)
  foreach(lib ${MPI_C_LIBRARIES})
    if(lib MATCHES "^/.*/lib([^/]+)\\.(a|so)$")
      set(name ${CMAKE_MATCH_1})
      get_filename_component(dir ${lib} DIRECTORY)
      string(APPEND pc_libs_private " -L${dir} -l${name}")
    endif()
  endforeach()
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/vkgen.pc.in ${CMAKE_BINARY_DIR}/vkgen.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/vkgen.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- CMake package: find_package(vkgen) gives the imported target vkgen::vkgen (the shared library) ----
set(VKGEN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vkgen)
install(EXPORT vkgenTargets NAMESPACE vkgen:: DESTINATION ${VKGEN_CMAKE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/vkgenConfig.cmake.in ${CMAKE_BINARY_DIR}/vkgenConfig.cmake
  INSTALL_DESTINATION ${VKGEN_CMAKE_DIR} PATH_VARS VKGEN_ASSETS_INSTALL_DIR)
# Before 1.0 a minor version may break the API, so only the same MAJOR.MINOR is compatible.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(vkgen_compat SameMinorVersion)
else()
  set(vkgen_compat SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_BINARY_DIR}/vkgenConfigVersion.cmake COMPATIBILITY ${vkgen_compat})
install(FILES ${CMAKE_BINARY_DIR}/vkgenConfig.cmake ${CMAKE_BINARY_DIR}/vkgenConfigVersion.cmake
  DESTINATION ${VKGEN_CMAKE_DIR})

# ---- man page vkgen(1), made from the program's help texts at build time ----
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/vkgen.1
  COMMAND ${CMAKE_COMMAND} -DVKGEN=$<TARGET_FILE:vkgen> -DOUT=${CMAKE_BINARY_DIR}/vkgen.1
          -DVERSION=${PROJECT_VERSION} -P ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake
  DEPENDS vkgen ${CMAKE_SOURCE_DIR}/cmake/manpage.cmake
  COMMENT "man page vkgen.1 from 'vkgen --help'"
  VERBATIM)
add_custom_target(vkgen_man ALL DEPENDS ${CMAKE_BINARY_DIR}/vkgen.1)
install(FILES ${CMAKE_BINARY_DIR}/vkgen.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

# ---- Python module (ctypes over libvkgen.so, numpy), where a Python 3 with numpy is found ----
# Debian's interpreter first: its numpy is the one the module is tested with.
find_program(VKGEN_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_program(VKGEN_PYTHON NAMES python3)
set(VKGEN_PYTHON_DIR "" CACHE STRING
  "where the Python module goes, relative to the prefix (default: Python's own site directory for the prefix)")
set(python_ok 0)
if(VKGEN_PYTHON)
  execute_process(COMMAND ${VKGEN_PYTHON} -c
    "import sysconfig, os, numpy; print(os.path.relpath(sysconfig.get_path('purelib'), sysconfig.get_path('data')))"
    OUTPUT_VARIABLE python_site RESULT_VARIABLE python_rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(python_rc EQUAL 0)
    set(python_ok 1)
    if(NOT VKGEN_PYTHON_DIR)
      set(VKGEN_PYTHON_DIR ${python_site} CACHE STRING "" FORCE)
    endif()
  endif()
endif()
if(python_ok)
  # The module finds the library relative to itself; the SONAME's file, so it loads the ABI it knows.
  file(RELATIVE_PATH py_to_lib /p/${VKGEN_PYTHON_DIR}/vkgen /p/${CMAKE_INSTALL_LIBDIR})
  set(VKGEN_SONAME_FILE libvkgen.so.${vkgen_soversion})
  configure_file(${CMAKE_SOURCE_DIR}/python/vkgen/_build.py.in ${CMAKE_BINARY_DIR}/python/vkgen/_build.py @ONLY)
  install(FILES ${CMAKE_SOURCE_DIR}/python/vkgen/__init__.py ${CMAKE_BINARY_DIR}/python/vkgen/_build.py
    DESTINATION ${VKGEN_PYTHON_DIR}/vkgen)
  message(STATUS "Python module: <prefix>/${VKGEN_PYTHON_DIR}/vkgen (${VKGEN_PYTHON})")
else()
  message(STATUS "no Python 3 with numpy: the Python module is not installed (apt-get install python3-numpy)")
endif()
