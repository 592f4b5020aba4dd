// Fills, casts between the floating dtypes, and the int64 step counter: the
// small kernels that let a tensor's values change dtype or be set without
// leaving its device (mixed precision, BatchNorm's num_batches_tracked).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// Every element of y = value converted to y's dtype exactly as Tensor::full
// converts it: a C++ cast to float32/float64, float16/bfloat16 rounded to
// nearest even from the float32 value (tensor/dtype.h). y is floating (any of
// the four) or int64; for int64, value must be a whole number in int64's
// range.
void fill(Tensor& y, double value);

// y = x converted to y's dtype (same shape, same device), x and y each
// float32, float64, float16 or bfloat16, as Tensor::copy_from converts on the
// host: through float64, and to float16/bfloat16 from the float32 value,
// rounded to nearest even (overflow to infinity, subnormals kept, NaN stays
// NaN). Equal dtypes copy.
void cast(const Tensor& x, Tensor& y);

// counter += 1 for an int64 tensor of one element (BatchNorm's
// num_batches_tracked), on its device.
void increment(Tensor& counter);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----

ARMNET_HOST_DEVICE inline std::uint32_t bits_of(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
ARMNET_HOST_DEVICE inline std::uint64_t bits_of(double value) {
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
ARMNET_HOST_DEVICE inline float float_of_bits(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// The conversions of tensor/dtype.h (float_to_half_bits, half_bits_to_float,
// float_to_bfloat16_bits, bfloat16_bits_to_float), the same bit-level
// algorithm written for both sides: tests/test_index_math_elementwise.cpp
// proves them bit for bit equal over every float16 and bfloat16 value and
// millions of float32 values.
//
// binary32 -> binary16, round to nearest even. Normal results: drop 13
// mantissa bits (adding 0xfff plus the lowest kept bit; a carry into the
// exponent is the right rounding up, to infinity past the largest half).
// Subnormal results: shift the whole significand right, same rounding.
ARMNET_HOST_DEVICE inline std::uint16_t half_from_float(float value) {
  const std::uint32_t f = bits_of(value);
  const auto sign = static_cast<std::uint16_t>((f >> 16) & 0x8000u);
  const std::uint32_t abs = f & 0x7fffffffu;
  if (abs >= 0x7f800000u)  // infinity, or NaN (made quiet)
    return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (abs >= 0x38800000u) {                                                    // a normal half
    std::uint32_t rebiased = abs - 0x38000000u;                                // exponent bias 127 -> 15
    rebiased += 0xfffu + ((rebiased >> 13) & 1u);
    return static_cast<std::uint16_t>(sign | (rebiased >> 13));
  }
  if (abs < 0x33000000u) return sign;  // at most half the smallest subnormal: zero
  // A subnormal half, in units of 2^-24.
  const std::uint32_t exponent = abs >> 23;
  const std::uint32_t significand = (abs & 0x7fffffu) | 0x800000u;
  const std::uint32_t shift = 126u - exponent;  // 14..24 bits to drop
  std::uint32_t result = significand >> shift;
  const std::uint32_t remainder = significand & ((1u << shift) - 1u);
  const std::uint32_t halfway = 1u << (shift - 1u);
  if (remainder > halfway || (remainder == halfway && (result & 1u))) ++result;
  return static_cast<std::uint16_t>(sign | result);
}

// binary16 -> binary32, exact. A subnormal half is its mantissa times 2^-24
// (a normal float: the product is exact).
ARMNET_HOST_DEVICE inline float float_from_half(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) return float_of_bits(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0) return float_of_bits(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  const float magnitude = static_cast<float>(mantissa) * float_of_bits(0x33800000u);  // 2^-24
  return float_of_bits(sign | bits_of(magnitude));
}

// binary32 -> bfloat16, round to nearest even; NaN stays NaN (made quiet).
ARMNET_HOST_DEVICE inline std::uint16_t bfloat16_from_float(float value) {
  const std::uint32_t f = bits_of(value);
  if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((f >> 16) | 0x40u);
  return static_cast<std::uint16_t>((f + 0x7fffu + ((f >> 16) & 1u)) >> 16);
}

ARMNET_HOST_DEVICE inline float float_from_bfloat16(std::uint16_t bits) {
  return float_of_bits(static_cast<std::uint32_t>(bits) << 16);
}

// One element of cast(): every source value as a double (exact), and a
// double as each destination type (float16/bfloat16 from its float32 value).
ARMNET_HOST_DEVICE inline double widened(float value) { return value; }
ARMNET_HOST_DEVICE inline double widened(double value) { return value; }
ARMNET_HOST_DEVICE inline double widened(Half value) { return float_from_half(value.bits); }
ARMNET_HOST_DEVICE inline double widened(BFloat16 value) { return float_from_bfloat16(value.bits); }

template <class Destination>
ARMNET_HOST_DEVICE inline Destination narrowed(double value);
template <>
ARMNET_HOST_DEVICE inline float narrowed<float>(double value) {
  return static_cast<float>(value);
}
template <>
ARMNET_HOST_DEVICE inline double narrowed<double>(double value) {
  return value;
}
template <>
ARMNET_HOST_DEVICE inline Half narrowed<Half>(double value) {
  return Half{half_from_float(static_cast<float>(value))};
}
template <>
ARMNET_HOST_DEVICE inline BFloat16 narrowed<BFloat16>(double value) {
  return BFloat16{bfloat16_from_float(static_cast<float>(value))};
}

template <class Destination, class Source>
ARMNET_HOST_DEVICE inline Destination cast_value(Source value) {
  return narrowed<Destination>(widened(value));
}

// Runs body(float{}), body(double{}), body(Half{}) or body(BFloat16{}) for
// a floating dtype (the element types of cast and of the finiteness scan).
template <class Body>
void dispatch_any_floating(DType dtype, Body&& body) {
  switch (dtype) {
    case DType::Float32: body(float{}); return;
    case DType::Float64: body(double{}); return;
    case DType::Float16: body(Half{}); return;
    case DType::BFloat16: body(BFloat16{}); return;
    default: throw Error(str_cat("dispatch_any_floating: ", dtype_name(dtype), " is not floating"));
  }
}

// The bodies behind these entry points (kernels/cpu/convert.cpp,
// kernels/cuda/convert.cu), called by the checked entries of
// kernels/convert.cpp after validating every argument.
namespace cpu {
void fill(Tensor& y, double value);
void cast(const Tensor& x, Tensor& y);
void increment(Tensor& counter);
}  // namespace cpu

namespace cuda {
void fill(Tensor& y, double value);
void cast(const Tensor& x, Tensor& y);
void increment(Tensor& counter);
}  // namespace cuda

}  // namespace armnet::kernels
