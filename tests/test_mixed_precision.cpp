// Mixed precision on the CPU, where 16-bit arithmetic is emulated (float32
// stand-ins, rounded once per output): the emulation itself, the dtype every
// op of both models produces under O1 and O2, the forward against float32,
// the loss scaler's rules (skip on inf with every weight bit-identical,
// halving, growth after 2000 clean steps, the cap, the stop below 1),
// gradients that only survive with scaling, the unscale kernel, the
// optimizer's fused O2 working copies, and O1 against O2.
#define BOOST_TEST_MODULE mixed_precision
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/functional.h"
#include "kernels/batch_norm.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/elementwise.h"
#include "kernels/finite.h"
#include "kernels/optimizer.h"
#include "layers/mixed_precision.h"
#include "layers/resnet_arm.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

namespace {

const DType kLowTypes[] = {DType::Float16, DType::BFloat16};

// `values` rounded to `dtype` and back: what a 16-bit tensor holds.
Tensor rounded(const Tensor& values, DType dtype) { return values.to(dtype).to(DType::Float32); }

// Every element of `actual` (any dtype) equals `expected`'s exactly.
void expect_same_values(const Tensor& actual, const Tensor& expected, const std::string& what) {
  expect_close(actual.to(DType::Float32), expected.to(DType::Float32), 0.0, 0.0, what);
}

ModelOptions model_options(const std::string& architecture, std::uint64_t seed = 3) {
  ModelOptions options;
  options.architecture = architecture;
  options.image_size = 64;
  options.seed = seed;
  return options;
}

// The dtypes each op of the graph behind `root` produced, by op name.
std::map<std::string, std::set<DType>> output_dtypes(const Tensor& root) {
  std::map<std::string, std::set<DType>> found;
  std::vector<autograd::Node*> stack{root.grad_fn().get()};
  std::set<autograd::Node*> seen;
  while (!stack.empty()) {
    autograd::Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !seen.insert(node).second) continue;
    found[node->op].insert(node->output_dtype);
    for (const autograd::Edge& edge : node->edges) stack.push_back(edge.node.get());
  }
  return found;
}

std::string names(const std::set<DType>& dtypes) {
  std::string text;
  for (DType dtype : dtypes) text += std::string(text.empty() ? "" : ",") + dtype_name(dtype);
  return text;
}

}  // namespace

// ---- the emulation: float32 stand-ins, one rounding per output ----------------

BOOST_AUTO_TEST_SUITE(emulation)

BOOST_AUTO_TEST_CASE(elementwise_ops_round_the_float32_result_once) {
  Generator generator(fresh_seed("elementwise_ops_round_the_float32_result_once"));
  for (DType low : kLowTypes) {
    const Tensor a = rounded(randn({3, 5, 7}, generator), low), b = rounded(randn({3, 5, 7}, generator), low);
    Tensor sum = Tensor::empty({3, 5, 7}, low), product = Tensor::empty({3, 5, 7}, low);
    kernels::add(a.to(low), b.to(low), sum);
    kernels::mul(a.to(low), b.to(low), product);
    Tensor expected_sum = Tensor::empty({3, 5, 7}), expected_product = Tensor::empty({3, 5, 7});
    kernels::add(a, b, expected_sum);
    kernels::mul(a, b, expected_product);
    expect_same_values(sum, rounded(expected_sum, low), str_cat(dtype_name(low), " add"));
    expect_same_values(product, rounded(expected_product, low), str_cat(dtype_name(low), " mul"));
    Tensor relu_out = Tensor::empty({3, 5, 7}, low);
    kernels::relu_forward(a.to(low), relu_out);
    expect_same_values(relu_out, relu(a), str_cat(dtype_name(low), " relu"));
    // In place: add_into reads its output first.
    Tensor accumulated = a.to(low);
    kernels::add_into(accumulated, b.to(low));
    expect_same_values(accumulated, rounded(expected_sum, low), str_cat(dtype_name(low), " add_into"));
  }
}

BOOST_AUTO_TEST_CASE(convolution_accumulates_in_float32_and_rounds_once) {
  // Through float32 stand-ins the result is the float32 convolution rounded,
  // exactly. bfloat16 on a processor with bfloat16 instructions runs on
  // oneDNN, which adds the float32 products in its own order: then within
  // one unit in bfloat16's last place (2^-7 of the value at most).
  Generator generator(fresh_seed("convolution_accumulates_in_float32_and_rounds_once"));
  for (DType low : kLowTypes) {
    const bool native = kernels::cpu::conv2d_takes(low);
    BOOST_TEST_MESSAGE(dtype_name(low) << " convolution on the CPU: " << (native ? "oneDNN" : "float32 stand-ins"));
    const Tensor x = rounded(randn({2, 3, 9, 9}, generator), low), w = rounded(randn({4, 3, 3, 3}, generator), low);
    const Tensor bias = rounded(randn({4}, generator), low);
    const kernels::Conv2dGeometry g = kernels::conv2d_geometry(x, w, {1, 1, 1, 1});
    Tensor y = Tensor::empty({2, 4, 9, 9}, low), expected = Tensor::empty({2, 4, 9, 9});
    kernels::conv2d_forward(x.to(low), w.to(low), bias.to(low), y, g);
    kernels::conv2d_forward(x, w, bias, expected, g);
    const std::string what = str_cat(dtype_name(low), " conv2d");
    if (native)
      expect_close(y.to(DType::Float32), rounded(expected, low), 0x1p-7, 1e-6, what);
    else
      expect_same_values(y, rounded(expected, low), what);
    // The backward passes, against the float32 ones on the same values.
    const Tensor grad_y = rounded(randn({2, 4, 9, 9}, generator), low);
    Tensor grad_x = Tensor::empty({2, 3, 9, 9}, low), grad_x32 = Tensor::empty({2, 3, 9, 9});
    kernels::conv2d_backward_data(grad_y.to(low), w.to(low), grad_x, g);
    kernels::conv2d_backward_data(grad_y, w, grad_x32, g);
    Tensor grad_w = Tensor::empty({4, 3, 3, 3}, low), grad_w32 = Tensor::empty({4, 3, 3, 3});
    Tensor grad_b = Tensor::empty({4}, low), grad_b32 = Tensor::empty({4});
    kernels::conv2d_backward_weights(grad_y.to(low), x.to(low), grad_w, grad_b, g);
    kernels::conv2d_backward_weights(grad_y, x, grad_w32, grad_b32, g);
    const double tolerance = native ? 0x1p-7 : 0.0;
    expect_close(grad_x.to(DType::Float32), rounded(grad_x32, low), tolerance, native ? 1e-6 : 0.0, what + " grad_x");
    expect_close(grad_w.to(DType::Float32), rounded(grad_w32, low), tolerance, native ? 1e-6 : 0.0, what + " grad_w");
    expect_close(grad_b.to(DType::Float32), rounded(grad_b32, low), tolerance, native ? 1e-6 : 0.0, what + " grad_b");
  }
}

BOOST_AUTO_TEST_CASE(batch_norm_takes_16bit_activations_with_float32_statistics) {
  Generator generator(fresh_seed("batch_norm_takes_16bit_activations_with_float32_statistics"));
  const Tensor x = rounded(randn({4, 3, 5, 5}, generator), DType::Float16);
  const Tensor weight = randn({3}, generator), bias = randn({3}, generator);
  Tensor mean16 = Tensor::zeros({3}), var16 = Tensor::ones({3}), mean32 = Tensor::zeros({3}), var32 = Tensor::ones({3});
  Tensor y16 = Tensor::empty({4, 3, 5, 5}, DType::Float16), y32 = Tensor::empty({4, 3, 5, 5});
  Tensor m16 = Tensor::empty({3}), s16 = Tensor::empty({3}), m32 = Tensor::empty({3}), s32 = Tensor::empty({3});
  kernels::batch_norm_forward_training(x.to(DType::Float16), weight, bias, mean16, var16, 0.1, 1e-5, y16, m16, s16);
  kernels::batch_norm_forward_training(x, weight, bias, mean32, var32, 0.1, 1e-5, y32, m32, s32);
  expect_same_values(y16, rounded(y32, DType::Float16), "float16 batch_norm output");
  expect_same_values(mean16, mean32, "running mean (float32)");
  expect_same_values(var16, var32, "running var (float32)");
  // Parameters of the activations' 16-bit dtype are refused: they stay float32.
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::batch_norm_forward_training(x.to(DType::Float16), weight.to(DType::Float16), bias, mean16, var16, 0.1,
                                             1e-5, y16, m16, s16);
      },
      {"batch_norm2d", "weight", "must be float32"}));
}

BOOST_AUTO_TEST_CASE(float16_overflows_to_infinity_and_keeps_subnormals) {
  const Tensor big = Tensor::from_vector({60000.0, 70000.0, -70000.0, 6e-8, 3e-8, 1e-9}, {6});
  const std::vector<double> held = big.to(DType::Float16).to_vector();
  BOOST_TEST(held[0] == 60000.0);
  BOOST_TEST(std::isinf(held[1]));
  BOOST_TEST((std::isinf(held[2]) && held[2] < 0));
  BOOST_TEST(held[3] == std::ldexp(1.0, -24));  // the smallest subnormal, 5.96e-8
  BOOST_TEST(held[4] == std::ldexp(1.0, -24));  // 3e-8 is just above half of it: rounds up
  BOOST_TEST(held[5] == 0.0);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the policy: which dtype every op produces ---------------------------------

BOOST_AUTO_TEST_SUITE(policy)

BOOST_AUTO_TEST_CASE(every_op_of_both_models_produces_the_policy_dtype) {
  for (const char* architecture : {"arm", "resnet18"}) {
    for (AmpLevel level : {AmpLevel::O1, AmpLevel::O2}) {
      for (DType low : kLowTypes) {
        const std::string what = str_cat(architecture, " ", amp_level_name(level), " ", dtype_name(low));
        ModelOptions options = model_options(architecture);
        options.drop_rate = 0.5;  // the dropout op is in the graph too
        auto model = make_model(options);
        Generator generator(5);
        const Tensor images = randn({3, 3, 64, 64}, generator);
        const Tensor labels = Tensor::from_vector({0, 3, 6}, {3}, DType::Int64);
        Autocast autocast(level, low);
        Tensor loss;
        {
          AutocastScope scope(autocast);
          loss = cross_entropy(model->forward(images), labels);
        }
        BOOST_TEST((loss.dtype() == DType::Float32), what);
        const std::map<std::string, std::set<DType>> found = output_dtypes(loss);
        const std::set<DType> low_only{low}, float32_only{DType::Float32};
        const std::map<std::string, std::set<DType>> expected_by_op = {
            {"conv2d", low_only},          {"batch_norm2d", low_only},
            {"relu", low_only},            {"max_pool2d", low_only},
            {"add_relu", low_only},        {"linear", low_only},
            {"cross_entropy", float32_only}, {"dropout", float32_only},
            {"shared_channel_conv2d", low_only}, {"pixel_shuffle", low_only},
            {"mean", float32_only},        {"mul", float32_only},
            {"add", float32_only},         {"global_avg_pool2d", float32_only},
        };
        for (const auto& [op, dtypes] : found) {
          const auto expected = expected_by_op.find(op);
          if (op == "to") {
            // The casts: to 16 bits (inputs, O1's weights), to float32 (the islands).
            BOOST_TEST((dtypes == std::set<DType>{low, DType::Float32}), what << " to: " << names(dtypes));
          } else if (op == "reshape") {
            BOOST_TEST((dtypes == float32_only), what << " reshape: " << names(dtypes));
          } else {
            BOOST_TEST_REQUIRE((expected != expected_by_op.end()), what << ": unexpected op " << op);
            BOOST_TEST((dtypes == expected->second), what << " " << op << ": " << names(dtypes));
          }
        }
        // The ops each model must have run.
        for (const char* op : {"conv2d", "batch_norm2d", "relu", "max_pool2d", "add_relu", "linear", "cross_entropy"})
          BOOST_TEST(found.count(op) == 1u, what << " lacks " << op);
        if (std::string(architecture) == "arm")
          for (const char* op : {"pixel_shuffle", "shared_channel_conv2d", "mean", "mul", "add"})
            BOOST_TEST(found.count(op) == 1u, what << " lacks " << op);
        // Weights stay float32; gradients reach them as float32 (O1) or
        // reach the 16-bit working copies (O2).
        loss.backward();
        for (const auto& [name, parameter] : model->named_parameters()) {
          BOOST_TEST((parameter.dtype() == DType::Float32), what << " " << name);
          const Tensor copy = autocast.working_copy(parameter);
          if (level == AmpLevel::O2 && copy.defined()) {
            BOOST_TEST((copy.dtype() == low), what << " working copy of " << name);
            BOOST_TEST(copy.grad().defined(), what << " working copy of " << name << " has no gradient");
            BOOST_TEST(!parameter.grad().defined(), what << " " << name << " got a gradient besides its copy");
          } else {
            BOOST_TEST(parameter.grad().defined(), what << " " << name << " has no gradient");
            BOOST_TEST((parameter.grad().dtype() == DType::Float32), what << " gradient of " << name);
          }
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(o1_casts_each_weight_once_per_forward) {
  Tensor weight = Tensor::from_vector({0.5, -0.25}, {1, 2}).requires_grad_();
  const Tensor x = Tensor::from_vector({1.0, 2.0, 3.0, 4.0}, {2, 2});
  Autocast autocast(AmpLevel::O1, DType::Float16);
  Tensor first, second;
  {
    AutocastScope scope(autocast);
    first = autocast::weight(weight);
    second = autocast::weight(weight);
    sum(add(linear(x, weight, Tensor()), linear(x, weight, Tensor()))).backward();
  }
  BOOST_TEST(first.shares_storage_with(second));
  // Both uses add their gradient into the one float32 weight.
  expect_values(weight.grad(), {8.0, 12.0}, 0.0, "weight.grad");
  AutocastScope next(autocast);
  BOOST_TEST(!autocast::weight(weight).shares_storage_with(first));  // a new forward, a new cast
}

BOOST_AUTO_TEST_CASE(outside_a_scope_nothing_is_cast) {
  const Tensor a = Tensor::ones({2}), b = Tensor::ones({2}, DType::Float16);
  BOOST_TEST((autocast::to_low_precision(a).dtype() == DType::Float32));
  BOOST_TEST(throws_error_containing([&] { add(a, b); }, {"add", "differ in dtype"}));
  Autocast autocast(AmpLevel::O1, DType::Float16);
  AutocastScope scope(autocast);
  BOOST_TEST((add(a, b).dtype() == DType::Float32));  // promoted inside
  BOOST_TEST((autocast::to_low_precision(Tensor::ones({2}, DType::Float64)).dtype() == DType::Float64));
}

BOOST_AUTO_TEST_CASE(the_16bit_forward_follows_float32) {
  for (const char* architecture : {"arm", "resnet18"}) {
    for (DType low : kLowTypes) {
      auto model = make_model(model_options(architecture));
      Generator generator(9);
      const Tensor images = randn({4, 3, 64, 64}, generator);
      const Tensor reference = model->forward(images);
      Autocast autocast(AmpLevel::O1, low);
      Tensor logits;
      {
        AutocastScope scope(autocast);
        logits = autocast::to_float32(model->forward(images));
      }
      // float16 keeps 11 significant bits, bfloat16 8: the logits of a
      // freshly initialised network (of order 1) within a few of their units.
      const double tolerance = low == DType::Float16 ? 2e-2 : 1e-1;
      const std::vector<double> a = logits.to_vector(), b = reference.to_vector();
      double worst = 0.0;
      for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]) / (1.0 + std::abs(b[i])));
      BOOST_TEST_MESSAGE(architecture << " " << dtype_name(low) << ": worst logit difference " << worst);
      BOOST_TEST(worst < tolerance, architecture << " " << dtype_name(low) << ": " << worst);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the unscale pass and the optimizer's working copies ------------------------

BOOST_AUTO_TEST_SUITE(kernels_of_the_step)

BOOST_AUTO_TEST_CASE(unscale_all_divides_into_float32_and_checks_in_one_pass) {
  const Tensor half_gradient = Tensor::from_vector({2048.0, -512.0, 3.0}, {3}, DType::Float16);
  Tensor float_gradient = Tensor::from_vector({1024.0, 0.5}, {2});
  Tensor half_unscaled = Tensor::empty({3});
  BOOST_TEST(kernels::unscale_all({half_gradient, float_gradient}, {half_unscaled, float_gradient}, 1.0 / 1024.0));
  expect_values(half_unscaled, {2.0, -0.5, 3.0 / 1024.0}, 0.0, "from float16");
  expect_values(float_gradient, {1.0, 0.5 / 1024.0}, 0.0, "in place");
  const Tensor infinite = Tensor::from_vector({1.0, INFINITY}, {2}, DType::Float16);
  Tensor out = Tensor::empty({2});
  BOOST_TEST(!kernels::unscale_all({half_gradient, infinite}, {half_unscaled, out}, 0.5));
  const Tensor nan = Tensor::from_vector({NAN}, {1}, DType::BFloat16);
  Tensor nan_out = Tensor::empty({1});
  BOOST_TEST(!kernels::unscale_all({nan}, {nan_out}, 1.0));
  BOOST_TEST(throws_error_containing([&] { kernels::unscale_all({half_gradient}, {Tensor::empty({3}, DType::Float16)}, 1.0); },
                                     {"unscale_all", "must be float32"}));
  BOOST_TEST(throws_error_containing([&] { kernels::unscale_all({half_gradient}, {half_unscaled}, 0.0); },
                                     {"unscale_all", "inverse scale"}));
}

BOOST_AUTO_TEST_CASE(the_update_rewrites_the_working_copy_in_the_same_pass) {
  Generator generator(fresh_seed("the_update_rewrites_the_working_copy_in_the_same_pass"));
  for (DType low : kLowTypes) {
    Tensor master = randn({37}, generator), grad = randn({37}, generator);
    Tensor exp_avg = Tensor::zeros({37}), exp_avg_sq = Tensor::zeros({37});
    Tensor copy = Tensor::zeros({37}, low);
    kernels::adam_update_all({{master, grad, exp_avg, exp_avg_sq, 1, copy}}, kernels::AdamHyper{});
    expect_same_values(copy, rounded(master, low), str_cat("adam working copy ", dtype_name(low)));
    Tensor buffer = Tensor::zeros({37});
    kernels::sgd_update_all({{master, grad, buffer, true, copy}}, kernels::SgdHyper{0.1, 0.9, 0.0});
    expect_same_values(copy, rounded(master, low), str_cat("sgd working copy ", dtype_name(low)));
  }
  Tensor master = Tensor::zeros({2}), grad = Tensor::zeros({2}), m = Tensor::zeros({2}), v = Tensor::zeros({2});
  Tensor wrong = Tensor::zeros({3}, DType::Float16);
  BOOST_TEST(throws_error_containing([&] { kernels::adam_update_all({{master, grad, m, v, 1, wrong}}, {}); },
                                     {"adam_update_all", "working copy"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the loss scaler -----------------------------------------------------------

BOOST_AUTO_TEST_SUITE(loss_scaler)

namespace {

// A two-parameter model and its optimizer: y = sum(w * x) + b.
struct Tiny {
  Tensor w = Tensor::from_vector({0.5, -1.0, 2.0}, {3}).requires_grad_();
  Tensor b = Tensor::from_vector({0.25}, {1}).requires_grad_();
  Optimizer optimizer{{{"w", w}, {"b", b}}, default_optimizer_options("adam")};

  Tensor loss(MixedPrecision& amp, const Tensor& x) {
    AutocastScope scope(amp.autocast());
    return add(sum(mul(w, x)), sum(b));
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(an_inf_gradient_skips_the_step_and_halves_the_scale) {
  Tiny tiny;
  MixedPrecision amp(AmpLevel::O1, DType::Float16);
  BOOST_TEST(amp.scaler().scale == 65536.0);
  amp.backward(tiny.loss(amp, Tensor::from_vector({1.0, 2.0, 3.0}, {3})));
  BOOST_TEST(amp.step(tiny.optimizer));  // a clean first step creates Adam's state
  amp.zero_grad(tiny.optimizer);
  const std::vector<double> w_before = tiny.w.to_vector(), b_before = tiny.b.to_vector();
  const NamedTensors state_before = tiny.optimizer.state();
  std::vector<std::vector<double>> state_values;
  for (const auto& [name, tensor] : state_before) state_values.push_back(tensor.to_vector());

  // An infinite input makes w's gradient infinite.
  amp.backward(tiny.loss(amp, Tensor::from_vector({1.0, INFINITY, 3.0}, {3})));
  BOOST_TEST(!amp.step(tiny.optimizer));
  BOOST_TEST(amp.scaler().scale == 32768.0);
  BOOST_TEST(amp.scaler().skipped_steps == 1);
  BOOST_TEST(amp.scaler().clean_steps == 0);
  // Bit for bit: weights, optimizer state and its step counts.
  BOOST_TEST(tiny.w.to_vector() == w_before, boost::test_tools::per_element());
  BOOST_TEST(tiny.b.to_vector() == b_before, boost::test_tools::per_element());
  const NamedTensors state_after = tiny.optimizer.state();
  BOOST_TEST_REQUIRE(state_after.size() == state_before.size());
  for (std::size_t i = 0; i < state_after.size(); ++i)
    BOOST_TEST(state_after[i].second.to_vector() == state_values[i], boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_scale_doubles_after_2000_clean_steps_up_to_2_to_the_24) {
  Tiny tiny;
  MixedPrecision amp(AmpLevel::O1, DType::Float16);
  const Tensor x = Tensor::from_vector({1e-3, 2e-3, -1e-3}, {3});
  for (int step = 1; step <= 2000; ++step) {
    amp.backward(tiny.loss(amp, x));
    BOOST_TEST_REQUIRE(amp.step(tiny.optimizer));
    amp.zero_grad(tiny.optimizer);
    BOOST_TEST_REQUIRE(amp.scaler().scale == (step < 2000 ? 65536.0 : 131072.0));
  }
  BOOST_TEST(amp.scaler().clean_steps == 0);
  LossScalerState near_the_cap = amp.scaler();
  near_the_cap.scale = MixedPrecision::kMaxScale;
  near_the_cap.clean_steps = MixedPrecision::kGrowthInterval - 1;
  amp.set_scaler(near_the_cap);
  amp.backward(tiny.loss(amp, x));
  BOOST_TEST(amp.step(tiny.optimizer));
  BOOST_TEST(amp.scaler().scale == MixedPrecision::kMaxScale);  // never above 2^24
}

BOOST_AUTO_TEST_CASE(below_a_scale_of_1_the_run_stops_naming_the_parameter) {
  Tiny tiny;
  MixedPrecision amp(AmpLevel::O1, DType::Float16);
  const Tensor x = Tensor::from_vector({NAN, 1.0, 1.0}, {3});
  for (int skip = 1; skip <= 16; ++skip) {  // 2^16 halves to 1 in 16 skips
    amp.backward(tiny.loss(amp, x));
    BOOST_TEST_REQUIRE(!amp.step(tiny.optimizer));
    amp.zero_grad(tiny.optimizer);
  }
  BOOST_TEST(amp.scaler().scale == 1.0);
  amp.backward(tiny.loss(amp, x));
  BOOST_TEST(throws_error_containing([&] { amp.step(tiny.optimizer); },
                                     {"the gradient of w", "not finite whatever the loss scale", "17 skipped steps"}));
  // bfloat16 has no scaler to lower: the first non-finite gradient stops.
  Tiny other;
  MixedPrecision bf16(AmpLevel::O1, DType::BFloat16);
  BOOST_TEST(bf16.scaler().scale == 1.0);
  BOOST_TEST(!bf16.scaler().dynamic);
  bf16.backward(other.loss(bf16, x));
  BOOST_TEST(throws_error_containing([&] { bf16.step(other.optimizer); }, {"bf16", "the gradient of w", "not finite"}));
}

BOOST_AUTO_TEST_CASE(gradients_below_float16_survive_only_with_scaling) {
  // loss = 1e-5 * sum(x w^T) with x = 1e-3: the 16-bit gradient of w is
  // 1e-5 * x = 1e-8, below float16's smallest subnormal (6e-8), so without
  // scaling it is zero; scaled by 2^16 it is 6.6e-4, a normal float16, and
  // unscales to 1e-8 within float16's rounding.
  auto weight_gradient = [](bool scaled) {
    Tensor w = Tensor::from_vector({1.0, 1.0}, {1, 2}).requires_grad_();
    const Tensor x = Tensor::from_vector({1e-3, 1e-3}, {1, 2});
    Optimizer optimizer({{"w", w}}, default_optimizer_options("sgd"));
    MixedPrecision amp(AmpLevel::O2, DType::Float16);
    if (!scaled) {
      LossScalerState unscaled = amp.scaler();
      unscaled.scale = 1.0;
      amp.set_scaler(unscaled);
    }
    Tensor loss;
    {
      AutocastScope scope(amp.autocast());
      loss = mul(sum(linear(x, w, Tensor())), Tensor::full({}, 1e-5));
    }
    amp.backward(loss);
    const Tensor copy = amp.autocast().working_copy(w);
    BOOST_TEST_REQUIRE(copy.defined());
    BOOST_TEST_REQUIRE(copy.grad().defined());
    return copy.grad().to(DType::Float32).to_vector()[0] / amp.scaler().scale;
  };
  BOOST_TEST(weight_gradient(false) == 0.0);
  const double scaled = weight_gradient(true);
  BOOST_TEST(std::abs(scaled - 1e-8) < 1e-11, "scaled gradient " << scaled);
}

BOOST_AUTO_TEST_CASE(a_saved_state_must_fit_the_dtype) {
  MixedPrecision fp16(AmpLevel::O1, DType::Float16);
  LossScalerState state = fp16.scaler();
  state.scale = 0.5;
  BOOST_TEST(throws_error_containing([&] { fp16.set_scaler(state); }, {"loss scaler", "scale 0.5"}));
  MixedPrecision bf16(AmpLevel::O2, DType::BFloat16);
  BOOST_TEST(throws_error_containing([&] { bf16.set_scaler(fp16.scaler()); }, {"loss scaler", "dynamic"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- O1 and O2 -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(o1_and_o2_take_the_same_steps) {
  // The same casts, by two routes: O1 rounds each float32 weight per
  // forward, O2 keeps the rounded copy and rewrites it after each update.
  // Three steps of the ARM model: identical weights, bit for bit.
  for (DType low : kLowTypes) {
    std::vector<std::vector<double>> weights[2];
    for (int variant = 0; variant < 2; ++variant) {
      auto model = make_model(model_options("arm"));
      Optimizer optimizer(model->named_parameters(), default_optimizer_options("adam"));
      MixedPrecision amp(variant == 0 ? AmpLevel::O1 : AmpLevel::O2, low);
      Generator generator(11);
      for (int step = 0; step < 3; ++step) {
        const Tensor images = randn({4, 3, 64, 64}, generator);
        const Tensor labels = Tensor::from_vector({1, 2, 3, 4}, {4}, DType::Int64);
        amp.train_step(*model, optimizer, images, labels);
      }
      for (const auto& [name, parameter] : model->named_parameters()) weights[variant].push_back(parameter.to_vector());
    }
    for (std::size_t i = 0; i < weights[0].size(); ++i)
      BOOST_TEST(weights[0][i] == weights[1][i], dtype_name(low) << " parameter " << i);
  }
}
