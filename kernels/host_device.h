// ARMNET_HOST_DEVICE marks the per-element index arithmetic that a CUDA
// kernel shares with the CPU tests which check it over every index against
// the CPU kernel (so CI proves it without a GPU): __host__ __device__ under
// nvcc, nothing for the C++ compiler.
#pragma once

#ifdef __CUDACC__
#define ARMNET_HOST_DEVICE __host__ __device__
#else
#define ARMNET_HOST_DEVICE
#endif
