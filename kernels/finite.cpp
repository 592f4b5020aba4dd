// The checked entry of the finiteness scan: validates every tensor, then runs
// the body of their device (kernels/cpu/finite.cpp, kernels/cuda/finite.cu).
#include "kernels/finite.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

bool all_finite(const std::vector<Tensor>& tensors) {
  if (tensors.empty()) return true;
  for (const Tensor& tensor : tensors) {
    check(tensor.defined(), "all_finite: undefined tensor argument");
    check(is_floating(tensor.dtype()), "all_finite: ", tensor, " is not floating");
    check(tensor.device() == tensors.front().device(), "all_finite: ", tensors.front(), " and ", tensor,
          " are on different devices");
  }
  if constexpr (kWithCuda) if (tensors.front().device() == Device::CUDA) return cuda::all_finite(tensors);
  return cpu::all_finite(tensors);
}

std::string first_non_finite(const std::vector<std::pair<std::string, Tensor>>& named_tensors) {
  for (const auto& [name, tensor] : named_tensors)
    if (!all_finite({tensor})) return name;
  return "";
}

}  // namespace armnet::kernels
