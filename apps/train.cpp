// `armnet train`: the command line, and the training loop of apps/training.h.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/evaluation.h"
#include "apps/plots.h"
#include "apps/progress.h"
#include "apps/training.h"
#include "autograd/functional.h"
#include "data/loader.h"
#include "data/dataset.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "layers/optimizer.h"
#include "layers/state_dict.h"
#include "tensor/device.h"
#include "tensor/io/atomic_file.h"
#include "tensor/io/torch_checkpoint.h"

namespace armnet::apps {

namespace fs = std::filesystem;

namespace {

// ---- Ctrl-C -------------------------------------------------------------------

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void request_stop(int) { stop_requested = 1; }

// For the scope of a run, the first Ctrl-C (or SIGTERM) asks the loop to stop
// after the current step and save; the handler then resets itself, so a
// second Ctrl-C ends the process at once as usual.
class StopRequestHandler {
 public:
  StopRequestHandler() {
    stop_requested = 0;
    struct sigaction action = {};
    action.sa_handler = request_stop;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_interrupt_);
    sigaction(SIGTERM, &action, &previous_terminate_);
  }
  ~StopRequestHandler() {
    sigaction(SIGINT, &previous_interrupt_, nullptr);
    sigaction(SIGTERM, &previous_terminate_, nullptr);
  }
  StopRequestHandler(const StopRequestHandler&) = delete;
  StopRequestHandler& operator=(const StopRequestHandler&) = delete;
  bool requested() const { return stop_requested != 0; }

 private:
  struct sigaction previous_interrupt_ = {};
  struct sigaction previous_terminate_ = {};
};

// ---- checks and setup -----------------------------------------------------------


// Creates the output directory and proves it writable before hours of work.
void prepare_output_directory(const std::string& out) {
  std::error_code error;
  fs::create_directories(out, error);
  check(!error, "--out ", out, ": cannot create the directory: ", error.message());
  const std::string probe = (fs::path(out) / ".armnet-write-test").string();
  write_file_atomically(probe, {{"ok", 2}});
  fs::remove(probe, error);
}

OptimizerOptions optimizer_options(const TrainOptions& options) {
  OptimizerOptions optimizer = default_optimizer_options(options.optimizer);
  if (options.lr > 0.0) optimizer.lr = options.lr;
  optimizer.momentum = options.momentum;
  optimizer.weight_decay = options.weight_decay;
  return optimizer;
}

double initial_lr(const TrainOptions& options) { return optimizer_options(options).lr; }

void load_pretrained(Classifier& model, const std::string& path) {
  const NamedTensors mapped = map_torchvision_resnet18(read_torch_checkpoint(path));
  try {
    const LoadReport report = load_state_dict(model, mapped, /*strict=*/false);
    check(report.unexpected.empty(), "unexpected tensor \"", report.unexpected.empty() ? "" : report.unexpected[0],
          "\" (not a torchvision ResNet-18?)");
  } catch (const Error& error) {
    throw Error(str_cat("--pretrained ", path, ": ", error.what()));
  }
  std::fprintf(stderr, "loaded %zu ImageNet tensors from %s into the feature stack\n", mapped.size(), path.c_str());
}

// metrics.csv: a row per epoch. The per-class recall columns are named
// after the classes (letters and digits kept, the rest '_'); the wall time
// stays the last column (the one that differs between two runs of the same
// numbers).
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history,
                       const std::vector<std::string>& class_names) {
  std::string text = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_mean_class_accuracy";
  for (const std::string& name : class_names) {
    std::string column = "val_recall_" + name;
    for (char& c : column)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    text += "," + column;
  }
  text += ",lr,skipped_steps,loss_scale,seconds\n";
  auto number = [](double value) { return format("%.17g", value); };
  for (const EpochMetrics& m : history) {
    text += str_cat(m.epoch, ",", number(m.train_loss), ",", number(m.train_accuracy), ",", number(m.val_loss), ",",
                    number(m.val_accuracy), ",", number(m.val_mean_class_accuracy));
    for (std::size_t c = 0; c < class_names.size(); ++c)
      text += "," + number(c < m.val_class_recall.size() ? m.val_class_recall[c] : 0.0);
    text += format(",%.9g,%lld,%.17g,%.3f\n", m.lr, static_cast<long long>(m.skipped_steps), m.loss_scale,
                   m.seconds);
  }
  write_file_atomically(path, {{text.data(), text.size()}});
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The most memory the run held: on a GPU the caching allocator's high-water
// mark of tensors in use, on the CPU the process's peak resident size.
void print_peak_memory(Device device) {
  if (device == Device::CUDA) {
    std::fprintf(stderr, "peak GPU memory in tensors: %.0f MiB\n",
                static_cast<double>(memory_stats(Device::CUDA).peak_in_use) / (1024.0 * 1024.0));
    return;
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::fprintf(stderr, "peak resident memory: %.0f MiB\n", static_cast<double>(usage.ru_maxrss) / 1024.0);
}

// The run's mixed precision (null for --amp off).
std::unique_ptr<MixedPrecision> mixed_precision_for(const TrainOptions& options) {
  const AmpLevel level = parse_amp_level(options.amp);
  if (level == AmpLevel::Off) return nullptr;
  return std::make_unique<MixedPrecision>(level, parse_amp_dtype(options.amp_dtype));
}

}  // namespace

void check_train_options(const TrainOptions& options) {
  auto in_range = [](const char* flag, std::int64_t value, std::int64_t low, std::int64_t high) {
    check(value >= low && value <= high, flag, " ", value, " is outside ", low, "..", high);
  };
  in_range("--batch_size", options.batch_size, 1, 1 << 20);
  in_range("--val_batch_size", options.val_batch_size, 1, 1 << 20);
  in_range("--epochs", options.epochs, 0, 1'000'000);
  in_range("--workers", options.workers, 0, limits::kWorkers);
  in_range("--image_size", options.image_size, 1, limits::kModelImageSize);
  in_range("--mrr_target", options.mrr_target, 0, limits::kMrrTarget);
  auto finite_at_least = [](const char* flag, double value, double low, bool inclusive) {
    check(std::isfinite(value) && (inclusive ? value >= low : value > low), flag, " ", value, " must be ",
          inclusive ? "at least " : "above ", low, " (and finite)");
  };
  finite_at_least("--lr", options.lr, 0.0, true);
  finite_at_least("--lr_gamma", options.lr_gamma, 0.0, false);
  finite_at_least("--weight_decay", options.weight_decay, 0.0, true);
  finite_at_least("--momentum", options.momentum, 0.0, true);
  check(options.momentum < 1.0, "--momentum ", options.momentum, " must be below 1");
  check(std::isfinite(options.drop_rate) && options.drop_rate >= 0.0 && options.drop_rate < 1.0, "--drop_rate ",
        options.drop_rate, " must be in [0, 1)");
  check(options.sampler == "shuffle" || options.sampler == "mrr", "--sampler \"", printable(options.sampler),
        "\": expected shuffle or mrr");
  check(options.model == "arm" || options.model == "resnet18", "--model \"", printable(options.model),
        "\": expected arm or resnet18");
  check(options.device == "cpu" || options.device == "cuda", "--device \"", printable(options.device),
        "\": expected cpu or cuda");
  check(options.optimizer == "adam" || options.optimizer == "sgd", "--optimizer \"", printable(options.optimizer),
        "\": expected adam or sgd");
  check(options.amp == "off" || options.amp == "O1" || options.amp == "O2", "--amp \"", printable(options.amp),
        "\": expected off, O1 or O2");
  check(options.amp_dtype == "fp16" || options.amp_dtype == "bf16", "--amp_dtype \"", printable(options.amp_dtype),
        "\": expected fp16 or bf16");
  check(options.max_image_pixels > 0, "--max_image_pixels ", options.max_image_pixels, " must be positive");
  parse_data_format(options.data_format);
  check(options.test_split == "PublicTest" || options.test_split == "PrivateTest" || options.test_split == "both",
        "--test_split \"", printable(options.test_split), "\": expected PublicTest, PrivateTest or both");
  check(options.affectnet_classes == 7 || options.affectnet_classes == 8, "--affectnet_classes ",
        options.affectnet_classes, ": expected 7 or 8");
  check(options.limit_train >= 0 && options.limit_test >= 0, "--limit_train ", options.limit_train,
        " and --limit_test ", options.limit_test, " must not be negative");
  check(options.select_best == "accuracy" || options.select_best == "mean_class_accuracy", "--select_best \"",
        printable(options.select_best), "\": expected accuracy or mean_class_accuracy");
}

// ---- the run directory and resuming -------------------------------------------------

namespace {

// True when `out` holds a run (a checkpoint or metrics of one).
bool holds_a_run(const fs::path& out) {
  std::error_code error;
  for (const char* name : {"last.safetensors", "best.safetensors", "metrics.csv"})
    if (fs::exists(out / name, error)) return true;
  return false;
}

// Moves the run in `out` aside to OUT.1 (or the first free OUT.N): --force
// never deletes a run.
void move_run_aside(const fs::path& out) {
  std::error_code error;
  for (int n = 1; n < 10000; ++n) {
    const fs::path aside = out.string() + "." + std::to_string(n);
    if (fs::exists(aside, error)) continue;
    fs::rename(out, aside, error);
    check(!error, "--force: cannot move ", out.string(), " to ", aside.string(), ": ", error.message());
    std::fprintf(stderr, "--force: moved the run in %s to %s\n", out.string().c_str(), aside.string().c_str());
    return;
  }
  throw Error(str_cat("--force: ", out.string(), ".1 .. .9999 all exist; move some aside first"));
}

// The flags a resumed run may be given with another value than its own: how
// long to train, how to load, where the data now is (checked to be the same
// set), and where to run.
bool may_change_on_resume(const std::string& field) {
  static const std::set<std::string> allowed = {"epochs", "workers", "raf_path", "device", "skip_bad", "out"};
  return allowed.count(field) > 0;
}

// Refuses a --resume given a flag that changes the training (the learning
// rate, the batch, the model ...) with another value than the run's own,
// naming it: a resumed run keeps its settings, which would otherwise be
// silently ignored.
void check_resume_flags(const TrainOptions& run, const TrainOptions& given, const std::set<std::string>& given_flags,
                        const std::string& resume_dir) {
  const nlohmann::json run_json = to_json(run), given_json = to_json(given);
  for (const std::string& flag : given_flags) {
    std::string field = flag.substr(flag.find_first_not_of('-'));
    if (field == "data") field = "raf_path";
    if (!given_json.contains(field) || may_change_on_resume(field)) continue;
    check(given_json[field] == run_json[field], "--resume ", resume_dir, ": ", flag, " ", given_json[field].dump(),
          " differs from the run's ", run_json[field].dump(), "; a resumed run keeps its settings (start a new run "
          "from its weights with -c ", resume_dir, " to change them)");
  }
}

// A fingerprint of a data set's samples: their count per split and a hash of
// their names and labels, so that a resumed run can tell that its data is
// the same (after a move, or a change in place).
std::string data_fingerprint(const Dataset& data) {
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a, 64 bits
  auto add = [&](const std::string& text) {
    for (const unsigned char c : text) hash = (hash ^ c) * 1099511628211ull;
    hash = (hash ^ 0xff) * 1099511628211ull;  // a separator byte no name holds
  };
  for (const std::vector<LabeledImage>* split : {&data.train, &data.test})
    for (const LabeledImage& sample : *split) add(sample.name + "\x1f" + std::to_string(sample.label));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return str_cat(data.train.size(), " train, ", data.test.size(), " test, names ", hex);
}

// Where torchvision keeps its downloads: $TORCH_HOME/hub/checkpoints, else
// $XDG_CACHE_HOME/torch/hub/checkpoints, else ~/.cache/torch/hub/checkpoints.
fs::path torch_hub_checkpoints() {
  if (const char* torch_home = std::getenv("TORCH_HOME"); torch_home != nullptr && *torch_home != '\0')
    return fs::path(torch_home) / "hub" / "checkpoints";
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache != nullptr && *cache != '\0')
    return fs::path(cache) / "torch" / "hub" / "checkpoints";
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr ? home : "") / ".cache" / "torch" / "hub" / "checkpoints";
}

// torchvision's ImageNet ResNet-18 in PyTorch's cache, or "" when absent.
std::string find_torchvision_resnet18() {
  std::error_code error;
  for (const char* name : {"resnet18-f37072fd.pth", "resnet18-5c106cde.pth"}) {
    const fs::path candidate = torch_hub_checkpoints() / name;
    if (fs::is_regular_file(candidate, error)) return candidate.string();
  }
  return "";
}

// --pretrained auto|none|FILE on a new run without -c: loads the ImageNet
// weights, or says plainly that training starts from random ones.
void start_from_imagenet(Classifier& model, const std::string& pretrained) {
  if (pretrained == "none" || pretrained.empty()) return;
  std::string path = pretrained;
  if (pretrained == "auto") {
    path = find_torchvision_resnet18();
    if (path.empty()) {
      std::fprintf(stderr,
                   "warning: no ImageNet weights (resnet18-f37072fd.pth) in %s: training starts from random weights, "
                   "and the reference's accuracy needs ImageNet's; put the file there (or give --pretrained FILE), or "
                   "say --pretrained none\n",
                   torch_hub_checkpoints().string().c_str());
      return;
    }
  }
  load_pretrained(model, path);
}

// The run itself, in its (prepared) output directory.
int train_in(TrainingState& state, Checkpoint& start, const std::string& resume_dir, Device device) {
  const TrainOptions& options = state.options;
  const fs::path out(options.out);
  const Dataset data = read_dataset(options.raf_path, dataset_options(options));  // (with train and test images)
  const std::string fingerprint = data_fingerprint(data);
  if (resume_dir.empty()) {
    state.class_names = data.class_names;
    state.data_fingerprint = fingerprint;
  } else {
    check(data.class_names == state.class_names, options.raf_path, ": its classes (", class_list(data.class_names),
          ") are not the run's (", class_list(state.class_names), ")");
    check(state.data_fingerprint.empty() || fingerprint == state.data_fingerprint, options.raf_path,
          ": not the data set the run trained on (", fingerprint, " against the run's ", state.data_fingerprint,
          ")");
  }
  // The loaders before the model: a batch too large for memory is refused before any weights load.
  LoaderOptions train_loading;
  train_loading.batch_size = options.batch_size;
  train_loading.image_size = options.image_size;
  train_loading.augment = true;
  train_loading.sampler = parse_sampler(options.sampler);
  train_loading.mrr_target = options.mrr_target;
  train_loading.num_classes = data.num_classes();
  train_loading.seed = options.seed;
  train_loading.workers = options.workers;
  train_loading.skip_bad = options.skip_bad;
  train_loading.max_image_pixels = options.max_image_pixels;
  LoaderOptions val_loading = train_loading;
  val_loading.batch_size = options.val_batch_size;
  val_loading.augment = false;
  val_loading.sampler = Sampler::Sequential;
  Loader train_loader(data.train, train_loading);
  Loader val_loader(data.test, val_loading);

  std::shared_ptr<Classifier> model = make_model(model_options(options, data.num_classes()));
  model->to(device);  // before anything is loaded: weights and optimizer state go where the parameters are
  Optimizer optimizer(model->named_parameters(), optimizer_options(options));
  const std::unique_ptr<MixedPrecision> amp = mixed_precision_for(options);
  Autocast* const autocast = amp ? &amp->autocast() : nullptr;

  if (!resume_dir.empty()) {
    load_checkpoint_weights(*model, start);
    try {
      optimizer.load_state(start.optimizer_state);
    } catch (const Error& error) {
      throw Error(str_cat(start.path, ": ", error.what()));
    }
    model->dropout_generator().set_state(state.dropout_generator);
    if (amp) {
      try {
        amp->set_scaler(state.scaler);
      } catch (const Error& error) {
        throw Error(str_cat(start.path, ": ", error.what()));
      }
    }
  } else {
    if (amp) state.scaler = amp->scaler();
    if (options.checkpoint.empty()) start_from_imagenet(*model, options.pretrained);
    if (!options.checkpoint.empty()) {
      start = read_checkpoint(options.checkpoint);
      load_checkpoint_weights(*model, start);
      const bool same_optimizer = start.training && start.training->options.optimizer == options.optimizer;
      std::string optimizer_note;
      if (!start.optimizer_state.empty() && same_optimizer) {
        try {
          optimizer.load_state(start.optimizer_state);
        } catch (const Error& error) {
          throw Error(str_cat(start.path, ": ", error.what()));
        }
        optimizer_note = " and its optimizer state";
      } else if (start.training && start.optimizer_state.empty() &&
                 (start.training->epoch > 0 || start.training->batches_done > 0)) {
        optimizer_note = " (it holds no optimizer state: the optimizer starts afresh)";
      } else if (start.training && !start.optimizer_state.empty()) {
        optimizer_note = str_cat(" (its optimizer state is ", start.training->options.optimizer, "'s: the ",
                                 options.optimizer, " optimizer starts afresh)");
      }
      std::fprintf(stderr, "started from the weights of %s%s\n", start.path.c_str(), optimizer_note.c_str());
    }
  }

  const std::string last_path = (out / "last.safetensors").string();
  const std::string best_path = (out / "best.safetensors").string();
  const std::string metrics_path = (out / "metrics.csv").string();
  const std::string curves_path = (out / "curves.png").string();
  const std::int64_t batches = train_loader.batches_per_epoch();
  check(state.batches_done <= batches, start.path, ": stopped after batch ", state.batches_done, " of an epoch, but ",
        options.raf_path, " now makes ", batches, " batches per epoch: the data set changed since");

  StopRequestHandler stop;
  std::fprintf(stderr, "armnet train: %s model, %dx%d input, %d classes\n%s\n", options.model.c_str(), options.image_size,
              options.image_size, data.num_classes(), data.summary().c_str());
  std::fprintf(stderr, "  %s lr %g (x%g per epoch), weight decay %g, batch %d (validation %d), %lld batches per epoch, "
              "sampler %s, seed %llu, %s, %d loader workers\n",
              options.optimizer.c_str(), initial_lr(options), options.lr_gamma, options.weight_decay,
              options.batch_size, options.val_batch_size, static_cast<long long>(batches), options.sampler.c_str(),
              static_cast<unsigned long long>(options.seed), options.device.c_str(), train_loader.workers());
  if (amp)
    std::fprintf(stderr, "  mixed precision %s %s, loss scale %g%s\n", options.amp.c_str(), options.amp_dtype.c_str(),
                state.scaler.scale, state.scaler.dynamic ? " (dynamic)" : " (fixed)");
  if (!resume_dir.empty()) {
    std::fprintf(stderr, "  resuming %s at epoch %lld, batch %lld of %lld\n", start.path.c_str(),
                static_cast<long long>(state.epoch + 1), static_cast<long long>(state.batches_done),
                static_cast<long long>(batches));
  }
  std::fflush(stdout);

  auto save = [&](const std::string& path) {
    state.dropout_generator = model->dropout_generator().state();
    write_checkpoint(path, *model, optimizer, state);
  };
  auto interrupted = [&]() {
    save(last_path);
    std::fprintf(stderr, "interrupted: saved %s (epoch %lld, batch %lld of %lld); continue with: armnet train --resume %s\n",
                last_path.c_str(), static_cast<long long>(state.epoch + 1),
                static_cast<long long>(state.batches_done), static_cast<long long>(batches), options.out.c_str());
    return 130;
  };

  while (state.epoch < options.epochs) {
    const std::int64_t epoch = state.epoch;
    const double lr = exponential_lr(initial_lr(options), options.lr_gamma, epoch);
    optimizer.set_lr(lr);
    model->train();
    const auto epoch_start = std::chrono::steady_clock::now();
    ProgressBar progress(str_cat("train ", epoch + 1, "/", options.epochs), batches);
    std::int64_t images_here = 0;
    train_loader.start_epoch(epoch, state.batches_done);
    Batch batch;
    while (train_loader.next(batch)) {
      // On a GPU the batch is uploaded from its pinned buffer asynchronously.
      const Tensor images = batch.images.to(device), labels = batch.labels.to(device);
      MixedPrecisionStep step;
      if (amp) {
        step = amp->train_step(*model, optimizer, images, labels);  // forward, loss, scaled step (or skip)
        state.scaler = amp->scaler();
        if (!step.stepped && std::isfinite(step.loss_value)) ++state.partial_skipped_steps;
      } else {
        step.logits = model->forward(images);
        step.loss = cross_entropy(step.logits, labels);
        step.loss_value = step.loss.item();
      }
      const Tensor& logits = step.logits;
      const double loss_value = step.loss_value;
      if (!std::isfinite(loss_value)) {
        progress.finish();
        kernels::check_cross_entropy_targets(step.loss);  // on a GPU a bad label shows first as a NaN loss
        const std::string overflow_note =
            options.amp != "off" && options.amp_dtype == "fp16"
                ? " (under --amp with fp16 the forward pass may exceed float16's range, 65504: --amp_dtype bf16 "
                  "has float32's range)"
                : "";
        throw Error(str_cat("the training loss became ", loss_value, " at epoch ", epoch + 1, ", step ",
                            batch.index + 1, " of ", batches, "; training stopped (the last good checkpoint ",
                            fs::exists(last_path) ? last_path : std::string("(none yet)"), " is kept)",
                            overflow_note));
      }
      if (!amp) {
        step.loss.backward();
        optimizer.step();
        optimizer.zero_grad();
      }
      state.batches_done = batch.index + 1;
      state.partial_loss_sum += loss_value;
      state.partial_correct += kernels::correct_count(logits.detach(), labels);
      state.partial_seen += batch.labels.numel();
      images_here += batch.labels.numel();
      progress.update(state.batches_done, images_here, state.partial_loss_sum / static_cast<double>(state.batches_done),
                      amp ? str_cat("scale ", state.scaler.scale, " skipped ", state.partial_skipped_steps) : "");
      if (stop.requested()) {
        progress.finish();
        state.partial_seconds += seconds_since(epoch_start);
        return interrupted();
      }
    }
    progress.finish();
    // A Ctrl-C here saves the epoch with all its training done: the resumed
    // run starts at this validation.
    const Evaluation validation = evaluate(*model, val_loader, 0, str_cat("validation ", epoch + 1, "/", options.epochs),
                                           [&] { return stop.requested(); }, autocast);
    if (validation.interrupted) {
      state.partial_seconds += seconds_since(epoch_start);
      return interrupted();
    }

    EpochMetrics metrics;
    metrics.epoch = static_cast<int>(epoch + 1);
    metrics.train_loss = state.partial_loss_sum / static_cast<double>(std::max<std::int64_t>(1, state.batches_done));
    metrics.train_accuracy =
        static_cast<double>(state.partial_correct) / static_cast<double>(std::max<std::int64_t>(1, state.partial_seen));
    metrics.val_loss = validation.mean_loss;
    metrics.val_accuracy = validation.confusion.accuracy();
    metrics.val_mean_class_accuracy = validation.confusion.mean_class_accuracy();
    for (int c = 0; c < data.num_classes(); ++c) metrics.val_class_recall.push_back(validation.confusion.recall(c));
    metrics.lr = lr;
    metrics.seconds = state.partial_seconds + seconds_since(epoch_start);
    metrics.skipped_steps = state.partial_skipped_steps;
    metrics.loss_scale = state.scaler.scale;
    std::printf("[Epoch %d] Training accuracy: %.4f. Loss: %.3f LR: %.6f\n", metrics.epoch, metrics.train_accuracy,
                metrics.train_loss, metrics.lr);
    std::printf("[Epoch %d] Validation accuracy:%.4f. Loss:%.3f\n", metrics.epoch, metrics.val_accuracy,
                metrics.val_loss);
    if (amp)
      std::printf("[Epoch %d] Mixed precision %s %s: loss scale %g, %lld skipped steps\n", metrics.epoch,
                  options.amp.c_str(), options.amp_dtype.c_str(), metrics.loss_scale,
                  static_cast<long long>(metrics.skipped_steps));

    state.history.push_back(metrics);
    state.epoch = epoch + 1;
    state.batches_done = 0;
    state.partial_loss_sum = 0.0;
    state.partial_correct = state.partial_seen = 0;
    state.partial_seconds = 0.0;
    state.partial_skipped_steps = 0;
    write_metrics_csv(metrics_path, state.history, state.class_names);
    write_training_curves_png(curves_path, state.history);
    const double selected =
        options.select_best == "accuracy" ? metrics.val_accuracy : metrics.val_mean_class_accuracy;
    if (selected > state.best_accuracy) {
      state.best_accuracy = selected;
      state.best_epoch = metrics.epoch;
      save(best_path);
      std::fprintf(stderr, "  best so far (validation %s %.4f): saved %s\n", options.select_best.c_str(), selected,
                  best_path.c_str());
    }
    save(last_path);
    std::fflush(stdout);
    if (stop.requested()) return interrupted();
  }
  std::printf("done: best validation %s %.4f at epoch %d\n", options.select_best.c_str(), state.best_accuracy,
              state.best_epoch);
  std::printf("outputs in %s: last.safetensors, best.safetensors, metrics.csv, curves.png\n", options.out.c_str());
  print_peak_memory(device);
  return 0;
}

}  // namespace

int run_training(const TrainOptions& given, const std::string& resume_dir, const std::set<std::string>& given_flags) {
  TrainingState state;
  Checkpoint start;  // what --resume or -c names
  if (!resume_dir.empty()) {
    start = read_checkpoint((fs::path(resume_dir) / "last.safetensors").string());
    check(start.training.has_value(), start.path, ": not an armnet training checkpoint (no training state); "
          "start from its weights with -c instead");
    state = *start.training;
    check(!start.optimizer_state.empty() || (state.epoch == 0 && state.batches_done == 0), start.path,
          ": its training state is at epoch ", state.epoch + 1, ", batch ", state.batches_done,
          ", but it holds no optimizer tensors (", kOptimizerPrefix, "...), so the run cannot resume exactly; "
          "start from its weights with -c instead (the optimizer then starts afresh)");
    check_resume_flags(state.options, given, given_flags, resume_dir);
    for (const std::string& flag : given_flags) {
      if (flag == "--epochs") state.options.epochs = given.epochs;
      if (flag == "--workers") state.options.workers = given.workers;
      if (flag == "--data") state.options.raf_path = given.raf_path;  // (CLI11 names --raf_path by its first name)
      if (flag == "--device") state.options.device = given.device;
      if (flag == "--skip_bad") state.options.skip_bad = given.skip_bad;
    }
    state.options.out = resume_dir;
  } else {
    state.options = given;
  }
  state.options.max_image_pixels = given.max_image_pixels;
  const TrainOptions& options = state.options;
  try {  // flags out of range, or a size too small for the ARM: refused now, as usage errors
    check_train_options(options);
    if (options.model == "arm") arm_feature_count(options.image_size);
  } catch (const Error& error) {
    throw UsageError(error.what());
  }
  const Device device = device_from_flag(options.device);
  if (state.epoch >= options.epochs) {
    // Nothing is written; only what dead processes left in the directory goes.
    std::error_code error;
    if (fs::is_directory(options.out, error)) remove_stale_temporaries(options.out);
    if (resume_dir.empty())
      std::fprintf(stderr, "nothing to train: --epochs %d; nothing written\n", options.epochs);
    else
      std::fprintf(stderr, "nothing to train: %s has done %lld of %d epochs (give --epochs N to train on); nothing written\n",
                  resume_dir.c_str(), static_cast<long long>(state.epoch), options.epochs);
    return 0;
  }

  const fs::path out(options.out);
  if (resume_dir.empty() && holds_a_run(out)) {
    check(given.force, "--out ", options.out, " already holds a run (", (out / "last.safetensors").string(),
          "); continue it with --resume ", options.out, ", or start afresh with --force (which moves it to ",
          options.out, ".1)");
    move_run_aside(out);
  }
  const bool created = !fs::exists(out);
  prepare_output_directory(options.out);
  try {
    return train_in(state, start, resume_dir, device);
  } catch (...) {
    // A run that failed before it wrote anything leaves no directory behind.
    std::error_code error;
    if (created && fs::is_empty(out, error)) fs::remove(out, error);
    throw;
  }
}

// ---- the command line -------------------------------------------------------------

void add_train_command(CLI::App& app) {
  struct Arguments {
    TrainOptions options;
    std::string resume;
  };
  auto arguments = std::make_shared<Arguments>();
  TrainOptions& o = arguments->options;
  CLI::App* command =
      app.add_subcommand("train", "Train ResNet-18 + ARM (or the baseline) on RAF-DB, class folders, FER2013 or AffectNet");
  add_data_options(*command, o.raf_path, o.data_format, o.test_split, o.affectnet_classes, o.limit_train,
                   o.limit_test);
  command->add_option("--batch_size", o.batch_size, "Training batch size")->capture_default_str();
  command->add_option("--val_batch_size", o.val_batch_size, "Validation batch size")->capture_default_str();
  command->add_option("--optimizer", o.optimizer, "adam or sgd")
      ->check(CLI::IsMember({"adam", "sgd"}))
      ->capture_default_str();
  command->add_option("--lr", o.lr, "Initial learning rate (default: adam 0.001, sgd 0.01)")->check(finite_number());
  command->add_option("--momentum", o.momentum, "SGD momentum")->check(finite_number())->capture_default_str();
  command->add_option("--weight_decay", o.weight_decay, "L2 weight decay added to the gradient")
      ->check(finite_number())
      ->capture_default_str();
  command->add_option("--lr_gamma", o.lr_gamma, "Learning-rate factor after each epoch")
      ->check(finite_number())
      ->capture_default_str();
  command->add_option("--workers", o.workers, "Data-loading threads (0: one per core)")->capture_default_str();
  command->add_option("--epochs", o.epochs, "Epochs to train (with --resume: the new total)")->capture_default_str();
  command->add_option("-c,--checkpoint", o.checkpoint, "Start from these weights (armnet or reference .pth)");
  command->add_option("--model", o.model, "arm (ResNet-18 + ARM) or resnet18 (baseline)")
      ->check(CLI::IsMember({"arm", "resnet18"}))
      ->capture_default_str();
  command->add_option("--pretrained", o.pretrained,
                      "torchvision's ImageNet ResNet-18 for the feature stack: auto (PyTorch's cache, if there), "
                      "none, or a .pth file")
      ->capture_default_str();
  command->add_option("--image_size", o.image_size, "Square input size (ARM: 33 or more)")->capture_default_str();
  command->add_option("--drop_rate", o.drop_rate, "Dropout before fc, in training only")
      ->check(finite_number())
      ->capture_default_str();
  command->add_flag("--batch_independent_eval", o.batch_independent_eval,
                    "ARM: evaluate with a running global mean instead of the batch's");
  command->add_option("--sampler", o.sampler, "shuffle (the reference) or mrr (class-balanced resampling)")
      ->check(CLI::IsMember({"shuffle", "mrr"}))
      ->capture_default_str();
  command->add_option("--mrr_target", o.mrr_target, "MRR's samples per class (0: the largest class)")
      ->capture_default_str();
  command->add_option("--seed", o.seed, "Seed of initialisation, order and augmentation")
      ->check(unsigned_integer())
      ->capture_default_str();
  command->add_option("--out", o.out, "Directory for checkpoints, metrics.csv and curves.png")->capture_default_str();
  command->add_flag("--force", o.force, "If --out holds a run, move it aside to OUT.1 (never deleted) and start afresh");
  command->add_option("--select_best", o.select_best,
                      "What best.safetensors is best at: accuracy (the reference) or mean_class_accuracy")
      ->check(CLI::IsMember({"accuracy", "mean_class_accuracy"}))
      ->capture_default_str();
  add_device_option(*command, o.device);
  add_amp_options(*command, o.amp, o.amp_dtype);
  command->add_option("--resume", arguments->resume, "Continue the run in this directory exactly where it stopped");
  command->add_flag("--skip_bad", o.skip_bad, "Skip undecodable images with a warning instead of stopping");
  add_max_image_pixels_option(*command, o.max_image_pixels);
  command->callback([arguments, command] {
    std::set<std::string> given_flags;  // what the command line set, by the flag's long name
    for (const CLI::Option* option : command->get_options())
      if (option->count() > 0) given_flags.insert(option->get_name());
    const int status = run_training(arguments->options, arguments->resume, given_flags);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace armnet::apps
