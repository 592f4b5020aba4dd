// The per-element arithmetic that the CUDA kernels of elementwise, convert,
// finite and image_batch share with the CPU (the ARMNET_HOST_DEVICE functions
// of kernels/<op>.h), checked here on the CPU over every index of a few
// shapes against an independent expectation: hand-written coordinate
// formulas, tensor/dtype.h's conversions, std::isfinite, the data
// pipeline's normalisation, and for the 16-bit arithmetic the CPU's float32
// emulation (kernels/float32_stand_ins.h). So CI proves the kernels' index
// math and rounding without a GPU.
#define BOOST_TEST_MODULE index_math_elementwise
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "data/image.h"
#include "data/transforms.h"
#include "kernels/convert.h"
#include "kernels/elementwise.h"
#include "kernels/finite.h"
#include "kernels/image_batch.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;
namespace k = armnet::kernels;

namespace {

// `shape` padded with leading 1s to 4 axes (every shape tested here has at
// most 4).
std::array<std::int64_t, 4> as_4d(const Shape& shape) {
  std::array<std::int64_t, 4> padded{1, 1, 1, 1};
  for (std::size_t k = 0; k < shape.size(); ++k) padded[4 - shape.size() + k] = shape[k];
  return padded;
}

// The row-major offset in `shape` (as 4-D) of the coordinates, each clamped
// to 0 where `shape` has size 1: the broadcast read, written out by hand.
std::int64_t broadcast_read(const Shape& shape, const std::array<std::int64_t, 4>& coordinate) {
  const auto size = as_4d(shape);
  std::int64_t offset = 0;
  for (int axis = 0; axis < 4; ++axis) offset = offset * size[axis] + (size[axis] == 1 ? 0 : coordinate[axis]);
  return offset;
}

// Calls body(flat index, coordinates) for every element of `shape` in
// row-major order, by nested loops.
template <class Body>
void for_each_coordinate(const Shape& shape, Body&& body) {
  const auto size = as_4d(shape);
  std::int64_t flat = 0;
  for (std::int64_t i0 = 0; i0 < size[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < size[1]; ++i1)
      for (std::int64_t i2 = 0; i2 < size[2]; ++i2)
        for (std::int64_t i3 = 0; i3 < size[3]; ++i3) body(flat++, std::array<std::int64_t, 4>{i0, i1, i2, i3});
}

std::uint32_t float_bits(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

// A few million float32 bit patterns: every upper 16 bits (each sign,
// exponent and leading mantissa) with low halves that sit on and around
// every rounding boundary of float16 (13 dropped bits) and bfloat16 (16),
// and a million random patterns.
std::vector<std::uint32_t> float_patterns(std::uint64_t seed) {
  const std::uint32_t lows[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x2001, 0x3000,
                                0x7fff, 0x8000, 0x8001, 0x9000, 0xefff, 0xf000, 0xffff};
  std::vector<std::uint32_t> patterns;
  for (std::uint32_t high = 0; high < 0x10000u; ++high)
    for (std::uint32_t low : lows) patterns.push_back(high << 16 | low);
  Generator generator(seed);
  for (int i = 0; i < 1'000'000; ++i) patterns.push_back(static_cast<std::uint32_t>(generator.next_u64()));
  return patterns;
}

// The values whose conversions are the easiest to get wrong, as float64.
std::vector<double> special_values() {
  const double inf = std::numeric_limits<double>::infinity();
  return {0.0, -0.0, 1.0, -1.5, 65504.0, 65519.99, 65520.0, -65520.0, 1e6, 3.4e38, 1e300, -1e300, inf, -inf,
          std::numeric_limits<double>::quiet_NaN(), 6.103515625e-05, 6.0e-05, 5.960464477539063e-08,
          2.98023223876953125e-08, 2.9802322387695314e-08, 1e-40, -1e-45, 1e-320, 1.0 + 1.0 / 2048, 1.0 + 3.0 / 2048,
          1.0 + 1.0 / 256, 1.0 + 3.0 / 256, 1.0000000596046448, 0.1, 1.0 / 3.0};
}

// Values of T (Half or BFloat16) for the 16-bit arithmetic checks:
// special_values() and the addends that put a sum of 1 on a tie (2^-11 in
// float16, 2^-8 in bfloat16, 2^-24 in float32), the smallest subnormals and
// normals, powers of two near overflow, rounded to T; then `random_count`
// random bit patterns (every kind: subnormals, NaNs with payloads and signs,
// infinities).
template <class T>
std::vector<T> sixteen_bit_values(Generator& generator, int random_count) {
  std::vector<double> values = special_values();
  for (double value : {0x1p-11, 3 * 0x1p-11, 0x1p-8, 3 * 0x1p-8, 0x1p-24, -0x1p-24, 0x1p-14, 0x1p-133, 0x1p-126,
                       0x1p15, 0x1p16, 0x1p127, -0x1p127, 255.0, 2049.0, -2051.0})
    values.push_back(value);
  std::vector<T> out;
  for (double value : values) out.push_back(k::narrowed<T>(value));
  for (int i = 0; i < random_count; ++i) out.push_back(T{static_cast<std::uint16_t>(generator.next_u64())});
  return out;
}

template <class T>
bool is_nan(T value) {
  return std::isnan(k::widened(value));
}

// A CPU tensor [values.size()] of T holding `values`.
template <class T>
Tensor tensor_of(const std::vector<T>& values) {
  Tensor tensor = Tensor::empty({static_cast<std::int64_t>(values.size())}, dtype_of<T>());
  std::memcpy(tensor.data_ptr(), values.data(), values.size() * sizeof(T));
  return tensor;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(elementwise)

BOOST_AUTO_TEST_CASE(broadcast_offsets_over_every_index) {
  const std::vector<std::array<Shape, 2>> cases = {
      {Shape{3, 1, 5, 7}, Shape{1, 6, 5, 1}}, {Shape{5, 7}, Shape{3, 1, 5, 7}}, {Shape{3, 2, 11, 11}, Shape{1}},
      {Shape{1}, Shape{3, 1, 11, 11}},        {Shape{2, 1, 3}, Shape{4, 1}},    {Shape{}, Shape{3, 5}},
      {Shape{3, 5, 7}, Shape{3, 5, 7}},       {Shape{1, 37}, Shape{5, 1}}};
  for (const auto& [a, b] : cases) {
    const Shape out = k::broadcast_shape("test", a, b);
    const k::BroadcastIndex index = k::broadcast_index(a, b, out);
    std::int64_t mismatches = 0;
    for_each_coordinate(out, [&](std::int64_t i, const std::array<std::int64_t, 4>& coordinate) {
      if (k::offset_a(i, index) != broadcast_read(a, coordinate) || k::offset_b(i, index) != broadcast_read(b, coordinate))
        ++mismatches;
    });
    BOOST_TEST(mismatches == 0, shape_str(a) << " with " << shape_str(b) << ": " << mismatches << " wrong offsets");
  }
}

BOOST_AUTO_TEST_CASE(broadcast_add_and_mul_values_over_every_index) {
  Generator generator(fresh_seed("broadcast_add_and_mul_values_over_every_index"));
  const Shape shape_a{3, 1, 5, 7}, shape_b{6, 5, 1};
  const Tensor a = randn(shape_a, generator, DType::Float64), b = randn(shape_b, generator, DType::Float64);
  const Shape out_shape = k::broadcast_shape("test", shape_a, shape_b);
  Tensor sum = Tensor::empty(out_shape, DType::Float64), product = Tensor::empty(out_shape, DType::Float64);
  k::add(a, b, sum);
  k::mul(a, b, product);
  const std::vector<double> va = a.to_vector(), vb = b.to_vector(), vs = sum.to_vector(), vp = product.to_vector();
  std::int64_t mismatches = 0;
  for_each_coordinate(out_shape, [&](std::int64_t i, const std::array<std::int64_t, 4>& c) {
    const double x = va[broadcast_read(shape_a, c)], y = vb[broadcast_read(shape_b, c)];
    if (vs[i] != x + y || vp[i] != x * y) ++mismatches;
  });
  BOOST_TEST(mismatches == 0);
}

// sum_to_offset maps (output o, reduced r) onto x so that every element of x
// is read exactly once, by the output whose coordinates it has on the kept
// axes, in increasing order of x's flat index for each output.
BOOST_AUTO_TEST_CASE(sum_to_offsets_over_every_index) {
  const std::vector<std::array<Shape, 2>> cases = {
      {Shape{3, 2, 11, 11}, Shape{3, 1, 11, 11}}, {Shape{3, 2, 11, 11}, Shape{1, 1, 11, 11}},
      {Shape{3, 7}, Shape{7}},                    {Shape{3}, Shape{}},
      {Shape{3, 5, 4, 7}, Shape{5, 1, 1}},        {Shape{3, 1, 5, 4}, Shape{1, 1, 5, 1}},
      {Shape{2, 3, 5}, Shape{2, 3, 5}},           {Shape{}, Shape{}},
      {Shape{300, 5}, Shape{1, 5}}};
  for (const auto& [x, out] : cases) {
    const k::SumToIndex index = k::sum_to_index(x, out);
    const std::int64_t outputs = shape_numel(out);
    BOOST_TEST(index.reduced_count * outputs == shape_numel(x));
    // The output each element of x belongs to, by hand: x's coordinates
    // read in out's shape (0 where out has size 1).
    std::vector<std::int64_t> owner(static_cast<std::size_t>(shape_numel(x)));
    for_each_coordinate(x, [&](std::int64_t i, const std::array<std::int64_t, 4>& c) {
      owner[static_cast<std::size_t>(i)] = broadcast_read(out, c);
    });
    std::vector<int> reads(owner.size(), 0);
    std::int64_t misplaced = 0, out_of_order = 0;
    for (std::int64_t o = 0; o < outputs; ++o) {
      std::int64_t previous = -1;
      for (std::int64_t r = 0; r < index.reduced_count; ++r) {
        const std::int64_t offset = k::sum_to_offset(o, r, index);
        BOOST_TEST_REQUIRE((offset >= 0 && offset < shape_numel(x)));
        ++reads[static_cast<std::size_t>(offset)];
        if (owner[static_cast<std::size_t>(offset)] != o) ++misplaced;
        if (offset <= previous) ++out_of_order;
        previous = offset;
      }
    }
    BOOST_TEST(misplaced == 0, shape_str(x) << " -> " << shape_str(out));
    BOOST_TEST(out_of_order == 0, shape_str(x) << " -> " << shape_str(out));
    BOOST_TEST(std::count(reads.begin(), reads.end(), 1) == static_cast<std::ptrdiff_t>(reads.size()),
               shape_str(x) << " -> " << shape_str(out) << ": an element read twice or never");
  }
}

// sum_to's values against the plain flat loop (each element of x added into
// its owner in x's order, in double: the same order, so exactly equal).
BOOST_AUTO_TEST_CASE(sum_to_values_over_every_index) {
  Generator generator(fresh_seed("sum_to_values_over_every_index"));
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Shape x_shape{3, 5, 4, 7}, out_shape{5, 1, 7};
    const Tensor x = randn(x_shape, generator, dtype);
    Tensor out = Tensor::empty(out_shape, dtype);
    k::sum_to(x, out);
    const std::vector<double> values = x.to_vector();
    std::vector<double> expected(static_cast<std::size_t>(shape_numel(out_shape)), 0.0);
    for_each_coordinate(x_shape, [&](std::int64_t i, const std::array<std::int64_t, 4>& c) {
      expected[static_cast<std::size_t>(broadcast_read(out_shape, c))] += values[static_cast<std::size_t>(i)];
    });
    const Tensor rounded = Tensor::from_vector(expected, out_shape, dtype);  // the double sums in dtype
    BOOST_TEST(out.to_vector() == rounded.to_vector(), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(relu_value_and_gradient) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const std::vector<double> x = {-2.0, -0.0, 0.0, 1e-300, 3.5, nan, inf, -inf};
  const std::vector<double> relu = {0.0, 0.0, 0.0, 1e-300, 3.5, 0.0, inf, 0.0};
  for (std::size_t i = 0; i < x.size(); ++i) {
    BOOST_TEST(k::relu_value(x[i]) == relu[i]);
    BOOST_TEST(k::relu_value(static_cast<float>(x[i])) == static_cast<float>(relu[i]));
    BOOST_TEST(k::relu_gradient(x[i], 7.0) == (x[i] > 0 ? 7.0 : 0.0));
  }
}

// The 16-bit element functions of the CUDA kernels against the CPU's
// emulation (the float32 kernel on float32 stand-ins, rounded to 16 bits by
// kernels::cast: what kernels::add and the rest run for 16-bit CPU tensors),
// over every pair of a few hundred values: NaN, infinities, subnormals,
// ties, overflow. Same-shape tensors hold every pair (a[i], b[j]).
template <class T>
void check_sixteen_bit_sums_and_products(Generator& generator) {
  const std::vector<T> values = sixteen_bit_values<T>(generator, 250);
  std::vector<T> firsts, seconds;
  for (T a : values)
    for (T b : values) {
      firsts.push_back(a);
      seconds.push_back(b);
    }
  const Tensor a = tensor_of(firsts), b = tensor_of(seconds);
  Tensor sum = Tensor::empty(a.shape(), a.dtype()), product = Tensor::empty(a.shape(), a.dtype());
  Tensor accumulated = a.clone(), sum_relu = Tensor::empty(a.shape(), a.dtype());
  k::add(a, b, sum);
  k::mul(a, b, product);
  k::add_into(accumulated, b);
  k::add_relu_forward(a, b, sum_relu);
  std::int64_t sum_mismatches = 0, product_mismatches = 0, add_into_mismatches = 0, add_relu_mismatches = 0;
  for (std::size_t i = 0; i < firsts.size(); ++i) {
    const T rounded_sum = k::rounded_sum(firsts[i], seconds[i]);
    if (!same_16bit(rounded_sum, sum.data<T>()[i])) ++sum_mismatches;
    if (!same_16bit(rounded_sum, accumulated.data<T>()[i])) ++add_into_mismatches;
    if (!same_16bit(k::rounded_product(firsts[i], seconds[i]), product.data<T>()[i])) ++product_mismatches;
    // ReLU never gives NaN: the bits themselves.
    if (k::relu_value(rounded_sum).bits != sum_relu.data<T>()[i].bits) ++add_relu_mismatches;
  }
  BOOST_TEST_MESSAGE(dtype_name(dtype_of<T>()) << ": " << firsts.size() << " pairs");
  BOOST_TEST(sum_mismatches == 0, dtype_name(dtype_of<T>()) << " add");
  BOOST_TEST(add_into_mismatches == 0, dtype_name(dtype_of<T>()) << " add_into");
  BOOST_TEST(product_mismatches == 0, dtype_name(dtype_of<T>()) << " mul");
  BOOST_TEST(add_relu_mismatches == 0, dtype_name(dtype_of<T>()) << " add_relu");
}

BOOST_AUTO_TEST_CASE(sixteen_bit_sums_and_products_equal_the_cpu_emulation) {
  Generator generator(fresh_seed("sixteen_bit_sums_and_products_equal_the_cpu_emulation"));
  check_sixteen_bit_sums_and_products<Half>(generator);
  check_sixteen_bit_sums_and_products<BFloat16>(generator);
}

// Hand-computed roundings: 1 + 2^-11 is a float16 tie (to even: 1), 1 +
// 3 x 2^-11 one too (to even: 1 + 2^-9), 1 + 2^-8 a bfloat16 tie; 65504 + 32
// overflows float16.
BOOST_AUTO_TEST_CASE(sixteen_bit_sums_round_once_at_ties) {
  const Half one = k::narrowed<Half>(1.0);
  BOOST_TEST(k::widened(k::rounded_sum(one, k::narrowed<Half>(0x1p-11))) == 1.0);
  BOOST_TEST(k::widened(k::rounded_sum(one, k::narrowed<Half>(3 * 0x1p-11))) == 1.0 + 0x1p-9);
  BOOST_TEST(k::widened(k::rounded_sum(k::narrowed<BFloat16>(1.0), k::narrowed<BFloat16>(0x1p-8))) == 1.0);
  // Products into float16's subnormals: 2^-24 is the smallest, 2^-25 a tie
  // (to even: 0), 3 x 2^-26 above it.
  BOOST_TEST(k::widened(k::rounded_product(k::narrowed<Half>(0x1p-12), k::narrowed<Half>(0x1p-12))) == 0x1p-24);
  BOOST_TEST(k::widened(k::rounded_product(k::narrowed<Half>(0x1p-12), k::narrowed<Half>(0x1p-13))) == 0.0);
  BOOST_TEST(k::widened(k::rounded_product(k::narrowed<Half>(0x1p-12), k::narrowed<Half>(3 * 0x1p-14))) == 0x1p-24);
  BOOST_TEST(std::isinf(k::widened(k::rounded_sum(k::narrowed<Half>(65504.0), k::narrowed<Half>(32.0)))));
}

// For float, the double arithmetic of rounded_sum and rounded_product is the
// float arithmetic of the float32 kernels, bit for bit: over a few million
// pairs of float32 bit patterns, random and with exponents 0 to 30 apart
// (where the double sum rounds before the rounding to float).
BOOST_AUTO_TEST_CASE(float_rounded_sum_and_product_equal_float_arithmetic) {
  Generator generator(fresh_seed("float_rounded_sum_and_product_equal_float_arithmetic"));
  const std::vector<std::uint32_t> patterns = float_patterns(generator.next_u64());
  std::int64_t mismatches = 0;
  for (std::uint32_t bits : patterns) {
    const float a = k::float_of_bits(bits);
    const auto random = static_cast<std::uint32_t>(generator.next_u64());
    const std::uint32_t exponent = (bits >> 23) & 0xffu;
    const auto distance = static_cast<std::uint32_t>(generator.integer(31));
    const std::uint32_t near_exponent = exponent > distance ? exponent - distance : 0u;
    const float partners[] = {k::float_of_bits(random),
                              k::float_of_bits((random & 0x807fffffu) | near_exponent << 23)};
    for (float b : partners) {
      const float sum = a + b, product = a * b;
      const float rounded_sum = k::rounded_sum(a, b), rounded_product = k::rounded_product(a, b);
      const bool sum_ok = float_bits(rounded_sum) == float_bits(sum) || (std::isnan(sum) && std::isnan(rounded_sum));
      const bool product_ok = float_bits(rounded_product) == float_bits(product) ||
                              (std::isnan(product) && std::isnan(rounded_product));
      if (!sum_ok || !product_ok) ++mismatches;
    }
  }
  BOOST_TEST_MESSAGE(2 * patterns.size() << " float32 pairs");
  BOOST_TEST(mismatches == 0);
}

// ReLU of all 65,536 values of each 16-bit type, and its gradient at each
// (with gradients from sixteen_bit_values), against the CPU's emulation:
// relu bit for bit (it never gives NaN), the gradients NaN for NaN.
template <class T>
void check_sixteen_bit_relu(Generator& generator) {
  const std::vector<T> gradients = sixteen_bit_values<T>(generator, 1000);
  std::vector<T> every_value, grad_values;
  for (std::uint32_t bits = 0; bits < 0x10000u; ++bits) {
    every_value.push_back(T{static_cast<std::uint16_t>(bits)});
    grad_values.push_back(gradients[bits % gradients.size()]);
  }
  const Tensor x = tensor_of(every_value), grad_y = tensor_of(grad_values);
  Tensor y = Tensor::empty(x.shape(), x.dtype()), grad_x = Tensor::empty(x.shape(), x.dtype());
  Tensor grad_a = Tensor::empty(x.shape(), x.dtype());
  k::relu_forward(x, y);
  k::relu_backward(x, grad_y, grad_x);
  k::add_relu_backward(x, grad_y, grad_a);
  std::int64_t relu_mismatches = 0, gradient_mismatches = 0;
  for (std::size_t i = 0; i < every_value.size(); ++i) {
    if (k::relu_value(every_value[i]).bits != y.data<T>()[i].bits) ++relu_mismatches;
    const T gradient = k::relu_gradient(every_value[i], grad_values[i]);
    if (!same_16bit(gradient, grad_x.data<T>()[i]) || !same_16bit(gradient, grad_a.data<T>()[i]))
      ++gradient_mismatches;
  }
  BOOST_TEST(relu_mismatches == 0, dtype_name(dtype_of<T>()) << " relu");
  BOOST_TEST(gradient_mismatches == 0, dtype_name(dtype_of<T>()) << " relu_backward");
}

BOOST_AUTO_TEST_CASE(sixteen_bit_relu_of_every_value_equals_the_cpu_emulation) {
  Generator generator(fresh_seed("sixteen_bit_relu_of_every_value_equals_the_cpu_emulation"));
  check_sixteen_bit_relu<Half>(generator);
  check_sixteen_bit_relu<BFloat16>(generator);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(convert)

BOOST_AUTO_TEST_CASE(float16_and_bfloat16_from_float_equal_tensor_dtype) {
  std::int64_t half_mismatches = 0, bfloat16_mismatches = 0;
  const std::vector<std::uint32_t> patterns = float_patterns(fresh_seed("float16_and_bfloat16_from_float"));
  for (std::uint32_t bits : patterns) {
    float value;
    std::memcpy(&value, &bits, 4);
    if (k::half_from_float(value) != float_to_half_bits(value)) ++half_mismatches;
    if (k::bfloat16_from_float(value) != float_to_bfloat16_bits(value)) ++bfloat16_mismatches;
  }
  BOOST_TEST_MESSAGE(patterns.size() << " float32 values");
  BOOST_TEST(half_mismatches == 0);
  BOOST_TEST(bfloat16_mismatches == 0);
}

BOOST_AUTO_TEST_CASE(every_float16_and_bfloat16_value_to_float) {
  std::int64_t half_mismatches = 0, bfloat16_mismatches = 0, round_trip_mismatches = 0;
  for (std::uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const auto bits16 = static_cast<std::uint16_t>(bits);
    if (float_bits(k::float_from_half(bits16)) != float_bits(half_bits_to_float(bits16))) ++half_mismatches;
    if (float_bits(k::float_from_bfloat16(bits16)) != float_bits(bfloat16_bits_to_float(bits16))) ++bfloat16_mismatches;
    // Every value that is not NaN survives the round trip.
    const float half_value = k::float_from_half(bits16), bfloat16_value = k::float_from_bfloat16(bits16);
    if (!std::isnan(half_value) && k::half_from_float(half_value) != bits16) ++round_trip_mismatches;
    if (!std::isnan(bfloat16_value) && k::bfloat16_from_float(bfloat16_value) != bits16) ++round_trip_mismatches;
  }
  BOOST_TEST(half_mismatches == 0);
  BOOST_TEST(bfloat16_mismatches == 0);
  BOOST_TEST(round_trip_mismatches == 0);
}

// cast_value from each floating dtype to each (what kernels::cast runs on
// both devices, so Tensor::to too), against Tensor::copy_from's host
// conversion (tensor/tensor.cpp, with tensor/dtype.h's roundings), bit for
// bit (NaN: NaN).
BOOST_AUTO_TEST_CASE(cast_value_equals_tensor_conversion_for_every_pair) {
  Generator generator(fresh_seed("cast_value_equals_tensor_conversion"));
  std::vector<double> values = special_values();
  for (int i = 0; i < 2000; ++i) values.push_back(generator.normal() * std::pow(2.0, generator.uniform(-30, 30)));
  const Tensor values64 = Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())}, DType::Float64);
  const DType dtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};
  for (DType source_dtype : dtypes) {
    Tensor source = Tensor::empty(values64.shape(), source_dtype);
    source.copy_from(values64);
    for (DType destination_dtype : dtypes) {
      Tensor expected = Tensor::empty(source.shape(), destination_dtype);
      expected.copy_from(source);
      Tensor actual = Tensor::empty(source.shape(), destination_dtype);
      k::dispatch_any_floating(source_dtype, [&](auto source_zero) {
        using Source = decltype(source_zero);
        k::dispatch_any_floating(destination_dtype, [&](auto destination_zero) {
          using Destination = decltype(destination_zero);
          for (std::int64_t i = 0; i < source.numel(); ++i)
            actual.data<Destination>()[i] = k::cast_value<Destination>(source.data<Source>()[i]);
        });
      });
      const std::size_t size = dtype_size(destination_dtype);
      std::int64_t mismatches = 0;
      for (std::int64_t i = 0; i < source.numel(); ++i) {
        const bool both_nan = std::isnan(actual.at(i)) && std::isnan(expected.at(i));
        if (!both_nan && std::memcmp(static_cast<const char*>(actual.data_ptr()) + i * size,
                                     static_cast<const char*>(expected.data_ptr()) + i * size, size) != 0)
          ++mismatches;
      }
      BOOST_TEST(mismatches == 0, dtype_name(source_dtype) << " -> " << dtype_name(destination_dtype));
    }
  }
}

// The CPU bodies of fill, cast and increment (the CUDA ones are compared
// with them in tests/test_cuda_elementwise.cpp).
BOOST_AUTO_TEST_CASE(fill_cast_and_increment_on_the_cpu) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    for (double value : special_values()) {
      Tensor y = Tensor::empty({3, 5}, dtype);
      k::fill(y, value);
      const Tensor expected = Tensor::full({3, 5}, value, dtype);
      BOOST_TEST((std::memcmp(y.data_ptr(), expected.data_ptr(), y.nbytes()) == 0 ||
                  (std::isnan(value) && std::isnan(y.at(14)))),
                 dtype_name(dtype) << " fill " << value);
    }
  }
  Tensor counts = Tensor::empty({7}, DType::Int64);
  k::fill(counts, -12.0);
  BOOST_TEST(counts.to_vector() == std::vector<double>(7, -12.0), boost::test_tools::per_element());
  BOOST_TEST(throws_error_containing([&] { k::fill(counts, 0.5); }, {"fill", "whole number", "int64"}));
  BOOST_TEST(throws_error_containing([&] { k::fill(counts, 0x1p63); }, {"fill", "int64"}));
  Tensor bytes = Tensor::empty({2}, DType::UInt8);
  BOOST_TEST(throws_error_containing([&] { k::fill(bytes, 1.0); }, {"fill", "uint8"}));

  const std::vector<double> values = special_values();
  const std::int64_t count = static_cast<std::int64_t>(values.size());
  const Tensor x = Tensor::from_vector(values, {count}, DType::Float64);
  Tensor half = Tensor::empty({count}, DType::Float16);
  k::cast(x, half);
  BOOST_TEST(std::memcmp(half.data_ptr(), x.to(DType::Float16).data_ptr(), half.nbytes()) == 0);
  Tensor wrong_shape = Tensor::empty({count - 1}, DType::Float16);
  BOOST_TEST(throws_error_containing([&] { k::cast(x, wrong_shape); }, {"cast", "output", "shape"}));
  Tensor integers = Tensor::empty({count}, DType::Int64);
  BOOST_TEST(throws_error_containing([&] { k::cast(x, integers); }, {"cast", "int64", "not floating"}));

  Tensor counter = Tensor::zeros({}, DType::Int64);
  for (int i = 0; i < 3; ++i) k::increment(counter);
  BOOST_TEST(counter.item() == 3.0);
  Tensor not_a_counter = Tensor::zeros({2}, DType::Int64);
  BOOST_TEST(throws_error_containing([&] { k::increment(not_a_counter); }, {"increment", "one element"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(finite_scan)

BOOST_AUTO_TEST_CASE(is_finite_equals_std_isfinite) {
  std::int64_t mismatches = 0;
  for (std::uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const auto bits16 = static_cast<std::uint16_t>(bits);
    if (k::is_finite(Half{bits16}) != std::isfinite(half_bits_to_float(bits16))) ++mismatches;
    if (k::is_finite(BFloat16{bits16}) != std::isfinite(bfloat16_bits_to_float(bits16))) ++mismatches;
  }
  for (std::uint32_t bits : float_patterns(fresh_seed("is_finite_equals_std_isfinite"))) {
    float value;
    std::memcpy(&value, &bits, 4);
    if (k::is_finite(value) != std::isfinite(value)) ++mismatches;
    const double widened = value;  // every float32 exponent, and doubles beyond float32's range:
    if (k::is_finite(widened) != std::isfinite(widened)) ++mismatches;
    const double scaled = widened * 0x1p900;
    if (k::is_finite(scaled) != std::isfinite(scaled)) ++mismatches;
  }
  BOOST_TEST(mismatches == 0);
}

BOOST_AUTO_TEST_CASE(all_finite_on_the_cpu) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const Tensor ones32 = Tensor::ones({3, 5}), ones16 = Tensor::ones({7}, DType::Float16);
  BOOST_TEST(k::all_finite({}));
  BOOST_TEST(k::all_finite({ones32, ones16, Tensor::zeros({0}, DType::Float64)}));
  for (DType dtype : {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16}) {
    for (double bad : {nan, inf, -inf}) {
      std::vector<double> values(36, 0.5);
      values[17] = bad;
      const Tensor holed = Tensor::from_vector(values, {4, 9}, dtype);
      BOOST_TEST(!k::all_finite({ones32, holed, ones16}), dtype_name(dtype) << " " << bad);
      BOOST_TEST(k::first_non_finite({{"ones", ones32}, {"holed", holed}}) == "holed");
    }
  }
  BOOST_TEST(!k::all_finite({Tensor::full({1}, 1e6, DType::Float16)}));  // overflows to infinity
  BOOST_TEST(k::first_non_finite({{"ones", ones32}}).empty());
  BOOST_TEST(throws_error_containing([&] { k::all_finite({ones32, Tensor::zeros({2}, DType::Int64)}); },
                                     {"all_finite", "int64", "not floating"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(image_batch)

// Every output element against the pipeline's to_normalized_chw of its
// image, bit for bit, with every byte value 0..255 present.
BOOST_AUTO_TEST_CASE(normalize_images_equals_the_pipeline_over_every_index) {
  Generator generator(fresh_seed("normalize_images_equals_the_pipeline"));
  for (const Shape& shape : {Shape{1, 5, 7, 3}, Shape{3, 11, 13, 3}, Shape{2, 16, 16, 3}}) {
    const std::int64_t n = shape[0], height = shape[1], width = shape[2];
    Tensor images = Tensor::empty(shape, DType::UInt8);
    std::uint8_t* bytes = images.data<std::uint8_t>();
    for (std::int64_t i = 0; i < images.numel(); ++i)
      bytes[i] = static_cast<std::uint8_t>(i < 256 ? i : generator.integer(256));
    Tensor out = Tensor::empty({n, 3, height, width});
    k::normalize_images(images, out);
    const k::ChannelStatistics statistics = k::imagenet_statistics();
    std::int64_t index_mismatches = 0, body_mismatches = 0;
    for (std::int64_t image_index = 0; image_index < n; ++image_index) {
      Image image(static_cast<int>(width), static_cast<int>(height));
      std::memcpy(image.pixels.data(), bytes + image_index * height * width * 3, image.pixels.size());
      std::vector<float> expected(static_cast<std::size_t>(3 * height * width));
      to_normalized_chw(image, expected.data());
      for (std::int64_t j = 0; j < 3 * height * width; ++j) {
        const std::int64_t i = image_index * 3 * height * width + j;
        const k::HwcSource source = k::hwc_source(i, height, width);
        const float value = k::normalized_pixel(bytes[source.offset], source.channel, statistics);
        if (float_bits(value) != float_bits(expected[static_cast<std::size_t>(j)])) ++index_mismatches;
        if (float_bits(out.data<float>()[i]) != float_bits(expected[static_cast<std::size_t>(j)])) ++body_mismatches;
      }
    }
    BOOST_TEST(index_mismatches == 0, shape_str(shape));
    BOOST_TEST(body_mismatches == 0, shape_str(shape));
  }
  Tensor chw = Tensor::empty({1, 3, 5, 7}, DType::UInt8), out = Tensor::empty({1, 3, 5, 7});
  BOOST_TEST(throws_error_containing([&] { k::normalize_images(chw, out); }, {"normalize_images", "[N, H, W, 3]"}));
  Tensor hwc = Tensor::empty({1, 7, 5, 3}, DType::UInt8);  // out is [1, 3, 5, 7]: transposed
  BOOST_TEST(throws_error_containing([&] { k::normalize_images(hwc, out); }, {"normalize_images", "output", "[1, 3, 7, 5]"}));
  Tensor doubles = Tensor::empty({1, 3, 7, 5}, DType::Float64);
  BOOST_TEST(throws_error_containing([&] { k::normalize_images(hwc, doubles); }, {"normalize_images", "float32"}));
}

BOOST_AUTO_TEST_SUITE_END()
