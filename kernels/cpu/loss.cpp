// CPU log-softmax and cross-entropy over logits [N, C], row-major, one row
// per sample. Every row is independent: rows are split across threads by
// OpenMP when the tensor is large, and each row is reduced by one thread in
// double (max, then sum of exp(x - max)). The batch mean of the cross-entropy
// sums the per-row losses serially, in row order, so the loss does not depend
// on the number of threads.
#include "kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/dispatch.h"

namespace armnet::kernels {

void check_logits_and_target(const char* op, const Tensor& logits, const Tensor& target) {
  check_floating(op, logits);
  check(logits.ndim() == 2 && logits.size(1) >= 1, op, ": logits ", logits.describe(),
        " must be 2-D [N, C] with C >= 1");
  if (!target.defined()) return;
  const Shape expected{logits.size(0)};
  check(target.dtype() == DType::Int64 && target.shape() == expected, op, ": target ", target.describe(),
        " must be int64", shape_str(expected), " to match logits ", logits.describe());
  check(target.device() == logits.device(), op, ": target ", target.describe(), " and logits ", logits.describe(),
        " are on different devices");
}

// Throws naming the first target value outside [0, classes).
static void check_target_values(const char* op, const Tensor& target, std::int64_t classes) {
  const std::int64_t* labels = target.data<std::int64_t>();
  for (std::int64_t n = 0; n < target.numel(); ++n)
    check(labels[n] >= 0 && labels[n] < classes, op, ": target[", n, "] = ", labels[n], " is outside [0, ", classes,
          ")");
}

// Writes log_probs = logits - logsumexp(logits) for one row of `classes`
// values and returns the logsumexp.
template <class T>
static double log_softmax_row(const T* logits, T* log_probs, std::int64_t classes) {
  double max = logits[0];
  for (std::int64_t c = 1; c < classes; ++c) max = std::max(max, static_cast<double>(logits[c]));
  double sum_exp = 0.0;
  for (std::int64_t c = 0; c < classes; ++c) sum_exp += std::exp(static_cast<double>(logits[c]) - max);
  const double logsumexp = max + std::log(sum_exp);
  for (std::int64_t c = 0; c < classes; ++c) log_probs[c] = static_cast<T>(static_cast<double>(logits[c]) - logsumexp);
  return logsumexp;
}

void log_softmax_forward(const Tensor& logits, Tensor& log_probs) {
  check_logits_and_target("log_softmax", logits);
  check_same_dtype_device("log_softmax", logits, log_probs);
  require_cpu("log_softmax", {logits});
  check_shape("log_softmax", "output", log_probs, logits.shape());
  dispatch_floating("log_softmax", logits, [&](auto zero) {
    using T = decltype(zero);
    const T* px = logits.data<T>();
    T* py = log_probs.data<T>();
    const std::int64_t rows = logits.size(0), classes = logits.size(1);
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n) log_softmax_row(px + n * classes, py + n * classes, classes);
  });
}

void log_softmax_backward(const Tensor& log_probs, const Tensor& grad_log_probs, Tensor& grad_logits) {
  check_logits_and_target("log_softmax_backward", log_probs);
  check_same_dtype_device("log_softmax_backward", log_probs, grad_log_probs);
  check_same_dtype_device("log_softmax_backward", log_probs, grad_logits);
  require_cpu("log_softmax_backward", {log_probs});
  check_shape("log_softmax_backward", "grad_output", grad_log_probs, log_probs.shape());
  check_shape("log_softmax_backward", "grad_input", grad_logits, log_probs.shape());
  dispatch_floating("log_softmax_backward", log_probs, [&](auto zero) {
    using T = decltype(zero);
    const T* py = log_probs.data<T>();
    const T* pg = grad_log_probs.data<T>();
    T* pgx = grad_logits.data<T>();
    const std::int64_t rows = log_probs.size(0), classes = log_probs.size(1);
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n) {
      const T* y = py + n * classes;
      const T* grad_y = pg + n * classes;
      T* grad_x = pgx + n * classes;
      double grad_sum = 0.0;
      for (std::int64_t c = 0; c < classes; ++c) grad_sum += grad_y[c];
      for (std::int64_t c = 0; c < classes; ++c)
        grad_x[c] = static_cast<T>(grad_y[c] - std::exp(static_cast<double>(y[c])) * grad_sum);
    }
  });
}

void cross_entropy_forward(const Tensor& logits, const Tensor& target, Tensor& loss, Tensor& log_probs) {
  check(target.defined(), "cross_entropy: target is undefined");
  check_logits_and_target("cross_entropy", logits, target);
  check_same_dtype_device("cross_entropy", logits, loss);
  check_same_dtype_device("cross_entropy", logits, log_probs);
  require_cpu("cross_entropy", {logits});
  check_shape("cross_entropy", "loss", loss, {});
  check_shape("cross_entropy", "log_probs", log_probs, logits.shape());
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  check(rows >= 1, "cross_entropy: empty batch ", logits.describe(), " has no mean");
  check_target_values("cross_entropy", target, classes);
  dispatch_floating("cross_entropy", logits, [&](auto zero) {
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
  check(target.defined(), "cross_entropy_backward: target is undefined");
  check_logits_and_target("cross_entropy_backward", log_probs, target);
  check_same_dtype_device("cross_entropy_backward", log_probs, grad_loss);
  check_same_dtype_device("cross_entropy_backward", log_probs, grad_logits);
  require_cpu("cross_entropy_backward", {log_probs});
  check_shape("cross_entropy_backward", "grad_output", grad_loss, {});
  check_shape("cross_entropy_backward", "grad_input", grad_logits, log_probs.shape());
  const std::int64_t rows = log_probs.size(0), classes = log_probs.size(1);
  check_target_values("cross_entropy_backward", target, classes);
  dispatch_floating("cross_entropy_backward", log_probs, [&](auto zero) {
    using T = decltype(zero);
    const T* py = log_probs.data<T>();
    T* pgx = grad_logits.data<T>();
    const std::int64_t* labels = target.data<std::int64_t>();
    const double scale = static_cast<double>(grad_loss.data<T>()[0]) / static_cast<double>(rows);
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n) {
      const T* y = py + n * classes;
      T* grad_x = pgx + n * classes;
      for (std::int64_t c = 0; c < classes; ++c) {
        const double one_hot = c == labels[n] ? 1.0 : 0.0;
        grad_x[c] = static_cast<T>((std::exp(static_cast<double>(y[c])) - one_hot) * scale);
      }
    }
  });
}

}  // namespace armnet::kernels
