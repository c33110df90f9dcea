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
