// The CUDA bodies of log-softmax and cross-entropy over logits [N, C],
// row-major (arguments checked by kernels/loss.cpp). One thread per row: C is
// 7 for facial expressions, so a row is a few dozen bytes and a warp would
// idle; the row arithmetic is kernels/loss.h's, in double, as on the CPU.
// The cross-entropy forward also reduces the batch mean, so it runs as one
// block; the out-of-range target flag it sets is read by
// check_cross_entropy_targets (protocol in kernels/loss.h).
#include <cmath>

#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/loss.h"

namespace armnet::kernels::cuda {

namespace {

// The device record of the first out-of-range target: row -1 when clear.
struct TargetError {
  std::int64_t row;
  std::int64_t value;
  std::int64_t classes;
};

// The record lives for the whole process in one small device tensor (never
// destroyed: freeing device memory from a static destructor would race the
// CUDA runtime's own teardown). Created clear at first use.
Tensor& target_error_record() {
  static Tensor* record = [] {
    auto* created = new Tensor(Tensor::empty({3}, DType::Int64, Device::CUDA));
    check_cuda(cudaMemsetAsync(created->data_ptr(), 0xFF, created->nbytes(), stream()),
               "cross_entropy: clearing the target error record");  // all bits set: row -1
    return created;
  }();
  return *record;
}

// log_probs = log_softmax(logits), one row per thread (grid-stride over the
// rows). Moves N*C*sizeof(T) read + the same written.
template <class T>
__global__ void log_softmax_forward_kernel(const T* logits, T* log_probs, std::int64_t rows, std::int64_t classes) {
  for (std::int64_t n = first_index(); n < rows; n += grid_stride())
    log_softmax_row(logits + n * classes, log_probs + n * classes, classes);
}

// grad_logits = grad_log_probs - exp(log_probs) * row sum of grad_log_probs,
// one row per thread (grid-stride over the rows). Moves 2*N*C*sizeof(T) read
// + N*C*sizeof(T) written.
template <class T>
__global__ void log_softmax_backward_kernel(const T* log_probs, const T* grad_log_probs, T* grad_logits,
                                            std::int64_t rows, std::int64_t classes) {
  for (std::int64_t n = first_index(); n < rows; n += grid_stride())
    log_softmax_backward_row(log_probs + n * classes, grad_log_probs + n * classes, grad_logits + n * classes, classes);
}

// The mean cross-entropy and the log-softmax, as ONE block of kThreads
// threads: thread t takes rows t, t + kThreads, ... (writing their
// log-softmax, summing their losses in double and noting its first row with
// an out-of-range target), then a tree reduction in shared memory adds the
// sums (in a fixed order: the loss does not vary between runs) and takes the
// smallest bad row. Thread 0 writes the mean, or NaN when a row was bad, and
// records that row in `error` unless it already holds one. Moves
// N*C*sizeof(T) read + N*8 (targets) read + N*C*sizeof(T) written.
template <class T>
__global__ void cross_entropy_forward_kernel(const T* logits, const std::int64_t* target, T* loss, T* log_probs,
                                             std::int64_t rows, std::int64_t classes, TargetError* error) {
  __shared__ double row_sum[kThreads];
  __shared__ std::int64_t first_bad_row[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  double sum = 0.0;
  std::int64_t bad_row = rows;  // none
  for (std::int64_t n = t; n < rows; n += kThreads) {
    const T* x = logits + n * classes;
    const double logsumexp = log_softmax_row(x, log_probs + n * classes, classes);
    const std::int64_t label = target[n];
    if (target_in_range(label, classes)) {
      sum += logsumexp - static_cast<double>(x[label]);
    } else if (bad_row == rows) {
      bad_row = n;  // this thread's rows ascend: its first bad one is its smallest
    }
  }
  sum = block_reduce<kThreads>(sum, row_sum);
  const std::int64_t first_bad = block_reduce<kThreads>(bad_row, first_bad_row, MinimumOf());
  if (t != 0) return;
  if (first_bad == rows) {
    loss[0] = static_cast<T>(sum / static_cast<double>(rows));
    return;
  }
  loss[0] = static_cast<T>(std::nan(""));
  if (error->row < 0) {  // kernels on the one stream run in order: no other writer
    error->row = first_bad;
    error->value = target[first_bad];
    error->classes = classes;
  }
}

// grad_logits = (exp(log_probs) - one_hot(target)) * grad_loss / N, one row
// per thread (grid-stride over the rows); NaN for a row with a bad target.
// Moves N*C*sizeof(T) + N*8 + sizeof(T) read + N*C*sizeof(T) written.
template <class T>
__global__ void cross_entropy_backward_kernel(const T* log_probs, const std::int64_t* target, const T* grad_loss,
                                              T* grad_logits, std::int64_t rows, std::int64_t classes) {
  const double scale = static_cast<double>(grad_loss[0]) / static_cast<double>(rows);
  for (std::int64_t n = first_index(); n < rows; n += grid_stride())
    cross_entropy_backward_row(log_probs + n * classes, target[n], scale, grad_logits + n * classes, classes);
}

}  // namespace

void log_softmax_forward(const Tensor& logits, Tensor& log_probs) {
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    launch("log_softmax", log_softmax_forward_kernel<T>, grid_for(rows), kThreads, 0, logits.data<T>(),
           log_probs.data<T>(), rows, classes);
  });
}

void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits) {
  const std::int64_t rows = log_probs.size(0), classes = log_probs.size(1);
  dispatch_floating(log_probs, [&](auto zero) {
    using T = decltype(zero);
    launch("log_softmax_backward", log_softmax_backward_kernel<T>, grid_for(rows), kThreads, 0, log_probs.data<T>(),
           grad_log_probs.data<T>(), grad_logits.data<T>(), rows, classes);
  });
}

void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs) {
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  auto* error = static_cast<TargetError*>(target_error_record().data_ptr());
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    launch("cross_entropy", cross_entropy_forward_kernel<T>, 1, kThreads, 0, logits.data<T>(),
           target.data<std::int64_t>(), loss.data<T>(), log_probs.data<T>(), rows, classes, error);
  });
}

void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits) {
  const std::int64_t rows = log_probs.size(0), classes = log_probs.size(1);
  dispatch_floating(log_probs, [&](auto zero) {
    using T = decltype(zero);
    launch("cross_entropy_backward", cross_entropy_backward_kernel<T>, grid_for(rows), kThreads, 0, log_probs.data<T>(),
           target.data<std::int64_t>(), grad_loss.data<T>(), grad_logits.data<T>(), rows, classes);
  });
}

void check_cross_entropy_targets() {
  Tensor& record = target_error_record();
  const Tensor host = record.to(Device::CPU);  // waits for the stream
  const std::int64_t* fields = host.data<std::int64_t>();
  const TargetError error{fields[0], fields[1], fields[2]};
  if (error.row < 0) return;
  check_cuda(cudaMemsetAsync(record.data_ptr(), 0xFF, record.nbytes(), stream()),
             "check_cross_entropy_targets: clearing the target error record");
  throw Error(
      str_cat("cross_entropy: target[", error.row, "] = ", error.value, " is outside [0, ", error.classes, ")"));
}

}  // namespace armnet::kernels::cuda
