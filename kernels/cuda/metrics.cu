// The CUDA bodies of the training metrics over logits [N, C], row-major
// (arguments checked by kernels/metrics.cpp). One thread per row, each row's
// argmax by kernels/metrics.h's argmax_row; the count is reduced in one
// block and read back as one number.
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/metrics.h"

namespace armnet::kernels::cuda {

namespace {

// out[n] = argmax of row n, one row per thread (grid-stride over the rows).
// Moves N*C*sizeof(T) read + N*8 written.
template <class T>
__global__ void argmax_rows_kernel(const T* logits, std::int64_t* out, std::int64_t rows, std::int64_t classes) {
  for (std::int64_t n = first_index(); n < rows; n += grid_stride()) out[n] = argmax_row(logits + n * classes, classes);
}

// count[0] = the number of rows whose argmax equals target, as ONE block of
// kThreads threads: thread t counts rows t, t + kThreads, ..., then a tree
// reduction in shared memory adds the counts and thread 0 writes the total.
// Moves N*C*sizeof(T) + N*8 read + 8 written.
template <class T>
__global__ void correct_count_kernel(const T* logits, const std::int64_t* target, std::int64_t* count,
                                     std::int64_t rows, std::int64_t classes) {
  __shared__ std::int64_t thread_count[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  std::int64_t correct = 0;
  for (std::int64_t n = t; n < rows; n += kThreads) correct += argmax_row(logits + n * classes, classes) == target[n];
  correct = block_reduce<kThreads>(correct, thread_count);
  if (t == 0) count[0] = correct;
}

}  // namespace

void argmax_rows(const Tensor& logits, Tensor& out) {
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    launch("argmax_rows", argmax_rows_kernel<T>, grid_for(rows), kThreads, 0, logits.data<T>(),
           out.data<std::int64_t>(), rows, classes);
  });
}

std::int64_t correct_count(const Tensor& logits, const Tensor& target) {
  const std::int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor count = Tensor::empty({1}, DType::Int64, Device::CUDA);
  dispatch_floating(logits, [&](auto zero) {
    using T = decltype(zero);
    launch("correct_count", correct_count_kernel<T>, 1, kThreads, 0, logits.data<T>(), target.data<std::int64_t>(),
           count.data<std::int64_t>(), rows, classes);
  });
  return count.to(Device::CPU).data<std::int64_t>()[0];  // waits for the stream
}

}  // namespace armnet::kernels::cuda
