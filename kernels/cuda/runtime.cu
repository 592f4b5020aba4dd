// The cuDNN and cuBLAS handles (one each, bound to the compute stream) and
// the debugging synchronisation of kernels/cuda/runtime.h.
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/runtime.h"

namespace armnet::kernels::cuda {

namespace {
bool environment_is_one(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::strcmp(value, "1") == 0;
}
}  // namespace

bool tf32_enabled() {
  static const bool enabled = environment_is_one("ARMNET_TF32");
  return enabled;
}

// Never destroyed: destroying handles from a static destructor would race
// the CUDA runtime's own teardown.
cudnnHandle_t cudnn() {
  static const cudnnHandle_t handle = [] {
    cudnnHandle_t created = nullptr;
    check_cudnn(cudnnCreate(&created), "cudnnCreate");
    check_cudnn(cudnnSetStream(created, stream()), "cudnnSetStream");
    return created;
  }();
  return handle;
}

cublasHandle_t cublas() {
  static const cublasHandle_t handle = [] {
    cublasHandle_t created = nullptr;
    check_cublas(cublasCreate(&created), "cublasCreate");
    check_cublas(cublasSetStream(created, stream()), "cublasSetStream");
    check_cublas(cublasSetMathMode(created, tf32_enabled() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
                 "cublasSetMathMode");
    return created;
  }();
  return handle;
}

void sync_if_debugging(const char* op) {
  static const bool enabled = environment_is_one("ARMNET_CUDA_SYNC");
  if (enabled) check_cuda(cudaStreamSynchronize(stream()), op, " (ARMNET_CUDA_SYNC=1: the op's work failed)");
}

}  // namespace armnet::kernels::cuda
