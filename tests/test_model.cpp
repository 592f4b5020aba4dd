// The layers and the models: state-dict keys, shapes and parameter counts as
// the reference's, output shapes per image size, initialisation statistics,
// shared_channel_conv2d (gradient check, per-channel equality), the affinity
// term's batch dependence and the batch-independent option, and a tiny SGD
// loop that fits random labels (proof that all parts train together).
#define BOOST_TEST_MODULE model
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "layers/layers.h"
#include "layers/resnet_arm.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

namespace {

ModelOptions arm_options(int image_size, std::uint64_t seed = 1) {
  ModelOptions options;
  options.image_size = image_size;
  options.seed = seed;
  return options;
}

ModelOptions baseline_options(int image_size, std::uint64_t seed = 1) {
  ModelOptions options = arm_options(image_size, seed);
  options.architecture = "resnet18";
  return options;
}

// The default ARM model (224 x 224, seed 1), built once: drawing its 11
// million weights is most of the cost of a build. Tests that share it only
// read it (evaluation-mode forwards change nothing).
Classifier& default_arm_model() {
  static const std::shared_ptr<Classifier> model = make_model(arm_options(224));
  return *model;
}

std::vector<std::string> names_of(const NamedTensors& tensors) {
  std::vector<std::string> names;
  for (const auto& [name, tensor] : tensors) names.push_back(name);
  return names;
}

Tensor tensor_named(const NamedTensors& tensors, const std::string& name) {
  const Tensor* tensor = find_tensor(tensors, name);
  BOOST_TEST_REQUIRE(tensor != nullptr, "no tensor named " << name);
  return *tensor;
}

std::int64_t parameter_count(const Module& module) {
  std::int64_t count = 0;
  for (const Tensor& parameter : module.parameters()) count += parameter.numel();
  return count;
}

bool contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return true;
  BOOST_TEST_MESSAGE("\"" << text << "\" lacks \"" << part << "\"");
  return false;
}

// ---- the reference's state-dict keys, written out ----------------------------

void append(std::vector<std::string>& keys, std::initializer_list<std::string> more) {
  keys.insert(keys.end(), more.begin(), more.end());
}

// A BatchNorm2d's keys in PyTorch's order: parameters, then buffers.
void append_batch_norm(std::vector<std::string>& keys, const std::string& prefix) {
  append(keys, {prefix + ".weight", prefix + ".bias", prefix + ".running_mean", prefix + ".running_var",
                prefix + ".num_batches_tracked"});
}

// One BasicBlock: conv1, bn1, conv2, bn2[, downsample.0 (conv), downsample.1 (bn)].
void append_block(std::vector<std::string>& keys, const std::string& prefix, bool downsample) {
  append(keys, {prefix + ".conv1.weight"});
  append_batch_norm(keys, prefix + ".bn1");
  append(keys, {prefix + ".conv2.weight"});
  append_batch_norm(keys, prefix + ".bn2");
  if (downsample) {
    append(keys, {prefix + ".downsample.0.weight"});
    append_batch_norm(keys, prefix + ".downsample.1");
  }
}

// torchvision ResNet-18 without avgpool and fc, as the reference's `features`.
std::vector<std::string> feature_keys() {
  std::vector<std::string> keys = {"features.0.weight"};
  append_batch_norm(keys, "features.1");
  append_block(keys, "features.4.0", false);
  append_block(keys, "features.4.1", false);
  append_block(keys, "features.5.0", true);
  append_block(keys, "features.5.1", false);
  append_block(keys, "features.6.0", true);
  append_block(keys, "features.6.1", false);
  append_block(keys, "features.7.0", true);
  append_block(keys, "features.7.1", false);
  return keys;
}

// ResNet18_ARM: features, then arm (its own parameter alpha before its
// children de_albino and bn, as PyTorch orders them), then fc.
std::vector<std::string> arm_model_keys() {
  std::vector<std::string> keys = feature_keys();
  append(keys, {"arm.alpha", "arm.de_albino.weight"});
  append_batch_norm(keys, "arm.bn");
  append(keys, {"fc.weight", "fc.bias"});
  return keys;
}

// A channel of x [N, C, H, W] as its own tensor [N, 1, H, W].
Tensor channel_of(const Tensor& x, std::int64_t channel) {
  const std::int64_t n = x.size(0), c = x.size(1), plane = x.size(2) * x.size(3);
  const std::vector<double> values = x.to_vector();
  std::vector<double> selected;
  for (std::int64_t image = 0; image < n; ++image) {
    const auto begin = values.begin() + (image * c + channel) * plane;
    selected.insert(selected.end(), begin, begin + plane);
  }
  return Tensor::from_vector(selected, {n, 1, x.size(2), x.size(3)}, x.dtype());
}

// Images [count, 3, size, size] with N(0, 1) entries.
Tensor random_images(std::int64_t count, int size, std::uint64_t seed) {
  Generator generator(seed);
  return randn({count, 3, size, size}, generator);
}

// `images` with image `index` replaced by `other`'s image `index`.
Tensor with_image_replaced(const Tensor& images, const Tensor& other, std::int64_t index) {
  std::vector<double> values = images.to_vector();
  const std::vector<double> replacement = other.to_vector();
  const std::int64_t per_image = images.numel() / images.size(0);
  std::copy(replacement.begin() + index * per_image, replacement.begin() + (index + 1) * per_image,
            values.begin() + index * per_image);
  return Tensor::from_vector(values, images.shape(), images.dtype());
}

// The first `count` images of a batch.
Tensor first_images(const Tensor& images, std::int64_t count) {
  const std::vector<double> values = images.to_vector();
  const std::int64_t per_image = images.numel() / images.size(0);
  Shape shape = images.shape();
  shape[0] = count;
  return Tensor::from_vector(std::vector<double>(values.begin(), values.begin() + count * per_image), shape,
                             images.dtype());
}

// Row `row` of a [N, C] tensor.
std::vector<double> row_of(const Tensor& matrix, std::int64_t row) {
  const std::vector<double> values = matrix.to_vector();
  const std::int64_t width = matrix.size(1);
  return std::vector<double>(values.begin() + row * width, values.begin() + (row + 1) * width);
}

double max_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double largest = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) largest = std::max(largest, std::abs(a[i] - b[i]));
  return largest;
}

// The sum of |x| over image `index` of a [N, ...] tensor.
double image_abs_sum(const Tensor& batch, std::int64_t index) {
  const std::vector<double> values = batch.to_vector();
  const std::int64_t per_image = batch.numel() / batch.size(0);
  double total = 0.0;
  for (std::int64_t i = index * per_image; i < (index + 1) * per_image; ++i) total += std::abs(values[i]);
  return total;
}

// Training-mode passes without gradients, so that the BatchNorm running
// statistics (and the ARM's global running mean, when kept) are realistic.
void warm_up_running_statistics(Classifier& model, int size, int passes) {
  autograd::NoGradGuard no_grad;
  model.train();
  for (int pass = 0; pass < passes; ++pass) model.forward(random_images(8, size, 100 + pass));
}

}  // namespace

// ---- (1) state-dict keys, shapes, parameter counts ---------------------------

BOOST_AUTO_TEST_CASE(arm_state_dict_keys_shapes_and_count) {
  const Classifier& model = default_arm_model();
  const NamedTensors state = model.state_dict();
  const std::vector<std::string> expected = arm_model_keys();
  BOOST_TEST(expected.size() == 129u);
  BOOST_TEST(names_of(state) == expected, boost::test_tools::per_element());

  const std::vector<std::pair<std::string, Shape>> shapes = {{"features.0.weight", {64, 3, 7, 7}},
                                                             {"features.1.running_var", {64}},
                                                             {"features.4.0.conv1.weight", {64, 64, 3, 3}},
                                                             {"features.5.0.conv1.weight", {128, 64, 3, 3}},
                                                             {"features.5.0.downsample.0.weight", {128, 64, 1, 1}},
                                                             {"features.5.0.downsample.1.running_var", {128}},
                                                             {"features.7.1.conv2.weight", {512, 512, 3, 3}},
                                                             {"arm.alpha", {1}},
                                                             {"arm.de_albino.weight", {1, 1, 32, 32}},
                                                             {"arm.bn.weight", {2}},
                                                             {"arm.bn.num_batches_tracked", {}},
                                                             {"fc.weight", {7, 121}},
                                                             {"fc.bias", {7}}};
  for (const auto& [name, shape] : shapes) {
    BOOST_TEST_CONTEXT(name) { BOOST_TEST(shape_str(tensor_named(state, name).shape()) == shape_str(shape)); }
  }
  BOOST_TEST(std::string(dtype_name(tensor_named(state, "features.1.num_batches_tracked").dtype())) ==
             dtype_name(DType::Int64));
  BOOST_TEST(std::string(dtype_name(tensor_named(state, "fc.weight").dtype())) == dtype_name(DType::Float32));

  // ResNet-18 without its fc: 11,176,512; the ARM adds the kernel (1024),
  // alpha (1), its BatchNorm (2 + 2) and fc (121 * 7 + 7).
  BOOST_TEST(parameter_count(model) == 11176512 + 1024 + 1 + 4 + 121 * 7 + 7);
  BOOST_TEST(parameter_count(model) == 11178395);
  BOOST_TEST(model.named_parameters().size() == 66u);
  BOOST_TEST(model.named_buffers().size() == 63u);
  BOOST_TEST(shape_str(model.alpha().shape()) == "[1]");
}

BOOST_AUTO_TEST_CASE(baseline_state_dict_keys_and_count) {
  auto model = make_model(baseline_options(224));
  std::vector<std::string> expected = feature_keys();
  append(expected, {"fc.weight", "fc.bias"});
  BOOST_TEST(names_of(model->state_dict()) == expected, boost::test_tools::per_element());
  BOOST_TEST(shape_str(tensor_named(model->state_dict(), "fc.weight").shape()) == "[7, 512]");
  BOOST_TEST(parameter_count(*model) == 11176512 + 512 * 7 + 7);
  BOOST_TEST(!model->alpha().defined());
}

BOOST_AUTO_TEST_CASE(batch_independent_option_adds_one_buffer) {
  ModelOptions options = arm_options(224);
  options.batch_independent_eval = true;
  auto model = make_model(options);
  std::vector<std::string> expected = arm_model_keys();
  // The arm's own buffer comes after its own parameter, before its children.
  expected.insert(std::find(expected.begin(), expected.end(), "arm.de_albino.weight"), "arm.global_running_mean");
  BOOST_TEST(names_of(model->state_dict()) == expected, boost::test_tools::per_element());
  const Tensor buffer = tensor_named(model->state_dict(), "arm.global_running_mean");
  BOOST_TEST(shape_str(buffer.shape()) == "[1, 1, 11, 11]");
  BOOST_TEST(buffer.to_vector() == std::vector<double>(121, 0.0), boost::test_tools::per_element());
  BOOST_TEST(parameter_count(*model) == 11178395);  // a buffer, not a parameter
}

// ---- (2) sizes and output shapes -------------------------------------------------

BOOST_AUTO_TEST_CASE(arm_feature_count_follows_image_size) {
  BOOST_TEST(arm_feature_count(224) == 121);  // 7x7 -> 112x112 -> 11x11
  BOOST_TEST(arm_feature_count(112) == 25);   // 4x4 -> 64x64 -> 5x5
  BOOST_TEST(arm_feature_count(33) == 1);     // 2x2 -> 32x32 -> 1x1, the smallest
  BOOST_TEST(arm_feature_count(65) == 9);     // 3x3 -> 48x48 -> 3x3
  BOOST_TEST(arm_feature_count(96) == 9);
  BOOST_TEST(arm_feature_count(97) == 25);
  const std::string message = error_message([] { arm_feature_count(32); });
  BOOST_TEST(contains(message, "image size 32 is too small"));
  BOOST_TEST(contains(message, "the smallest image size that works is 33"));
  BOOST_TEST(contains(error_message([] { make_model(arm_options(32)); }), "smallest image size that works is 33"));
  BOOST_TEST(contains(error_message([] { make_model(arm_options(0)); }), "image size 0 must be positive"));
  ModelOptions unknown;
  unknown.architecture = "vgg";
  BOOST_TEST(contains(error_message([&] { make_model(unknown); }), "unknown architecture \"vgg\""));
}

BOOST_AUTO_TEST_CASE(output_shapes_for_224_and_112) {
  autograd::NoGradGuard no_grad;
  const std::shared_ptr<Classifier> model112 = make_model(arm_options(112));
  for (Classifier* model : {&default_arm_model(), model112.get()}) {
    const int size = model->options().image_size;
    BOOST_TEST_CONTEXT("image size " << size) {
      model->eval();
      const Tensor logits = model->forward(random_images(2, size, 7));
      BOOST_TEST(shape_str(logits.shape()) == "[2, 7]");
      for (double value : logits.to_vector()) BOOST_TEST(std::isfinite(value));
      BOOST_TEST(tensor_named(model->state_dict(), "fc.weight").size(1) == arm_feature_count(size));
      // An image of another size is refused by name.
      BOOST_TEST(
          contains(error_message([&] { model->forward(random_images(1, size + 32, 7)); }), "ResNet18_ARM: built for"));
    }
  }
  auto baseline = make_model(baseline_options(112));
  baseline->eval();
  BOOST_TEST(shape_str(baseline->forward(random_images(2, 112, 7)).shape()) == "[2, 7]");
  Generator generator(1);
  const Tensor grey = randn({2, 1, 32, 32}, generator);
  BOOST_TEST(contains(error_message([&] { baseline->forward(grey); }), "expected images [N, 3, H, W]"));
}

BOOST_AUTO_TEST_CASE(float64_model_matches_float32) {
  // Module::to converts every parameter and buffer in place (num_batches_tracked
  // stays int64); the float64 model is the one parity checks run.
  const int size = 65;
  auto model = make_model(arm_options(size));
  model->eval();
  autograd::NoGradGuard no_grad;
  const Tensor images = random_images(2, size, 9);
  const Tensor logits32 = model->forward(images);
  model->to(DType::Float64);
  const NamedTensors state = model->state_dict();
  BOOST_TEST(std::string(dtype_name(tensor_named(state, "arm.alpha").dtype())) == "float64");
  BOOST_TEST(std::string(dtype_name(tensor_named(state, "arm.bn.running_var").dtype())) == "float64");
  BOOST_TEST(std::string(dtype_name(tensor_named(state, "arm.bn.num_batches_tracked").dtype())) == "int64");
  BOOST_TEST(tensor_named(state, "arm.alpha").requires_grad());
  const Tensor logits64 = model->forward(images.to(DType::Float64));
  BOOST_TEST(std::string(dtype_name(logits64.dtype())) == "float64");
  expect_close(logits32.to(DType::Float64), logits64, 1e-3, 1e-4, "float32 logits against float64");
}

BOOST_AUTO_TEST_CASE(dropout_acts_in_training_only) {
  ModelOptions options = arm_options(65);
  options.drop_rate = 0.5;
  auto model = make_model(options);
  autograd::NoGradGuard no_grad;
  const Tensor images = random_images(2, 65, 13);
  // Training: the same batch (hence the same BatchNorm statistics) under two
  // different dropout masks.
  const std::vector<double> first = model->forward(images).to_vector();
  BOOST_TEST(max_abs_difference(first, model->forward(images).to_vector()) > 1e-4);
  model->eval();
  const std::vector<double> evaluated = model->forward(images).to_vector();
  BOOST_TEST(max_abs_difference(evaluated, model->forward(images).to_vector()) == 0.0);
  BOOST_TEST(contains(error_message([] {
                        ModelOptions invalid = arm_options(65);
                        invalid.drop_rate = 1.0;
                        make_model(invalid);
                      }),
                      "Dropout: probability 1 must be in [0, 1)"));
}

// ---- (3) initialisation ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(initialisation_statistics) {
  const Classifier& model = default_arm_model();
  const NamedTensors state = model.state_dict();
  int convolutions = 0;
  for (const auto& [name, tensor] : state) {
    const bool is_convolution = tensor.ndim() == 4 && name.rfind("arm.", 0) != 0;
    if (!is_convolution) continue;
    ++convolutions;
    const std::vector<double> values = tensor.to_vector();
    const double n = static_cast<double>(values.size());
    double total = 0.0, squares = 0.0;
    for (double value : values) total += value, squares += value * value;
    const double mean = total / n, std = std::sqrt(squares / n - mean * mean);
    const double fan_out = static_cast<double>(tensor.size(0) * tensor.size(2) * tensor.size(3));
    const double expected_std = std::sqrt(2.0 / fan_out);
    BOOST_TEST_CONTEXT(name << " " << shape_str(tensor.shape())) {
      BOOST_TEST(std::abs(std / expected_std - 1.0) < 0.05);  // 9408 samples at least: < 1% noise
      BOOST_TEST(std::abs(mean) < 5.0 * expected_std / std::sqrt(n));
    }
  }
  BOOST_TEST(convolutions == 20);

  // Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): inside the bound, spread across
  // it (variance bound^2 / 3).
  const std::pair<std::string, double> uniform[] = {
      {"arm.de_albino.weight", 1.0 / 32.0}, {"fc.weight", 1.0 / 11.0}, {"fc.bias", 1.0 / 11.0}};
  for (const auto& [name, bound] : uniform) {
    BOOST_TEST_CONTEXT(name) {
      const std::vector<double> values = tensor_named(state, name).to_vector();
      double largest = 0.0, squares = 0.0;
      for (double value : values) largest = std::max(largest, std::abs(value)), squares += value * value;
      BOOST_TEST(largest <= bound);
      if (values.size() > 100) {
        BOOST_TEST(largest > 0.95 * bound);
        BOOST_TEST(std::abs(squares / values.size() / (bound * bound / 3.0) - 1.0) < 0.15);
      }
    }
  }

  BOOST_TEST(model.alpha().to_vector() == std::vector<double>{1.0});
  for (const auto& [name, tensor] : state) {
    auto ends_with = [&name = name](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    const bool batch_norm = tensor.ndim() == 1 && name != "fc.bias" && name != "arm.alpha";
    if (!batch_norm && !ends_with("num_batches_tracked")) continue;
    double expected = 0.0;
    if (ends_with("running_var") || ends_with(".weight")) expected = 1.0;
    BOOST_TEST_CONTEXT(name) {
      for (double value : tensor.to_vector()) BOOST_TEST(value == expected);
    }
  }

  // The seed decides the weights.
  auto same = make_model(arm_options(224, 1));
  auto other = make_model(arm_options(224, 2));
  const Tensor kernel = tensor_named(state, "arm.de_albino.weight");
  BOOST_TEST(tensor_named(same->state_dict(), "arm.de_albino.weight").to_vector() == kernel.to_vector());
  BOOST_TEST(tensor_named(other->state_dict(), "arm.de_albino.weight").to_vector() != kernel.to_vector());
}

// ---- (4) shared_channel_conv2d -------------------------------------------------------

BOOST_AUTO_TEST_CASE(shared_channel_conv2d_gradients) {
  const auto seed = fresh_seed("shared_channel_conv2d_gradients");
  Generator generator(seed);
  // The de-albino geometry (32x32, stride 8) at its smallest: 36x37 -> 1x1.
  std::vector<Tensor> large = {random_leaf({2, 2, 36, 37}, generator), random_leaf({1, 1, 32, 32}, generator)};
  auto stride8 = [](const std::vector<Tensor>& in) { return shared_channel_conv2d(in[0], in[1], 8); };
  BOOST_TEST(shape_str(stride8(large).shape()) == "[2, 2, 1, 1]");
  expect_gradients_match("shared_channel_conv2d 32x32 s8", stride8, large, seed);
  // Several output positions: 11x9 with a 4x4 kernel, stride 2 -> 4x3.
  std::vector<Tensor> small = {random_leaf({3, 2, 11, 9}, generator), random_leaf({1, 1, 4, 4}, generator)};
  auto stride2 = [](const std::vector<Tensor>& in) { return shared_channel_conv2d(in[0], in[1], 2); };
  BOOST_TEST(shape_str(stride2(small).shape()) == "[3, 2, 4, 3]");
  expect_gradients_match("shared_channel_conv2d 4x4 s2", stride2, small, seed);
}

BOOST_AUTO_TEST_CASE(shared_channel_conv2d_equals_a_per_channel_loop) {
  const auto seed = fresh_seed("shared_channel_conv2d_equals_a_per_channel_loop");
  Generator generator(seed);
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const Tensor x = randn({3, 2, 11, 9}, generator, dtype);
    const Tensor kernel = randn({1, 1, 4, 4}, generator, dtype);
    const Tensor y = shared_channel_conv2d(x, kernel, 2);
    for (std::int64_t channel = 0; channel < 2; ++channel) {
      const Tensor expected = conv2d(channel_of(x, channel), kernel, Tensor(), {2, 2, 0, 0});
      expect_close(channel_of(y, channel), expected, dtype == DType::Float64 ? 1e-12 : 1e-5, 1e-6,
                   "channel " + std::to_string(channel) + " of shared_channel_conv2d");
    }
  }
}

BOOST_AUTO_TEST_CASE(shared_channel_conv2d_errors) {
  Generator generator(3);
  const Tensor x = randn({1, 2, 8, 8}, generator);
  BOOST_TEST(
      contains(error_message([&] {
                 shared_channel_conv2d(x, randn({2, 1, 3, 3}, generator), 1);
               }),
               "the kernel must have shape [1, 1, k, k] (one kernel shared by every channel), got [2, 1, 3, 3]"));
  BOOST_TEST(contains(error_message([&] {
                        shared_channel_conv2d(x, randn({1, 1, 3, 2}, generator), 1);
                      }),
                      "got [1, 1, 3, 2]"));
  BOOST_TEST(contains(error_message([&] {
                        shared_channel_conv2d(x, randn({1, 1, 9, 9}, generator), 1);
                      }),
                      "the kernel [1, 1, 9, 9] does not fit the input [1, 2, 8, 8]"));
  const Tensor three_dimensional = randn({2, 8, 8}, generator);
  const Tensor kernel = randn({1, 1, 3, 3}, generator);
  BOOST_TEST(contains(error_message([&] { shared_channel_conv2d(three_dimensional, kernel, 1); }),
                      "expected a 4-D NCHW input"));
}

// ---- BatchNorm2d as a layer -------------------------------------------------------

BOOST_AUTO_TEST_CASE(batch_norm_layer_tracks_batches_and_evaluates_with_running_stats) {
  BatchNorm2d layer(2);
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, unbiased variance 5/3); channel 1 holds 0, 0, 0, 8 (mean 2, 16).
  const Tensor x = Tensor::from_vector({1, 2, 0, 0, 3, 4, 0, 8}, {2, 2, 1, 2});
  layer.forward(x);
  layer.forward(x);
  const NamedTensors buffers = layer.named_buffers();
  BOOST_TEST(names_of(buffers) == (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}),
             boost::test_tools::per_element());
  BOOST_TEST(tensor_named(buffers, "num_batches_tracked").item() == 2.0);
  const double mean0 = 0.19 * 2.5, mean1 = 0.19 * 2.0;  // two updates from 0 with momentum 0.1
  const double var0 = 0.81 + 0.19 * (5.0 / 3.0), var1 = 0.81 + 0.19 * 16.0;
  expect_values(tensor_named(buffers, "running_mean"), {mean0, mean1}, 1e-6, "running_mean");
  expect_values(tensor_named(buffers, "running_var"), {var0, var1}, 1e-6, "running_var");

  layer.eval();
  const Tensor y = layer.forward(x);
  BOOST_TEST(tensor_named(layer.named_buffers(), "num_batches_tracked").item() == 2.0);  // not counted in eval
  auto normalised = [](double value, double mean, double var) { return (value - mean) / std::sqrt(var + 1e-5); };
  expect_values(
      y,
      {normalised(1, mean0, var0), normalised(2, mean0, var0), normalised(0, mean1, var1), normalised(0, mean1, var1),
       normalised(3, mean0, var0), normalised(4, mean0, var0), normalised(0, mean1, var1), normalised(8, mean1, var1)},
      1e-5, "eval output from the running statistics");
}

// ---- (5) the affinity term ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(default_eval_depends_on_the_other_images) {
  const int size = 65;
  auto model = make_model(arm_options(size));
  warm_up_running_statistics(*model, size, 8);
  model->eval();
  autograd::NoGradGuard no_grad;
  const Tensor images = random_images(3, size, 11);
  const Tensor changed = with_image_replaced(images, random_images(3, size, 12), 2);
  const Tensor logits = model->forward(images), changed_logits = model->forward(changed);
  // Image 0 is the same in both batches, but the batch-global mean is not.
  const double difference = max_abs_difference(row_of(logits, 0), row_of(changed_logits, 0));
  BOOST_TEST_MESSAGE("image 0's logits moved by " << difference << " when image 2 changed");
  BOOST_TEST(difference > 1e-4);
  const double alone = max_abs_difference(row_of(logits, 0), row_of(model->forward(first_images(images, 1)), 0));
  BOOST_TEST(alone > 1e-4);
}

BOOST_AUTO_TEST_CASE(batch_independent_eval_gives_one_image_the_same_logits) {
  const int size = 65;
  ModelOptions options = arm_options(size);
  options.batch_independent_eval = true;
  auto model = make_model(options);
  warm_up_running_statistics(*model, size, 8);
  const Tensor running = tensor_named(model->state_dict(), "arm.global_running_mean");
  double running_magnitude = 0.0;
  for (double value : running.to_vector()) running_magnitude += std::abs(value);
  BOOST_TEST(running_magnitude > 0.0);  // training moved it from zeros

  model->eval();
  autograd::NoGradGuard no_grad;
  const Tensor images = random_images(3, size, 11);
  const Tensor changed = with_image_replaced(images, random_images(3, size, 12), 2);
  const std::vector<double> in_batch = row_of(model->forward(images), 0);
  const std::vector<double> in_changed_batch = row_of(model->forward(changed), 0);
  const std::vector<double> alone = row_of(model->forward(first_images(images, 1)), 0);
  BOOST_TEST(max_abs_difference(in_batch, alone) < 1e-4);
  BOOST_TEST(max_abs_difference(in_batch, in_changed_batch) < 1e-4);
  // Evaluation leaves the buffer alone.
  BOOST_TEST(tensor_named(model->state_dict(), "arm.global_running_mean").to_vector() == running.to_vector());
}

BOOST_AUTO_TEST_CASE(gradient_reaches_alpha_and_every_image_through_the_global_mean) {
  const int size = 65;
  for (bool batch_independent : {false, true}) {
    BOOST_TEST_CONTEXT("batch_independent_eval " << batch_independent) {
      ModelOptions options = arm_options(size);
      options.batch_independent_eval = batch_independent;
      auto model = make_model(options);
      warm_up_running_statistics(*model, size, 4);
      // Evaluation: the backbone treats each image alone, so only the
      // batch-global mean couples them.
      model->eval();
      Tensor images = random_images(3, size, 21);
      images.requires_grad_(true);
      const Tensor logits = model->forward(images);
      // The loss looks at image 0's logits only.
      std::vector<double> first_row(21, 0.0);
      std::fill(first_row.begin(), first_row.begin() + 7, 1.0);
      sum(mul(logits, Tensor::from_vector(first_row, {3, 7}))).backward();

      BOOST_TEST(image_abs_sum(images.grad(), 0) > 0.0);
      BOOST_TEST(model->alpha().grad().defined());
      BOOST_TEST(std::abs(model->alpha().grad().item()) > 0.0);
      for (std::int64_t other : {1, 2}) {
        const double reached = image_abs_sum(images.grad(), other);
        BOOST_TEST_MESSAGE("image " << other << " gradient mass " << reached);
        if (batch_independent)
          BOOST_TEST(reached == 0.0);
        else
          BOOST_TEST(reached > 0.0);
      }
    }
  }
}

// ---- (6) a tiny SGD loop fits random labels ---------------------------------------

namespace {

// Plain SGD with momentum on 16 random images and random labels in training
// mode; returns the number of steps until the training-mode logits classify
// every image right (or max_steps + 1 when they never do).
int steps_to_fit(Classifier& model, int image_size, double learning_rate, int max_steps) {
  const std::int64_t count = 16;
  const Tensor images = random_images(count, image_size, 5);
  Generator label_generator(6);
  std::vector<double> label_values;
  for (std::int64_t i = 0; i < count; ++i) label_values.push_back(static_cast<double>(label_generator.integer(7)));
  const Tensor labels = Tensor::from_vector(label_values, {count}, DType::Int64);

  const float momentum = 0.9f, rate = static_cast<float>(learning_rate);
  const std::vector<Tensor> parameters = model.parameters();
  std::vector<std::vector<float>> velocities;
  for (const Tensor& parameter : parameters) velocities.emplace_back(static_cast<std::size_t>(parameter.numel()), 0.0f);

  model.train();
  for (int step = 1; step <= max_steps; ++step) {
    const Tensor logits = model.forward(images);
    const Tensor loss = cross_entropy(logits, labels);
    int correct = 0;
    const std::vector<double> values = logits.to_vector();
    for (std::int64_t i = 0; i < count; ++i) {
      const auto row = values.begin() + i * 7;
      correct += std::max_element(row, row + 7) - row == static_cast<std::ptrdiff_t>(label_values[i]);
    }
    BOOST_TEST_MESSAGE("step " << step << " loss " << loss.item() << " correct " << correct << "/" << count);
    if (correct == count) return step;
    for (Tensor parameter : parameters) parameter.zero_grad();
    loss.backward();
    // v = momentum v + g; p -= rate v, in place through the parameters'
    // handles (PyTorch's SGD with momentum, no weight decay).
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      float* values = parameters[i].data<float>();
      const float* gradient = parameters[i].grad().data<float>();
      std::vector<float>& velocity = velocities[i];
      for (std::size_t j = 0; j < velocity.size(); ++j) {
        velocity[j] = momentum * velocity[j] + gradient[j];
        values[j] -= rate * velocity[j];
      }
    }
  }
  return max_steps + 1;
}

}  // namespace

BOOST_AUTO_TEST_CASE(sgd_fits_sixteen_random_labels) {
  const int max_steps = 40;
  {
    auto arm = make_model(arm_options(65, 3));  // 9 features
    const int steps = steps_to_fit(*arm, 65, 0.02, max_steps);
    BOOST_TEST_MESSAGE("ARM at 65x65 fit 16 random labels in " << steps << " steps");
    BOOST_TEST(steps <= max_steps);
    BOOST_TEST(arm->alpha().item() != 1.0);  // the affinity weight trained too
  }
  {
    auto baseline = make_model(baseline_options(32, 3));
    const int steps = steps_to_fit(*baseline, 32, 0.02, max_steps);
    BOOST_TEST_MESSAGE("baseline ResNet-18 at 32x32 fit 16 random labels in " << steps << " steps");
    BOOST_TEST(steps <= max_steps);
  }
}
