// `armnet explain` (apps/explain.h, docs/explain.md): the model's trace is its
// forward pass (the same logits, bit for bit, and intermediates that recompute
// exactly); Grad-CAM against hand-computed gradients (the baseline's, where
// Grad-CAM is the fc-weighted CAM, and the ARM's, through BatchNorm, the
// de-albino kernel and the pixel shuffle); the bilinear upsampling on a hand
// case; the pictures' colours; and the command end to end (every picture
// written, decodable, of the right size and not blank; a baseline checkpoint
// gets only Grad-CAM; a missing image is one line naming it).
#define BOOST_TEST_MODULE explain
#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "apps/explain.h"
#include "apps/images.h"
#include "apps/plots.h"
#include "autograd/functional.h"
#include "data/image.h"
#include "data/synth.h"
#include "tensor/io/safetensors.h"
#include "tests/bounded_run.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::apps;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<Classifier> model_of(const std::string& architecture, int image_size) {
  ModelOptions options;
  options.architecture = architecture;
  options.image_size = image_size;
  options.seed = 3;
  return make_model(options);
}

Tensor random_images(std::int64_t count, int size, std::uint64_t seed) {
  Generator generator(seed);
  return randn({count, 3, size, size}, generator);
}

// Training-mode passes without gradients, so that the BatchNorm running
// statistics are realistic; then evaluation mode.
void warm_up(Classifier& model, int size) {
  autograd::NoGradGuard no_grad;
  model.train();
  for (int pass = 0; pass < 2; ++pass) model.forward(random_images(4, size, 100 + pass));
  model.eval();
}

Tensor named(const Module& model, const std::string& name) {
  const NamedTensors state = model.state_dict();
  const Tensor* tensor = find_tensor(state, name);
  BOOST_TEST_REQUIRE(tensor != nullptr, "no tensor named " << name);
  return *tensor;
}

void set_values(const Module& model, const std::string& name, const std::vector<double>& values) {
  Tensor tensor = named(model, name);
  tensor.copy_from(Tensor::from_vector(values, tensor.shape(), tensor.dtype()));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

void expect_same(const Tensor& actual, const Tensor& expected, const std::string& what) {
  BOOST_TEST(same_bits(actual, expected), what << ": " << actual.describe() << " vs " << expected.describe());
}

// The number of distinct colours in an image (a blank picture has one).
std::size_t colour_count(const Image& image) {
  std::set<std::uint32_t> colours;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) {
      const std::uint8_t* p = image.row(y) + 3 * x;
      colours.insert(static_cast<std::uint32_t>(p[0]) << 16 | p[1] << 8 | p[2]);
    }
  return colours.size();
}

void expect_picture(const fs::path& path, int width, int height) {
  BOOST_TEST_CONTEXT(path) {
    BOOST_TEST_REQUIRE(fs::exists(path));
    const Image image = decode_image(path.string());
    BOOST_TEST(image.width == width);
    BOOST_TEST(image.height == height);
    BOOST_TEST(colour_count(image) > 50u, "a nearly blank picture");
  }
}

std::set<std::string> files_in(const fs::path& directory) {
  std::set<std::string> names;
  if (fs::exists(directory))
    for (const auto& entry : fs::directory_iterator(directory)) names.insert(entry.path().filename().string());
  return names;
}

// Weights of a warmed-up model of `architecture` at 64 x 64 (fast), and two
// synthetic faces, written once for the command's tests.
struct ExplainInputs {
  TemporaryDirectory directory;
  std::string arm_weights = directory.file("arm.safetensors");
  std::string baseline_weights = directory.file("resnet18.safetensors");
  std::string smile = directory.file("smile.png");
  std::string frown = directory.file("frown.jpg");
  ExplainInputs() {
    for (const auto& [architecture, path] : {std::pair{"arm", arm_weights}, std::pair{"resnet18", baseline_weights}}) {
      const std::shared_ptr<Classifier> model = model_of(architecture, 64);
      warm_up(*model, 64);
      write_safetensors(path, model->state_dict());
    }
    write_png(smile, render_synthetic_face(100, 3, 0.9, 21));
    write_jpeg(frown, render_synthetic_face(100, 4, 0.9, 22));
  }
};

const ExplainInputs& inputs() {
  static const ExplainInputs instance;
  return instance;
}

}  // namespace

// ---- the trace is the forward pass -----------------------------------------------

BOOST_AUTO_TEST_CASE(arm_trace_is_the_forward_pass) {
  const std::shared_ptr<Classifier> model = model_of("arm", 112);
  warm_up(*model, 112);
  autograd::NoGradGuard no_grad;
  const Tensor images = random_images(2, 112, 7);
  const ForwardTrace trace = model->trace(images);
  expect_same(trace.logits, model->forward(images), "logits");
  expect_same(model->trace(images, TraceGraph::FromLastStageAsLeaf).logits, trace.logits, "logits from the leaf");

  BOOST_TEST(shape_str(trace.last_stage.shape()) == "[2, 512, 4, 4]");
  BOOST_TEST(shape_str(trace.shuffled.shape()) == "[2, 2, 64, 64]");
  BOOST_TEST(shape_str(trace.de_albino.shape()) == "[2, 2, 5, 5]");
  BOOST_TEST(shape_str(trace.global_term.shape()) == "[1, 1, 5, 5]");
  BOOST_TEST(shape_str(trace.amended.shape()) == "[2, 25]");
  // Each step, recomputed from the one before it with the same ops.
  expect_same(trace.shuffled, pixel_shuffle(trace.last_stage, 16), "shuffled");
  expect_same(trace.de_albino, shared_channel_conv2d(trace.shuffled, named(*model, "arm.de_albino.weight"), 8),
              "de_albino");
  Tensor running_mean = named(*model, "arm.bn.running_mean"), running_var = named(*model, "arm.bn.running_var");
  expect_same(trace.amended_bn,
              batch_norm2d(trace.de_albino, named(*model, "arm.bn.weight"), named(*model, "arm.bn.bias"), running_mean,
                           running_var, /*training=*/false),
              "amended_bn");
  expect_same(trace.channel_mean, mean(trace.amended_bn, {1}, true), "channel_mean");
  expect_same(trace.global_term, mul(model->alpha(), mean(trace.amended_bn, {0, 1}, true)), "global_term");
  expect_same(trace.amended, add(trace.channel_mean, trace.global_term).flatten(), "amended");
}

BOOST_AUTO_TEST_CASE(baseline_trace_is_the_forward_pass) {
  const std::shared_ptr<Classifier> model = model_of("resnet18", 64);
  warm_up(*model, 64);
  autograd::NoGradGuard no_grad;
  const Tensor images = random_images(3, 64, 8);
  const ForwardTrace trace = model->trace(images);
  expect_same(trace.logits, model->forward(images), "logits");
  BOOST_TEST(shape_str(trace.last_stage.shape()) == "[3, 512, 2, 2]");
  BOOST_TEST(!trace.shuffled.defined());
  BOOST_TEST(!trace.amended.defined());
}

BOOST_AUTO_TEST_CASE(the_leaf_graph_starts_at_the_last_stage) {
  const std::shared_ptr<Classifier> model = model_of("arm", 64);
  model->train();
  const ForwardTrace whole = model->trace(random_images(2, 64, 9));
  BOOST_TEST(!whole.last_stage.is_leaf());
  sum(whole.logits).backward();
  BOOST_TEST(named(*model, "features.0.weight").grad().defined());
  for (Tensor parameter : model->parameters()) parameter.zero_grad();

  const ForwardTrace cut = model->trace(random_images(2, 64, 9), TraceGraph::FromLastStageAsLeaf);
  BOOST_TEST(cut.last_stage.is_leaf());
  BOOST_TEST(cut.last_stage.requires_grad());
  sum(cut.logits).backward();
  BOOST_TEST(cut.last_stage.grad().defined());
  BOOST_TEST(!named(*model, "features.0.weight").grad().defined(), "the backbone was recorded");
  BOOST_TEST(named(*model, "arm.de_albino.weight").grad().defined());
}

// ---- Grad-CAM against hand-computed gradients ----------------------------------

// The baseline's logit is fc(global average of A), so d logit_t / d A[k, y, x]
// = fc.weight[t, k] / (s * s) everywhere, and Grad-CAM is the fc-weighted CAM
// of Zhou et al.: ReLU(sum_k fc.weight[t, k] A_k) / (s * s). A class whose fc
// weights are all negative gets a CAM of 0 everywhere (A >= 0 after a ReLU).
BOOST_AUTO_TEST_CASE(baseline_grad_cam_is_the_fc_weighted_map) {
  const std::shared_ptr<Classifier> model = model_of("resnet18", 64);
  warm_up(*model, 64);
  model->to(DType::Float64);
  std::vector<double> fc = named(*model, "fc.weight").to_vector();  // [7, 512]
  for (int k = 0; k < 512; ++k) fc[512 + k] = -0.01 - 0.001 * (k % 7);  // class 1: every weight negative
  set_values(*model, "fc.weight", fc);
  const Tensor image = random_images(1, 64, 10).to(DType::Float64);

  for (int target : {0, 1, 5}) {
    BOOST_TEST_CONTEXT("class " << target) {
      const ForwardTrace trace = model->trace(image, TraceGraph::FromLastStageAsLeaf);
      const Heatmap cam = grad_cam(trace, target);
      const std::vector<double> a = trace.last_stage.detach().to_vector();  // [1, 512, 2, 2]
      BOOST_TEST_REQUIRE(cam.width == 2);
      BOOST_TEST_REQUIRE(cam.height == 2);
      for (int p = 0; p < 4; ++p) {
        double weighted = 0.0;
        for (int k = 0; k < 512; ++k) weighted += fc[target * 512 + k] / 4.0 * a[k * 4 + p];
        const double expected = std::max(0.0, weighted);
        BOOST_TEST(std::abs(cam.values[p] - expected) <= 1e-12 * std::max(1.0, std::abs(expected)),
                   "position " << p << ": " << cam.values[p] << " vs " << expected);
        if (target == 1) BOOST_TEST(cam.values[p] == 0.0);
      }
    }
  }
}

// The ARM at 112 x 112 (last stage 4 x 4, shuffled 64 x 64, de-albino 5 x 5),
// one image in evaluation mode, so the batch-global mean is the image's own
// channel mean and amended = (1 + alpha) x channel mean:
//   d logit_t / d shuffled[c, Y, X] = (1 + alpha) / 2 * g_c / sqrt(v_c + eps)
//       * sum over outputs (py, px) of fc[t, 5 py + px] K[Y - 8 py, X - 8 px]
// (windows that cover (Y, X)), and the pixel shuffle maps shuffled[c, 16h + i,
// 16w + j] to A[256c + 16i + j, h, w]. With the kernel's columns 0..15 set to
// 0, no window reads shuffled columns 0..15, i.e. A's column w = 0: the
// logit does not depend on it and its gradient is exactly 0.
BOOST_AUTO_TEST_CASE(arm_grad_cam_matches_the_hand_computed_gradient) {
  const std::shared_ptr<Classifier> model = model_of("arm", 112);
  warm_up(*model, 112);
  model->to(DType::Float64);
  const double alpha = 0.6, eps = 1e-5;
  const double gamma[2] = {0.7, -1.3}, variance[2] = {0.5, 2.0};
  set_values(*model, "arm.alpha", {alpha});
  set_values(*model, "arm.bn.weight", {gamma[0], gamma[1]});
  set_values(*model, "arm.bn.running_var", {variance[0], variance[1]});
  std::vector<double> kernel = named(*model, "arm.de_albino.weight").to_vector();  // [32 x 32]
  for (int u = 0; u < 32; ++u)
    for (int v = 0; v < 16; ++v) kernel[u * 32 + v] = 0.0;
  set_values(*model, "arm.de_albino.weight", kernel);
  const std::vector<double> fc = named(*model, "fc.weight").to_vector();  // [7, 25]

  const int target = 2;
  const ForwardTrace trace = model->trace(random_images(1, 112, 11).to(DType::Float64), TraceGraph::FromLastStageAsLeaf);
  const Heatmap cam = grad_cam(trace, target);

  // The hand-computed gradient at the shuffled map, then at A.
  std::vector<double> shuffled_gradient(2 * 64 * 64, 0.0);
  for (int c = 0; c < 2; ++c)
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        double through_kernel = 0.0;
        for (int py = 0; py < 5; ++py)
          for (int px = 0; px < 5; ++px) {
            const int u = y - 8 * py, v = x - 8 * px;
            if (u >= 0 && u < 32 && v >= 0 && v < 32) through_kernel += fc[target * 25 + py * 5 + px] * kernel[u * 32 + v];
          }
        shuffled_gradient[(c * 64 + y) * 64 + x] =
            (1 + alpha) / 2 * gamma[c] / std::sqrt(variance[c] + eps) * through_kernel;
      }
  const std::vector<double> a = trace.last_stage.detach().to_vector();  // [1, 512, 4, 4]
  const std::vector<double> g = trace.last_stage.grad().to_vector();
  std::vector<double> expected_g(a.size());
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j)
        for (int h = 0; h < 4; ++h)
          for (int w = 0; w < 4; ++w)
            expected_g[((256 * c + 16 * i + j) * 4 + h) * 4 + w] =
                shuffled_gradient[(c * 64 + 16 * h + i) * 64 + 16 * w + j];
  double largest = 0.0, worst = 0.0;
  bool column_zero_is_zero = true;
  for (std::size_t e = 0; e < g.size(); ++e) {
    largest = std::max(largest, std::abs(expected_g[e]));
    worst = std::max(worst, std::abs(g[e] - expected_g[e]));
    if (e % 4 == 0 && g[e] != 0.0) column_zero_is_zero = false;  // w == 0
  }
  BOOST_TEST(largest > 0.0);
  BOOST_TEST(worst <= 1e-12 * largest, "gradient error " << worst << " of " << largest);
  BOOST_TEST(column_zero_is_zero, "the logit does not depend on A's column 0, yet it got a gradient");

  // The CAM from the hand-computed gradient.
  BOOST_TEST_REQUIRE(cam.width == 4);
  BOOST_TEST_REQUIRE(cam.height == 4);
  std::vector<double> weighted(16, 0.0);
  for (int k = 0; k < 512; ++k) {
    double weight = 0.0;
    for (int p = 0; p < 16; ++p) weight += expected_g[k * 16 + p] / 16.0;
    for (int p = 0; p < 16; ++p) weighted[p] += weight * a[k * 16 + p];
  }
  double cam_largest = 0.0;
  for (int p = 0; p < 16; ++p) cam_largest = std::max(cam_largest, std::max(0.0, weighted[p]));
  for (int p = 0; p < 16; ++p)
    BOOST_TEST(std::abs(cam.values[p] - std::max(0.0, weighted[p])) <= 1e-10 * std::max(1.0, cam_largest),
               "position " << p << ": " << cam.values[p] << " vs " << std::max(0.0, weighted[p]));
}

BOOST_AUTO_TEST_CASE(grad_cam_needs_a_trace_cut_at_the_last_stage) {
  const std::shared_ptr<Classifier> model = model_of("resnet18", 64);
  model->eval();
  const ForwardTrace trace = model->trace(random_images(1, 64, 12));
  BOOST_TEST(throws_error_containing([&] { grad_cam(trace, 0); }, {"TraceGraph::FromLastStageAsLeaf"}));
  const ForwardTrace two = model->trace(random_images(2, 64, 12), TraceGraph::FromLastStageAsLeaf);
  BOOST_TEST(throws_error_containing([&] { grad_cam(two, 0); }, {"one image"}));
}

// 2 x 2 -> 4 x 4 with half-pixel centres: output i samples input (i + 0.5) / 2
// - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]: weights 0, 0.25, 0.75, 1.
BOOST_AUTO_TEST_CASE(upsample_bilinear_by_hand) {
  const Heatmap map{2, 2, {0.0, 4.0, 8.0, 12.0}};
  const Heatmap up = upsample_bilinear(map, 4, 4);
  BOOST_TEST_REQUIRE(up.width == 4);
  BOOST_TEST_REQUIRE(up.height == 4);
  const double axis[4] = {0.0, 0.25, 0.75, 1.0};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) BOOST_TEST(up.at(x, y) == 4.0 * axis[x] + 8.0 * axis[y]);
  const Heatmap same = upsample_bilinear(map, 2, 2);
  BOOST_TEST(same.values == map.values, boost::test_tools::per_element());
  const Heatmap constant = upsample_bilinear(Heatmap{1, 1, {3.5}}, 5, 3);
  for (double v : constant.values) BOOST_TEST(v == 3.5);
}

// ---- the pictures -------------------------------------------------------------------

// The kernel picture: negative weights blue, positive red, 0 white; the grid
// starts at (80, 60) with 14-pixel cells for 32 x 32.
BOOST_AUTO_TEST_CASE(kernel_picture_colours) {
  TemporaryDirectory directory;
  Heatmap kernel{32, 32, std::vector<double>(32 * 32)};
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 32; ++x) kernel.values[y * 32 + x] = x < 8 ? -0.03 : x >= 24 ? 0.05 : 0.0;
  const std::string path = directory.file("kernel.png");
  write_kernel_png(path, kernel, 8, "title", {"caption"});
  const Image image = decode_image(path);
  BOOST_TEST(image.width == kKernelPictureWidth);
  BOOST_TEST(image.height == kKernelPictureHeight);
  auto pixel = [&](int column, int row) { return image.row(60 + 14 * row + 7) + 3 * (80 + 14 * column + 7); };
  const std::uint8_t* negative = pixel(2, 10);
  const std::uint8_t* zero = pixel(16, 10);
  const std::uint8_t* positive = pixel(30, 10);
  BOOST_TEST(negative[2] > negative[0] + 40);  // blue
  BOOST_TEST(positive[0] > positive[2] + 40);  // red
  BOOST_TEST(std::min({zero[0], zero[1], zero[2]}) >= 240);  // white
  // The scale is symmetric: the most negative weight is lighter than the most positive.
  BOOST_TEST(negative[0] + negative[1] > positive[1] + positive[2]);

  BOOST_TEST(throws_error_containing([&] { write_kernel_png(path, Heatmap{2, 2, {1.0}}, 8, "", {}); },
                                     {path, "kernel"}));
}

BOOST_AUTO_TEST_CASE(grad_cam_picture_needs_matching_sizes) {
  TemporaryDirectory directory;
  GradCamPicture picture;
  picture.face = Image(8, 8);
  picture.cam = Heatmap{2, 2, {0, 1, 2, 3}};
  picture.cam_on_image = upsample_bilinear(picture.cam, 6, 6);
  const std::string path = directory.file("cam.png");
  BOOST_TEST(throws_error_containing([&] { write_grad_cam_png(path, picture); }, {path, "6 x 6", "8 x 8"}));
  picture.cam_on_image = upsample_bilinear(picture.cam, 8, 8);
  write_grad_cam_png(path, picture);
  BOOST_TEST(decode_image(path).width == kGradCamPictureWidth);
}

// ---- the command ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(explain_an_arm_checkpoint) {
  TemporaryDirectory directory;
  const fs::path out = directory / "pictures";
  const RunResult result = run_armnet({"explain", "-c", inputs().arm_weights, inputs().smile, inputs().frown,
                                       "--out", out.string(), "--image_size", "64"},
                                      300);
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  BOOST_TEST((files_in(out) == std::set<std::string>{"de_albino_kernel.png", "smile_arm.png", "smile_gradcam.png",
                                                      "frown_arm.png", "frown_gradcam.png"}));
  expect_picture(out / "de_albino_kernel.png", kKernelPictureWidth, kKernelPictureHeight);
  for (const std::string stem : {"smile", "frown"}) {
    expect_picture(out / (stem + "_arm.png"), kArmPictureWidth, kArmPictureHeight);
    expect_picture(out / (stem + "_gradcam.png"), kGradCamPictureWidth, kGradCamPictureHeight);
    BOOST_TEST(contains(result.out, stem + "_gradcam.png"));
  }
  BOOST_TEST(contains(result.out, "de_albino_kernel.png"));
}

BOOST_AUTO_TEST_CASE(a_baseline_checkpoint_gets_only_grad_cam) {
  TemporaryDirectory directory;
  const fs::path out = directory / "pictures";
  const RunResult result =
      run_armnet({"explain", "-c", inputs().baseline_weights, inputs().smile, "--out", out.string()}, 300);
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  BOOST_TEST(contains(result.out, "without ARM"));
  BOOST_TEST((files_in(out) == std::set<std::string>{"smile_gradcam.png"}));
  expect_picture(out / "smile_gradcam.png", kGradCamPictureWidth, kGradCamPictureHeight);
}

BOOST_AUTO_TEST_CASE(explain_errors_are_one_line) {
  TemporaryDirectory directory;
  const fs::path out = directory / "pictures";
  const std::string missing = directory.file("no-such-face.png");
  expect_one_line_error(run_armnet({"explain", "-c", inputs().arm_weights, inputs().smile, missing, "--out",
                                    out.string(), "--image_size", "64"},
                                   300),
                        {missing});
  BOOST_TEST(files_in(out).empty(), "pictures were written before the missing image was found");

  fs::create_directories(directory / "other");
  const std::string same_stem = (directory / "other" / "smile.png").string();
  fs::copy_file(inputs().smile, same_stem);
  expect_one_line_error(run_armnet({"explain", "-c", inputs().arm_weights, inputs().smile, same_stem, "--out",
                                    out.string(), "--image_size", "64"},
                                   300),
                        {inputs().smile, same_stem, "smile_gradcam.png"});
}
