// Dense matrix multiply on the CPU, the work horse of convolution (im2col)
// and linear layers.
//
//   C = alpha * op(A) * op(B) + beta * C     (row-major; op(X) = X or X^T)
//
// op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row strides of
// the stored matrices. Eigen's GEMM does the work, multi-threaded with OpenMP
// (one thread when called inside a parallel region).
//
// Eigen picks its vector instructions at compile time, so gemm_isa.cpp is
// compiled three times (SSE2, AVX2+FMA, AVX-512) into three small shared
// libraries whose internals stay hidden from each other; gemm() calls the best
// one this processor supports, chosen once at run time. ARMNET_CPU_ISA=sse2,
// avx2 or avx512 forces one (for benchmarks and tests).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace armnet::cpu {

template <class T>
void gemm(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

// The instruction set gemm() uses now: "avx512", "avx2" or "sse2".
std::string gemm_isa();
// Every instruction set this processor can run, best first.
std::vector<std::string> supported_gemm_isas();
// Switches gemm() to `isa` (one of supported_gemm_isas()); throws otherwise.
void set_gemm_isa(const std::string& isa);

}  // namespace armnet::cpu
