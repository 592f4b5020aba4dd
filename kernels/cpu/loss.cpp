// The CPU bodies of log-softmax and cross-entropy over logits [N, C],
// row-major, one row per sample (arguments, target values included, checked
// by kernels/loss.cpp). Every row is independent: rows are split across
// threads by OpenMP when the tensor is large, and each row is reduced by one
// thread in double (the row functions of kernels/loss.h: max, then sum of
// exp(x - max)). The batch mean of the cross-entropy sums the per-row losses
// serially, in row order, so the loss does not depend on the number of
// threads.
#include "kernels/loss.h"

#include <vector>

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

void log_softmax_forward(const Tensor& logits, Tensor& log_probs) {
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    const T* px = logits.data<T>();
    T* py = log_probs.data<T>();
    const std::int64_t rows = logits.size(0), classes = logits.size(1);
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n) log_softmax_row(px + n * classes, py + n * classes, classes);
  });
}

void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits) {
  dispatch_floating(log_probs, [&](auto zero) {
    using T = decltype(zero);
    const T* py = log_probs.data<T>();
    const T* pg = grad_log_probs.data<T>();
    T* pgx = grad_logits.data<T>();
    const std::int64_t rows = log_probs.size(0), classes = log_probs.size(1);
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n)
      log_softmax_backward_row(py + n * classes, pg + n * classes, pgx + n * classes, classes);
  });
}

void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs) {
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    const T* px = logits.data<T>();
    T* py = log_probs.data<T>();
    const std::int64_t* labels = target.data<std::int64_t>();
    std::vector<double> row_losses(static_cast<std::size_t>(rows));
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n) {
      const T* x = px + n * classes;
      const double logsumexp = log_softmax_row(x, py + n * classes, classes);
      row_losses[static_cast<std::size_t>(n)] = logsumexp - static_cast<double>(x[labels[n]]);
    }
    double total = 0.0;
    for (const double row_loss : row_losses) total += row_loss;
    loss.data<T>()[0] = static_cast<T>(total / static_cast<double>(rows));
  });
}

void cross_entropy_backward(const Tensor& log_probs, const Tensor& target, const Tensor& grad_loss,
                            Tensor& grad_logits) {
  const std::int64_t rows = log_probs.size(0), classes = log_probs.size(1);
  dispatch_floating(log_probs, [&](auto zero) {
    using T = decltype(zero);
    const T* py = log_probs.data<T>();
    T* pgx = grad_logits.data<T>();
    const std::int64_t* labels = target.data<std::int64_t>();
    const double scale = static_cast<double>(grad_loss.data<T>()[0]) / static_cast<double>(rows);
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n)
      cross_entropy_backward_row(py + n * classes, labels[n], scale, pgx + n * classes, classes);
  });
}

}  // namespace armnet::kernels::cpu
