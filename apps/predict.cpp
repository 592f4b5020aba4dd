// `armnet predict`: the expression in each image and the seven class
// probabilities (softmax of the logits), as text or JSON.
#include <cmath>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/evaluation.h"
#include "autograd/engine.h"
#include "data/image.h"
#include "data/dataset.h"
#include "data/transforms.h"

namespace armnet::apps {

namespace {

struct PredictArguments {
  std::string checkpoint;
  std::vector<std::string> images;
  bool json = false;
  bool as_batch = false;
  int image_size = 0;
  std::int64_t max_image_pixels = limits::kDefaultImagePixels;
  std::string device = "cpu";
  std::string amp = "off", amp_dtype = "fp16";  // 16-bit inference
};

// The images as one normalised float32 batch [N, 3, S, S] (the test pipeline:
// resize and normalise, no augmentation). Decoding errors name the file.
Tensor load_images(const std::vector<std::string>& paths, int size, std::int64_t max_pixels) {
  Tensor batch = Tensor::empty({static_cast<std::int64_t>(paths.size()), 3, size, size}, DType::Float32);
  BilinearResizer resizer;
  Generator unused;
  const std::int64_t row = 3 * static_cast<std::int64_t>(size) * size;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    Image image = decode_image(paths[i], max_pixels);
    transform_sample(image, size, /*augment=*/false, unused, resizer, batch.data<float>() + row * i);
  }
  return batch;
}

// Softmax of each row of float logits [N, C], in double.
std::vector<std::vector<double>> probabilities(const Tensor& logits) {
  const Tensor values = logits.to(Device::CPU).to(DType::Float64);
  const std::int64_t rows = values.size(0), classes = values.size(1);
  std::vector<std::vector<double>> out(rows, std::vector<double>(classes));
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = values.data<double>() + r * classes;
    double largest = row[0];
    for (std::int64_t c = 1; c < classes; ++c) largest = std::max(largest, row[c]);
    double total = 0.0;
    for (std::int64_t c = 0; c < classes; ++c) total += out[r][c] = std::exp(row[c] - largest);
    for (double& p : out[r]) p /= total;
  }
  return out;
}

void run_predict(const PredictArguments& arguments) {
  const Checkpoint checkpoint = read_checkpoint(arguments.checkpoint);
  const Device device = device_from_flag(arguments.device);
  std::shared_ptr<Classifier> model = model_from_checkpoint(checkpoint, arguments.image_size);
  model->to(device);
  const std::vector<std::string> class_names = class_names_of(checkpoint, model->options().num_classes);
  model->eval();
  autograd::NoGradGuard no_grad;
  const std::unique_ptr<Autocast> autocast = autocast_from_flags(arguments.amp, arguments.amp_dtype);
  const int size = model->options().image_size;
  // Alone (batch 1) by default, so that an image's prediction does not depend
  // on the others listed; --as_batch runs them together as `armnet test` does.
  std::vector<std::vector<double>> results;
  if (arguments.as_batch) {
    results = probabilities(
        classify(*model, load_images(arguments.images, size, arguments.max_image_pixels).to(device), autocast.get()));
  } else {
    for (const std::string& path : arguments.images) {
      results.push_back(
          probabilities(classify(*model, load_images({path}, size, arguments.max_image_pixels).to(device),
                                 autocast.get()))[0]);
    }
  }
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < arguments.images.size(); ++i) {
    const std::vector<double>& p = results[i];
    const int best = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
    if (arguments.json) {
      nlohmann::ordered_json entry = {{"image", arguments.images[i]}, {"expression", class_names[best]},
                                      {"label", best}};
      for (std::size_t c = 0; c < class_names.size(); ++c) entry["probabilities"][class_names[c]] = p[c];
      json.push_back(entry);
      continue;
    }
    std::printf("%s: %s (%.4f)\n", arguments.images[i].c_str(), printable(class_names[best]).c_str(), p[best]);
    for (std::size_t c = 0; c < class_names.size(); ++c)
      std::printf("  %-10s %.4f\n", printable(class_names[c]).c_str(), p[c]);
  }
  if (arguments.json) std::printf("%s\n", json.dump(2).c_str());
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto arguments = std::make_shared<PredictArguments>();
  CLI::App* command = app.add_subcommand("predict", "Predict the expression of face images with a checkpoint");
  command->add_option("-c,--checkpoint", arguments->checkpoint,
                      "armnet checkpoint, run directory (its best), reference .pth or safetensors weights")
      ->required();
  command->add_option("images", arguments->images, "Image files (JPEG, PNG, ...)")->required();
  command->add_flag("--json", arguments->json, "Print JSON instead of text");
  command->add_flag("--as_batch", arguments->as_batch,
                    "Classify the images as one batch (the ARM's batch-global mean then spans them)");
  command->add_option("--image_size", arguments->image_size,
                      "Input size for checkpoints that do not record it (default 224)")
      ->check(CLI::Range(1, limits::kModelImageSize));
  add_max_image_pixels_option(*command, arguments->max_image_pixels);
  add_device_option(*command, arguments->device);
  add_amp_options(*command, arguments->amp, arguments->amp_dtype);
  command->callback([arguments] { run_predict(*arguments); });
}

}  // namespace armnet::apps
