// A seeded random generator whose streams are identical on every platform
// (std::mt19937_64 bits, hand-written uniform and normal transforms, because
// std::normal_distribution differs between standard libraries), and the
// tensor fills built on it.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "tensor/tensor.h"

namespace armnet {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : engine_(seed) {}
  std::uint64_t next_u64() { return engine_(); }
  double uniform();                           // [0, 1), 53 random bits
  double uniform(double low, double high);    // [low, high)
  double normal(double mean = 0.0, double stddev = 1.0);  // Box-Muller
  std::int64_t integer(std::int64_t n);       // uniform in [0, n)

  // The whole state as text (for checkpoints): a generator restored from it
  // continues exactly where this one is. set_state throws on malformed text.
  std::string state() const;
  void set_state(const std::string& text);

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// In-place fills of a CPU float32/float64 tensor (not recorded by autograd).
void fill_uniform(Tensor& tensor, double low, double high, Generator& generator);
void fill_normal(Tensor& tensor, double mean, double stddev, Generator& generator);

// New CPU tensors with N(0, 1) or U[low, high) entries.
Tensor randn(const Shape& shape, Generator& generator, DType dtype = DType::Float32);
Tensor rand_uniform(const Shape& shape, double low, double high, Generator& generator,
                    DType dtype = DType::Float32);

}  // namespace armnet
