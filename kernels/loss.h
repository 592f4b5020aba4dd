// Classification losses over logits [N, C] (one row per sample, classes on the
// last axis): log-softmax and the mean cross-entropy, forward and backward.
// Outputs are allocated by the caller (autograd/loss.cpp) with the right
// shape; float32 and float64, sums accumulated in double.
#pragma once

#include "tensor/tensor.h"

namespace armnet::kernels {

// Validates logits as float32/float64 [N, C] with C >= 1 and, when defined,
// target as int64 [N] on the logits' device. Shapes only: the target's values
// are checked by the kernels that read them. Errors name `op` and the tensors.
void check_logits_and_target(const char* op, const Tensor& logits, const Tensor& target = Tensor());

// log_probs[n, c] = logits[n, c] - log(sum_k exp(logits[n, k])), computed
// from the row maximum so that large logits stay finite.
void log_softmax_forward(const Tensor& logits, Tensor& log_probs);
// grad_logits = grad_log_probs - softmax * (row sum of grad_log_probs), with
// softmax = exp(log_probs), the forward's output.
void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits);

// loss [] = mean over n of (log(sum_k exp(logits[n, k])) - logits[n, target[n]]).
// target is int64 [N]; every value must lie in [0, C) (checked, the message
// names the row and the value). log_probs [N, C] receives the log-softmax,
// which is what the backward needs.
void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs);
// grad_logits[n, c] = (exp(log_probs[n, c]) - [c == target[n]]) * grad_loss / N,
// grad_loss being the scalar gradient of the loss.
void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits);

// The bodies behind these entry points (kernels/cpu/loss.cpp;
// kernels/cuda/loss.cu to come): only the checked entries in kernels/loss.cpp
// call them, after validating every argument.
namespace cpu {
void log_softmax_forward(const Tensor& logits, Tensor& log_probs);
void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits);
void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs);
void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits);
}  // namespace cpu

}  // namespace armnet::kernels
