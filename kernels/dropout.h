// Dropout: the keep/drop mask drawn from an armnet::Generator, and the kernel
// that applies it with the 1/(1-p) scale (forward to x, backward to the
// gradient: the same mask and scale). Outputs are allocated by the caller
// (autograd/nn.cpp) and overwritten.
//
// The mask is drawn on the mask's device, and the two devices draw it
// differently, so CPU and CUDA masks of the same generator state differ:
// - CPU: one generator.uniform() per element in row-major order, kept when it
//   is >= p (the generator advances by one draw per element).
// - CUDA: one generator.next_u64() per call, the seed; element i is kept when
//   dropout_uniform(seed, i) >= p, a counter-based hash (splitmix64) that each
//   thread evaluates alone (the generator advances by one draw per call).
// On both, the same generator state gives the same mask (a resumed run draws
// the masks it drew before), every element is kept with probability 1 - p,
// and the mask depends only on the generator, never on the thread count.
#pragma once

#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// mask (uint8, on any device) = 1 where an element is kept, with probability
// 1 - p (0 <= p < 1), else 0; drawn as above.
void dropout_mask(Tensor& mask, double p, Generator& generator);

// out = x * scale where mask is 1, else 0 (mask has x's shape and device).
void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests -----
// tests/test_index_math_loss_optim.cpp checks them against a sequential
// splitmix64 and its published outputs, and the keep fraction and uniformity
// over many indices.

// The index-th output (from 0) of Vigna's splitmix64 generator started at
// state `seed`: the state after index + 1 steps of the golden-ratio
// increment, through the splitmix64 finaliser (a bijection that mixes every
// bit into every bit).
ARMNET_HOST_DEVICE inline std::uint64_t splitmix64_at(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A uniform value in [0, 1) for element `index` of the mask of `seed`: the
// top 53 bits of its hash, as Generator::uniform() makes one of its draws.
ARMNET_HOST_DEVICE inline double dropout_uniform(std::uint64_t seed, std::uint64_t index) {
  return static_cast<double>(splitmix64_at(seed, index) >> 11) * 0x1.0p-53;
}

// 1 when element `index` of the CUDA mask of `seed` is kept, else 0.
ARMNET_HOST_DEVICE inline std::uint8_t dropout_keep(std::uint64_t seed, std::uint64_t index, double p) {
  return dropout_uniform(seed, index) >= p ? 1 : 0;
}

// The bodies behind these entry points (kernels/cpu/dropout.cpp and
// kernels/cuda/dropout.cu): only the checked entries in kernels/dropout.cpp
// call them, after validating every argument.
namespace cpu {
void dropout_mask(Tensor& mask, double p, Generator& generator);
void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out);
}  // namespace cpu
namespace cuda {
void dropout_mask(Tensor& mask, double p, Generator& generator);
void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out);
}  // namespace cuda

}  // namespace armnet::kernels
