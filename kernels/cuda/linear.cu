// The CUDA bodies of the linear layer (arguments checked by
// kernels/linear.cpp), the passes of kernels/cpu/linear.cpp: each product is
// one cuBLAS GEMM; the bias is added by the broadcasting add of the
// elementwise kernels and its gradient is their sum_to (the sum that undoes a
// broadcast, in double as on the CPU). That needs no ones vector to allocate
// and fill, which a GEMM-based bias would, and reuses kernels that are tested.
//
// Row-major through column-major: cuBLAS reads matrices column-major, armnet
// stores them row-major. A row-major [r, c] matrix with leading dimension ld
// is, read column-major, its transpose [c, r] with the same ld. So the
// row-major product C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T:
// row_major_gemm hands cuBLAS B before A and n before m, each operand keeping
// its own transposition flag, and the column-major C^T that cuBLAS writes is C
// row-major.
//
// The math mode is the handle's (kernels/cuda/runtime.cu): TF32 only with
// ARMNET_TF32=1. float16 and bfloat16 (mixed precision) go through
// cublasGemmEx with float32 accumulation (CUBLAS_COMPUTE_32F), on tensor
// cores; the bias add and sum_to round their float32 results to 16 bits
// (kernels/float32_stand_ins.h).
#include <algorithm>
#include <climits>
#include <type_traits>

#include "kernels/convert.h"
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"

namespace armnet::kernels::cuda {

namespace {

// Row-major C [m, n] = op(A) [m, k] * op(B) [k, n], as cpu::gemm with alpha 1
// and beta 0 (see the top of the file).
template <class T>
void row_major_gemm(const char* op, bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k,
                    const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc) {
  check(std::max({m, n, k, lda, ldb, ldc}) <= INT_MAX, op, ": a ", m, "x", k, " by ", k, "x", n,
        " product is larger than cuBLAS's int sizes allow");
  const cublasOperation_t op_a = transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int rows = static_cast<int>(n), columns = static_cast<int>(m), inner = static_cast<int>(k);
  cublasStatus_t status;
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    const T one = 1, zero = 0;
    if constexpr (std::is_same_v<T, float>)
      status = cublasSgemm(cublas(), op_b, op_a, rows, columns, inner, &one, b, static_cast<int>(ldb), a,
                           static_cast<int>(lda), &zero, c, static_cast<int>(ldc));
    else
      status = cublasDgemm(cublas(), op_b, op_a, rows, columns, inner, &one, b, static_cast<int>(ldb), a,
                           static_cast<int>(lda), &zero, c, static_cast<int>(ldc));
  } else {
    // 16-bit storage, float32 scaling factors and accumulation.
    const float one = 1.0f, zero = 0.0f;
    const cudaDataType_t type = std::is_same_v<T, Half> ? CUDA_R_16F : CUDA_R_16BF;
    status = cublasGemmEx(cublas(), op_b, op_a, rows, columns, inner, &one, b, type, static_cast<int>(ldb), a, type,
                          static_cast<int>(lda), &zero, c, type, static_cast<int>(ldc), CUBLAS_COMPUTE_32F,
                          CUBLAS_GEMM_DEFAULT);
  }
  check_cublas(status, op, " (", m, "x", k, " by ", k, "x", n, ")");
  sync_if_debugging(op);
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
  const std::int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    // y [N, out] = x [N, in] * weight^T [in, out]
    row_major_gemm<T>("linear", false, true, batch, out, in, x.data<T>(), in, weight.data<T>(), in, y.data<T>(), out);
  });
  if (bias.defined()) kernels::add(y, bias, y);  // y += bias, broadcast over the rows
}

void linear_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, Tensor& grad_x, Tensor& grad_weight,
                     Tensor& grad_bias) {
  const char* op = "linear_backward";
  const std::int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* dy = grad_y.data<T>();
    if (grad_x.defined())  // [N, in] = dy [N, out] * weight [out, in]
      row_major_gemm<T>(op, false, false, batch, in, out, dy, out, weight.data<T>(), in, grad_x.data<T>(), in);
    if (grad_weight.defined())  // [out, in] = dy^T [out, N] * x [N, in]
      row_major_gemm<T>(op, true, false, out, in, batch, dy, out, x.data<T>(), in, grad_weight.data<T>(), in);
  });
  if (grad_bias.defined()) kernels::sum_to(grad_y, grad_bias);  // dy summed over the batch
}

}  // namespace armnet::kernels::cuda
