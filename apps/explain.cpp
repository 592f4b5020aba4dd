// `armnet explain`: pictures of what a checkpoint computes (docs/explain.md).
//
//   de_albino_kernel.png   the ARM's learned 32x32 kernel (ARM checkpoints)
//   <stem>_arm.png         the ARM's steps for one image (ARM checkpoints)
//   <stem>_gradcam.png     Grad-CAM of the predicted class on features.7
//
// Each image runs alone through the model in evaluation mode, loaded as
// `armnet predict` loads it (apps/images.h).
#include "apps/explain.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/images.h"
#include "apps/report.h"

namespace armnet::apps {

namespace fs = std::filesystem;

// ---- the computations (apps/explain.h) -------------------------------------------

Heatmap grad_cam(const ForwardTrace& trace, int target_class) {
  const Tensor& activations = trace.last_stage;
  check(activations.defined() && activations.is_leaf() && activations.requires_grad(),
        "grad_cam: the trace's last stage must be a leaf that requires grad (TraceGraph::FromLastStageAsLeaf)");
  check(activations.ndim() == 4 && activations.size(0) == 1,
        "grad_cam: expected the last stage of one image [1, K, s, s], got ", activations.describe());
  const std::int64_t classes = trace.logits.size(1);
  check(target_class >= 0 && target_class < classes, "grad_cam: class ", target_class, " of ", classes, " classes");

  // d logits[0, target_class] / d activations: the backward of a one-hot
  // upstream gradient.
  std::vector<double> one_hot(classes, 0.0);
  one_hot[target_class] = 1.0;
  trace.logits.backward(
      Tensor::from_vector(one_hot, {1, classes}, trace.logits.dtype()).to(trace.logits.device()));
  check(activations.grad().defined(), "grad_cam: the backward did not reach the last stage");

  const std::vector<double> a = activations.detach().to_vector();
  const std::vector<double> g = activations.grad().to_vector();
  const int channels = static_cast<int>(activations.size(1));
  Heatmap cam;
  cam.height = static_cast<int>(activations.size(2));
  cam.width = static_cast<int>(activations.size(3));
  const std::size_t positions = static_cast<std::size_t>(cam.width) * cam.height;
  std::vector<double> weighted_sum(positions, 0.0);
  for (int k = 0; k < channels; ++k) {
    const double* gradient = g.data() + k * positions;
    const double* activation = a.data() + k * positions;
    double weight = 0.0;
    for (std::size_t p = 0; p < positions; ++p) weight += gradient[p];
    weight /= static_cast<double>(positions);
    for (std::size_t p = 0; p < positions; ++p) weighted_sum[p] += weight * activation[p];
  }
  cam.values.resize(positions);
  for (std::size_t p = 0; p < positions; ++p) cam.values[p] = std::max(0.0, weighted_sum[p]);
  return cam;
}

Heatmap upsample_bilinear(const Heatmap& map, int width, int height) {
  check(map.width > 0 && map.height > 0 && width > 0 && height > 0, "upsample_bilinear: ", map.width, " x ",
        map.height, " to ", width, " x ", height);
  // Where output index i samples the input axis of `in` cells (half-pixel
  // centres, clamped at the first cell): the two cells and the second's weight.
  struct Sample {
    int first, second;
    double weight;
  };
  auto samples = [](int in, int out) {
    std::vector<Sample> result(out);
    for (int i = 0; i < out; ++i) {
      const double source = std::max(0.0, (i + 0.5) * in / out - 0.5);
      const int first = std::min(static_cast<int>(source), in - 1);
      result[i] = {first, std::min(first + 1, in - 1), source - first};
    }
    return result;
  };
  const std::vector<Sample> xs = samples(map.width, width), ys = samples(map.height, height);
  Heatmap out;
  out.width = width;
  out.height = height;
  out.values.resize(static_cast<std::size_t>(width) * height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const Sample& sx = xs[x];
      const Sample& sy = ys[y];
      const double top = (1 - sx.weight) * map.at(sx.first, sy.first) + sx.weight * map.at(sx.second, sy.first);
      const double bottom = (1 - sx.weight) * map.at(sx.first, sy.second) + sx.weight * map.at(sx.second, sy.second);
      out.values[static_cast<std::size_t>(y) * width + x] = (1 - sy.weight) * top + sy.weight * bottom;
    }
  return out;
}

namespace {

struct ExplainArguments {
  std::string checkpoint;
  std::vector<std::string> images;
  std::string out;
  int image_size = 0;
  std::int64_t max_image_pixels = limits::kDefaultImagePixels;
  std::string device = "cpu";
};

// Plane (n, c) of a [N, C, H, W] tensor, read on the CPU in double.
Heatmap plane_of(const Tensor& maps, std::int64_t n, std::int64_t c) {
  check(maps.ndim() == 4, "explain: expected maps [N, C, H, W], got ", maps.describe());
  Heatmap plane;
  plane.height = static_cast<int>(maps.size(2));
  plane.width = static_cast<int>(maps.size(3));
  const std::vector<double> values = maps.detach().to_vector();
  const std::size_t size = static_cast<std::size_t>(plane.width) * plane.height;
  const auto first = values.begin() + static_cast<std::ptrdiff_t>((n * maps.size(1) + c) * size);
  plane.values.assign(first, first + static_cast<std::ptrdiff_t>(size));
  return plane;
}

void write_kernel_picture(const Classifier& model, const std::string& path) {
  const NamedTensors parameters = model.named_parameters();
  const Tensor* weight = find_tensor(parameters, "arm.de_albino.weight");
  check(weight != nullptr, "explain: the model has no parameter arm.de_albino.weight");
  const Heatmap kernel = plane_of(*weight, 0, 0);
  double sum = 0.0;
  int positive = 0;
  for (double w : kernel.values) {
    sum += w;
    positive += w > 0;
  }
  write_kernel_png(
      path, kernel, kDeAlbinoStride, "The learned de-albino kernel (arm.de_albino.weight)",
      {str_cat(kernel.width, " x ", kernel.height, ", stride ", kDeAlbinoStride,
               ", slid over each pixel-shuffled channel (the same kernel for both)"),
       str_cat("weights sum to ", format("%.4g", sum), "; ", positive, " of ", kernel.values.size(),
               " are positive (blue < 0 < red)")});
}

// The ARM's steps for image 0 of `trace` (a batch of one image).
void write_arm_picture(const Classifier& model, const ForwardTrace& trace, const Tensor& image,
                       const std::vector<std::string>& class_names, const std::vector<double>& probabilities,
                       const std::string& title, const std::string& path) {
  ArmPicture picture;
  picture.face = image_of_batch(image, 0);
  for (int c = 0; c < 2; ++c) {
    picture.shuffled[c] = plane_of(trace.shuffled, 0, c);
    picture.de_albino[c] = plane_of(trace.amended_bn, 0, c);
  }
  picture.channel_mean = plane_of(trace.channel_mean, 0, 0);
  picture.global_term = plane_of(trace.global_term, 0, 0);
  picture.amended =
      plane_of(trace.amended.detach().reshape({1, 1, trace.channel_mean.size(2), trace.channel_mean.size(3)}), 0, 0);
  picture.alpha = model.alpha().item();
  picture.class_names = class_names;
  picture.probabilities = probabilities;
  picture.title = title;
  if (model.options().batch_independent_eval)
    picture.caption.push_back(
        "The global term is the running mean kept in training (arm.global_running_mean), the same for every image.");
  else
    picture.caption.push_back(
        "One image alone: the batch-global mean is its own channel mean (in a batch, the mean over all its images),");
  picture.caption.push_back(model.options().batch_independent_eval
                                ? "so the amended map is the channel mean shifted by a fixed, learned pattern."
                                : "so here the amended map is (1 + alpha) x the channel mean.");
  picture.caption.push_back(
      "Each colour bar serves the maps above it: viridis when none is negative, blue-white-red around 0.");
  write_arm_png(path, picture);
}

void write_grad_cam_picture(const ForwardTrace& trace, const Tensor& image, const std::string& class_name,
                            int predicted, const std::string& title, bool has_arm, const std::string& path) {
  GradCamPicture picture;
  picture.face = image_of_batch(image, 0);
  picture.cam = grad_cam(trace, predicted);
  picture.cam_on_image = upsample_bilinear(picture.cam, picture.face.width, picture.face.height);
  picture.title = title;
  picture.caption.push_back(str_cat("weight_k = spatial mean of d logit(", class_name,
                                    ") / d features.7_k;  CAM = ReLU(sum over k of weight_k x features.7_k)"));
  const bool all_zero =
      std::all_of(picture.cam.values.begin(), picture.cam.values.end(), [](double v) { return v == 0; });
  picture.caption.push_back(all_zero ? "The CAM is 0 everywhere: no position of features.7 raises this logit."
                                     : "Bright: where the last stage's activations raise this class's logit the most.");
  if (!has_arm) picture.caption.push_back("A baseline ResNet-18 (no ARM): only its Grad-CAM is drawn.");
  write_grad_cam_png(path, picture);
}

void run_explain(const ExplainArguments& arguments) {
  const Checkpoint checkpoint = read_checkpoint(arguments.checkpoint);
  const Device device = device_from_flag(arguments.device);
  std::shared_ptr<Classifier> model = model_from_checkpoint(checkpoint, arguments.image_size);
  model->to(device);
  model->eval();
  const std::vector<std::string> class_names = class_names_of(checkpoint, model->options().num_classes);
  const bool has_arm = model->options().architecture == "arm";
  const int size = model->options().image_size;

  // Every image is read, and every output name checked, before anything is
  // written: a missing image or two images of one name change nothing.
  std::vector<Tensor> images;
  std::vector<std::string> stems;
  std::map<std::string, std::string> image_of_stem;
  for (const std::string& path : arguments.images) {
    images.push_back(load_images({path}, size, arguments.max_image_pixels).to(device));
    const std::string stem = fs::path(path).stem().string();
    const auto [previous, inserted] = image_of_stem.emplace(stem, path);
    check(inserted, "explain: ", printable(previous->second), " and ", printable(path), " would both write ",
          printable(stem), "_gradcam.png: rename one");
    stems.push_back(stem);
  }
  const fs::path out(arguments.out);
  std::error_code error;
  fs::create_directories(out, error);
  check(!error, "explain: cannot create ", printable(arguments.out), ": ", error.message());

  if (has_arm) {
    const std::string path = (out / "de_albino_kernel.png").string();
    write_kernel_picture(*model, path);
    std::printf("de-albino kernel: %s\n", printable(path).c_str());
  } else {
    std::printf("%s holds a ResNet-18 without ARM: only the Grad-CAM pictures are drawn\n",
                printable(checkpoint.path).c_str());
  }
  for (std::size_t i = 0; i < images.size(); ++i) {
    // One image alone, in evaluation mode; the backbone is cut at features.7
    // so that Grad-CAM can take the logit's gradient there.
    const ForwardTrace trace = model->trace(images[i], TraceGraph::FromLastStageAsLeaf);
    const std::vector<double> probabilities = softmax_rows(trace.logits).front();
    const int predicted = best_class(probabilities);
    const std::string probability = format("%.3f", probabilities[predicted]);
    const std::string& class_name = class_names[predicted];
    const std::string name = fs::path(arguments.images[i]).filename().string();
    const std::string answer = str_cat(class_name, ", probability ", probability);
    std::string written;
    if (has_arm) {
      const std::string path = (out / (stems[i] + "_arm.png")).string();
      write_arm_picture(*model, trace, images[i], class_names, probabilities,
                        str_cat("What the ARM computes for ", name, ": ", answer), path);
      written = path + ", ";
    }
    const std::string path = (out / (stems[i] + "_gradcam.png")).string();
    write_grad_cam_picture(trace, images[i], class_name, predicted,
                           str_cat("Grad-CAM of ", class_name, " for ", name, " (probability ",
                                   probability, ")"),
                           has_arm, path);
    written += path;
    std::printf("%s: %s (%s): %s\n", printable(arguments.images[i]).c_str(), printable(class_name).c_str(),
                probability.c_str(), printable(written).c_str());
  }
}

}  // namespace

void add_explain_command(CLI::App& app) {
  auto arguments = std::make_shared<ExplainArguments>();
  CLI::App* command = app.add_subcommand(
      "explain", "Draw what a checkpoint computes: the de-albino kernel, the ARM's steps and Grad-CAM per image");
  command->add_option("-c,--checkpoint", arguments->checkpoint,
                      "armnet checkpoint, run directory (its best), reference .pth or safetensors weights")
      ->required();
  command->add_option("images", arguments->images, "Face images (JPEG, PNG, BMP)")->required();
  command->add_option("--out", arguments->out, "Directory for the PNG pictures (created if needed)")->required();
  command->add_option("--image_size", arguments->image_size,
                      "Input size for checkpoints that do not record it (default 224)")
      ->check(CLI::Range(1, limits::kModelImageSize));
  add_max_image_pixels_option(*command, arguments->max_image_pixels);
  add_device_option(*command, arguments->device);
  command->callback([arguments] { run_explain(*arguments); });
}

}  // namespace armnet::apps
