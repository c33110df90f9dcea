# Third-party packages, all from Debian bookworm (scripts/install_dependencies.sh installs them).
find_package(Torch REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(nanoflann REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(Open3D REQUIRED)
find_package(Threads REQUIRED)
# Dataset readers (private to topo::datasets).
find_package(ZLIB REQUIRED)
# Debian's libzip CMake package demands the zipcmp tools; pkg-config needs only the library.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
pkg_check_modules(HDF5 REQUIRED IMPORTED_TARGET hdf5)  # FindHDF5 needs the C language
find_package(LibArchive REQUIRED)
# Run pictures with text (private to topo::models); Debian ships cairo's pkg-config file only.
pkg_check_modules(CAIRO REQUIRED IMPORTED_TARGET cairo)

# LibTorch's imported target adds -D_GLIBCXX_USE_CXX11_ABI and the USE_* definitions; the
# `torch` target is enough for us (TORCH_LIBRARIES also lists libc10).
set(TOPO_TORCH_LIBRARIES ${TORCH_LIBRARIES})

set(TOPO_TORCH_HAS_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR TARGET torch_cuda)
  set(TOPO_TORCH_HAS_CUDA ON)
endif()

# FFTW 3 (optional, private to topo::attention): the Toeplitz masks' FFTs, 2.2x faster than
# pocketfft on the masks' operand here (BENCHMARKS.md, topo_bench_fft). Both precisions, OpenMP
# threads.
set(TOPO_HAS_FFTW OFF)
if(TOPO_WITH_FFTW)
  find_path(TOPO_FFTW3_INCLUDE_DIR fftw3.h)
  foreach(lib fftw3 fftw3f fftw3_omp fftw3f_omp)
    find_library(TOPO_${lib}_LIBRARY ${lib})
  endforeach()
  if(TOPO_FFTW3_INCLUDE_DIR AND TOPO_fftw3_LIBRARY AND TOPO_fftw3f_LIBRARY
     AND TOPO_fftw3_omp_LIBRARY AND TOPO_fftw3f_omp_LIBRARY)
    set(TOPO_HAS_FFTW ON)
    set(TOPO_FFTW_LIBRARIES ${TOPO_fftw3_omp_LIBRARY} ${TOPO_fftw3f_omp_LIBRARY}
                            ${TOPO_fftw3_LIBRARY} ${TOPO_fftw3f_LIBRARY})
  else()
    message(STATUS "FFTW 3 not found (libfftw3-dev): the Toeplitz masks use torch::fft")
  endif()
endif()
