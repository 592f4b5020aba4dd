#include "apps/checkpoint.h"

#include <filesystem>
#include <map>

#include "data/raf_db.h"
#include "layers/state_dict.h"
#include "tensor/io/safetensors.h"
#include "tensor/io/torch_checkpoint.h"

namespace armnet::apps {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- options and state as JSON ---------------------------------------------
// One list of fields per struct, walked by both directions, so that a new
// field cannot be saved but forgotten when loading.

namespace {

template <class Options, class Visit>
void visit_fields(Options& o, Visit&& visit) {
  visit("raf_path", o.raf_path);
  visit("batch_size", o.batch_size);
  visit("val_batch_size", o.val_batch_size);
  visit("optimizer", o.optimizer);
  visit("lr", o.lr);
  visit("momentum", o.momentum);
  visit("weight_decay", o.weight_decay);
  visit("lr_gamma", o.lr_gamma);
  visit("workers", o.workers);
  visit("epochs", o.epochs);
  visit("checkpoint", o.checkpoint);
  visit("model", o.model);
  visit("pretrained", o.pretrained);
  visit("image_size", o.image_size);
  visit("drop_rate", o.drop_rate);
  visit("batch_independent_eval", o.batch_independent_eval);
  visit("sampler", o.sampler);
  visit("mrr_target", o.mrr_target);
  visit("seed", o.seed);
  visit("out", o.out);
  visit("device", o.device);
  visit("skip_bad", o.skip_bad);
}

template <class State, class Visit>
void visit_state_fields(State& s, Visit&& visit) {
  visit("epoch", s.epoch);
  visit("batches_done", s.batches_done);
  visit("partial_loss_sum", s.partial_loss_sum);
  visit("partial_correct", s.partial_correct);
  visit("partial_seen", s.partial_seen);
  visit("partial_seconds", s.partial_seconds);
  visit("best_accuracy", s.best_accuracy);
  visit("best_epoch", s.best_epoch);
  visit("dropout_generator", s.dropout_generator);
  visit("loss_scaling", s.loss_scaling);
  visit("loss_scale", s.loss_scale);
  visit("loss_scale_good_steps", s.loss_scale_good_steps);
}

template <class Metrics, class Visit>
void visit_metric_fields(Metrics& m, Visit&& visit) {
  visit("epoch", m.epoch);
  visit("train_loss", m.train_loss);
  visit("train_accuracy", m.train_accuracy);
  visit("val_loss", m.val_loss);
  visit("val_accuracy", m.val_accuracy);
  visit("lr", m.lr);
  visit("seconds", m.seconds);
}

struct Writer {
  json& out;
  template <class T>
  void operator()(const char* name, const T& value) const { out[name] = value; }
};

struct Reader {
  const json& in;
  const char* what;
  template <class T>
  void operator()(const char* name, T& value) const {
    const auto found = in.find(name);
    check(found != in.end(), what, ": field \"", name, "\" is missing");
    try {
      value = found->template get<T>();
    } catch (const json::exception&) {
      throw Error(str_cat(what, ": field \"", name, "\" has the wrong type (", found->dump(), ")"));
    }
  }
};

}  // namespace

json to_json(const TrainOptions& options) {
  json out = json::object();
  visit_fields(options, Writer{out});
  return out;
}

TrainOptions train_options_from_json(const json& in) {
  check(in.is_object(), "training options: not a JSON object");
  TrainOptions options;
  visit_fields(options, Reader{in, "training options"});
  return options;
}

ModelOptions model_options(const TrainOptions& options) {
  ModelOptions model;
  model.architecture = options.model;
  model.num_classes = kRafNumClasses;
  model.image_size = options.image_size;
  model.drop_rate = options.drop_rate;
  model.batch_independent_eval = options.batch_independent_eval;
  model.seed = options.seed;
  return model;
}

json to_json(const TrainingState& state) {
  json out = json::object();
  visit_state_fields(state, Writer{out});
  out["options"] = to_json(state.options);
  json history = json::array();
  for (const EpochMetrics& metrics : state.history) {
    json row = json::object();
    visit_metric_fields(metrics, Writer{row});
    history.push_back(row);
  }
  out["history"] = history;
  return out;
}

TrainingState training_state_from_json(const json& in) {
  check(in.is_object(), "training state: not a JSON object");
  TrainingState state;
  visit_state_fields(state, Reader{in, "training state"});
  check(in.contains("options"), "training state: field \"options\" is missing");
  state.options = train_options_from_json(in["options"]);
  check(in.contains("history") && in["history"].is_array(), "training state: field \"history\" is missing");
  for (const json& row : in["history"]) {
    EpochMetrics metrics;
    visit_metric_fields(metrics, Reader{row, "training history"});
    state.history.push_back(metrics);
  }
  return state;
}

// ---- files --------------------------------------------------------------------

namespace {

constexpr const char* kFormat = "armnet-checkpoint";
constexpr const char* kVersion = "1";

bool has_suffix(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first 4 bytes: safetensors starts with a little-endian header length,
// a .pth file with a zip signature "PK\x03\x04".
bool looks_like_zip(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  char magic[4] = {};
  const std::size_t got = std::fread(magic, 1, 4, file);
  std::fclose(file);
  return got == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

std::string resolve_checkpoint_path(const std::string& path) {
  check(!path.empty(), "no checkpoint given (-c FILE or a run directory)");
  std::error_code error;
  if (fs::is_directory(path, error)) {
    for (const char* name : {"best.safetensors", "last.safetensors"}) {
      const fs::path candidate = fs::path(path) / name;
      if (fs::exists(candidate, error)) return candidate.string();
    }
    throw Error(str_cat(path, ": a directory without best.safetensors or last.safetensors"));
  }
  check(fs::exists(path, error), path, ": no such checkpoint file");
  return path;
}

// Strips DataParallel's "module." from every key that has it.
NamedTensors without_module_prefix(NamedTensors tensors) {
  const std::string prefix = "module.";
  for (auto& [name, tensor] : tensors) {
    if (name.compare(0, prefix.size(), prefix) == 0) name = name.substr(prefix.size());
  }
  return tensors;
}

}  // namespace

void write_checkpoint(const std::string& path, const Classifier& model, const Optimizer& optimizer,
                      const TrainingState& state) {
  NamedTensors tensors = model.state_dict();
  for (const auto& [name, tensor] : optimizer.state()) tensors.emplace_back(kOptimizerPrefix + name, tensor);
  std::map<std::string, std::string> metadata = {
      {"format", kFormat}, {"version", kVersion}, {"training", to_json(state).dump()}};
  write_safetensors(path, tensors, metadata);
}

Checkpoint read_checkpoint(const std::string& given_path) {
  Checkpoint checkpoint;
  checkpoint.path = resolve_checkpoint_path(given_path);
  const std::string& path = checkpoint.path;
  if (looks_like_zip(path) || has_suffix(path, ".pth") || has_suffix(path, ".pt")) {
    checkpoint.weights = without_module_prefix(read_torch_checkpoint(path));
    return checkpoint;
  }
  std::map<std::string, std::string> metadata;
  const NamedTensors tensors = read_safetensors(path, &metadata);
  const std::string prefix = kOptimizerPrefix;
  for (const auto& [name, tensor] : tensors) {
    if (name.compare(0, prefix.size(), prefix) == 0) {
      checkpoint.optimizer_state.emplace_back(name.substr(prefix.size()), tensor);
    } else {
      checkpoint.weights.emplace_back(name, tensor);
    }
  }
  checkpoint.weights = without_module_prefix(std::move(checkpoint.weights));
  const auto format = metadata.find("format");
  if (format != metadata.end() && format->second == kFormat) {
    check(metadata["version"] == kVersion, path, ": armnet checkpoint version \"", metadata["version"],
          "\" (this armnet reads version ", kVersion, ")");
    try {
      checkpoint.training = training_state_from_json(json::parse(metadata["training"]));
    } catch (const json::exception& error) {
      throw Error(str_cat(path, ": the training state in the metadata is not valid JSON (", error.what(), ")"));
    } catch (const Error& error) {
      throw Error(str_cat(path, ": ", error.what()));
    }
  }
  return checkpoint;
}

namespace {

const Tensor* find_tensor(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return &tensor;
  return nullptr;
}

std::string architecture_of(const NamedTensors& weights) {
  for (const auto& [key, tensor] : weights)
    if (key.compare(0, 4, "arm.") == 0) return "arm";
  return "resnet18";
}

}  // namespace

void load_checkpoint_weights(Classifier& model, const Checkpoint& checkpoint) {
  const std::string expected = model.options().architecture;
  const std::string found = architecture_of(checkpoint.weights);
  check(found == expected, checkpoint.path, ": holds a ", found == "arm" ? "ResNet-18 + ARM" : "plain ResNet-18",
        " model (--model ", found, "), not ", expected);
  try {
    load_state_dict(model, checkpoint.weights, /*strict=*/true);
  } catch (const Error& error) {
    throw Error(str_cat(checkpoint.path, ": ", error.what()));
  }
}

std::shared_ptr<Classifier> model_from_checkpoint(const Checkpoint& checkpoint, int image_size_hint) {
  ModelOptions options;
  if (checkpoint.training) {
    options = model_options(checkpoint.training->options);
    if (image_size_hint > 0 && options.architecture == "resnet18") options.image_size = image_size_hint;
  } else {
    options.architecture = architecture_of(checkpoint.weights);
    options.image_size = image_size_hint > 0 ? image_size_hint : 224;
    if (const Tensor* fc = find_tensor(checkpoint.weights, "fc.weight"); fc != nullptr && fc->ndim() == 2) {
      options.num_classes = static_cast<int>(fc->size(0));
      if (options.architecture == "arm") {
        const std::int64_t width = fc->size(1);
        check(width == arm_feature_count(options.image_size), checkpoint.path, ": its fc takes ", width,
              " ARM features, which does not fit image size ", options.image_size, " (",
              arm_feature_count(options.image_size), " features); give the size it was trained at (--image_size)");
      }
    }
  }
  std::shared_ptr<Classifier> model = make_model(options);
  load_checkpoint_weights(*model, checkpoint);
  return model;
}

}  // namespace armnet::apps
