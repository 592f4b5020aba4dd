// `armnet export`: a checkpoint's model for other runtimes (docs/deployment.md).
//
//   armnet export -c CKPT --onnx model.onnx [--batch N|dynamic] [--amp off|fp16] [--image_size N]
//   armnet export -c CKPT --weights model.safetensors
//
// --onnx writes the model in evaluation mode as a checked ONNX graph
// (apps/onnx_export.h); --weights writes its state dict alone, under the
// reference's names, as safetensors that PyTorch loads. Every check (the
// checkpoint, the graph, the output folders) runs before the first file is
// written, and each file appears atomically.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/onnx_export.h"
#include "apps/report.h"
#include "tensor/io/atomic_file.h"
#include "tensor/io/safetensors.h"

namespace armnet::apps {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxBatch = 2'147'483'647;  // OpenCV keeps dimensions as int

struct ExportArguments {
  std::string checkpoint;
  std::string onnx;     // FILE.onnx, or "" for none
  std::string weights;  // FILE.safetensors, or "" for none
  std::string batch = "dynamic";
  std::string amp = "off";
  int image_size = 0;  // 0: the checkpoint's (224 for weights alone)
};

// --batch: "dynamic" or a whole number 1..kMaxBatch.
CLI::Validator batch_value() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text == "dynamic") return "";
        std::int64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || stop != end || error != std::errc() || value < 1 || value > kMaxBatch)
          return str_cat("\"", printable(text), "\" is neither \"dynamic\" nor a batch size 1..", kMaxBatch);
        return "";
      },
      "N|dynamic");
}

// 0 for "dynamic" (validated already).
std::int64_t batch_size(const std::string& text) { return text == "dynamic" ? 0 : std::stoll(text); }

// Refuses, before anything is written, an output whose folder is missing or
// not writable, or that names a folder.
void check_writable(const std::string& path, const char* flag) {
  std::error_code error;
  check(!fs::is_directory(path, error), flag, " ", path, ": is a directory, expected a file name");
  const fs::path parent = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  check(fs::exists(parent, error), flag, " ", path, ": the folder ", parent.string(), " does not exist");
  check(fs::is_directory(parent, error), flag, " ", path, ": ", parent.string(), " is not a folder");
  check(::access(parent.c_str(), W_OK) == 0, flag, " ", path, ": the folder ", parent.string(), " is not writable");
}

std::string megabytes(std::uintmax_t bytes) { return format("%.1f MB", static_cast<double>(bytes) / 1e6); }

void run_export(const ExportArguments& arguments) {
  if (arguments.onnx.empty() && arguments.weights.empty())
    throw UsageError("export: nothing to write: give --onnx FILE.onnx, --weights FILE.safetensors, or both");
  check(arguments.onnx.empty() || onnx_export_built(),
        "export --onnx: this armnet was built without ONNX (install libonnx-dev and rebuild); --weights works");
  if (!arguments.onnx.empty()) check_writable(arguments.onnx, "--onnx");
  if (!arguments.weights.empty()) check_writable(arguments.weights, "--weights");

  const Checkpoint checkpoint = read_checkpoint(arguments.checkpoint);
  const std::shared_ptr<Classifier> model = model_from_checkpoint(checkpoint, arguments.image_size);
  model->eval();
  const ModelOptions& options = model->options();
  const std::vector<std::string> class_names = class_names_of(checkpoint, options.num_classes);
  const std::string description = str_cat(options.architecture == "arm" ? "ResNet-18 + ARM" : "ResNet-18", ", ",
                                          options.image_size, "x", options.image_size, ", ", options.num_classes,
                                          " classes");

  std::string onnx_bytes;  // built and checked before any file is written
  OnnxOptions onnx_options;
  onnx_options.batch = batch_size(arguments.batch);
  onnx_options.float16 = arguments.amp == "fp16";
  if (!arguments.onnx.empty()) onnx_bytes = onnx_model_bytes(*model, class_names, onnx_options);

  if (!arguments.onnx.empty()) {
    write_file_atomically(arguments.onnx, {{onnx_bytes.data(), onnx_bytes.size()}});
    std::printf("wrote %s: ONNX opset %d, %s, batch %s, %s weights (%s)\n", arguments.onnx.c_str(), kOnnxOpset,
                description.c_str(), arguments.batch.c_str(), onnx_options.float16 ? "float16" : "float32",
                megabytes(onnx_bytes.size()).c_str());
  }
  if (!arguments.weights.empty()) {
    // What a loader needs to rebuild the model; nothing of the training.
    const std::map<std::string, std::string> metadata = {
        {"format", "pt"},  // what safetensors.torch.save_file writes
        {"architecture", options.architecture},
        {"image_size", std::to_string(options.image_size)},
        {"batch_independent_eval", options.batch_independent_eval ? "true" : "false"},
        {"class_names", nlohmann::json(class_names).dump()}};
    const NamedTensors state = model->state_dict();
    write_safetensors(arguments.weights, state, metadata);
    std::error_code error;
    std::printf("wrote %s: %zu tensors of %s (%s)\n", arguments.weights.c_str(), state.size(), description.c_str(),
                megabytes(fs::file_size(arguments.weights, error)).c_str());
  }
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto arguments = std::make_shared<ExportArguments>();
  CLI::App* command =
      app.add_subcommand("export", "Export a checkpoint's model: an ONNX graph, or its weights as safetensors");
  command
      ->add_option("-c,--checkpoint", arguments->checkpoint,
                   "armnet checkpoint, run directory (its best), reference .pth or safetensors weights")
      ->required();
  CLI::Option* onnx =
      command->add_option("--onnx", arguments->onnx, "Write the model as an ONNX graph (opset 17) here");
  command->add_option("--weights", arguments->weights,
                      "Write the weights alone (the reference's names) as safetensors here");
  command->add_option("--batch", arguments->batch, "--onnx: the graph's batch size, or dynamic")
      ->check(batch_value())
      ->needs(onnx)
      ->capture_default_str();
  command->add_option("--amp", arguments->amp, "--onnx: fp16 for float16 weights and arithmetic")
      ->check(CLI::IsMember({"off", "fp16"}))
      ->needs(onnx)
      ->capture_default_str();
  command->add_option("--image_size", arguments->image_size,
                      "Input size for checkpoints that do not record it (default 224)")
      ->check(CLI::Range(1, limits::kModelImageSize));
  command->callback([arguments] { run_export(*arguments); });
}

}  // namespace armnet::apps
