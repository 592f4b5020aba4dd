// Training metrics over logits [N, C] (one row per sample): the predicted
// class of every row and the number of rows predicted right, for the
// training loop's accuracy and the confusion matrix. Float32 and float64
// logits, int64 classes; CPU and CUDA give the same answers bit for bit
// (comparisons only, no arithmetic).
#pragma once

#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// out[n] = the class c of the largest logits[n, c]: the first one on ties (as
// std::max_element). A NaN counts as larger than every number, so a row with
// a NaN predicts its first NaN's class (PyTorch's argmax does the same): a
// diverged model's predictions stay defined and equal on both devices.
// logits is float32/float64 [N, C] with C >= 1; out is int64 [N] on the
// logits' device (preallocated, overwritten).
void argmax_rows(const Tensor& logits, Tensor& out);

// The number of rows n whose argmax_rows class equals target[n] (int64 [N] on
// the logits' device). Target values are not range-checked (cross_entropy
// does that): a value outside [0, C) never counts as correct. On CUDA, one
// 8-byte copy to the host, which waits for the stream.
std::int64_t correct_count(const Tensor& logits, const Tensor& target);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests -----
// The CPU bodies call it too, so tests/test_index_math_loss_optim.cpp checks
// it against std::max_element and hand-made rows (ties, NaN).

// The argmax of one row of `classes` values, as defined above.
template <class T>
ARMNET_HOST_DEVICE inline std::int64_t argmax_row(const T* row, std::int64_t classes) {
  std::int64_t best = 0;
  for (std::int64_t c = 0; c < classes; ++c) {
    if (row[c] != row[c]) return c;  // NaN
    if (row[c] > row[best]) best = c;
  }
  return best;
}

// The bodies behind these entry points (kernels/cpu/metrics.cpp and
// kernels/cuda/metrics.cu): only the checked entries in kernels/metrics.cpp
// call them, after validating every argument.
namespace cpu {
void argmax_rows(const Tensor& logits, Tensor& out);
std::int64_t correct_count(const Tensor& logits, const Tensor& target);
}  // namespace cpu
namespace cuda {
void argmax_rows(const Tensor& logits, Tensor& out);
std::int64_t correct_count(const Tensor& logits, const Tensor& target);
}  // namespace cuda

}  // namespace armnet::kernels
