// armnet: the command-line entry point. `armnet info` prints what this build
// and this machine offer; train / test / predict / synth arrive with their
// issues (see README).
#include <cstdio>
#include <cstring>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cpu/gemm.h"
#include "tensor/device.h"

static int print_info() {
  std::printf("armnet 0.1.0\n");
  std::string isas;
  for (const std::string& isa : armnet::cpu::supported_gemm_isas()) isas += (isas.empty() ? "" : ", ") + isa;
  std::printf("cpu gemm: %s (supported: %s)\n", armnet::cpu::gemm_isa().c_str(), isas.c_str());
  std::printf("cpu float32 convolution: %s\n",
              armnet::kernels::conv2d_implementation_name(armnet::kernels::conv2d_implementation()));
#ifdef ARMNET_WITH_CUDA
  std::printf("cuda: built (%s)\n", armnet::cuda::library_versions().c_str());
  std::printf("gpu: %s\n", armnet::cuda_available() ? "available" : armnet::cuda_unavailable_reason().c_str());
#else
  std::printf("cuda: not built (no nvcc at configure time)\n");
#endif
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "info") == 0) return print_info();
  std::fprintf(stderr, "usage: armnet info\n  (train, test, predict and synth are not implemented yet)\n");
  return 2;
}
