# CUDA: real kernels need a LibTorch with CUDA; Debian's has none, so on CI we only
# compile-check every .cu file for sm_90 (no linking), which still catches CUDA compile errors.
include_guard(GLOBAL)
include(CheckLanguage)

if(TOPO_WITH_CUDA AND NOT TOPO_TORCH_HAS_CUDA)
  message(FATAL_ERROR
    "TOPO_WITH_CUDA=ON, but the LibTorch found at ${Torch_DIR} was built without CUDA "
    "(no torch_cuda target and TORCH_CUDA_LIBRARIES is empty). Point CMAKE_PREFIX_PATH at a "
    "CUDA-enabled LibTorch, or configure with -DTOPO_WITH_CUDA=OFF.")
endif()

set(TOPO_CUDA_CHECK_ENABLED OFF)
if(NOT TOPO_WITH_CUDA AND NOT TOPO_CUDA_COMPILE_CHECK STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(TOPO_CUDA_CHECK_ENABLED ON)
  elseif(TOPO_CUDA_COMPILE_CHECK STREQUAL "ON")
    message(FATAL_ERROR "TOPO_CUDA_COMPILE_CHECK=ON but no CUDA compiler (nvcc) was found; "
                        "install the CUDA toolkit in /usr/local/cuda or set CMAKE_CUDA_COMPILER.")
  else()
    message(STATUS "topoformer: nvcc not found, CUDA compile check skipped")
  endif()
endif()

if(TOPO_WITH_CUDA OR TOPO_CUDA_CHECK_ENABLED)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90)
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
endif()

# Called once every library has registered its CUDA sources.
function(topo_add_cuda_compile_check)
  if(NOT TOPO_CUDA_CHECK_ENABLED)
    return()
  endif()
  get_property(sources GLOBAL PROPERTY TOPO_CUDA_SOURCES)
  list(APPEND sources ${ARGN})
  if(NOT sources)
    return()
  endif()
  add_library(topo_cuda_compile_check OBJECT ${sources})
  target_include_directories(topo_cuda_compile_check PRIVATE
    ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/generated ${TORCH_INCLUDE_DIRS}
    # Debian's LibTorch lacks the generated c10/cuda/impl/cuda_cmake_macros.h.
    ${PROJECT_SOURCE_DIR}/cmake/cuda_stub)
  target_compile_definitions(topo_cuda_compile_check PRIVATE _GLIBCXX_USE_CXX11_ABI=1
                                                             TOPO_CUDA_COMPILE_CHECK_ONLY)
  set_target_properties(topo_cuda_compile_check PROPERTIES CUDA_ARCHITECTURES 90)
  message(STATUS "topoformer: CUDA compile check for sm_90 over ${sources}")
endfunction()
