// One instruction-set variant of the CPU GEMM (see gemm.h). The build compiles
// this file once per variant with different -m flags and defines
// ARMNET_GEMM_F32 / ARMNET_GEMM_F64 to the variant's exported function names;
// everything else in the library, Eigen included, has hidden visibility.
#include <cstdint>

#include <Eigen/Core>

namespace {

template <class T>
using RowMajorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                               Eigen::OuterStride<>>;
template <class T>
using ConstRowMajorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                                    Eigen::OuterStride<>>;

template <class T>
void gemm_eigen(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
                const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  // Stored shapes: A is (m x k) or, transposed, (k x m); B likewise.
  ConstRowMajorMap<T> stored_a(a, transpose_a ? k : m, transpose_a ? m : k, Eigen::OuterStride<>(lda));
  ConstRowMajorMap<T> stored_b(b, transpose_b ? n : k, transpose_b ? k : n, Eigen::OuterStride<>(ldb));
  RowMajorMap<T> out(c, m, n, Eigen::OuterStride<>(ldc));
  // beta == 0 assigns (C may hold garbage, even NaN); otherwise scale, then add.
  auto multiply = [&](const auto& left, const auto& right) {
    if (beta == T(0)) {
      out.noalias() = alpha * left * right;
      return;
    }
    if (beta != T(1)) out *= beta;
    out.noalias() += alpha * left * right;
  };
  if (transpose_a && transpose_b)
    multiply(stored_a.transpose(), stored_b.transpose());
  else if (transpose_a)
    multiply(stored_a.transpose(), stored_b);
  else if (transpose_b)
    multiply(stored_a, stored_b.transpose());
  else
    multiply(stored_a, stored_b);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) void ARMNET_GEMM_F32(
    bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a,
    std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c, std::int64_t ldc) {
  gemm_eigen<float>(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

extern "C" __attribute__((visibility("default"))) void ARMNET_GEMM_F64(
    bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
    const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
    std::int64_t ldc) {
  gemm_eigen<double>(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
