// `armnet info` and `armnet --version`: what this build and this machine
// offer. ARMNET_VERSION and ARMNET_BUILD_TYPE come from CMakeLists.txt.
#include <cstdio>
#include <string>

#include "apps/commands.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/gemm.h"
#include "tensor/device.h"
#include "tensor/error.h"

namespace armnet::apps {


std::string build_description() {
  std::string isas;
  for (const std::string& isa : cpu::supported_gemm_isas()) isas += (isas.empty() ? "" : ", ") + isa;
  std::string text = str_cat("armnet ", ARMNET_VERSION, " (", ARMNET_BUILD_TYPE[0] ? ARMNET_BUILD_TYPE : "default",
                             " build)\n");
  text += str_cat("cpu gemm: ", cpu::gemm_isa(), " (supported: ", isas, ")\n");
  text += str_cat("cpu float32 convolution: ",
                  kernels::conv2d_implementation_name(kernels::conv2d_implementation()), "\n");
#ifdef ARMNET_WITH_CUDA
  text += str_cat("cuda: built (", cuda::library_versions(), ")\n");
  text += str_cat("gpu: ", cuda_available() ? "available" : cuda_unavailable_reason(), "\n");
#else
  text += "cuda: not built (no nvcc at configure time)\n";
#endif
#ifdef ARMNET_WITH_ONNX
  text += "onnx export: built\n";
#else
  text += "onnx export: not built (no libonnx-dev at configure time)\n";
#endif
#ifdef ARMNET_WITH_OPENCV
  text += "face detection: built (OpenCV's Haar cascade)\n";
#else
  text += "face detection: not built (no OpenCV at configure time, or -DARMNET_OPENCV=OFF)\n";
#endif
  return text;
}

void add_info_command(CLI::App& app) {
  app.add_subcommand("info", "Print the build's CPU code paths and CUDA libraries, and whether a GPU is usable")
      ->callback([] { std::fputs(build_description().c_str(), stdout); });
}

}  // namespace armnet::apps
