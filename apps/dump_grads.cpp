// `armnet dump-grads`: one forward and one backward pass of the mean
// cross-entropy on given weights and inputs, with every number written out,
// so that armnet can be compared with another implementation of the model
// (docs/parity.md):
//
//   armnet dump-grads --model arm --weights W.safetensors --input X.safetensors --out Y.safetensors
//                     [--eval] [--calibrate K] [--image_size N] [--dtype f32|f64]
//
// X holds "input" [N, 3, S, S] (already normalised) and "target" [N] (int64).
// Y gets "logits" [N, classes], "loss" [], "grad.<name>" for every parameter
// and "after.<name>" for every buffer after the pass.
#include <cstdio>
#include <map>
#include <string>

#include "apps/commands.h"
#include "autograd/functional.h"
#include "layers/resnet_arm.h"
#include "layers/state_dict.h"
#include "tensor/io/safetensors.h"

namespace armnet::apps {

namespace {

struct DumpGradsOptions {
  std::string model = "arm";
  std::string weights, input, out;
  bool eval = false;
  int calibrate = 0;
  int image_size = 0;  // 0: the input's height
  std::string dtype = "f32";
  std::string device = "cpu";
};

const Tensor& required_tensor(const NamedTensors& tensors, const std::string& name, const std::string& path) {
  const Tensor* tensor = find_tensor(tensors, name);
  check(tensor != nullptr, "dump-grads: ", path, " has no tensor \"", name, "\"");
  return *tensor;
}

void dump_grads(const DumpGradsOptions& options) {
  const NamedTensors inputs = read_safetensors(options.input);
  const Tensor& file_images = required_tensor(inputs, "input", options.input);
  const Tensor& target = required_tensor(inputs, "target", options.input);
  check(file_images.ndim() == 4 && file_images.size(1) == 3 && file_images.size(2) == file_images.size(3) &&
            file_images.numel() > 0,
        "dump-grads: ", options.input, ": \"input\" must be square images [N, 3, S, S], got ", file_images.describe());
  check(is_floating(file_images.dtype()), "dump-grads: ", options.input, ": \"input\" must be floating, got ",
        file_images.describe());
  const std::int64_t batch = file_images.size(0);
  check(target.dtype() == DType::Int64 && target.shape() == Shape{batch}, "dump-grads: ", options.input,
        ": \"target\" must be int64 [", batch, "] (one class per image), got ", target.describe());
  const int image_size = options.image_size > 0 ? options.image_size : static_cast<int>(file_images.size(2));
  check(image_size == file_images.size(2), "dump-grads: --image_size ", image_size, " but ", options.input, " holds ",
        file_images.size(2), "x", file_images.size(3), " images");

  ModelOptions model_options;
  model_options.architecture = options.model;
  model_options.image_size = image_size;
  const std::shared_ptr<Classifier> model = make_model(model_options);
  // Convert first, then load: loading converts the file's tensors to the
  // model's dtype, so float64 weights reach a float64 model unrounded.
  const DType dtype = options.dtype == "f64" ? DType::Float64 : DType::Float32;
  const Device device = device_from_flag(options.device);
  model->to(dtype);
  model->to(device);
  load_state_dict(*model, read_safetensors(options.weights), /*strict=*/true);
  const Tensor images = file_images.to(dtype).to(device);

  // Calibration: training-mode passes without gradients, which move the
  // BatchNorm running statistics towards the batch's (as training does).
  model->train();
  {
    autograd::NoGradGuard no_grad;
    for (int pass = 0; pass < options.calibrate; ++pass) model->forward(images);
  }
  model->train(!options.eval);
  const Tensor logits = model->forward(images);
  const Tensor loss = cross_entropy(logits, target.to(device));
  loss.backward();

  NamedTensors out = {{"logits", logits.detach()}, {"loss", loss.detach()}};
  for (const auto& [name, parameter] : model->named_parameters())
    out.emplace_back("grad." + name, parameter.grad().defined() ? parameter.grad() : Tensor::zeros_like(parameter));
  for (const auto& [name, buffer] : model->named_buffers()) out.emplace_back("after." + name, buffer);
  const std::map<std::string, std::string> metadata = {{"model", options.model},
                                                       {"dtype", dtype_name(dtype)},
                                                       {"mode", options.eval ? "eval" : "train"},
                                                       {"calibrate", std::to_string(options.calibrate)},
                                                       {"image_size", std::to_string(image_size)}};
  write_safetensors(options.out, out, metadata);
  std::printf("dump-grads: %s %s %s, batch %lld: loss %.17g; wrote %zu tensors to %s\n", options.model.c_str(),
              dtype_name(dtype), options.eval ? "eval" : "train", static_cast<long long>(batch), loss.item(),
              out.size(), options.out.c_str());
}

}  // namespace

void add_dump_grads_command(CLI::App& app) {
  auto options = std::make_shared<DumpGradsOptions>();
  CLI::App* command = app.add_subcommand(
      "dump-grads",
      "Run one forward and backward pass of the mean cross-entropy and write the logits, the loss, every "
      "parameter's gradient and every buffer to a safetensors file (for comparisons with other implementations)");
  command->add_option("--model", options->model, "arm (ResNet18_ARM) or resnet18 (the baseline)")
      ->check(CLI::IsMember({"arm", "resnet18"}))
      ->capture_default_str();
  command->add_option("--weights", options->weights, "safetensors file with every state-dict entry of the model")
      ->required();
  command
      ->add_option("--input", options->input, "safetensors file with \"input\" [N, 3, S, S] and \"target\" [N] int64")
      ->required();
  command->add_option("--out", options->out, "the safetensors file to write")->required();
  command->add_flag("--eval", options->eval, "evaluation mode (BatchNorm uses its running statistics)");
  command
      ->add_option("--calibrate", options->calibrate,
                   "training-mode forward passes without gradients before the measured pass")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  command->add_option("--image_size", options->image_size, "the model's input size (default: the input's)")
      ->check(CLI::Range(1, limits::kModelImageSize));
  command->add_option("--dtype", options->dtype, "f32 or f64")
      ->check(CLI::IsMember({"f32", "f64"}))
      ->capture_default_str();
  add_device_option(*command, options->device);
  command->callback([options] { dump_grads(*options); });
}

}  // namespace armnet::apps
