// log_softmax and cross_entropy: the classification losses over logits
// [N, C], one row per sample. Both are FP32 islands of mixed precision:
// 16-bit logits are cast to float32 first inside an autocast scope.
#include "autograd/autocast.h"
#include "autograd/functional.h"
#include "kernels/loss.h"

namespace armnet {

Tensor log_softmax(const Tensor& input) {
  const Tensor logits = autocast::to_float32(input);
  kernels::check_logits_and_target("log_softmax", logits);
  Tensor log_probs = Tensor::empty_like(logits);
  kernels::log_softmax_forward(logits, log_probs);
  Tensor saved_log_probs = log_probs.detach();
  return autograd::record("log_softmax", log_probs, {logits}, [saved_log_probs](const Tensor& grad) {
    Tensor grad_logits = Tensor::empty_like(grad);
    kernels::log_softmax_backward(saved_log_probs, grad, grad_logits);
    return std::vector<Tensor>{grad_logits};
  });
}

Tensor cross_entropy(const Tensor& input, const Tensor& target) {
  const Tensor logits = autocast::to_float32(input);
  check(target.defined(), "cross_entropy: target is undefined");
  kernels::check_logits_and_target("cross_entropy", logits, target);
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  Tensor log_probs = Tensor::empty_like(logits);
  kernels::cross_entropy_forward(logits, target, loss, log_probs);
  Tensor saved_target = target.detach();
  // The target is an input without a gradient (int64 labels).
  return autograd::record("cross_entropy", loss, {logits, target}, [log_probs, saved_target](const Tensor& grad) {
    Tensor grad_logits = Tensor::empty_like(log_probs);
    kernels::cross_entropy_backward(log_probs, saved_target, grad, grad_logits);
    return std::vector<Tensor>{grad_logits, Tensor()};
  });
}

}  // namespace armnet
