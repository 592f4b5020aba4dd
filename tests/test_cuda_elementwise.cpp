// The CUDA bodies of elementwise, convert, finite and image_batch against
// their CPU twins (tests/cuda_compare.h): fresh random inputs of odd sizes,
// outputs poisoned with NaN, every element compared; the dtype conversions,
// fills, the image normalisation and the float16/bfloat16 kernels (against
// the CPU's float32 emulation) bit for bit. Each op also refuses a CPU
// tensor mixed with a CUDA one in one line. Without a GPU the program exits
// 77 (skipped).
#define BOOST_TEST_MODULE cuda_elementwise
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "autograd/functional.h"
#include "kernels/convert.h"
#include "kernels/elementwise.h"
#include "kernels/finite.h"
#include "kernels/image_batch.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;
namespace k = armnet::kernels;

using armnet::testing::RequireGpu;
BOOST_TEST_GLOBAL_FIXTURE(RequireGpu);

namespace {

// Inputs of `shapes`, N(0, 1) from consecutive seeds.
std::vector<Tensor> random_inputs(const std::vector<Shape>& shapes, std::uint64_t seed) {
  std::vector<Tensor> inputs;
  for (const Shape& shape : shapes) inputs.push_back(random_tensor(shape, seed++));
  return inputs;
}

Tensor on_cuda(const Tensor& tensor) { return tensor.to(Device::CUDA); }

// Bit for bit the same bytes, except that NaN matches any NaN (a NaN's sign
// and payload are not specified by the conversions).
void expect_same_bits(const Tensor& actual_on_any_device, const Tensor& expected, const std::string& what) {
  const Tensor actual = actual_on_any_device.to(Device::CPU);
  BOOST_TEST_REQUIRE((actual.shape() == expected.shape() && actual.dtype() == expected.dtype()), what);
  const std::size_t size = dtype_size(actual.dtype());
  std::int64_t mismatches = 0, first = -1;
  for (std::int64_t i = 0; i < actual.numel(); ++i) {
    const bool same = std::memcmp(static_cast<const char*>(actual.data_ptr()) + i * size,
                                  static_cast<const char*>(expected.data_ptr()) + i * size, size) == 0;
    const bool both_nan = is_floating(actual.dtype()) && std::isnan(actual.at(i)) && std::isnan(expected.at(i));
    if (!same && !both_nan && mismatches++ == 0) first = i;
  }
  BOOST_TEST(mismatches == 0, what << ": " << mismatches << " elements differ, the first " << first << ": "
                                   << (first >= 0 ? actual.at(first) : 0.0) << " instead of "
                                   << (first >= 0 ? expected.at(first) : 0.0));
}

// The values whose conversions are the easiest to get wrong (float16's
// overflow, subnormals and ties, float32's), then random ones of every scale.
std::vector<double> conversion_values(std::uint64_t seed) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> values = {0.0, -0.0, 1.0, -1.5, 65504.0, 65519.99, 65520.0, -65520.0, 1e6, 3.4e38, 1e300,
                                -1e300, inf, -inf, std::numeric_limits<double>::quiet_NaN(), 6.103515625e-05,
                                6.0e-05, 5.960464477539063e-08, 2.98023223876953125e-08, 2.9802322387695314e-08,
                                1e-40, -1e-45, 1e-320, 1.0 + 1.0 / 2048, 1.0 + 3.0 / 2048, 1.0 + 1.0 / 256,
                                1.0 + 3.0 / 256, 1.0000000596046448, 0.1, 1.0 / 3.0};
  Generator generator(seed);
  for (int i = 0; i < 5000; ++i) values.push_back(generator.normal() * std::pow(2.0, generator.uniform(-40, 40)));
  return values;
}

const DType kFloatingDtypes[] = {DType::Float32, DType::Float64, DType::Float16, DType::BFloat16};

// A CPU tensor of `shape` in 16-bit `dtype`: N(0, 1) draws times 2^u, u
// uniform over the type's exponents and beyond (so that sums and products
// overflow, fall into the subnormals and round at ties), with NaN,
// infinities and zeros of both signs at every 29th element.
Tensor sixteen_bit_tensor(const Shape& shape, DType dtype, std::uint64_t seed) {
  const double inf = std::numeric_limits<double>::infinity();
  const double special[] = {std::numeric_limits<double>::quiet_NaN(), inf, -inf, 0.0, -0.0};
  const double lowest = dtype == DType::Float16 ? -26.0 : -135.0, highest = dtype == DType::Float16 ? 17.0 : 128.0;
  Generator generator(seed);
  std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = i % 29 == 0 ? special[i / 29 % 5] : generator.normal() * std::exp2(generator.uniform(lowest, highest));
  return Tensor::from_vector(values, shape, DType::Float64).to(dtype);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(elementwise)

BOOST_AUTO_TEST_CASE(add_and_mul_same_shape_and_broadcast) {
  const auto seed = fresh_seed("add_and_mul_same_shape_and_broadcast");
  const std::vector<std::vector<Shape>> cases = {
      {{3, 37, 5, 7}, {3, 37, 5, 7}}, {{3, 1, 5, 7}, {1, 6, 5, 1}}, {{1, 2, 11, 11}, {1}},
      {{1}, {3, 1, 11, 11}},          {{2, 1, 3}, {4, 1}},          {{5, 7}, {3, 37, 5, 7}}};
  for (const auto& shapes : cases) {
    for (const char* op : {"add", "mul"}) {
      const bool is_add = std::strcmp(op, "add") == 0;
      expect_cuda_matches_cpu(
          std::string(op) + " " + shape_str(shapes[0]) + " " + shape_str(shapes[1]),
          [&](const std::vector<Tensor>& in) {
            Tensor out = poisoned(k::broadcast_shape(op, in[0].shape(), in[1].shape()), in[0].dtype(), in[0].device());
            if (is_add)
              k::add(in[0], in[1], out);
            else
              k::mul(in[0], in[1], out);
            return std::vector<Tensor>{out};
          },
          random_inputs(shapes, seed));
    }
  }
}

BOOST_AUTO_TEST_CASE(add_into_and_scale) {
  const auto seed = fresh_seed("add_into_and_scale");
  expect_cuda_matches_cpu("add_into, scale",
                          [](const std::vector<Tensor>& in) {
                            Tensor y = in[0].clone();
                            k::add_into(y, in[1]);
                            Tensor scaled = in[1].clone();
                            k::scale(scaled, -0.3);
                            return std::vector<Tensor>{y, scaled};
                          },
                          random_inputs({{3, 37, 5, 7}, {3, 37, 5, 7}}, seed));
}

// The ARM head's reductions (channel mean, batch-global mean), bias
// gradients, the mean of a loss, and reductions longer than one block.
BOOST_AUTO_TEST_CASE(sum_to) {
  const auto seed = fresh_seed("sum_to");
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 2, 11, 11}, {3, 1, 11, 11}}, {{3, 2, 11, 11}, {1, 1, 11, 11}}, {{3, 7}, {7}},
      {{3}, {}},                        {{1, 7}, {7}},                    {{3, 37, 5, 7}, {37, 1, 1}},
      {{1000, 3}, {3}},                 {{5, 300}, {5, 1}},               {{3, 5, 7}, {3, 5, 7}},
      {{0, 3}, {3}},                    {{70001}, {70001}}};
  for (const auto& [x_shape, out_shape] : cases) {
    const Shape out = out_shape;
    expect_cuda_matches_cpu("sum_to " + shape_str(x_shape) + " -> " + shape_str(out),
                            [&](const std::vector<Tensor>& in) {
                              Tensor reduced = poisoned(out, in[0].dtype(), in[0].device());
                              k::sum_to(in[0], reduced);
                              return std::vector<Tensor>{reduced};
                            },
                            {random_tensor(x_shape, seed)});
  }
}

BOOST_AUTO_TEST_CASE(relu_and_add_relu_forward_and_backward) {
  const auto seed = fresh_seed("relu_and_add_relu_forward_and_backward");
  for (const Shape& shape : {Shape{1, 37, 5, 7}, Shape{3, 37, 5, 7}, Shape{3, 64, 56, 56}}) {
    expect_cuda_matches_cpu("relu, add_relu " + shape_str(shape),
                            [&](const std::vector<Tensor>& in) {
                              Tensor y = poisoned(shape, in[0].dtype(), in[0].device());
                              k::relu_forward(in[0], y);
                              Tensor grad_x = poisoned(shape, in[0].dtype(), in[0].device());
                              k::relu_backward(y, in[2], grad_x);
                              Tensor fused = poisoned(shape, in[0].dtype(), in[0].device());
                              k::add_relu_forward(in[0], in[1], fused);
                              Tensor grad_a = poisoned(shape, in[0].dtype(), in[0].device());
                              k::add_relu_backward(fused, in[2], grad_a);
                              return std::vector<Tensor>{y, grad_x, fused, grad_a};
                            },
                            random_inputs({shape, shape, shape}, seed));
  }
}

// The native float16 and bfloat16 kernels on CUDA against the same ops on
// the CPU, which runs them on float32 stand-ins and rounds the results to 16
// bits (kernels/float32_stand_ins.h): the same 16-bit inputs, outputs
// poisoned with NaN, bit for bit (a NaN's sign and payload aside).
BOOST_AUTO_TEST_CASE(sixteen_bit_kernels_match_the_cpu_emulation_bit_for_bit) {
  const auto seed = fresh_seed("sixteen_bit_kernels_match_the_cpu_emulation_bit_for_bit");
  const std::vector<std::vector<Shape>> binary_cases = {
      {{3, 37, 5, 7}, {3, 37, 5, 7}}, {{3, 1, 5, 7}, {1, 6, 5, 1}}, {{1, 2, 11, 11}, {1}}, {{5, 7}, {3, 37, 5, 7}}};
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    const std::string type = dtype_name(dtype);
    for (const auto& shapes : binary_cases) {
      const Tensor a = sixteen_bit_tensor(shapes[0], dtype, seed), b = sixteen_bit_tensor(shapes[1], dtype, seed + 1);
      const Shape out_shape = k::broadcast_shape("add", a.shape(), b.shape());
      const std::string what = type + " " + shape_str(shapes[0]) + " " + shape_str(shapes[1]);
      Tensor sum = poisoned(out_shape, dtype, Device::CPU), sum_on_gpu = poisoned(out_shape, dtype, Device::CUDA);
      k::add(a, b, sum);
      k::add(on_cuda(a), on_cuda(b), sum_on_gpu);
      expect_same_bits(sum_on_gpu, sum, "add " + what);
      Tensor product = poisoned(out_shape, dtype, Device::CPU);
      Tensor product_on_gpu = poisoned(out_shape, dtype, Device::CUDA);
      k::mul(a, b, product);
      k::mul(on_cuda(a), on_cuda(b), product_on_gpu);
      expect_same_bits(product_on_gpu, product, "mul " + what);
    }
    for (const Shape& shape : {Shape{1, 37, 5, 7}, Shape{3, 64, 56, 56}}) {
      const std::string what = type + " " + shape_str(shape);
      const Tensor a = sixteen_bit_tensor(shape, dtype, seed + 2), b = sixteen_bit_tensor(shape, dtype, seed + 3);
      const Tensor grad_y = sixteen_bit_tensor(shape, dtype, seed + 4);
      const Tensor a_on_gpu = on_cuda(a), b_on_gpu = on_cuda(b), grad_y_on_gpu = on_cuda(grad_y);
      Tensor accumulated = a.clone(), accumulated_on_gpu = on_cuda(a);
      k::add_into(accumulated, b);
      k::add_into(accumulated_on_gpu, b_on_gpu);
      expect_same_bits(accumulated_on_gpu, accumulated, "add_into " + what);
      // relu_backward and add_relu_backward at every input value (negative,
      // zero, NaN, ...), as y.
      Tensor y = poisoned(shape, dtype, Device::CPU), y_on_gpu = poisoned(shape, dtype, Device::CUDA);
      k::relu_forward(a, y);
      k::relu_forward(a_on_gpu, y_on_gpu);
      expect_same_bits(y_on_gpu, y, "relu " + what);
      Tensor grad_x = poisoned(shape, dtype, Device::CPU), grad_x_on_gpu = poisoned(shape, dtype, Device::CUDA);
      k::relu_backward(a, grad_y, grad_x);
      k::relu_backward(a_on_gpu, grad_y_on_gpu, grad_x_on_gpu);
      expect_same_bits(grad_x_on_gpu, grad_x, "relu_backward " + what);
      Tensor fused = poisoned(shape, dtype, Device::CPU), fused_on_gpu = poisoned(shape, dtype, Device::CUDA);
      k::add_relu_forward(a, b, fused);
      k::add_relu_forward(a_on_gpu, b_on_gpu, fused_on_gpu);
      expect_same_bits(fused_on_gpu, fused, "add_relu " + what);
      Tensor grad_a = poisoned(shape, dtype, Device::CPU), grad_a_on_gpu = poisoned(shape, dtype, Device::CUDA);
      k::add_relu_backward(b, grad_y, grad_a);
      k::add_relu_backward(b_on_gpu, grad_y_on_gpu, grad_a_on_gpu);
      expect_same_bits(grad_a_on_gpu, grad_a, "add_relu_backward " + what);
    }
  }
}

// The autograd op on CUDA: output and both inputs' gradients as on the CPU.
BOOST_AUTO_TEST_CASE(add_relu_autograd) {
  const auto seed = fresh_seed("add_relu_autograd");
  expect_cuda_matches_cpu("add_relu autograd",
                          [](const std::vector<Tensor>& in) {
                            Tensor a = in[0].detach().requires_grad_(), b = in[1].detach().requires_grad_();
                            Tensor y = add_relu(a, b);
                            mul(y, in[2]).backward(in[3]);
                            return std::vector<Tensor>{y.detach(), a.grad(), b.grad()};
                          },
                          random_inputs({{3, 37, 5, 7}, {3, 37, 5, 7}, {3, 37, 5, 7}, {3, 37, 5, 7}}, seed));
}

BOOST_AUTO_TEST_CASE(mixed_devices_are_refused) {
  const Tensor cpu = Tensor::ones({3, 5}), gpu = on_cuda(Tensor::ones({3, 5}));
  Tensor cpu_out = Tensor::empty({3, 5}), gpu_out = on_cuda(Tensor::empty({3, 5}));
  const std::vector<std::string> devices = {"on cpu", "on cuda"};
  auto refused = [&](const char* op, const std::function<void()>& body) {
    std::vector<std::string> fragments = devices;
    fragments.push_back(op);
    BOOST_TEST(throws_error_containing(body, fragments), op);
  };
  refused("add", [&] { k::add(cpu, gpu, gpu_out); });
  refused("add", [&] { k::add(gpu, gpu, cpu_out); });
  refused("mul", [&] { k::mul(gpu, cpu, gpu_out); });
  refused("add_into", [&] { k::add_into(gpu_out, cpu); });
  refused("sum_to", [&] { k::sum_to(gpu, cpu_out); });
  refused("relu", [&] { k::relu_forward(gpu, cpu_out); });
  refused("relu_backward", [&] { k::relu_backward(gpu, cpu, gpu_out); });
  refused("add_relu", [&] { k::add_relu_forward(gpu, cpu, gpu_out); });
  refused("add_relu_backward", [&] { k::add_relu_backward(gpu, gpu, cpu_out); });
  refused("add_relu", [&] { add_relu(gpu, cpu); });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(convert)

BOOST_AUTO_TEST_CASE(fill_every_dtype) {
  for (DType dtype : kFloatingDtypes) {
    for (double value : {0.0, -0.0, 1.0 / 3.0, -65520.0, 1e-7, 1e300, std::numeric_limits<double>::quiet_NaN()}) {
      Tensor y = poisoned({3, 37, 5}, dtype, Device::CUDA);
      k::fill(y, value);
      expect_same_bits(y, Tensor::full({3, 37, 5}, value, dtype), str_cat(dtype_name(dtype), " fill ", value));
    }
  }
  Tensor counts = poisoned({70001}, DType::Int64, Device::CUDA);
  k::fill(counts, -12.0);
  expect_same_bits(counts, Tensor::full({70001}, -12.0, DType::Int64), "int64 fill");
  Tensor empty = Tensor::empty({0, 3}, DType::Float16, Device::CUDA);
  k::fill(empty, 1.0);
}

// Every pair of floating dtypes, the values that matter for rounding: the
// CUDA cast bit for bit the CPU's (Tensor::copy_from's host conversion).
BOOST_AUTO_TEST_CASE(cast_every_pair) {
  const std::vector<double> values = conversion_values(fresh_seed("cast_every_pair"));
  const Tensor values64 = Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())}, DType::Float64);
  for (DType source_dtype : kFloatingDtypes) {
    const Tensor source = values64.to(source_dtype);
    const Tensor source_on_gpu = on_cuda(source);
    for (DType destination_dtype : kFloatingDtypes) {
      Tensor expected = Tensor::empty(source.shape(), destination_dtype);
      k::cast(source, expected);
      Tensor actual = poisoned(source.shape(), destination_dtype, Device::CUDA);
      k::cast(source_on_gpu, actual);
      expect_same_bits(actual, expected, str_cat("cast ", dtype_name(source_dtype), " -> ", dtype_name(destination_dtype)));
    }
  }
}

BOOST_AUTO_TEST_CASE(increment_on_the_device) {
  Tensor counter = on_cuda(Tensor::zeros({}, DType::Int64));
  for (int i = 0; i < 5; ++i) k::increment(counter);
  BOOST_TEST(counter.item() == 5.0);
  Tensor one_element = on_cuda(Tensor::full({1}, 41.0, DType::Int64));
  k::increment(one_element);
  BOOST_TEST(one_element.item() == 42.0);
}

BOOST_AUTO_TEST_CASE(mixed_devices_are_refused) {
  const Tensor cpu = Tensor::ones({3, 5});
  Tensor gpu_half = on_cuda(Tensor::zeros({3, 5}, DType::Float16));
  BOOST_TEST(throws_error_containing([&] { k::cast(cpu, gpu_half); }, {"cast", "on cpu", "on cuda"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(finite_scan)

BOOST_AUTO_TEST_CASE(all_finite_in_one_launch) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  // Shapes of a model's gradients: one large, several small, one empty.
  const std::vector<Shape> shapes = {{512, 256, 3, 3}, {37}, {7, 512}, {0}, {1}, {3, 37, 5, 7}};
  std::vector<Tensor> finite_tensors;
  for (std::size_t i = 0; i < shapes.size(); ++i)
    finite_tensors.push_back(on_cuda(random_tensor(shapes[i], 100 + i).to(kFloatingDtypes[i % 4])));
  BOOST_TEST(k::all_finite(finite_tensors));
  BOOST_TEST(k::all_finite({}));
  BOOST_TEST(k::first_non_finite({{"a", finite_tensors[0]}, {"b", finite_tensors[1]}}).empty());
  // One bad element, in every tensor in turn, at its first, middle and last
  // position.
  for (std::size_t t = 0; t < shapes.size(); ++t) {
    const std::int64_t count = shape_numel(shapes[t]);
    for (std::int64_t position : {std::int64_t{0}, count / 2, count - 1}) {
      if (count == 0) continue;
      for (double bad : {nan, inf, -inf}) {
        std::vector<Tensor> tensors = finite_tensors;
        std::vector<double> values = finite_tensors[t].to_vector();
        values[static_cast<std::size_t>(position)] = bad;
        tensors[t] = on_cuda(Tensor::from_vector(values, shapes[t], finite_tensors[t].dtype()));
        BOOST_TEST(!k::all_finite(tensors), "tensor " << t << " element " << position << " = " << bad);
      }
    }
  }
  // float16 overflow: finite in float32, infinite once cast on the device.
  Tensor large = on_cuda(Tensor::full({3, 5}, 1e5));
  Tensor large_half = Tensor::empty({3, 5}, DType::Float16, Device::CUDA);
  k::cast(large, large_half);
  BOOST_TEST(k::all_finite({large}));
  BOOST_TEST(!k::all_finite({large, large_half}));
  BOOST_TEST(k::first_non_finite({{"large", large}, {"large_half", large_half}}) == "large_half");
}

BOOST_AUTO_TEST_CASE(mixed_devices_are_refused) {
  BOOST_TEST(throws_error_containing([] { k::all_finite({Tensor::ones({3}), on_cuda(Tensor::ones({3}))}); },
                                     {"all_finite", "on cpu", "on cuda"}));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(image_batch)

BOOST_AUTO_TEST_CASE(normalize_images_bit_for_bit) {
  Generator generator(fresh_seed("normalize_images_bit_for_bit"));
  for (const Shape& shape : {Shape{1, 5, 7, 3}, Shape{3, 11, 13, 3}, Shape{2, 224, 224, 3}}) {
    Tensor images = Tensor::empty(shape, DType::UInt8);
    std::uint8_t* bytes = images.data<std::uint8_t>();
    for (std::int64_t i = 0; i < images.numel(); ++i)
      bytes[i] = static_cast<std::uint8_t>(i < 256 ? i : generator.integer(256));
    const Shape out_shape{shape[0], 3, shape[1], shape[2]};
    Tensor expected = Tensor::empty(out_shape);
    k::normalize_images(images, expected);
    Tensor actual = poisoned(out_shape, DType::Float32, Device::CUDA);
    k::normalize_images(on_cuda(images), actual);
    expect_same_bits(actual, expected, "normalize_images " + shape_str(shape));
  }
}

BOOST_AUTO_TEST_CASE(mixed_devices_are_refused) {
  Tensor images = Tensor::zeros({1, 5, 7, 3}, DType::UInt8);
  Tensor gpu_out = Tensor::empty({1, 3, 5, 7}, DType::Float32, Device::CUDA);
  BOOST_TEST(throws_error_containing([&] { k::normalize_images(images, gpu_out); },
                                     {"normalize_images", "on cpu", "on cuda"}));
}

BOOST_AUTO_TEST_SUITE_END()
