// Element types of a tensor and the exact float16 / bfloat16 conversions.
//
// float32 and float64 are the compute types of the CPU kernels (float64 for
// gradient checks); float16 and bfloat16 are storage types for now (mixed
// precision arrives with the CUDA work); int64 holds labels and BatchNorm's
// num_batches_tracked; uint8 holds decoded images.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace armnet {

enum class DType : std::uint8_t { Float32, Float64, Float16, BFloat16, Int64, UInt8 };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // "float32", "float64", ...
bool is_floating(DType dtype);

// IEEE binary16 and bfloat16 stored as raw bits. Conversion from float rounds
// to nearest, ties to even; NaN stays NaN, overflow becomes infinity.
struct Half {
  std::uint16_t bits = 0;
};
struct BFloat16 {
  std::uint16_t bits = 0;
};

std::uint16_t float_to_half_bits(float value);
float half_bits_to_float(std::uint16_t bits);
std::uint16_t float_to_bfloat16_bits(float value);
float bfloat16_bits_to_float(std::uint16_t bits);

// The DType that corresponds to a C++ element type.
template <class T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<Half>() { return DType::Float16; }
template <> constexpr DType dtype_of<BFloat16>() { return DType::BFloat16; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::UInt8; }

}  // namespace armnet
