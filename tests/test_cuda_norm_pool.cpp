// BatchNorm, pooling and pixel shuffle on CUDA against the CPU kernels
// (tests/cuda_compare.h): every entry point, training and evaluation, odd
// sizes (batch 1 and 3, 5x7 maps, channel counts that are not multiples of
// 32), fresh random inputs, outputs poisoned with NaN, compared element by
// element over whole tensors (float64 within 1e-10, float32 within the bound
// derived from the CPU's own float32 error), max-pool positions exactly,
// also on inputs full of ties and NaNs. The float16 and bfloat16 kernels
// against the CPU's float32 emulation of the same 16-bit inputs: pooling and
// pixel shuffle bit for bit, BatchNorm within one unit in the last place (of
// the 16-bit type for activations, of float32 for its per-channel outputs).
// A CPU tensor given with a CUDA one is a one-line error naming the op and
// both tensors.
// Without a usable GPU the program exits 77: ctest reports it as skipped.
#define BOOST_TEST_MODULE cuda_norm_pool
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "kernels/batch_norm.h"
#include "kernels/pixel_shuffle.h"
#include "kernels/pooling.h"
#include "tensor/random.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

using armnet::testing::RequireGpu;
BOOST_TEST_GLOBAL_FIXTURE(RequireGpu);

namespace {

// A float64 CPU tensor of `values` transformed element by element.
template <class Transform>
Tensor transformed(const Tensor& tensor, Transform transform) {
  std::vector<double> values = tensor.to_vector();
  for (double& value : values) value = transform(value);
  return Tensor::from_vector(values, tensor.shape(), DType::Float64);
}

// Variances: N(0, 1) draws folded to [0.5, ...).
Tensor positive_tensor(const Shape& shape, std::uint64_t seed) {
  return transformed(random_tensor(shape, seed), [](double value) { return std::abs(value) + 0.5; });
}

// N(0, 1) rounded to halves: many ties in every pooling window, exact in
// float32 too.
Tensor tied_tensor(const Shape& shape, std::uint64_t seed) {
  return transformed(random_tensor(shape, seed), [](double value) { return std::round(value * 2.0) / 2.0; });
}

// Ties and, at every 13th element, a NaN.
Tensor tied_tensor_with_nans(const Shape& shape, std::uint64_t seed) {
  std::vector<double> values = tied_tensor(shape, seed).to_vector();
  for (std::size_t i = 0; i < values.size(); i += 13) values[i] = std::numeric_limits<double>::quiet_NaN();
  return Tensor::from_vector(values, shape, DType::Float64);
}

// N(0, 1) draws times 2^k, k uniform in [-20, 10): gradients whose float32
// sums over overlapping pooling windows round.
Tensor wide_range_tensor(const Shape& shape, std::uint64_t seed) {
  Generator generator(seed);
  std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
  for (double& value : values) value = generator.normal() * std::exp2(std::floor(generator.uniform(-20.0, 10.0)));
  return Tensor::from_vector(values, shape, DType::Float64);
}

// `tensor` (float64) with NaN, infinity, -0 and 1e-7 in turn at every 17th
// element.
Tensor with_special_values(const Tensor& tensor) {
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), -0.0,
                             1e-7};
  std::vector<double> values = tensor.to_vector();
  for (std::size_t i = 0; i < values.size(); i += 17) values[i] = specials[i / 17 % 4];
  return Tensor::from_vector(values, tensor.shape(), DType::Float64);
}

// A CUDA copy of a float32 CPU tensor.
Tensor on_gpu(const Tensor& tensor) { return tensor.to(Device::CUDA); }

const DType kSixteenBitDtypes[] = {DType::Float16, DType::BFloat16};

// The bits of element i of a tensor (2, 4 or 8 bytes), in the low bytes.
std::uint64_t element_bits(const Tensor& tensor, std::int64_t i) {
  const std::size_t size = dtype_size(tensor.dtype());
  std::uint64_t bits = 0;
  std::memcpy(&bits, static_cast<const char*>(tensor.data_ptr()) + static_cast<std::size_t>(i) * size, size);
  return bits;
}

// Element i of a floating tensor on the line of its dtype's values:
// consecutive values are consecutive integers (+0 and -0 are both 0), so the
// difference of two counts the units in the last place between them.
std::int64_t ordinal(const Tensor& tensor, std::int64_t i) {
  const std::uint64_t bits = element_bits(tensor, i);
  const std::uint64_t sign = std::uint64_t{1} << (8 * dtype_size(tensor.dtype()) - 1);
  const auto magnitude = static_cast<std::int64_t>(bits & (sign - 1));
  return (bits & sign) != 0 ? -magnitude : magnitude;
}

// actual (any device) against expected (CPU), of one shape and dtype: every
// floating element within `units` units in the last place of the dtype, with
// 0 meaning the same bits; NaN where expected is NaN (any NaN: its sign and
// payload are not specified); integers exactly.
void expect_within_units(const Tensor& actual_on_any_device, const Tensor& expected, std::int64_t units,
                         const std::string& what) {
  const Tensor actual = actual_on_any_device.to(Device::CPU);
  BOOST_TEST_REQUIRE((actual.shape() == expected.shape() && actual.dtype() == expected.dtype()), what);
  const bool floating = is_floating(expected.dtype());
  std::int64_t mismatches = 0, first = -1;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    const double a = actual.at(i), e = expected.at(i);
    const bool ok = !floating                        ? a == e
                    : std::isnan(a) || std::isnan(e) ? std::isnan(a) && std::isnan(e)
                    : units == 0                     ? element_bits(actual, i) == element_bits(expected, i)
                                                     : std::abs(ordinal(actual, i) - ordinal(expected, i)) <= units;
    if (!ok && mismatches++ == 0) first = i;
  }
  BOOST_TEST(mismatches == 0, what << ": " << mismatches << " elements more than " << units
                                   << " units apart, the first " << first << ": "
                                   << (first >= 0 ? actual.at(first) : 0.0) << " instead of "
                                   << (first >= 0 ? expected.at(first) : 0.0));
}

}  // namespace

// ---- BatchNorm ----------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(cuda_batch_norm)

// Odd shapes; the ARM's two channels at 11x11; a channel of 1,334 elements
// (more than the 512 threads of a per-channel block); two elements per channel.
const std::vector<Shape> kShapes = {{3, 5, 5, 7}, {1, 37, 7, 5}, {3, 2, 11, 11}, {2, 3, 23, 29}, {1, 3, 1, 2}};

// Training forward: y, the batch mean and invstd, and the running statistics
// updated in place (each run updates its own copies).
BOOST_AUTO_TEST_CASE(training_forward_and_running_statistics) {
  const std::uint64_t seed = fresh_seed("cuda training_forward_and_running_statistics");
  for (const Shape& shape : kShapes) {
    const std::int64_t channels = shape[1];
    BOOST_TEST_CONTEXT(shape_str(shape)) {
      expect_cuda_matches_cpu(
          "batch_norm_forward_training",
          [](const std::vector<Tensor>& in) {
            const Tensor& x = in[0];
            const Shape per_channel{x.size(1)};
            Tensor running_mean = in[3].clone(), running_var = in[4].clone();
            Tensor y = poisoned(x.shape(), x.dtype(), x.device());
            Tensor mean = poisoned(per_channel, x.dtype(), x.device());
            Tensor invstd = poisoned(per_channel, x.dtype(), x.device());
            kernels::batch_norm_forward_training(x, in[1], in[2], running_mean, running_var, 0.1, 1e-5, y, mean,
                                                 invstd);
            return std::vector<Tensor>{y, mean, invstd, running_mean, running_var};
          },
          {random_tensor(shape, seed), random_tensor({channels}, seed + 1), random_tensor({channels}, seed + 2),
           random_tensor({channels}, seed + 3), positive_tensor({channels}, seed + 4)});
    }
  }
}

BOOST_AUTO_TEST_CASE(evaluation_forward) {
  const std::uint64_t seed = fresh_seed("cuda evaluation_forward");
  for (const Shape& shape : kShapes) {
    const std::int64_t channels = shape[1];
    BOOST_TEST_CONTEXT(shape_str(shape)) {
      expect_cuda_matches_cpu(
          "batch_norm_forward_eval",
          [](const std::vector<Tensor>& in) {
            const Tensor& x = in[0];
            const Shape per_channel{x.size(1)};
            Tensor y = poisoned(x.shape(), x.dtype(), x.device());
            Tensor mean = poisoned(per_channel, x.dtype(), x.device());
            Tensor invstd = poisoned(per_channel, x.dtype(), x.device());
            kernels::batch_norm_forward_eval(x, in[1], in[2], in[3], in[4], 1e-5, y, mean, invstd);
            return std::vector<Tensor>{y, mean, invstd};
          },
          {random_tensor(shape, seed), random_tensor({channels}, seed + 1), random_tensor({channels}, seed + 2),
           random_tensor({channels}, seed + 3), positive_tensor({channels}, seed + 4)});
    }
  }
}

// The backward alone, from the same given statistics on both devices.
BOOST_AUTO_TEST_CASE(backward_from_given_statistics_both_modes) {
  const std::uint64_t seed = fresh_seed("cuda backward_from_given_statistics_both_modes");
  for (const Shape& shape : kShapes)
    for (bool training : {true, false}) {
      const std::int64_t channels = shape[1];
      BOOST_TEST_CONTEXT(shape_str(shape) << (training ? " training" : " evaluation")) {
        expect_cuda_matches_cpu(
            "batch_norm_backward",
            [training](const std::vector<Tensor>& in) {
              const Tensor& x = in[1];
              const Shape per_channel{x.size(1)};
              Tensor grad_x = poisoned(x.shape(), x.dtype(), x.device());
              Tensor grad_weight = poisoned(per_channel, x.dtype(), x.device());
              Tensor grad_bias = poisoned(per_channel, x.dtype(), x.device());
              kernels::batch_norm_backward(in[0], x, in[2], in[3], in[4], training, grad_x, grad_weight, grad_bias);
              return std::vector<Tensor>{grad_x, grad_weight, grad_bias};
            },
            {random_tensor(shape, seed), random_tensor(shape, seed + 1), random_tensor({channels}, seed + 2),
             random_tensor({channels}, seed + 3), positive_tensor({channels}, seed + 4)});
      }
    }
}

// Forward then backward, each device using the statistics its own forward
// wrote, through the autograd op (autograd/nn.cpp) as the model runs it.
BOOST_AUTO_TEST_CASE(forward_and_backward_through_autograd_both_modes) {
  const std::uint64_t seed = fresh_seed("cuda forward_and_backward_through_autograd_both_modes");
  for (const Shape& shape : kShapes)
    for (bool training : {true, false}) {
      const std::int64_t channels = shape[1];
      BOOST_TEST_CONTEXT(shape_str(shape) << (training ? " training" : " evaluation")) {
        expect_cuda_matches_cpu(
            "batch_norm2d",
            [training](const std::vector<Tensor>& in) {
              Tensor x = in[0].detach().requires_grad_();
              Tensor weight = in[1].detach().requires_grad_();
              Tensor bias = in[2].detach().requires_grad_();
              Tensor running_mean = in[3].clone(), running_var = in[4].clone();
              Tensor y = batch_norm2d(x, weight, bias, running_mean, running_var, training, 0.1, 1e-5);
              y.backward(in[5]);
              return std::vector<Tensor>{y.detach(), x.grad(), weight.grad(), bias.grad(), running_mean, running_var};
            },
            {random_tensor(shape, seed), random_tensor({channels}, seed + 1), random_tensor({channels}, seed + 2),
             random_tensor({channels}, seed + 3), positive_tensor({channels}, seed + 4),
             random_tensor(shape, seed + 5)});
      }
    }
}

// float16 and bfloat16 activations (x, y, grad_y, grad_x) with float32
// per-channel tensors, every entry, against the CPU's float32 emulation of
// the same 16-bit inputs. The bound is one unit in the last place of each
// output's dtype: both devices add the per-channel sums in double but in
// another order (and the GPU fuses x * scale + shift into one FMA), so their
// double values differ in the last few of 53 bits, and rounding them to 16
// bits or to float32 can only split at a rounding boundary, one unit apart.
BOOST_AUTO_TEST_CASE(sixteen_bit_activations_match_the_cpu_emulation_within_one_unit) {
  const std::uint64_t seed = fresh_seed("cuda sixteen_bit_activations_match_the_cpu_emulation_within_one_unit");
  constexpr std::int64_t kUnits = 1;
  for (DType dtype : kSixteenBitDtypes)
    for (const Shape& shape : kShapes) {
      const std::int64_t channels = shape[1];
      const std::string what = str_cat(dtype_name(dtype), " ", shape_str(shape));
      // x = 3 N(0, 1) + 1: a mean and variance away from 0 and 1.
      const Tensor x =
          transformed(random_tensor(shape, seed), [](double value) { return 3.0 * value + 1.0; }).to(dtype);
      const Tensor grad_y = random_tensor(shape, seed + 1).to(dtype);
      const Tensor weight = random_tensor({channels}, seed + 2).to(DType::Float32);
      const Tensor bias = random_tensor({channels}, seed + 3).to(DType::Float32);
      const Tensor running_mean = random_tensor({channels}, seed + 4).to(DType::Float32);
      const Tensor running_var = positive_tensor({channels}, seed + 5).to(DType::Float32);
      const Tensor x_on_gpu = on_gpu(x), grad_y_on_gpu = on_gpu(grad_y), weight_on_gpu = on_gpu(weight),
                   bias_on_gpu = on_gpu(bias);

      // Training forward: y, mean, invstd and the running statistics.
      Tensor y = poisoned(shape, dtype, Device::CPU), y_on_gpu = poisoned(shape, dtype, Device::CUDA);
      Tensor mean = poisoned({channels}, DType::Float32, Device::CPU);
      Tensor mean_on_gpu = poisoned({channels}, DType::Float32, Device::CUDA);
      Tensor invstd = poisoned({channels}, DType::Float32, Device::CPU);
      Tensor invstd_on_gpu = poisoned({channels}, DType::Float32, Device::CUDA);
      Tensor new_mean = running_mean.clone(), new_var = running_var.clone();
      Tensor new_mean_on_gpu = on_gpu(running_mean), new_var_on_gpu = on_gpu(running_var);
      kernels::batch_norm_forward_training(x, weight, bias, new_mean, new_var, 0.1, 1e-5, y, mean, invstd);
      kernels::batch_norm_forward_training(x_on_gpu, weight_on_gpu, bias_on_gpu, new_mean_on_gpu, new_var_on_gpu, 0.1,
                                           1e-5, y_on_gpu, mean_on_gpu, invstd_on_gpu);
      expect_within_units(y_on_gpu, y, kUnits, what + " training y");
      expect_within_units(mean_on_gpu, mean, kUnits, what + " training mean");
      expect_within_units(invstd_on_gpu, invstd, kUnits, what + " training invstd");
      expect_within_units(new_mean_on_gpu, new_mean, kUnits, what + " running_mean");
      expect_within_units(new_var_on_gpu, new_var, kUnits, what + " running_var");

      // Evaluation forward.
      Tensor eval_y = poisoned(shape, dtype, Device::CPU), eval_y_on_gpu = poisoned(shape, dtype, Device::CUDA);
      Tensor eval_mean = poisoned({channels}, DType::Float32, Device::CPU);
      Tensor eval_mean_on_gpu = poisoned({channels}, DType::Float32, Device::CUDA);
      Tensor eval_invstd = poisoned({channels}, DType::Float32, Device::CPU);
      Tensor eval_invstd_on_gpu = poisoned({channels}, DType::Float32, Device::CUDA);
      kernels::batch_norm_forward_eval(x, weight, bias, running_mean, running_var, 1e-5, eval_y, eval_mean,
                                       eval_invstd);
      kernels::batch_norm_forward_eval(x_on_gpu, weight_on_gpu, bias_on_gpu, on_gpu(running_mean),
                                       on_gpu(running_var), 1e-5, eval_y_on_gpu, eval_mean_on_gpu,
                                       eval_invstd_on_gpu);
      expect_within_units(eval_y_on_gpu, eval_y, kUnits, what + " evaluation y");
      expect_within_units(eval_mean_on_gpu, eval_mean, kUnits, what + " evaluation mean");
      expect_within_units(eval_invstd_on_gpu, eval_invstd, kUnits, what + " evaluation invstd");

      // Backward in both modes, from the same float32 statistics on both
      // devices (the CPU's training ones).
      for (bool training : {true, false}) {
        const std::string mode = what + (training ? " training" : " evaluation");
        Tensor grad_x = poisoned(shape, dtype, Device::CPU), grad_x_on_gpu = poisoned(shape, dtype, Device::CUDA);
        Tensor grad_weight = poisoned({channels}, DType::Float32, Device::CPU);
        Tensor grad_weight_on_gpu = poisoned({channels}, DType::Float32, Device::CUDA);
        Tensor grad_bias = poisoned({channels}, DType::Float32, Device::CPU);
        Tensor grad_bias_on_gpu = poisoned({channels}, DType::Float32, Device::CUDA);
        kernels::batch_norm_backward(grad_y, x, weight, mean, invstd, training, grad_x, grad_weight, grad_bias);
        kernels::batch_norm_backward(grad_y_on_gpu, x_on_gpu, weight_on_gpu, on_gpu(mean), on_gpu(invstd), training,
                                     grad_x_on_gpu, grad_weight_on_gpu, grad_bias_on_gpu);
        expect_within_units(grad_x_on_gpu, grad_x, kUnits, mode + " grad_x");
        expect_within_units(grad_weight_on_gpu, grad_weight, kUnits, mode + " grad_weight");
        expect_within_units(grad_bias_on_gpu, grad_bias, kUnits, mode + " grad_bias");
      }
    }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_with_cuda_tensors_is_a_one_line_error) {
  const Tensor x = on_gpu(Tensor::zeros({2, 3, 4, 5}));
  const Tensor gpu_channel = on_gpu(Tensor::ones({3})), cpu_channel = Tensor::ones({3});
  Tensor running_mean = on_gpu(Tensor::zeros({3})), running_var = on_gpu(Tensor::ones({3}));
  Tensor y = Tensor::empty_like(x), mean = Tensor::empty_like(gpu_channel), invstd = Tensor::empty_like(gpu_channel);
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::batch_norm_forward_training(x, cpu_channel, gpu_channel, running_mean, running_var, 0.1, 1e-5, y,
                                             mean, invstd);
      },
      {"batch_norm2d", "on cuda", "on cpu"}));
  Tensor cpu_y = Tensor::empty(x.shape());
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::batch_norm_forward_eval(x, gpu_channel, gpu_channel, running_mean, running_var, 1e-5, cpu_y, mean,
                                         invstd);
      },
      {"batch_norm2d", "on cuda", "on cpu"}));
  Tensor grad_x = Tensor::empty_like(x), grad_weight = Tensor::empty_like(gpu_channel),
         grad_bias = Tensor::empty_like(gpu_channel);
  const Tensor cpu_grad_y = Tensor::zeros(x.shape());
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::batch_norm_backward(cpu_grad_y, x, gpu_channel, mean, invstd, true, grad_x, grad_weight, grad_bias);
      },
      {"batch_norm2d_backward", "on cuda", "on cpu"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- pooling ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(cuda_pooling)

struct PoolCase {
  Shape shape;
  int kernel, stride, padding;
};

// The model's stem (3x3, stride 2, padding 1; here on 112x112 with 3
// channels) and odd ones: overlapping windows, windows that skip inputs, a
// 5x5 window with padding 2, one-pixel planes.
const std::vector<PoolCase> kPoolCases = {
    {{2, 3, 112, 112}, 3, 2, 1}, {{3, 5, 5, 7}, 3, 2, 1}, {{1, 37, 5, 7}, 2, 1, 0}, {{3, 5, 7, 5}, 3, 3, 1},
    {{1, 3, 9, 11}, 5, 2, 2},    {{1, 2, 5, 5}, 2, 3, 1}, {{3, 2, 1, 1}, 1, 1, 0},  {{1, 3, 1, 1}, 3, 1, 1},
};

std::string describe(const PoolCase& pool) {
  return str_cat(shape_str(pool.shape), " k", pool.kernel, " s", pool.stride, " p", pool.padding);
}

// y and indices; y alone (indices undefined); then the backward from each
// device's own indices: on inputs with ties, overlapping windows share
// maxima, and the gradient must reach the same elements as on the CPU.
void check_max_pool(const PoolCase& pool, const Tensor& x, std::uint64_t seed) {
  const kernels::MaxPool2dGeometry g = kernels::max_pool2d_geometry(x, pool.kernel, pool.stride, pool.padding);
  const Shape out_shape{g.batch, g.channels, g.out_h, g.out_w};
  expect_cuda_matches_cpu(
      "max_pool2d_forward with indices",
      [g, out_shape](const std::vector<Tensor>& in) {
        Tensor y = poisoned(out_shape, in[0].dtype(), in[0].device());
        Tensor indices = poisoned(out_shape, DType::Int64, in[0].device());
        kernels::max_pool2d_forward(in[0], y, indices, g);
        return std::vector<Tensor>{y, indices};
      },
      {x});
  expect_cuda_matches_cpu(
      "max_pool2d_forward without indices",
      [g, out_shape](const std::vector<Tensor>& in) {
        Tensor y = poisoned(out_shape, in[0].dtype(), in[0].device());
        Tensor no_indices;
        kernels::max_pool2d_forward(in[0], y, no_indices, g);
        return std::vector<Tensor>{y};
      },
      {x});
  expect_cuda_matches_cpu(
      "max_pool2d_backward",
      [g, out_shape](const std::vector<Tensor>& in) {
        Tensor y = poisoned(out_shape, in[0].dtype(), in[0].device());
        Tensor indices = poisoned(out_shape, DType::Int64, in[0].device());
        kernels::max_pool2d_forward(in[0], y, indices, g);
        Tensor grad_x = poisoned(in[0].shape(), in[0].dtype(), in[0].device());
        kernels::max_pool2d_backward(in[1], indices, grad_x, g);
        return std::vector<Tensor>{indices, grad_x};
      },
      {x, random_tensor(out_shape, seed)});
}

BOOST_AUTO_TEST_CASE(max_pool_on_distinct_values) {
  const std::uint64_t seed = fresh_seed("cuda max_pool_on_distinct_values");
  for (const PoolCase& pool : kPoolCases)
    BOOST_TEST_CONTEXT(describe(pool)) { check_max_pool(pool, random_tensor(pool.shape, seed), seed + 1); }
}

BOOST_AUTO_TEST_CASE(max_pool_ties_route_like_the_cpu) {
  const std::uint64_t seed = fresh_seed("cuda max_pool_ties_route_like_the_cpu");
  for (const PoolCase& pool : kPoolCases)
    BOOST_TEST_CONTEXT(describe(pool)) { check_max_pool(pool, tied_tensor(pool.shape, seed), seed + 1); }
}

BOOST_AUTO_TEST_CASE(max_pool_nans_propagate_like_the_cpu) {
  const std::uint64_t seed = fresh_seed("cuda max_pool_nans_propagate_like_the_cpu");
  for (const PoolCase& pool : kPoolCases)
    BOOST_TEST_CONTEXT(describe(pool)) { check_max_pool(pool, tied_tensor_with_nans(pool.shape, seed), seed + 1); }
}

// Through the autograd op (autograd/nn.cpp), as the model's stem runs it.
BOOST_AUTO_TEST_CASE(max_pool_through_autograd) {
  const std::uint64_t seed = fresh_seed("cuda max_pool_through_autograd");
  const Shape shape{3, 5, 5, 7};
  expect_cuda_matches_cpu(
      "max_pool2d",
      [](const std::vector<Tensor>& in) {
        Tensor x = in[0].detach().requires_grad_();
        Tensor y = max_pool2d(x, 3, 2, 1);
        y.backward(in[1]);
        return std::vector<Tensor>{y.detach(), x.grad()};
      },
      {tied_tensor(shape, seed), random_tensor({3, 5, 3, 4}, seed + 1)});
}

const std::vector<Shape> kAverageShapes = {{3, 37, 7, 5}, {2, 512, 7, 7}, {1, 3, 1, 1}, {3, 2, 11, 13}};

BOOST_AUTO_TEST_CASE(global_average_pool_forward_and_backward) {
  const std::uint64_t seed = fresh_seed("cuda global_average_pool_forward_and_backward");
  for (const Shape& shape : kAverageShapes)
    BOOST_TEST_CONTEXT(shape_str(shape)) {
      expect_cuda_matches_cpu(
          "global_avg_pool2d_forward",
          [](const std::vector<Tensor>& in) {
            Tensor y = poisoned({in[0].size(0), in[0].size(1)}, in[0].dtype(), in[0].device());
            kernels::global_avg_pool2d_forward(in[0], y);
            return std::vector<Tensor>{y};
          },
          {random_tensor(shape, seed)});
      expect_cuda_matches_cpu(
          "global_avg_pool2d_backward",
          [shape](const std::vector<Tensor>& in) {
            Tensor grad_x = poisoned(shape, in[0].dtype(), in[0].device());
            kernels::global_avg_pool2d_backward(in[0], grad_x);
            return std::vector<Tensor>{grad_x};
          },
          {random_tensor({shape[0], shape[1]}, seed + 1)});
    }
}

// float16 and bfloat16 max pooling against the CPU's float32 emulation of
// the same 16-bit inputs, bit for bit: y with and without indices, the
// indices, and grad_x from each device's own indices, on distinct values,
// ties and ties with NaNs; gradients of many scales (N(0, 1) times 2^u, u
// in [-20, 10)), so that the float32 sums of overlapping windows round.
BOOST_AUTO_TEST_CASE(sixteen_bit_max_pool_matches_the_cpu_emulation_bit_for_bit) {
  const std::uint64_t seed = fresh_seed("cuda sixteen_bit_max_pool_matches_the_cpu_emulation_bit_for_bit");
  for (DType dtype : kSixteenBitDtypes)
    for (const PoolCase& pool : kPoolCases) {
      const std::vector<Tensor> inputs = {random_tensor(pool.shape, seed), tied_tensor(pool.shape, seed + 1),
                                          tied_tensor_with_nans(pool.shape, seed + 2)};
      for (std::size_t input = 0; input < inputs.size(); ++input) {
        const std::string what = str_cat(dtype_name(dtype), " ", describe(pool), " input ", input);
        const Tensor x = inputs[input].to(dtype), x_on_gpu = on_gpu(x);
        const kernels::MaxPool2dGeometry g = kernels::max_pool2d_geometry(x, pool.kernel, pool.stride, pool.padding);
        const Shape out_shape{g.batch, g.channels, g.out_h, g.out_w};
        Tensor y = poisoned(out_shape, dtype, Device::CPU), y_on_gpu = poisoned(out_shape, dtype, Device::CUDA);
        Tensor indices = poisoned(out_shape, DType::Int64, Device::CPU);
        Tensor indices_on_gpu = poisoned(out_shape, DType::Int64, Device::CUDA);
        kernels::max_pool2d_forward(x, y, indices, g);
        kernels::max_pool2d_forward(x_on_gpu, y_on_gpu, indices_on_gpu, g);
        expect_within_units(y_on_gpu, y, 0, what + " y");
        expect_within_units(indices_on_gpu, indices, 0, what + " indices");
        // Without indices the GPU runs the same argmax, so its values are
        // y's bit for bit; the CPU's two-pass path without indices may keep
        // the other zero of a +0/-0 tie, so y (with indices) is the reference.
        Tensor no_indices, values_only = poisoned(out_shape, dtype, Device::CUDA);
        kernels::max_pool2d_forward(x_on_gpu, values_only, no_indices, g);
        expect_within_units(values_only, y, 0, what + " y without indices");

        const Tensor grad_y = wide_range_tensor(out_shape, seed + 3 + input).to(dtype);
        Tensor grad_x = poisoned(pool.shape, dtype, Device::CPU);
        Tensor grad_x_on_gpu = poisoned(pool.shape, dtype, Device::CUDA);
        kernels::max_pool2d_backward(grad_y, indices, grad_x, g);
        kernels::max_pool2d_backward(on_gpu(grad_y), indices_on_gpu, grad_x_on_gpu, g);
        expect_within_units(grad_x_on_gpu, grad_x, 0, what + " grad_x");
      }
    }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_with_cuda_tensors_is_a_one_line_error) {
  const Tensor x = on_gpu(Tensor::zeros({1, 2, 5, 7}));
  const kernels::MaxPool2dGeometry g = kernels::max_pool2d_geometry(x, 3, 2, 1);
  const Shape out_shape{1, 2, 3, 4};
  Tensor y = on_gpu(Tensor::empty(out_shape)), cpu_y = Tensor::empty(out_shape);
  Tensor indices = on_gpu(Tensor::zeros(out_shape, DType::Int64)), cpu_indices = Tensor::zeros(out_shape, DType::Int64);
  BOOST_TEST(throws_error_containing([&] { kernels::max_pool2d_forward(x, cpu_y, indices, g); },
                                     {"max_pool2d", "on cuda", "on cpu"}));
  BOOST_TEST(throws_error_containing([&] { kernels::max_pool2d_forward(x, y, cpu_indices, g); },
                                     {"max_pool2d", "indices", "on cuda", "on cpu"}));
  Tensor grad_x = Tensor::empty_like(x);
  BOOST_TEST(throws_error_containing([&] { kernels::max_pool2d_backward(y, cpu_indices, grad_x, g); },
                                     {"max_pool2d_backward", "indices", "on cuda", "on cpu"}));
  Tensor cpu_grad_x = Tensor::empty(x.shape());
  BOOST_TEST(throws_error_containing([&] { kernels::max_pool2d_backward(y, indices, cpu_grad_x, g); },
                                     {"max_pool2d_backward", "on cuda", "on cpu"}));
  Tensor cpu_pooled = Tensor::empty({1, 2});
  BOOST_TEST(throws_error_containing([&] { kernels::global_avg_pool2d_forward(x, cpu_pooled); },
                                     {"global_avg_pool2d", "on cuda", "on cpu"}));
  BOOST_TEST(throws_error_containing([&] { kernels::global_avg_pool2d_backward(cpu_pooled, grad_x); },
                                     {"global_avg_pool2d_backward", "on cuda", "on cpu"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- pixel shuffle -------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(cuda_pixel_shuffle)

struct ShuffleCase {
  Shape shape;  // unshuffled [N, C*r*r, H, W]
  int factor;
};

// The model's (factor 16: [N, 512, 7, 7] -> [N, 2, 112, 112]) and odd ones.
const std::vector<ShuffleCase> kShuffleCases = {
    {{2, 512, 7, 7}, 16}, {{3, 18, 5, 7}, 3}, {{1, 8, 1, 1}, 2}, {{3, 5, 5, 7}, 1}, {{1, 50, 3, 2}, 5},
};

BOOST_AUTO_TEST_CASE(forward_and_backward) {
  const std::uint64_t seed = fresh_seed("cuda pixel_shuffle forward_and_backward");
  for (const ShuffleCase& shuffle : kShuffleCases) {
    const Shape shuffled = kernels::pixel_shuffle_shape(Tensor::zeros(shuffle.shape), shuffle.factor);
    const int factor = shuffle.factor;
    BOOST_TEST_CONTEXT(shape_str(shuffle.shape) << " factor " << factor) {
      expect_cuda_matches_cpu(
          "pixel_shuffle_forward",
          [shuffled, factor](const std::vector<Tensor>& in) {
            Tensor y = poisoned(shuffled, in[0].dtype(), in[0].device());
            kernels::pixel_shuffle_forward(in[0], y, factor);
            return std::vector<Tensor>{y};
          },
          {random_tensor(shuffle.shape, seed)});
      const Shape unshuffled = shuffle.shape;
      expect_cuda_matches_cpu(
          "pixel_shuffle_backward",
          [unshuffled, factor](const std::vector<Tensor>& in) {
            Tensor grad_x = poisoned(unshuffled, in[0].dtype(), in[0].device());
            kernels::pixel_shuffle_backward(in[0], grad_x, factor);
            return std::vector<Tensor>{grad_x};
          },
          {random_tensor(shuffled, seed + 1)});
    }
  }
}

// float16 and bfloat16 against the CPU's float32 emulation of the same
// 16-bit inputs (with NaNs and infinities among them), bit for bit: a
// permutation of the stored values.
BOOST_AUTO_TEST_CASE(sixteen_bit_forward_and_backward_match_the_cpu_emulation_bit_for_bit) {
  const std::uint64_t seed = fresh_seed("cuda pixel_shuffle sixteen_bit_forward_and_backward");
  for (DType dtype : kSixteenBitDtypes)
    for (const ShuffleCase& shuffle : kShuffleCases) {
      const std::string what = str_cat(dtype_name(dtype), " ", shape_str(shuffle.shape), " factor ", shuffle.factor);
      const Shape shuffled = kernels::pixel_shuffle_shape(Tensor::zeros(shuffle.shape), shuffle.factor);
      const Tensor x = with_special_values(random_tensor(shuffle.shape, seed)).to(dtype);
      Tensor y = poisoned(shuffled, dtype, Device::CPU), y_on_gpu = poisoned(shuffled, dtype, Device::CUDA);
      kernels::pixel_shuffle_forward(x, y, shuffle.factor);
      kernels::pixel_shuffle_forward(on_gpu(x), y_on_gpu, shuffle.factor);
      expect_within_units(y_on_gpu, y, 0, what + " forward");
      const Tensor grad_y = with_special_values(random_tensor(shuffled, seed + 1)).to(dtype);
      Tensor grad_x = poisoned(shuffle.shape, dtype, Device::CPU);
      Tensor grad_x_on_gpu = poisoned(shuffle.shape, dtype, Device::CUDA);
      kernels::pixel_shuffle_backward(grad_y, grad_x, shuffle.factor);
      kernels::pixel_shuffle_backward(on_gpu(grad_y), grad_x_on_gpu, shuffle.factor);
      expect_within_units(grad_x_on_gpu, grad_x, 0, what + " backward");
    }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_with_cuda_tensors_is_a_one_line_error) {
  const Tensor x = on_gpu(Tensor::zeros({1, 8, 3, 5}));
  Tensor cpu_y = Tensor::empty({1, 2, 6, 10});
  BOOST_TEST(throws_error_containing([&] { kernels::pixel_shuffle_forward(x, cpu_y, 2); },
                                     {"pixel_shuffle", "on cuda", "on cpu"}));
  Tensor grad_x = Tensor::empty_like(x);
  BOOST_TEST(throws_error_containing([&] { kernels::pixel_shuffle_backward(cpu_y, grad_x, 2); },
                                     {"pixel_shuffle_backward", "on cuda", "on cpu"}));
}

BOOST_AUTO_TEST_SUITE_END()
