// The checked entries of the classification losses: each validates logits,
// target and outputs before the body of their device runs
// (kernels/cpu/loss.cpp, kernels/cuda/loss.cu). The target's values are
// checked here on the CPU; on CUDA the kernels flag them (kernels/loss.h).
#include "kernels/loss.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

void check_logits_and_target(const char* op, const Tensor& logits, const Tensor& target) {
  check_floating(op, logits);
  check(logits.ndim() == 2 && logits.size(1) >= 1, op, ": logits ", logits, " must be 2-D [N, C] with C >= 1");
  if (!target.defined()) return;
  const Shape expected{logits.size(0)};
  check(target.dtype() == DType::Int64 && target.shape() == expected, op, ": target ", target, " must be int64",
        shape_text(expected), " to match logits ", logits);
  check(target.device() == logits.device(), op, ": target ", target, " and logits ", logits,
        " are on different devices");
}

// Throws naming the first value of a CPU target outside [0, classes).
static void check_target_values(const char* op, const Tensor& target, std::int64_t classes) {
  const std::int64_t* labels = target.data<std::int64_t>();
  for (std::int64_t n = 0; n < target.numel(); ++n)
    check(target_in_range(labels[n], classes), op, ": target[", n, "] = ", labels[n], " is outside [0, ", classes,
          ")");
}

void log_softmax_forward(const Tensor& logits, Tensor& log_probs) {
  check_logits_and_target("log_softmax", logits);
  check_same_dtype_device("log_softmax", logits, log_probs);
  check_shape("log_softmax", "output", log_probs, logits.shape());
  if constexpr (kWithCuda) if (logits.device() == Device::CUDA) return cuda::log_softmax_forward(logits, log_probs);
  cpu::log_softmax_forward(logits, log_probs);
}

void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits) {
  const char* op = "log_softmax_backward";
  check_logits_and_target(op, log_probs);
  check_same_dtype_device(op, log_probs, grad_log_probs);
  check_same_dtype_device(op, log_probs, grad_logits);
  check_shape(op, "grad_output", grad_log_probs, log_probs.shape());
  check_shape(op, "grad_input", grad_logits, log_probs.shape());
  if constexpr (kWithCuda)
    if (log_probs.device() == Device::CUDA) return cuda::log_softmax_backward(log_probs, grad_log_probs, grad_logits);
  cpu::log_softmax_backward(log_probs, grad_log_probs, grad_logits);
}

void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs) {
  const char* op = "cross_entropy";
  check(target.defined(), op, ": target is undefined");
  check_logits_and_target(op, logits, target);
  check_same_dtype_device(op, logits, loss);
  check_same_dtype_device(op, logits, log_probs);
  check_shape(op, "loss", loss, {});
  check_shape(op, "log_probs", log_probs, logits.shape());
  check(logits.size(0) >= 1, op, ": empty batch ", logits, " has no mean");
  if constexpr (kWithCuda)
    if (logits.device() == Device::CUDA) return cuda::cross_entropy_forward(logits, target, loss, log_probs);
  check_target_values(op, target, logits.size(1));
  cpu::cross_entropy_forward(logits, target, loss, log_probs);
}

void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits) {
  const char* op = "cross_entropy_backward";
  check(target.defined(), op, ": target is undefined");
  check_logits_and_target(op, log_probs, target);
  check_same_dtype_device(op, log_probs, grad_loss);
  check_same_dtype_device(op, log_probs, grad_logits);
  check_shape(op, "grad_output", grad_loss, {});
  check_shape(op, "grad_input", grad_logits, log_probs.shape());
  if constexpr (kWithCuda)
    if (log_probs.device() == Device::CUDA)
      return cuda::cross_entropy_backward(log_probs, target, grad_loss, grad_logits);
  check_target_values(op, target, log_probs.size(1));
  cpu::cross_entropy_backward(log_probs, target, grad_loss, grad_logits);
}

void check_cross_entropy_targets(const Tensor& loss) {
  check(loss.defined(), "check_cross_entropy_targets: the loss is undefined");
  if constexpr (kWithCuda) if (loss.device() == Device::CUDA) return cuda::check_cross_entropy_targets();
}

}  // namespace armnet::kernels
