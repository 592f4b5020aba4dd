// `armnet info`: what this build and this machine offer.
#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/gemm.h"
#include "tensor/device.h"

namespace armnet::apps {

static void print_info() {
  std::printf("armnet 0.1.0\n");
  std::string isas;
  for (const std::string& isa : cpu::supported_gemm_isas()) isas += (isas.empty() ? "" : ", ") + isa;
  std::printf("cpu gemm: %s (supported: %s)\n", cpu::gemm_isa().c_str(), isas.c_str());
  std::printf("cpu float32 convolution: %s\n", kernels::conv2d_implementation_name(kernels::conv2d_implementation()));
#ifdef ARMNET_WITH_CUDA
  std::printf("cuda: built (%s)\n", cuda::library_versions().c_str());
  std::printf("gpu: %s\n", cuda_available() ? "available" : cuda_unavailable_reason().c_str());
#else
  std::printf("cuda: not built (no nvcc at configure time)\n");
#endif
}

void add_info_command(CLI::App& app) {
  app.add_subcommand("info", "Print the build's CPU code paths and CUDA libraries, and whether a GPU is usable")
      ->callback(print_info);
}

}  // namespace armnet::apps
