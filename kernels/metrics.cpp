// The checked entries of the training metrics: each validates the logits,
// the target or output, and their devices before the body of that device runs
// (kernels/cpu/metrics.cpp, kernels/cuda/metrics.cu).
#include "kernels/metrics.h"

#include "kernels/dispatch.h"
#include "kernels/loss.h"  // check_logits_and_target

namespace armnet::kernels {

void argmax_rows(const Tensor& logits, Tensor& out) {
  const char* op = "argmax_rows";
  check_logits_and_target(op, logits);
  check(out.defined(), op, ": output is undefined");
  const Shape expected{logits.size(0)};
  check(out.dtype() == DType::Int64 && out.shape() == expected, op, ": output ", out, " must be int64",
        shape_text(expected), " to match logits ", logits);
  check(out.device() == logits.device(), op, ": output ", out, " and logits ", logits, " are on different devices");
  if constexpr (kWithCuda) if (logits.device() == Device::CUDA) return cuda::argmax_rows(logits, out);
  cpu::argmax_rows(logits, out);
}

std::int64_t correct_count(const Tensor& logits, const Tensor& target) {
  const char* op = "correct_count";
  check(target.defined(), op, ": target is undefined");
  check_logits_and_target(op, logits, target);
  if constexpr (kWithCuda) if (logits.device() == Device::CUDA) return cuda::correct_count(logits, target);
  return cpu::correct_count(logits, target);
}

}  // namespace armnet::kernels
