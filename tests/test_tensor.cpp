// The Tensor container: factories, views, dtype conversions (exact float16 and
// bfloat16 rounding), errors that name shapes; the caching allocator's policy
// over a fake raw allocator (what the CUDA cache does, proven without a GPU).
#define BOOST_TEST_MODULE tensor
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#include "tensor/block_cache.h"
#include "tensor/device.h"
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

// ---- the caching allocator's policy (tensor/block_cache.h), over a fake raw allocator ----

namespace {

// A raw allocator with a byte budget: what the GPU's cudaMalloc is to the
// CUDA cache, proven here without a GPU.
struct FakeRawMemory {
  static inline std::size_t budget = 0, used = 0;
  static inline std::int64_t calls = 0;
  static void* allocate(std::size_t bytes) {
    ++calls;
    if (used + bytes > budget) return nullptr;
    used += bytes;
    return std::malloc(bytes);
  }
  static void free(void* pointer, std::size_t bytes) {
    used -= bytes;
    std::free(pointer);
  }
  static std::size_t round_up(std::size_t bytes) { return (bytes + 511) / 512 * 512; }
};

BlockCache::RawMemory fake_raw_memory(std::size_t budget) {
  FakeRawMemory::budget = budget;
  FakeRawMemory::used = 0;
  FakeRawMemory::calls = 0;
  return {FakeRawMemory::allocate, FakeRawMemory::free, FakeRawMemory::round_up};
}

}  // namespace

BOOST_AUTO_TEST_CASE(block_cache_reuses_blocks_and_a_repeated_step_stops_allocating) {
  BlockCache cache(fake_raw_memory(std::size_t{1} << 30));
  void* a = cache.allocate(1000);  // rounded to 1024
  void* b = cache.allocate(5000);  // 5120
  BOOST_TEST(cache.stats().in_use == 1024u + 5120u);
  BOOST_TEST(cache.stats().raw_allocations == 2);
  BOOST_TEST(cache.free(a));
  BOOST_TEST(!cache.free(a));  // not a block in use any more
  int unrelated = 0;
  BOOST_TEST(!cache.free(&unrelated));
  BOOST_TEST(cache.stats().cached == 1024u);
  BOOST_TEST(cache.allocate(1023) == a);  // the same size class: the same block, no raw call
  BOOST_TEST(cache.stats().raw_allocations == 2);
  cache.free(a);
  cache.free(b);

  // A training step's pattern of sizes, freed in another order than taken:
  // after the first step no raw allocation is made, and the cache never holds
  // more than the peak in use.
  const std::vector<std::size_t> step = {4096, 1 << 20, 700, 1 << 20, 33000, 4096, 3 << 20, 512};
  std::int64_t raw_after_first_step = 0;
  for (int repeat = 0; repeat < 6; ++repeat) {
    std::vector<void*> live;
    for (std::size_t bytes : step) {
      live.push_back(cache.allocate(bytes));
      const MemoryStats stats = cache.stats();
      BOOST_TEST(stats.in_use + stats.cached <= std::max(stats.peak_in_use, stats.in_use));
    }
    for (std::size_t i = 0; i < live.size(); i += 2) cache.free(live[i]);
    for (std::size_t i = 1; i < live.size(); i += 2) cache.free(live[i]);
    if (repeat == 0) raw_after_first_step = cache.stats().raw_allocations;
  }
  BOOST_TEST(cache.stats().raw_allocations == raw_after_first_step);
  BOOST_TEST(cache.stats().in_use == 0u);
  BOOST_TEST(cache.stats().peak_in_use >= (5u << 20));
  cache.release_cached();
  BOOST_TEST(cache.stats().cached == 0u);
  BOOST_TEST(FakeRawMemory::used == 0u);
  BOOST_TEST(cache.stats().raw_frees == cache.stats().raw_allocations);
}

BOOST_AUTO_TEST_CASE(block_cache_gives_cached_memory_back_when_the_device_is_full) {
  BlockCache cache(fake_raw_memory(10 << 20));  // a 10 MiB "GPU"
  void* six = cache.allocate(6 << 20);
  cache.free(six);  // cached: the device holds 6 MiB that nobody uses
  BOOST_TEST(cache.stats().cached == (6u << 20));
  // 8 MiB does not fit next to the cached 6: the cache releases them, retries.
  void* eight = cache.allocate(8 << 20);
  BOOST_TEST(eight != nullptr);
  BOOST_TEST(cache.stats().cached == 0u);
  BOOST_TEST(FakeRawMemory::used == (8u << 20));
  // More than the device holds: nullptr (device_allocate turns it into an error).
  BOOST_TEST(cache.allocate(4 << 20) == nullptr);
  BOOST_TEST(cache.stats().in_use == (8u << 20));
  cache.free(eight);
  cache.release_cached();
  BOOST_TEST(FakeRawMemory::used == 0u);
}

BOOST_AUTO_TEST_CASE(cpu_memory_stats_count_the_large_blocks) {
  const MemoryStats before = memory_stats(Device::CPU);
  {
    Tensor big = Tensor::empty({1 << 20});  // 4 MiB
    const MemoryStats during = memory_stats(Device::CPU);
#if !defined(__SANITIZE_ADDRESS__)
    BOOST_TEST(during.in_use >= before.in_use + (4u << 20));
#endif
  }
  BOOST_TEST(memory_stats(Device::CPU).in_use == before.in_use);
}
