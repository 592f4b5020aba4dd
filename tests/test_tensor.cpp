// The Tensor container: factories, views, dtype conversions (exact float16 and
// bfloat16 rounding), errors that name shapes.
#define BOOST_TEST_MODULE tensor
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>

#include "tensor/tensor.h"
#include "tests/gradcheck.h"

using namespace armnet;

BOOST_AUTO_TEST_CASE(factories_and_shapes) {
  Tensor t = Tensor::zeros({2, 3, 4});
  BOOST_TEST(t.numel() == 24);
  BOOST_TEST(t.ndim() == 3);
  BOOST_TEST(t.size(-1) == 4);
  BOOST_TEST(t.describe() == "float32[2, 3, 4] on cpu");
  BOOST_TEST(Tensor::full({2}, 2.5, DType::Float64).at(1) == 2.5);
  BOOST_TEST(Tensor::scalar(3.0).item() == 3.0);
  BOOST_CHECK_THROW(t.size(3), Error);
  BOOST_CHECK_THROW(t.item(), Error);
  BOOST_CHECK_THROW(t.data<double>(), Error);
  BOOST_CHECK_THROW(Tensor::empty({2, -1}), Error);
}

BOOST_AUTO_TEST_CASE(views_share_storage_and_clone_copies) {
  Tensor t = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor v = t.reshape({4});
  v.data<float>()[0] = 9.0f;
  BOOST_TEST(t.at(0) == 9.0);
  Tensor c = t.clone();
  c.data<float>()[1] = -1.0f;
  BOOST_TEST(t.at(1) == 2.0);
  BOOST_TEST(!c.shares_storage_with(t));
}

BOOST_AUTO_TEST_CASE(dtype_round_trips) {
  Tensor t = Tensor::from_vector({1.5, -2.25, 1e6, 3.0}, {4}, DType::Float64);
  for (DType dtype : {DType::Float32, DType::Float16, DType::BFloat16, DType::Int64}) {
    Tensor back = t.to(dtype).to(DType::Float64);
    BOOST_TEST(back.at(0) == (dtype == DType::Int64 ? 1.0 : 1.5));
    BOOST_TEST(back.at(3) == 3.0);
  }
  BOOST_TEST(std::isinf(t.to(DType::Float16).at(2)));  // 1e6 overflows float16
  BOOST_TEST(t.to(DType::BFloat16).at(2) == 999424.0);  // nearest bfloat16 of 1e6
  BOOST_TEST(Tensor::from_vector({200, 3}, {2}, DType::UInt8).to(DType::Float32).at(0) == 200.0);
}

BOOST_AUTO_TEST_CASE(half_rounding_is_nearest_even) {
  // 1 + 2^-11 lies exactly between 1 and 1 + 2^-10: ties go to the even (1).
  BOOST_TEST(float_to_half_bits(1.0f + 0x1.0p-11f) == 0x3c00);
  // 1 + 3*2^-11 lies between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
  BOOST_TEST(float_to_half_bits(1.0f + 3 * 0x1.0p-11f) == 0x3c02);
  BOOST_TEST(float_to_half_bits(65504.0f) == 0x7bff);   // largest finite
  BOOST_TEST(float_to_half_bits(65520.0f) == 0x7c00);   // rounds to infinity
  BOOST_TEST(float_to_half_bits(0x1.0p-24f) == 0x0001);  // smallest subnormal
  BOOST_TEST(float_to_half_bits(0x1.0p-25f) == 0x0000);  // tie to even: zero
  BOOST_TEST(float_to_half_bits(0x1.8p-25f) == 0x0001);
  BOOST_TEST(float_to_half_bits(-2.0f) == 0xc000);
  BOOST_TEST(half_bits_to_float(0x0001) == 0x1.0p-24f);
  BOOST_TEST(half_bits_to_float(0x3555) == 0.333251953125f);
  BOOST_TEST(std::isnan(half_bits_to_float(float_to_half_bits(std::numeric_limits<float>::quiet_NaN()))));
  // Every half value converts to float and back to itself.
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    if ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff)) continue;  // NaNs
    BOOST_TEST_REQUIRE(float_to_half_bits(half_bits_to_float(static_cast<std::uint16_t>(bits))) == bits);
  }
}

BOOST_AUTO_TEST_CASE(bfloat16_rounding_is_nearest_even) {
  BOOST_TEST(float_to_bfloat16_bits(1.0f) == 0x3f80);
  BOOST_TEST(float_to_bfloat16_bits(1.0f + 0x1.0p-8f) == 0x3f80);      // tie -> even
  BOOST_TEST(float_to_bfloat16_bits(1.0f + 3 * 0x1.0p-8f) == 0x3f82);  // tie -> even (up)
  BOOST_TEST(float_to_bfloat16_bits(1.0f + 0x1.2p-8f) == 0x3f81);      // above the tie
  BOOST_TEST(bfloat16_bits_to_float(0x4049) == 3.140625f);
  BOOST_TEST(std::isnan(bfloat16_bits_to_float(float_to_bfloat16_bits(std::numeric_limits<float>::quiet_NaN()))));
}

BOOST_AUTO_TEST_CASE(cuda_tensors_without_a_gpu_fail_clearly) {
  if (cuda_available()) {
    Tensor t = Tensor::from_vector({1, 2}, {2}).to(Device::CUDA);
    BOOST_TEST(t.to(Device::CPU).at(1) == 2.0);
    return;
  }
  BOOST_TEST_MESSAGE("skipping the GPU round trip: " << cuda_unavailable_reason());
  BOOST_CHECK_THROW(Tensor::zeros({2}, DType::Float32, Device::CUDA), Error);
}

BOOST_AUTO_TEST_CASE(large_cpu_blocks_are_reused_and_zeros_are_zero) {
  // Blocks of 1 MiB and more are kept when freed (tensor/device.cpp): the next
  // tensor of that size gets the block back, dirty, so zeros() must clear it.
  const Shape shape = {1 << 19};  // 2 MiB of float32
  void* first_block = nullptr;
  {
    Tensor dirty = Tensor::full(shape, 7.0);
    first_block = dirty.data_ptr();
  }
  Tensor again = Tensor::zeros(shape);
#if !defined(__SANITIZE_ADDRESS__)
  BOOST_TEST(again.data_ptr() == first_block);
#endif
  double sum = 0.0;
  for (std::int64_t i = 0; i < again.numel(); ++i) sum += std::abs(again.data<float>()[i]);
  BOOST_TEST(sum == 0.0);
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(again.data_ptr()) % 64 == 0u);
  // Two live tensors never share a block.
  Tensor other = Tensor::full(shape, 1.0);
  BOOST_TEST(other.data_ptr() != again.data_ptr());
  BOOST_TEST(again.data<float>()[123] == 0.0f);
}
