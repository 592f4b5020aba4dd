// `armnet test`: evaluates a checkpoint on the test split as the reference's
// test script does (ARM-SPEC section 4) and reports more: per-class
// precision, recall and F1, the mean class accuracy, the confusion matrix as
// text and (-p) as a picture, and (--batch_sweep) how the ARM's batch-global
// mean makes accuracy depend on the batch size and order.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/evaluation.h"
#include "apps/plots.h"
#include "data/loader.h"
#include "data/dataset.h"
#include "tensor/io/atomic_file.h"

namespace armnet::apps {

namespace fs = std::filesystem;

namespace {

struct TestArguments {
  std::string checkpoint;
  std::string raf_path = "./datasets/raf-basic/";  // --data
  std::string data_format = "raf", test_split = "PublicTest";
  int affectnet_classes = 7;
  std::int64_t limit_train = 0, limit_test = 0;
  int batch_size = 64;
  bool plot_cm = false;
  std::string out;  // default: the checkpoint's directory
  int image_size = 0;
  int workers = 4;
  bool batch_sweep = false;
  std::uint64_t seed = 0;  // of the shuffled orders of --batch_sweep
  std::int64_t max_image_pixels = limits::kDefaultImagePixels;
  std::string device = "cpu";
  std::string amp = "off", amp_dtype = "fp16";  // 16-bit inference
  std::shared_ptr<Autocast> autocast;           // from those two; null for off
  std::string predictions;                      // a CSV file for one row per image
};

Evaluation evaluate_split(Classifier& model, const std::vector<LabeledImage>& images, int batch_size, bool shuffled,
                          const TestArguments& arguments, const std::string& label,
                          const BatchLogits& each_batch = {}) {
  LoaderOptions loading;
  loading.batch_size = batch_size;
  loading.image_size = model.options().image_size;
  loading.num_classes = model.options().num_classes;
  loading.sampler = shuffled ? Sampler::Shuffle : Sampler::Sequential;
  loading.seed = arguments.seed;
  loading.workers = arguments.workers;
  loading.max_image_pixels = arguments.max_image_pixels;
  Loader loader(images, loading);
  return evaluate(model, loader, 0, label, {}, arguments.autocast.get(), each_batch);
}

void print_batch_sweep(Classifier& model, const std::vector<LabeledImage>& images, const TestArguments& arguments) {
  std::printf("\nAccuracy by evaluation batch (the ARM's de-albino mean is taken over each batch%s):\n",
              model.options().batch_independent_eval ? "; this model uses its running mean instead" : "");
  std::printf("  %-6s %-12s %-12s\n", "batch", "file order", "shuffled");
  for (int batch_size : {1, 64, 256}) {
    double accuracy[2];
    for (int shuffled = 0; shuffled < 2; ++shuffled) {
      accuracy[shuffled] = evaluate_split(model, images, batch_size, shuffled == 1, arguments,
                                          str_cat("batch ", batch_size, shuffled ? " shuffled" : " in order"))
                               .confusion.accuracy();
    }
    std::printf("  %-6d %-12.4f %-12.4f\n", batch_size, accuracy[0], accuracy[1]);
  }
  std::printf("  (shuffled: seed %llu)\n", static_cast<unsigned long long>(arguments.seed));
}

void run_test(const TestArguments& arguments) {
  const Checkpoint checkpoint = read_checkpoint(arguments.checkpoint);
  const Device device = device_from_flag(arguments.device);
  std::shared_ptr<Classifier> model = model_from_checkpoint(checkpoint, arguments.image_size);
  model->to(device);
  const Dataset data = read_dataset(
      arguments.raf_path, dataset_options_from_flags(arguments.data_format, arguments.test_split,
                                                     arguments.affectnet_classes, 0, arguments.limit_test,
                                                     arguments.seed));
  const ModelOptions& options = model->options();
  const std::vector<std::string> model_classes = class_names_of(checkpoint, options.num_classes);
  check(data.class_names.size() == model_classes.size() &&
            (!checkpoint.training || data.class_names == model_classes),
        checkpoint.path, ": the model's classes (", class_list(model_classes), ") are not the data set's (",
        class_list(data.class_names), ")");
  const std::vector<std::string> short_names = short_class_names(data.class_names);
  std::printf("model: %s, %dx%d input, from %s (%s)\n", options.architecture.c_str(), options.image_size,
              options.image_size, checkpoint.path.c_str(),
              checkpoint.training ? str_cat("armnet checkpoint after epoch ", checkpoint.training->epoch).c_str()
                                  : "weights only");
  std::printf("evaluating %zu test images of %s (%s, %d classes) in file order, batch %d%s\n", data.test.size(),
              arguments.raf_path.c_str(), data_format_name(data.format), data.num_classes(), arguments.batch_size,
              options.architecture == "arm" && !options.batch_independent_eval
                  ? " (the ARM's result depends on the batch: see --batch_sweep)"
                  : "");
  if (arguments.autocast)
    std::printf("16-bit inference: --amp %s %s\n", arguments.amp.c_str(), arguments.amp_dtype.c_str());
  std::fflush(stdout);
  // --predictions: one row per image, in the split's order.
  std::string rows;
  BatchLogits collect_rows;
  if (!arguments.predictions.empty()) {
    rows = "file,target,predicted";
    for (const std::string& name : data.class_names) rows += "," + csv_field("p_" + name);
    rows += "\n";
    collect_rows = [&](const Batch& batch, const Tensor& logits) {
      const std::vector<std::vector<double>> probabilities = softmax_rows(logits);
      for (std::size_t r = 0; r < batch.sample_indices.size(); ++r) {
        const LabeledImage& sample = data.test[static_cast<std::size_t>(batch.sample_indices[r])];
        const std::vector<double>& p = probabilities[r];
        const int predicted = best_class(p);
        rows += str_cat(csv_field(sample.path.empty() ? sample.name : sample.path), ",",
                        csv_field(data.class_names[sample.label]), ",", csv_field(data.class_names[predicted]));
        for (double probability : p) rows += "," + csv_probability(probability);
        rows += "\n";
      }
    };
  }
  const Evaluation result =
      evaluate_split(*model, data.test, arguments.batch_size, false, arguments, "test", collect_rows);
  if (!arguments.predictions.empty()) {
    write_file_atomically(arguments.predictions, {{rows.data(), rows.size()}});
    std::fprintf(stderr, "wrote one row per image to %s\n", arguments.predictions.c_str());
  }
  const ConfusionMatrix& confusion = result.confusion;
  std::printf("Test accuracy: %.4f\n", confusion.accuracy());
  std::printf("Test loss: %.4f\n\n", result.mean_loss);
  std::printf("%s\n", confusion.per_class_table(data.class_names).c_str());
  std::printf("Confusion matrix (rows: target, columns: prediction):\n%s", confusion.matrix_table(short_names).c_str());
  if (arguments.plot_cm) {
    const fs::path out = arguments.out.empty() ? fs::path(checkpoint.path).parent_path() : fs::path(arguments.out);
    std::error_code error;
    if (!out.empty()) fs::create_directories(out, error);
    check(!error, "--out ", out.string(), ": cannot create the directory: ", error.message());
    const std::string picture = (out / "confusion_matrix.png").string();
    // The model and the data set in the title, with the reference's accuracy.
    char accuracy[32];
    std::snprintf(accuracy, sizeof accuracy, "Accuracy: %.4f", confusion.accuracy());
    const std::string title = str_cat(options.architecture, " ", options.image_size, " on ",
                                      printable(fs::path(data.source).filename().string(), 40), " (",
                                      data_format_name(data.format), "), ", accuracy);
    write_confusion_matrix_png(picture, confusion, short_names, title);
    std::fprintf(stderr, "wrote the confusion matrix picture %s\n", picture.c_str());
  }
  if (arguments.batch_sweep) print_batch_sweep(*model, data.test, arguments);
}

}  // namespace

void add_test_command(CLI::App& app) {
  auto arguments = std::make_shared<TestArguments>();
  CLI::App* command = app.add_subcommand("test", "Evaluate a checkpoint on the evaluated split of a data set");
  command->add_option("-c,--checkpoint", arguments->checkpoint,
                      "armnet checkpoint, run directory (its best), reference .pth or safetensors weights")
      ->required();
  add_data_options(*command, arguments->raf_path, arguments->data_format, arguments->test_split,
                   arguments->affectnet_classes, arguments->limit_train, arguments->limit_test);
  command->add_option("-b,--batch_size", arguments->batch_size, "Evaluation batch size")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  command->add_flag("-p,--plot_cm", arguments->plot_cm, "Write confusion_matrix.png");
  command->add_option("--out", arguments->out, "Directory for the picture (default: the checkpoint's)");
  command->add_option("--image_size", arguments->image_size,
                      "Input size for checkpoints that do not record it (default 224)")
      ->check(CLI::Range(1, limits::kModelImageSize));
  command->add_option("--workers", arguments->workers, "Data-loading threads (0: one per core)")
      ->check(CLI::Range(0, limits::kWorkers))
      ->capture_default_str();
  command->add_flag("--batch_sweep", arguments->batch_sweep,
                    "Also report accuracy at batch 1, 64 and 256, in file order and shuffled");
  command->add_option("--seed", arguments->seed, "Seed of the shuffled orders of --batch_sweep")
      ->check(unsigned_integer())
      ->capture_default_str();
  add_max_image_pixels_option(*command, arguments->max_image_pixels);
  add_device_option(*command, arguments->device);
  add_amp_options(*command, arguments->amp, arguments->amp_dtype);
  command->add_option("--predictions", arguments->predictions,
                      "Write one row per image (file, target, predicted, the probabilities) to this CSV file");
  command->callback([arguments] {
    arguments->autocast = autocast_from_flags(arguments->amp, arguments->amp_dtype);
    run_test(*arguments);
  });
}

}  // namespace armnet::apps
