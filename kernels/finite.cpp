// The checked entry of the finiteness scan: validates every tensor, then runs
// the body of their device (kernels/cpu/finite.cpp, kernels/cuda/finite.cu).
#include "kernels/finite.h"

#include <cmath>

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

bool unscale_all(const std::vector<Tensor>& gradients, const std::vector<Tensor>& unscaled, double inv_scale) {
  const char* op = "unscale_all";
  check(gradients.size() == unscaled.size(), op, ": ", gradients.size(), " gradients but ", unscaled.size(),
        " outputs");
  check(std::isfinite(inv_scale) && inv_scale > 0.0, op, ": the inverse scale ", inv_scale,
        " must be positive and finite");
  if (gradients.empty()) return true;
  for (std::size_t i = 0; i < gradients.size(); ++i) {
    check_floating_or_16bit(op, gradients[i]);
    check(unscaled[i].defined() && unscaled[i].dtype() == DType::Float32, op, ": output ", unscaled[i],
          " must be float32");
    check_shape(op, "output", unscaled[i], gradients[i].shape());
    check(gradients[i].device() == gradients.front().device() && unscaled[i].device() == gradients.front().device(),
          op, ": ", gradients[i], " and ", unscaled[i], " must be on the device of ", gradients.front());
  }
  if constexpr (kWithCuda)
    if (gradients.front().device() == Device::CUDA) return cuda::unscale_all(gradients, unscaled, inv_scale);
  return cpu::unscale_all(gradients, unscaled, inv_scale);
}

std::string first_non_finite(const std::vector<std::pair<std::string, Tensor>>& named_tensors) {
  for (const auto& [name, tensor] : named_tensors)
    if (!all_finite({tensor})) return name;
  return "";
}

}  // namespace armnet::kernels
