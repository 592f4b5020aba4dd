// The per-element arithmetic that the CUDA kernels of BatchNorm, pooling and
// pixel shuffle share with nothing else (kernels/batch_norm.h,
// kernels/pooling.h, kernels/pixel_shuffle.h), run on the CPU over EVERY
// index of several geometries (the model's and odd ones) and compared with
// the CPU kernels' outputs or with brute-force definitions written here; in
// float16 and bfloat16 against the CPU's float32 emulation
// (kernels/float32_stand_ins.h), bit for bit. So CI proves the index maps
// and the 16-bit rounding of tests/test_cuda_norm_pool.cpp without a GPU.
#define BOOST_TEST_MODULE index_math_norm_pool
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/pixel_shuffle.h"
#include "kernels/pooling.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::kernels;
using namespace armnet::testing;

namespace {

// Equal as the kernels must be: the same value, or NaN for NaN.
bool same_value(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// A CPU tensor of `shape` and 16-bit dtype T holding random bit patterns:
// every kind of value (about 3% of float16's are NaN, 0.4% of bfloat16's),
// with the bits of `special` at every 11th element (a tie maker, an
// infinity, a zero).
template <class T>
Tensor random_bit_patterns(const Shape& shape, Generator& generator, const std::vector<double>& special) {
  Tensor tensor = Tensor::empty(shape, dtype_of<T>());
  T* values = tensor.data<T>();
  for (std::int64_t i = 0; i < tensor.numel(); ++i)
    values[i] = i % 11 == 0 ? narrowed<T>(special[static_cast<std::size_t>(i / 11) % special.size()])
                            : T{static_cast<std::uint16_t>(generator.next_u64())};
  return tensor;
}

// N(0, 1) draws times 2^u, u uniform in [-20, 10): sums of a few of them
// round in float32 (exponents more than 24 apart) and in 16 bits.
Tensor wide_range_values(const Shape& shape, Generator& generator) {
  std::vector<double> values = randn(shape, generator, DType::Float64).to_vector();
  for (double& value : values) value *= std::exp2(std::floor(generator.uniform(-20.0, 10.0)));
  return Tensor::from_vector(values, shape, DType::Float64);
}

// A CPU tensor of `shape` whose element i holds i.
Tensor flat_indices(const Shape& shape) {
  std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
  return Tensor::from_vector(values, shape, DType::Float64);
}

// ---- pooling ---------------------------------------------------------------

struct PoolCase {
  Shape shape;  // NCHW input
  int kernel, stride, padding;
};

std::string describe(const PoolCase& pool) {
  return str_cat(shape_str(pool.shape), " k", pool.kernel, " s", pool.stride, " p", pool.padding);
}

// The model's stem (3x3, stride 2, padding 1 on 112x112) and odd ones:
// overlapping windows, windows that skip inputs (stride above the kernel),
// one window covering everything, padding on one-pixel planes.
const std::vector<PoolCase> kPoolCases = {
    {{1, 2, 112, 112}, 3, 2, 1}, {{2, 3, 5, 7}, 2, 1, 0}, {{1, 2, 5, 7}, 3, 3, 1}, {{3, 1, 7, 5}, 3, 2, 1},
    {{1, 2, 9, 11}, 5, 2, 2},    {{1, 1, 6, 6}, 1, 2, 0}, {{1, 1, 5, 5}, 2, 3, 1}, {{1, 1, 4, 3}, 4, 1, 2},
    {{2, 1, 1, 1}, 1, 1, 0},     {{1, 1, 1, 1}, 3, 1, 1}, {{1, 1, 8, 8}, 8, 8, 0},
};

MaxPool2dGeometry geometry_of(const PoolCase& pool) {
  return max_pool2d_geometry(Tensor::zeros(pool.shape, DType::Float64), pool.kernel, pool.stride, pool.padding);
}

// Distinct values (no ties): a random permutation's worth of N(0, 1) draws.
Tensor distinct_values(const Shape& shape, Generator& generator) { return randn(shape, generator, DType::Float64); }

// Values with many ties (N(0, 1) rounded to halves) and a few NaNs: the
// cases where the order of the comparisons decides the position.
Tensor tied_values(const Shape& shape, Generator& generator, bool with_nans) {
  std::vector<double> values = randn(shape, generator, DType::Float64).to_vector();
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = std::round(values[i] * 2.0) / 2.0;
    if (with_nans && generator.integer(23) == 0) values[i] = std::numeric_limits<double>::quiet_NaN();
  }
  return Tensor::from_vector(values, shape, DType::Float64);
}

// The CPU forward with positions.
struct PoolOutputs {
  Tensor y, indices;
};
PoolOutputs cpu_max_pool(const Tensor& x, const MaxPool2dGeometry& g) {
  PoolOutputs out{Tensor::empty({g.batch, g.channels, g.out_h, g.out_w}, x.dtype()),
                  Tensor::empty({g.batch, g.channels, g.out_h, g.out_w}, DType::Int64)};
  max_pool2d_forward(x, out.y, out.indices, g);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(pooling_maps)

// The window by its definition (every input row/column the unclamped window
// [o*stride - padding, o*stride - padding + kernel) holds), and the position
// of the strict maximum over it against the CPU kernel's indices on inputs
// without ties.
BOOST_AUTO_TEST_CASE(window_is_the_definition_and_holds_the_cpu_argmax) {
  Generator generator(fresh_seed("window_is_the_definition_and_holds_the_cpu_argmax"));
  for (const PoolCase& pool : kPoolCases) {
    const MaxPool2dGeometry g = geometry_of(pool);
    const Tensor x = distinct_values(pool.shape, generator);
    const std::vector<double> values = x.to_vector();
    const std::vector<double> indices = cpu_max_pool(x, g).indices.to_vector();
    int failures = 0;
    for (std::int64_t p = 0; p < g.batch * g.channels; ++p)
      for (std::int64_t oh = 0; oh < g.out_h; ++oh)
        for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
          const PoolWindow window = max_pool_window(g, oh, ow);
          std::int64_t h_first = -1, h_last = -1, w_first = -1, w_last = -1;
          for (std::int64_t h = 0; h < g.in_h; ++h)
            if (oh * g.stride - g.padding <= h && h < oh * g.stride - g.padding + g.kernel) {
              if (h_first < 0) h_first = h;
              h_last = h;
            }
          for (std::int64_t w = 0; w < g.in_w; ++w)
            if (ow * g.stride - g.padding <= w && w < ow * g.stride - g.padding + g.kernel) {
              if (w_first < 0) w_first = w;
              w_last = w;
            }
          std::int64_t argmax = -1;
          for (std::int64_t h = window.h_begin; h < window.h_end; ++h)
            for (std::int64_t w = window.w_begin; w < window.w_end; ++w)
              if (argmax < 0 || values[p * g.in_h * g.in_w + h * g.in_w + w] > values[p * g.in_h * g.in_w + argmax])
                argmax = h * g.in_w + w;
          const std::int64_t o = (p * g.out_h + oh) * g.out_w + ow;
          const bool ok = h_first >= 0 && w_first >= 0 && window.h_begin == h_first && window.h_end == h_last + 1 &&
                          window.w_begin == w_first && window.w_end == w_last + 1 &&
                          argmax == static_cast<std::int64_t>(indices[o]);
          if (!ok && ++failures <= 5)
            BOOST_ERROR(describe(pool) << " output " << o << ": window rows [" << window.h_begin << ", "
                                       << window.h_end << ") columns [" << window.w_begin << ", " << window.w_end
                                       << "), expected [" << h_first << ", " << h_last + 1 << ") [" << w_first << ", "
                                       << w_last + 1 << "); argmax " << argmax << ", CPU " << indices[o]);
        }
    BOOST_TEST(failures == 0, describe(pool) << ": " << failures << " outputs differ");
  }
}

// The per-element function the CUDA forward runs, in every dtype, on inputs
// full of ties and NaNs: the same value and position as the CPU kernel (for
// float16 and bfloat16 its float32 emulation) at every output.
template <class T>
void check_argmax_against_cpu(const PoolCase& pool, const Tensor& x_any_dtype) {
  const MaxPool2dGeometry g = geometry_of(pool);
  const Tensor x = x_any_dtype.to(dtype_of<T>());
  const PoolOutputs cpu = cpu_max_pool(x, g);
  const std::vector<double> y = cpu.y.to_vector(), indices = cpu.indices.to_vector();
  const T* values = x.data<T>();
  int failures = 0;
  for (std::int64_t p = 0; p < g.batch * g.channels; ++p)
    for (std::int64_t oh = 0; oh < g.out_h; ++oh)
      for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
        const MaxPoolArgmax<T> best = max_pool_argmax(values + p * g.in_h * g.in_w, g, oh, ow);
        const std::int64_t o = (p * g.out_h + oh) * g.out_w + ow;
        if ((!same_value(widened(best.value), y[o]) || best.position != static_cast<std::int64_t>(indices[o])) &&
            ++failures <= 5)
          BOOST_ERROR(describe(pool) << " " << dtype_name(dtype_of<T>()) << " output " << o << ": "
                                     << widened(best.value) << " at " << best.position << ", CPU " << y[o] << " at "
                                     << indices[o]);
      }
  BOOST_TEST(failures == 0, describe(pool) << ": " << failures << " outputs differ");
}

BOOST_AUTO_TEST_CASE(argmax_matches_the_cpu_with_ties_and_nans) {
  Generator generator(fresh_seed("argmax_matches_the_cpu_with_ties_and_nans"));
  for (const PoolCase& pool : kPoolCases)
    for (bool with_nans : {false, true}) {
      const Tensor x = tied_values(pool.shape, generator, with_nans);
      check_argmax_against_cpu<double>(pool, x);
      check_argmax_against_cpu<float>(pool, x);
      check_argmax_against_cpu<Half>(pool, x);
      check_argmax_against_cpu<BFloat16>(pool, x);
    }
  // 16-bit inputs of every kind: random bit patterns with +0 and -0 (equal:
  // a tie), infinities and NaNs among them.
  const std::vector<double> special = {0.0, -0.0, std::numeric_limits<double>::infinity(),
                                       -std::numeric_limits<double>::infinity(), 1.0, -1.0};
  for (const PoolCase& pool : kPoolCases) {
    check_argmax_against_cpu<Half>(pool, random_bit_patterns<Half>(pool.shape, generator, special));
    check_argmax_against_cpu<BFloat16>(pool, random_bit_patterns<BFloat16>(pool.shape, generator, special));
  }
  // Minus infinity everywhere: the first position of each window, as on the CPU.
  const PoolCase pool{{1, 1, 5, 7}, 3, 2, 1};
  check_argmax_against_cpu<float>(pool, Tensor::full(pool.shape, -std::numeric_limits<double>::infinity(),
                                                     DType::Float64));
}

// The outputs whose windows hold each input coordinate, from
// covering_outputs of the padded coordinate, against the windows themselves.
BOOST_AUTO_TEST_CASE(outputs_holding_an_input_are_those_whose_window_holds_it) {
  for (const PoolCase& pool : kPoolCases) {
    const MaxPool2dGeometry g = geometry_of(pool);
    for (std::int64_t ih = 0; ih < g.in_h; ++ih) {
      const OutputRange rows = covering_outputs(ih + g.padding, g.kernel, g.stride, g.out_h);
      for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
        const PoolWindow window = max_pool_window(g, oh, 0);
        const bool holds = window.h_begin <= ih && ih < window.h_end;
        BOOST_TEST((rows.first <= oh && oh < rows.last) == holds,
                   describe(pool) << " input row " << ih << " output row " << oh);
      }
    }
    for (std::int64_t iw = 0; iw < g.in_w; ++iw) {
      const OutputRange columns = covering_outputs(iw + g.padding, g.kernel, g.stride, g.out_w);
      for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
        const PoolWindow window = max_pool_window(g, 0, ow);
        const bool holds = window.w_begin <= iw && iw < window.w_end;
        BOOST_TEST((columns.first <= ow && ow < columns.last) == holds,
                   describe(pool) << " input column " << iw << " output column " << ow);
      }
    }
  }
}

// The gather the CUDA backward runs, at every input element, against the
// CPU kernel's scatter (for float16 and bfloat16 its float32 emulation), bit
// for bit (the same additions in the same order, in the same type): with
// ties, overlapping windows share maxima and their gradients add up;
// gradients of many scales make those sums round.
template <class T>
void check_input_grad_against_cpu(const PoolCase& pool, Generator& generator) {
  const MaxPool2dGeometry g = geometry_of(pool);
  const Tensor x = tied_values(pool.shape, generator, false).to(dtype_of<T>());
  const PoolOutputs forward = cpu_max_pool(x, g);
  const Tensor grad_y = wide_range_values(forward.y.shape(), generator).to(dtype_of<T>());
  Tensor grad_x = Tensor::empty(pool.shape, dtype_of<T>());
  max_pool2d_backward(grad_y, forward.indices, grad_x, g);
  const std::vector<double> expected = grad_x.to_vector();
  const T* pgrad_y = grad_y.data<T>();
  const std::int64_t* pindices = forward.indices.data<std::int64_t>();
  const std::int64_t out_plane = g.out_h * g.out_w;
  int failures = 0;
  for (std::int64_t p = 0; p < g.batch * g.channels; ++p)
    for (std::int64_t ih = 0; ih < g.in_h; ++ih)
      for (std::int64_t iw = 0; iw < g.in_w; ++iw) {
        const T value = max_pool_input_grad(pgrad_y + p * out_plane, pindices + p * out_plane, g, ih, iw);
        const std::int64_t i = (p * g.in_h + ih) * g.in_w + iw;
        if (widened(value) != expected[i] && ++failures <= 5)
          BOOST_ERROR(describe(pool) << " " << dtype_name(dtype_of<T>()) << " grad_x " << i << ": " << widened(value)
                                     << ", CPU " << expected[i]);
      }
  BOOST_TEST(failures == 0, describe(pool) << ": " << failures << " elements differ");
}

BOOST_AUTO_TEST_CASE(input_grad_gather_matches_the_cpu_scatter) {
  Generator generator(fresh_seed("input_grad_gather_matches_the_cpu_scatter"));
  for (const PoolCase& pool : kPoolCases) {
    check_input_grad_against_cpu<double>(pool, generator);
    check_input_grad_against_cpu<float>(pool, generator);
    check_input_grad_against_cpu<Half>(pool, generator);
    check_input_grad_against_cpu<BFloat16>(pool, generator);
  }
}

// One input the maximum of four windows (2x2, stride 1, on a 3x3 plane whose
// centre is the largest), with gradients 1, t, 2^-24, 2^-24: t = 2^-11 in
// float16 (2^-8 in bfloat16) makes 1 + t a tie of the 16-bit type, and each
// 2^-24 is half a float32 unit at 1, so float32 sums stay at the tie (ties
// to even) and the 16-bit result is 1; a sum in double would be 2^-23 above
// the tie and round up. The CPU's float32 emulation gives 1, and so must the
// gather.
template <class T>
void check_input_grad_sums_in_float(double tie_addend) {
  const PoolCase pool{{1, 1, 3, 3}, 2, 1, 0};
  const MaxPool2dGeometry g = geometry_of(pool);
  const Tensor x = Tensor::from_vector({0, 0, 0, 0, 1, 0, 0, 0, 0}, pool.shape, dtype_of<T>());
  const PoolOutputs forward = cpu_max_pool(x, g);
  BOOST_TEST(forward.indices.to_vector() == std::vector<double>(4, 4.0), boost::test_tools::per_element());
  const Tensor grad_y = Tensor::from_vector({1.0, tie_addend, 0x1p-24, 0x1p-24}, forward.y.shape(), dtype_of<T>());
  Tensor grad_x = Tensor::empty(pool.shape, dtype_of<T>());
  max_pool2d_backward(grad_y, forward.indices, grad_x, g);
  const T centre = max_pool_input_grad(grad_y.data<T>(), forward.indices.data<std::int64_t>(), g, 1, 1);
  BOOST_TEST(grad_x.at(4) == 1.0, dtype_name(dtype_of<T>()));
  BOOST_TEST(widened(centre) == 1.0, dtype_name(dtype_of<T>()));
}

BOOST_AUTO_TEST_CASE(sixteen_bit_input_grad_sums_in_float32_as_the_cpu) {
  check_input_grad_sums_in_float<Half>(0x1p-11);
  check_input_grad_sums_in_float<BFloat16>(0x1p-8);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- pixel shuffle ---------------------------------------------------------

BOOST_AUTO_TEST_SUITE(pixel_shuffle_maps)

struct ShuffleCase {
  Shape shape;  // the unshuffled input [N, C*r*r, H, W]
  int factor;
};

// The model's (factor 16 on 7x7) and odd ones.
const std::vector<ShuffleCase> kShuffleCases = {
    {{2, 512, 7, 7}, 16}, {{2, 12, 3, 5}, 2}, {{1, 18, 5, 7}, 3}, {{3, 4, 5, 7}, 1},
    {{1, 50, 3, 2}, 5},   {{1, 8, 1, 1}, 2},  {{2, 2 * 49, 1, 3}, 7},
};

// A tensor holding its own flat indices, shuffled by the CPU kernel, holds at
// each position the index the forward map names; the same for the backward.
BOOST_AUTO_TEST_CASE(index_maps_match_the_cpu_kernel_at_every_index) {
  for (const ShuffleCase& shuffle : kShuffleCases) {
    const std::string what = str_cat(shape_str(shuffle.shape), " factor ", shuffle.factor);
    const PixelShuffleLayout layout{shuffle.factor, shuffle.shape[2], shuffle.shape[3]};
    const Tensor x = flat_indices(shuffle.shape);
    const Shape shuffled_shape = pixel_shuffle_shape(x, shuffle.factor);
    Tensor y = Tensor::empty(shuffled_shape, DType::Float64);
    pixel_shuffle_forward(x, y, shuffle.factor);
    Tensor grad_x = Tensor::empty(shuffle.shape, DType::Float64);
    pixel_shuffle_backward(flat_indices(shuffled_shape), grad_x, shuffle.factor);
    const std::vector<double> sources = y.to_vector(), destinations = grad_x.to_vector();
    int failures = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const std::int64_t source = pixel_shuffle_unshuffled_index(layout, i);
      const std::int64_t destination = pixel_shuffle_shuffled_index(layout, i);
      const bool ok = source == static_cast<std::int64_t>(sources[i]) &&
                      destination == static_cast<std::int64_t>(destinations[i]) &&
                      pixel_shuffle_shuffled_index(layout, source) == i;
      if (!ok && ++failures <= 5)
        BOOST_ERROR(what << " index " << i << ": source " << source << " (CPU " << sources[i] << "), destination "
                         << destination << " (CPU " << destinations[i] << ")");
    }
    BOOST_TEST(failures == 0, what << ": " << failures << " indices differ");
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- batch norm ------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(batch_norm_maps)

// NCHW shapes: odd planes, one image, the ARM's two channels at 11x11.
const std::vector<Shape> kNormShapes = {{3, 5, 5, 7}, {1, 3, 4, 1}, {2, 2, 11, 11}, {4, 33, 1, 1}, {2, 64, 3, 3}};

// batch_norm_channel_element walks channel c image by image, and
// batch_norm_channel_of names each element's channel, as nested loops do.
BOOST_AUTO_TEST_CASE(channel_maps_at_every_index) {
  for (const Shape& shape : kNormShapes) {
    const std::int64_t batch = shape[0], channels = shape[1], plane = shape[2] * shape[3];
    int failures = 0;
    for (std::int64_t c = 0; c < channels; ++c) {
      std::int64_t j = 0;
      for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t i = 0; i < plane; ++i, ++j) {
          const std::int64_t flat = (n * channels + c) * plane + i;
          const bool ok = batch_norm_channel_element(channels, plane, c, j) == flat &&
                          batch_norm_channel_of(channels, plane, flat) == c;
          if (!ok && ++failures <= 5) BOOST_ERROR(shape_str(shape) << " channel " << c << " element " << j);
        }
    }
    BOOST_TEST(failures == 0, shape_str(shape) << ": " << failures << " indices differ");
  }
}

// y and grad_x of every element from the per-channel values the CPU kernel
// wrote (mean, invstd; the sums in grad_bias and grad_weight), against the
// CPU kernel's y and grad_x, in both modes, float64.
BOOST_AUTO_TEST_CASE(normalisation_and_input_grad_match_the_cpu_at_every_element) {
  Generator generator(fresh_seed("normalisation_and_input_grad_match_the_cpu_at_every_element"));
  for (const Shape& shape : kNormShapes)
    for (bool training : {true, false}) {
      const std::string what = str_cat(shape_str(shape), training ? " training" : " evaluation");
      const std::int64_t channels = shape[1], plane = shape[2] * shape[3];
      const double count = static_cast<double>(shape[0] * plane);
      const Tensor x = randn(shape, generator, DType::Float64);
      const Tensor weight = randn({channels}, generator, DType::Float64);
      const Tensor bias = randn({channels}, generator, DType::Float64);
      Tensor running_mean = randn({channels}, generator, DType::Float64);
      Tensor running_var = rand_uniform({channels}, 0.5, 2.0, generator, DType::Float64);
      Tensor y = Tensor::empty(shape, DType::Float64);
      Tensor mean = Tensor::empty({channels}, DType::Float64), invstd = Tensor::empty({channels}, DType::Float64);
      if (training)
        batch_norm_forward_training(x, weight, bias, running_mean, running_var, 0.1, 1e-5, y, mean, invstd);
      else
        batch_norm_forward_eval(x, weight, bias, running_mean, running_var, 1e-5, y, mean, invstd);
      const Tensor grad_y = randn(shape, generator, DType::Float64);
      Tensor grad_x = Tensor::empty(shape, DType::Float64);
      Tensor grad_weight = Tensor::empty({channels}, DType::Float64);
      Tensor grad_bias = Tensor::empty({channels}, DType::Float64);
      batch_norm_backward(grad_y, x, weight, mean, invstd, training, grad_x, grad_weight, grad_bias);

      const std::vector<double> vx = x.to_vector(), vy = y.to_vector(), vgrad_y = grad_y.to_vector(),
                                vgrad_x = grad_x.to_vector(), vweight = weight.to_vector(), vbias = bias.to_vector(),
                                vmean = mean.to_vector(), vinvstd = invstd.to_vector(),
                                vgrad_weight = grad_weight.to_vector(), vgrad_bias = grad_bias.to_vector();
      int failures = 0;
      for (std::int64_t i = 0; i < x.numel(); ++i) {
        const std::int64_t c = batch_norm_channel_of(channels, plane, i);
        const BatchNormAffine map = batch_norm_affine(vmean[c], vinvstd[c], vweight[c], vbias[c]);
        const double yi = batch_norm_y(vx[i], map);
        const double mean_grad = training ? vgrad_bias[c] / count : 0.0;
        const double mean_grad_xhat = training ? vgrad_weight[c] / count : 0.0;
        const double grad_xi =
            batch_norm_grad_x(vgrad_y[i], vx[i], vweight[c], vmean[c], vinvstd[c], mean_grad, mean_grad_xhat);
        const bool ok = std::abs(yi - vy[i]) <= 1e-13 * std::max(1.0, std::abs(vy[i])) &&
                        std::abs(grad_xi - vgrad_x[i]) <= 1e-13 * std::max(1.0, std::abs(vgrad_x[i]));
        if (!ok && ++failures <= 5)
          BOOST_ERROR(what << " element " << i << ": y " << yi << " (CPU " << vy[i] << "), grad_x " << grad_xi
                           << " (CPU " << vgrad_x[i] << ")");
      }
      BOOST_TEST(failures == 0, what << ": " << failures << " elements differ");
    }
}

// float16 and bfloat16 activations with float32 per-channel tensors: y
// (batch_norm_y) and grad_x (batch_norm_grad_x) of every element against
// the CPU's float32 emulation, bit for bit (NaN: NaN), in evaluation mode,
// where the per-channel values are computed here exactly as the CPU kernel
// computes them. x and grad_y are random bit patterns (NaN, infinities,
// subnormals of every sign); weights of many scales make y overflow and
// underflow. (Training mode runs the same two functions on per-channel
// values that are sums: the backward's are checked below, exactly; the
// forward's on a GPU, tests/test_cuda_norm_pool.cpp.)
template <class T>
void check_sixteen_bit_batch_norm_evaluation(Generator& generator) {
  const Shape shape{2, 6, 7, 9};
  const std::int64_t channels = shape[1], plane = shape[2] * shape[3];
  const double eps = 1e-5, inf = std::numeric_limits<double>::infinity();
  const std::vector<double> special = {0.0, -0.0, inf, -inf, std::numeric_limits<double>::quiet_NaN(),
                                       65504.0, 0x1p-24, 1.0 + 0x1p-11, 3.4e38, 1e-40};
  const Tensor x = random_bit_patterns<T>(shape, generator, special);
  const Tensor grad_y = random_bit_patterns<T>(shape, generator, special);
  const Tensor weight = Tensor::from_vector({1.0, -0.3, 1e4, 1e-6, 2.5, -7.0}, {channels}, DType::Float32);
  const Tensor bias = randn({channels}, generator, DType::Float32);
  const Tensor running_mean = randn({channels}, generator, DType::Float32);
  const Tensor running_var = rand_uniform({channels}, 0.5, 2.0, generator, DType::Float32);
  Tensor y = Tensor::empty(shape, dtype_of<T>()), grad_x = Tensor::empty(shape, dtype_of<T>());
  Tensor mean = Tensor::empty({channels}), invstd = Tensor::empty({channels});
  Tensor grad_weight = Tensor::empty({channels}), grad_bias = Tensor::empty({channels});
  batch_norm_forward_eval(x, weight, bias, running_mean, running_var, eps, y, mean, invstd);
  batch_norm_backward(grad_y, x, weight, mean, invstd, false, grad_x, grad_weight, grad_bias);
  const float *pweight = weight.data<float>(), *pbias = bias.data<float>();
  const float *prunning_mean = running_mean.data<float>(), *prunning_var = running_var.data<float>();
  const float *pmean = mean.data<float>(), *pinvstd = invstd.data<float>();
  const T *px = x.data<T>(), *pgrad_y = grad_y.data<T>();
  std::int64_t y_mismatches = 0, grad_x_mismatches = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::int64_t c = batch_norm_channel_of(channels, plane, i);
    const double channel_mean = prunning_mean[c];
    const double channel_invstd = 1.0 / std::sqrt(static_cast<double>(prunning_var[c]) + eps);
    const BatchNormAffine map = batch_norm_affine(channel_mean, channel_invstd, pweight[c], pbias[c]);
    if (!same_16bit(batch_norm_y(px[i], map), y.data<T>()[i])) ++y_mismatches;
    const T gradient = batch_norm_grad_x(pgrad_y[i], px[i], pweight[c], pmean[c], pinvstd[c], 0.0, 0.0);
    if (!same_16bit(gradient, grad_x.data<T>()[i])) ++grad_x_mismatches;
  }
  BOOST_TEST(y_mismatches == 0, dtype_name(dtype_of<T>()) << " y");
  BOOST_TEST(grad_x_mismatches == 0, dtype_name(dtype_of<T>()) << " grad_x");
}

BOOST_AUTO_TEST_CASE(sixteen_bit_evaluation_forward_and_backward_equal_the_cpu_emulation) {
  Generator generator(fresh_seed("sixteen_bit_evaluation_forward_and_backward_equal_the_cpu_emulation"));
  check_sixteen_bit_batch_norm_evaluation<Half>(generator);
  check_sixteen_bit_batch_norm_evaluation<BFloat16>(generator);
}

// y rounds to float32 first, then to 16 bits, as the emulation (its float32
// kernel, then the cast): with scale 1 (eps 0, running_var 1, weight 1) and
// shift t + 2^-30 (t = 2^-11 in float16, 2^-8 in bfloat16), x = 1 gives
// 1 + t + 2^-30 in double, 1 + t in float32 (a 16-bit tie), 1 in 16 bits;
// rounding the double straight to 16 bits would give the next value up.
template <class T>
void check_batch_norm_y_rounds_through_float(double tie_addend) {
  const Tensor x = Tensor::from_vector({1.0, -1.0}, {1, 1, 1, 2}, dtype_of<T>());
  const Tensor one = Tensor::ones({1}), zero = Tensor::zeros({1});
  const Tensor bias = Tensor::from_vector({tie_addend + 0x1p-30}, {1}, DType::Float32);
  Tensor y = Tensor::empty(x.shape(), dtype_of<T>()), mean = Tensor::empty({1}), invstd = Tensor::empty({1});
  batch_norm_forward_eval(x, one, bias, zero, one, 0.0, y, mean, invstd);
  const BatchNormAffine map = batch_norm_affine(0.0, 1.0, 1.0, bias.at(0));
  BOOST_TEST(map.scale == 1.0);
  BOOST_TEST(y.at(0) == 1.0, dtype_name(dtype_of<T>()));
  BOOST_TEST(widened(batch_norm_y(x.data<T>()[0], map)) == 1.0, dtype_name(dtype_of<T>()));
  BOOST_TEST(batch_norm_y(x.data<T>()[1], map).bits == y.data<T>()[1].bits, dtype_name(dtype_of<T>()));
}

BOOST_AUTO_TEST_CASE(sixteen_bit_y_rounds_through_float32_as_the_cpu) {
  check_batch_norm_y_rounds_through_float<Half>(0x1p-11);
  check_batch_norm_y_rounds_through_float<BFloat16>(0x1p-8);
}

// The training-mode grad_x in 16 bits, bit for bit against the CPU's float32
// emulation. Its channel means of grad_y and grad_y * xhat are double sums,
// exact here whatever their order: x = k/8 (|k| <= 32), grad_y = k/16
// (|k| <= 16), mean a multiple of 1/4 and invstd a power of two, so every
// term is a multiple of 2^-8 below 2^5 and every sum fits in 53 bits. The
// test computes them itself, as the CUDA kernel does (in another order).
template <class T>
void check_sixteen_bit_batch_norm_training_backward(Generator& generator) {
  const Shape shape{3, 4, 5, 7};
  const std::int64_t channels = shape[1], plane = shape[2] * shape[3], count = shape[0] * plane;
  std::vector<double> x_values(static_cast<std::size_t>(shape_numel(shape)));
  std::vector<double> grad_values(x_values.size());
  for (std::size_t i = 0; i < x_values.size(); ++i) {
    x_values[i] = static_cast<double>(generator.integer(65) - 32) / 8.0;
    grad_values[i] = static_cast<double>(generator.integer(33) - 16) / 16.0;
  }
  const Tensor x = Tensor::from_vector(x_values, shape, dtype_of<T>());
  const Tensor grad_y = Tensor::from_vector(grad_values, shape, dtype_of<T>());
  const Tensor weight = randn({channels}, generator, DType::Float32);
  const Tensor mean = Tensor::from_vector({0.25, -0.5, 1.0, 0.0}, {channels}, DType::Float32);
  const Tensor invstd = Tensor::from_vector({0.5, 2.0, 1.0, 4.0}, {channels}, DType::Float32);
  Tensor grad_x = Tensor::empty(shape, dtype_of<T>());
  Tensor grad_weight = Tensor::empty({channels}), grad_bias = Tensor::empty({channels});
  batch_norm_backward(grad_y, x, weight, mean, invstd, true, grad_x, grad_weight, grad_bias);
  const float *pweight = weight.data<float>(), *pmean = mean.data<float>(), *pinvstd = invstd.data<float>();
  std::vector<double> sum_grad(static_cast<std::size_t>(channels), 0.0), sum_grad_xhat(sum_grad);
  for (std::size_t i = 0; i < x_values.size(); ++i) {
    const std::int64_t c = batch_norm_channel_of(channels, plane, static_cast<std::int64_t>(i));
    sum_grad[c] += grad_values[i];
    sum_grad_xhat[c] += grad_values[i] * ((x_values[i] - pmean[c]) * pinvstd[c]);
  }
  for (std::int64_t c = 0; c < channels; ++c) {  // the premise: the CPU's sums are these
    BOOST_TEST(grad_bias.at(c) == static_cast<double>(static_cast<float>(sum_grad[c])));
    BOOST_TEST(grad_weight.at(c) == static_cast<double>(static_cast<float>(sum_grad_xhat[c])));
  }
  std::int64_t mismatches = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const std::int64_t c = batch_norm_channel_of(channels, plane, i);
    const T gradient = batch_norm_grad_x(grad_y.data<T>()[i], x.data<T>()[i], pweight[c], pmean[c], pinvstd[c],
                                         sum_grad[c] / static_cast<double>(count),
                                         sum_grad_xhat[c] / static_cast<double>(count));
    if (gradient.bits != grad_x.data<T>()[i].bits) ++mismatches;
  }
  BOOST_TEST(mismatches == 0, dtype_name(dtype_of<T>()) << " grad_x");
}

BOOST_AUTO_TEST_CASE(sixteen_bit_training_input_grad_equals_the_cpu_emulation) {
  Generator generator(fresh_seed("sixteen_bit_training_input_grad_equals_the_cpu_emulation"));
  check_sixteen_bit_batch_norm_training_backward<Half>(generator);
  check_sixteen_bit_batch_norm_training_backward<BFloat16>(generator);
}

BOOST_AUTO_TEST_SUITE_END()
