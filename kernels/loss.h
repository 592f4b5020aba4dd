// Classification losses over logits [N, C] (one row per sample, classes on the
// last axis): log-softmax and the mean cross-entropy, forward and backward.
// Outputs are allocated by the caller (autograd/loss.cpp) with the right
// shape; float32 and float64, sums accumulated in double.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"
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
// target is int64 [N]; every value must lie in [0, C). log_probs [N, C]
// receives the log-softmax, which is what the backward needs.
//
// The target's values are checked without a host round trip on CUDA:
// - CPU: the forward (and the backward) throws naming the first bad row and
//   its value: "cross_entropy: target[2] = 7 is outside [0, 7)".
// - CUDA: the forward does not stop. A row with a bad target makes the loss
//   NaN (its log_probs are still written), and the first such row of the
//   first forward that had one is recorded, with its value, in a flag on the
//   device; the backward writes NaN into the gradient of such rows.
//   check_cross_entropy_targets(loss) reads the flag (one copy of 24 bytes,
//   which waits for the stream), throws the CPU's message if it is set and
//   clears it. Callers that read the loss anyway (the training loop, every
//   step) call it when the loss they read is not finite, before reporting
//   divergence: a bad label is then named as such.
void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs);
// grad_logits[n, c] = (exp(log_probs[n, c]) - [c == target[n]]) * grad_loss / N,
// grad_loss being the scalar gradient of the loss.
void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits);
// For a loss on CUDA: throws, once, the message of the first out-of-range
// target that a cross_entropy_forward on CUDA has recorded since the last
// check (see above), and clears the record. For a CPU loss: nothing (the CPU
// forward has already thrown).
void check_cross_entropy_targets(const Tensor& loss);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests -----
// One row of `classes` values at a time, in double. The CPU bodies call these
// too, so tests/test_index_math_loss_optim.cpp checks them against the
// textbook formulas and hand-computed values, not against the CPU kernels.

// Writes log_probs[c] = logits[c] - logsumexp(logits) for one row and returns
// the logsumexp (max + log(sum_c exp(logits[c] - max))). A NaN logit makes
// the row NaN.
template <class T>
ARMNET_HOST_DEVICE inline double log_softmax_row(const T* logits, T* log_probs, std::int64_t classes) {
  double max = static_cast<double>(logits[0]);
  for (std::int64_t c = 1; c < classes; ++c) {
    const double value = static_cast<double>(logits[c]);
    max = max < value ? value : max;  // std::max's choice, also for NaN
  }
  double sum_exp = 0.0;
  for (std::int64_t c = 0; c < classes; ++c) sum_exp += std::exp(static_cast<double>(logits[c]) - max);
  const double logsumexp = max + std::log(sum_exp);
  for (std::int64_t c = 0; c < classes; ++c) log_probs[c] = static_cast<T>(static_cast<double>(logits[c]) - logsumexp);
  return logsumexp;
}

// grad_logits[c] = grad_log_probs[c] - std::exp(log_probs[c]) * sum_k grad_log_probs[k].
template <class T>
ARMNET_HOST_DEVICE inline void log_softmax_backward_row(const T* log_probs, const T* grad_log_probs, T* grad_logits,
                                                        std::int64_t classes) {
  double grad_sum = 0.0;
  for (std::int64_t c = 0; c < classes; ++c) grad_sum += grad_log_probs[c];
  for (std::int64_t c = 0; c < classes; ++c)
    grad_logits[c] = static_cast<T>(grad_log_probs[c] - std::exp(static_cast<double>(log_probs[c])) * grad_sum);
}

// True when a target value names one of `classes` classes.
ARMNET_HOST_DEVICE inline bool target_in_range(std::int64_t target, std::int64_t classes) {
  return target >= 0 && target < classes;
}

// grad_logits[c] = (exp(log_probs[c]) - [c == target]) * scale, scale being
// grad_loss / N; a row whose target is out of range gets NaN.
template <class T>
ARMNET_HOST_DEVICE inline void cross_entropy_backward_row(const T* log_probs, std::int64_t target, double scale,
                                                          T* grad_logits, std::int64_t classes) {
  const bool valid = target_in_range(target, classes);
  for (std::int64_t c = 0; c < classes; ++c) {
    const double one_hot = c == target ? 1.0 : 0.0;
    const double value = (std::exp(static_cast<double>(log_probs[c])) - one_hot) * scale;
    grad_logits[c] = static_cast<T>(valid ? value : std::nan(""));
  }
}

// The bodies behind these entry points (kernels/cpu/loss.cpp and
// kernels/cuda/loss.cu): only the checked entries in kernels/loss.cpp call
// them, after validating every argument.
namespace cpu {
void log_softmax_forward(const Tensor& logits, Tensor& log_probs);
void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits);
void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs);
void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits);
}  // namespace cpu
namespace cuda {
void log_softmax_forward(const Tensor& logits, Tensor& log_probs);
void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits);
void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs);
void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits);
void check_cross_entropy_targets();
}  // namespace cuda

}  // namespace armnet::kernels
