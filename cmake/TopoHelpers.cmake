include_guard(GLOBAL)
include(GNUInstallDirs)  # CMAKE_INSTALL_INCLUDEDIR is used in the libraries' install interface

set(TOPO_WARNING_FLAGS -Wall -Wextra -Wno-unused-parameter)
if(TOPO_WERROR)
  list(APPEND TOPO_WARNING_FLAGS -Werror)
endif()

# The first target that asks for the precompiled header owns it; every later one reuses it.
# (~13 s per TU that includes <torch/torch.h>.)
function(topo_use_pch target)
  if(NOT TOPO_USE_PCH)
    return()
  endif()
  # gcc rejects a PCH built with other flags, so every user compiles alike: -fPIC everywhere
  # (not -fPIE for executables) and no <target>_EXPORTS define (we rely on default visibility).
  set_target_properties(${target} PROPERTIES DEFINE_SYMBOL "")
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  get_property(owner GLOBAL PROPERTY TOPO_PCH_OWNER)
  if(NOT owner)
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
    set_property(GLOBAL PROPERTY TOPO_PCH_OWNER ${target})
  else()
    target_precompile_headers(${target} REUSE_FROM ${owner})
  endif()
endfunction()

# topo_add_library(<name> HEADERS ... SOURCES ... [CUDA_SOURCES ...]
#                  [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# Creates topo_<name> (alias topo::<name>), exported as topo::<name>. A folder whose capability
# has no compiled sources yet is an INTERFACE library, so the link graph is the same either way.
function(topo_add_library name)
  cmake_parse_arguments(arg "" "" "HEADERS;SOURCES;CUDA_SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  set(target topo_${name})
  if(arg_SOURCES)
    add_library(${target} ${arg_SOURCES})
    target_compile_options(${target} PRIVATE ${TOPO_WARNING_FLAGS})
    target_link_libraries(${target} PUBLIC ${arg_PUBLIC_DEPS} PRIVATE ${arg_PRIVATE_DEPS})
    set_target_properties(${target} PROPERTIES OUTPUT_NAME topo_${name} VERSION ${PROJECT_VERSION}
                                               SOVERSION ${PROJECT_VERSION_MAJOR})
    topo_use_pch(${target})
    set(scope PUBLIC)
  else()
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE ${arg_PUBLIC_DEPS})
    set(scope INTERFACE)
  endif()
  if(arg_HEADERS)
    target_sources(${target} ${scope} FILE_SET HEADERS
      BASE_DIRS ${PROJECT_SOURCE_DIR}
      FILES ${arg_HEADERS})
  endif()
  target_include_directories(${target} ${scope}
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/generated>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/topoformer>)
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  add_library(topo::${name} ALIAS ${target})
  set_property(GLOBAL APPEND PROPERTY TOPO_LIBRARIES ${target})
  if(arg_CUDA_SOURCES)
    set_property(GLOBAL APPEND PROPERTY TOPO_CUDA_SOURCES ${arg_CUDA_SOURCES})
  endif()
endfunction()

# One GoogleTest executable per source folder, run whole by ctest: every torch process costs
# ~0.45 s to start, so one process per test case would cost minutes.
function(topo_add_test_suite name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS" ${ARGN})
  set(target topo_${name}_tests)
  add_executable(${target} ${arg_SOURCES})
  target_compile_options(${target} PRIVATE ${TOPO_WARNING_FLAGS})
  target_link_libraries(${target} PRIVATE topo_test_support ${arg_DEPS} GTest::gtest_main)
  topo_use_pch(${target})
  add_test(NAME ${target} COMMAND ${target} --gtest_brief=1)
  set_tests_properties(${target} PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2" TIMEOUT 1200)
endfunction()
