// The CPU bodies of the training metrics (arguments checked by
// kernels/metrics.cpp): one pass over the rows of logits [N, C], row-major,
// each row's argmax by kernels/metrics.h's argmax_row. Rows are split across
// threads by OpenMP when the tensor is large; the count is an integer sum, so
// it does not depend on the thread count.
#include "kernels/metrics.h"

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

void argmax_rows(const Tensor& logits, Tensor& out) {
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    const T* x = logits.data<T>();
    std::int64_t* predicted = out.data<std::int64_t>();
#pragma omp parallel for if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n) predicted[n] = argmax_row(x + n * classes, classes);
  });
}

std::int64_t correct_count(const Tensor& logits, const Tensor& target) {
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  std::int64_t correct = 0;
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    const T* x = logits.data<T>();
    const std::int64_t* labels = target.data<std::int64_t>();
    std::int64_t count = 0;
#pragma omp parallel for reduction(+ : count) if (rows * classes > kParallelGrain)
    for (std::int64_t n = 0; n < rows; ++n) count += argmax_row(x + n * classes, classes) == labels[n] ? 1 : 0;
    correct = count;
  });
  return correct;
}

}  // namespace armnet::kernels::cpu
