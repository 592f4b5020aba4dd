// Run-time choice between the GEMM variants built from gemm_isa.cpp.
#include "kernels/cpu/gemm.h"

#include <cstdlib>

#include "tensor/error.h"

// The variants exported by the three builds of gemm_isa.cpp. A function type
// declares all three of a dtype at once.
extern "C" {
using GemmF32 = void(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                     const float*, std::int64_t, float, float*, std::int64_t);
using GemmF64 = void(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                     const double*, std::int64_t, double, double*, std::int64_t);
GemmF32 armnet_gemm_f32_sse2, armnet_gemm_f32_avx2, armnet_gemm_f32_avx512;
GemmF64 armnet_gemm_f64_sse2, armnet_gemm_f64_avx2, armnet_gemm_f64_avx512;
}

namespace armnet::cpu {

struct GemmVariant {
  const char* isa;
  GemmF32* f32;
  GemmF64* f64;
  bool (*supported)();
};

static const GemmVariant kVariants[] = {
    {"avx512", armnet_gemm_f32_avx512, armnet_gemm_f64_avx512,
     [] {
       return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
              __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
              __builtin_cpu_supports("fma");
     }},
    {"avx2", armnet_gemm_f32_avx2, armnet_gemm_f64_avx2,
     [] { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }},
    {"sse2", armnet_gemm_f32_sse2, armnet_gemm_f64_sse2, [] { return true; }},
};

static const GemmVariant* find_variant(const std::string& isa) {
  for (const GemmVariant& variant : kVariants)
    if (isa == variant.isa && variant.supported()) return &variant;
  return nullptr;
}

static const GemmVariant* initial_variant() {
  if (const char* forced = std::getenv("ARMNET_CPU_ISA")) {
    const GemmVariant* variant = find_variant(forced);
    check(variant != nullptr, "ARMNET_CPU_ISA=", forced, " is not one of this processor's: avx512, avx2, sse2");
    return variant;
  }
  for (const GemmVariant& variant : kVariants)
    if (variant.supported()) return &variant;
  return &kVariants[2];
}

static const GemmVariant*& active_variant() {
  static const GemmVariant* variant = initial_variant();
  return variant;
}

std::string gemm_isa() { return active_variant()->isa; }

std::vector<std::string> supported_gemm_isas() {
  std::vector<std::string> isas;
  for (const GemmVariant& variant : kVariants)
    if (variant.supported()) isas.emplace_back(variant.isa);
  return isas;
}

void set_gemm_isa(const std::string& isa) {
  const GemmVariant* variant = find_variant(isa);
  check(variant != nullptr, "set_gemm_isa: '", isa, "' is not supported by this processor");
  active_variant() = variant;
}

template <>
void gemm<float>(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, float alpha,
                 const float* a, std::int64_t lda, const float* b, std::int64_t ldb, float beta, float* c,
                 std::int64_t ldc) {
  active_variant()->f32(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <>
void gemm<double>(bool transpose_a, bool transpose_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                  const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
                  std::int64_t ldc) {
  active_variant()->f64(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace armnet::cpu
