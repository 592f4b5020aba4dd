// The versions of the CUDA libraries this build links (cuDNN, cuBLAS, the
// CUDA runtime). Pure library queries: they work without a GPU, so CI proves
// on every run that the CUDA side compiles (with nvcc) and links.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "tensor/error.h"

namespace armnet::cuda {

std::string library_versions() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  int cublas_major = 0, cublas_minor = 0, cublas_patch = 0;
  cublasGetProperty(MAJOR_VERSION, &cublas_major);
  cublasGetProperty(MINOR_VERSION, &cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &cublas_patch);
  const std::size_t cudnn = cudnnGetVersion();
  return str_cat("cuda runtime ", runtime / 1000, ".", (runtime % 1000) / 10, ", cublas ", cublas_major, ".",
                 cublas_minor, ".", cublas_patch, ", cudnn ", cudnn / 10000, ".", (cudnn % 10000) / 100, ".",
                 cudnn % 100);
}

}  // namespace armnet::cuda
