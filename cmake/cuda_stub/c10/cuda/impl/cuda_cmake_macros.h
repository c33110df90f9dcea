// Compile-check stub: Debian's CPU LibTorch does not ship this generated header.
#pragma once
#define C10_CUDA_BUILD_SHARED_LIBS
