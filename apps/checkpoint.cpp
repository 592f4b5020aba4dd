#include "apps/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <type_traits>

#include "apps/commands.h"
#include "data/image.h"
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

// A field that older checkpoints lack: read when present, else its default.
template <class T>
struct Optional {
  T& value;
};
template <class T>
Optional<T> optional(T& value) {
  return {value};
}

template <class Options, class Visit>
void visit_fields(Options& o, Visit&& visit) {
  visit("raf_path", o.raf_path);
  visit("data_format", optional(o.data_format));
  visit("test_split", optional(o.test_split));
  visit("affectnet_classes", optional(o.affectnet_classes));
  visit("limit_train", optional(o.limit_train));
  visit("limit_test", optional(o.limit_test));
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
  visit("amp", optional(o.amp));
  visit("amp_dtype", optional(o.amp_dtype));
  visit("select_best", optional(o.select_best));
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
  visit("loss_scaling", s.scaler.dynamic);
  visit("loss_scale", s.scaler.scale);
  visit("loss_scale_good_steps", s.scaler.clean_steps);
  visit("loss_scale_skipped_steps", optional(s.scaler.skipped_steps));
  visit("partial_skipped_steps", optional(s.partial_skipped_steps));
  visit("data_fingerprint", optional(s.data_fingerprint));
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
  visit("val_mean_class_accuracy", optional(m.val_mean_class_accuracy));
  visit("skipped_steps", optional(m.skipped_steps));
  visit("loss_scale", optional(m.loss_scale));
}

struct Writer {
  json& out;
  template <class T>
  void operator()(const char* name, const T& value) const { out[name] = value; }
  template <class T>
  void operator()(const char* name, const Optional<T>& field) const { out[name] = field.value; }
};

// What a JSON value is, for messages (never the value itself, which may be huge).
const char* json_kind(const json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number_float()) return "a fraction";
  if (value.is_string()) return "a string";
  if (value.is_boolean()) return "a boolean";
  if (value.is_null()) return "null";
  return value.is_array() ? "a list" : "an object";
}

// Reads each field with its exact type: an integer field takes only an
// integer that fits (2^31 is no int), a number field any finite number, a
// string field a string, a flag a boolean.
struct Reader {
  const json& in;
  const char* what;
  template <class T>
  void operator()(const char* name, const Optional<T>& field) const {
    if (in.contains(name)) (*this)(name, field.value);
  }
  template <class T>
  void operator()(const char* name, T& value) const {
    const auto found = in.find(name);
    check(found != in.end(), what, ": field \"", name, "\" is missing");
    const json& field = *found;
    const auto wrong = [&](const char* expected) {
      return Error(str_cat(what, ": field \"", name, "\" is ", json_kind(field), ", expected ", expected));
    };
    if constexpr (std::is_same_v<T, bool>) {
      if (!field.is_boolean()) throw wrong("true or false");
      value = field.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      if (!field.is_number_integer()) throw wrong("an integer");
      bool fits = false;
      if (field.is_number_unsigned()) {
        fits = field.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
      } else if constexpr (std::is_signed_v<T>) {
        const std::int64_t number = field.get<std::int64_t>();
        fits = number >= std::numeric_limits<T>::min() && number <= std::numeric_limits<T>::max();
      }
      check(fits, what, ": field \"", name, "\" holds ",
            field.is_number_unsigned() ? std::to_string(field.get<std::uint64_t>())
                                       : std::to_string(field.get<std::int64_t>()),
            ", outside ", +std::numeric_limits<T>::min(), "..", +std::numeric_limits<T>::max());
      value = field.is_number_unsigned() ? static_cast<T>(field.get<std::uint64_t>())
                                         : static_cast<T>(field.get<std::int64_t>());
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!field.is_number()) throw wrong("a number");
      value = field.get<T>();
      check(std::isfinite(value), what, ": field \"", name, "\" is not finite");
    } else {
      if (!field.is_string()) throw wrong("a string");
      value = field.get<T>();
    }
  }
};

// A list of class names: 1..kClasses strings, each of 1..kClassNameBytes
// bytes and no control byte.
std::vector<std::string> string_list(const json& value, const char* what) {
  check(value.is_array() && !value.empty() && value.size() <= static_cast<std::size_t>(limits::kClasses), what,
        " must be a list of 1..", limits::kClasses, " names, got ", json_kind(value));
  std::vector<std::string> names;
  for (const json& name : value) {
    check(name.is_string(), what, ": an entry is ", json_kind(name), ", not a string");
    const std::string text = name.get<std::string>();
    check(!text.empty() && text.size() <= limits::kClassNameBytes && printable(text, limits::kClassNameBytes) == text, what, ": \"",
          printable(text), "\" is empty, longer than ", limits::kClassNameBytes, " bytes or holds control bytes");
    names.push_back(text);
  }
  return names;
}

// A list of finite numbers, at most kClasses of them.
std::vector<double> number_list(const json& value, const char* what) {
  check(value.is_array() && value.size() <= static_cast<std::size_t>(limits::kClasses), what,
        " must be a list of at most ", limits::kClasses, " numbers, got ", json_kind(value));
  std::vector<double> numbers;
  for (const json& number : value) {
    check(number.is_number() && std::isfinite(number.get<double>()), what, ": an entry is not a finite number");
    numbers.push_back(number.get<double>());
  }
  return numbers;
}

// JSON that a stranger may have written (a checkpoint's training state),
// parsed with its nesting bounded before anything walks it.
json parse_untrusted_json(const std::string& text, const std::string& what) {
  const json::parser_callback_t bound_depth = [&what](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= limits::kJsonDepth)
      throw Error(str_cat(what, " nests deeper than ", limits::kJsonDepth, " levels (the limit)"));
    return true;
  };
  try {
    return json::parse(text, bound_depth);
  } catch (const json::exception& error) {
    throw Error(str_cat(what, " is not valid JSON (", printable(error.what()), ")"));
  }
}

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
  try {
    check_train_options(options);
  } catch (const Error& error) {
    throw Error(str_cat("training options: ", error.what()));
  }
  return options;
}

ModelOptions model_options(const TrainOptions& options, int num_classes) {
  ModelOptions model;
  model.architecture = options.model;
  model.num_classes = num_classes;
  model.image_size = options.image_size;
  model.drop_rate = options.drop_rate;
  model.batch_independent_eval = options.batch_independent_eval;
  model.seed = options.seed;
  return model;
}

DatasetOptions dataset_options(const TrainOptions& options) {
  return dataset_options_from_flags(options.data_format, options.test_split, options.affectnet_classes,
                                    options.limit_train, options.limit_test, options.seed);
}

json to_json(const TrainingState& state) {
  json out = json::object();
  visit_state_fields(state, Writer{out});
  out["options"] = to_json(state.options);
  out["class_names"] = state.class_names;
  json history = json::array();
  for (const EpochMetrics& metrics : state.history) {
    json row = json::object();
    visit_metric_fields(metrics, Writer{row});
    row["val_class_recall"] = metrics.val_class_recall;
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
  // (Checkpoints from before other data sets keep the default: RAF-DB's classes.)
  if (in.contains("class_names")) state.class_names = string_list(in["class_names"], "training state: class_names");
  check(in.contains("history") && in["history"].is_array(), "training state: field \"history\" is missing");
  check(state.epoch >= 0 && state.epoch <= state.options.epochs, "training state: field \"epoch\" holds ",
        state.epoch, ", outside 0..epochs (", state.options.epochs, ")");
  const json& history = in["history"];
  check(history.size() == static_cast<std::size_t>(std::max<std::int64_t>(state.epoch, 0)),
        "training state: the history has ", history.size(), " rows for ", state.epoch, " finished epochs");
  for (const json& row : history) {
    check(row.is_object(), "training history: a row is ", json_kind(row), ", not an object");
    EpochMetrics metrics;
    visit_metric_fields(metrics, Reader{row, "training history"});
    if (row.contains("val_class_recall")) {  // empty in rows of checkpoints from before it was kept
      metrics.val_class_recall = number_list(row["val_class_recall"], "training history: val_class_recall");
      check(metrics.val_class_recall.empty() || metrics.val_class_recall.size() == state.class_names.size(),
            "training history: val_class_recall has ", metrics.val_class_recall.size(), " values for ",
            state.class_names.size(), " classes");
    }
    check(metrics.epoch == static_cast<int>(state.history.size()) + 1, "training history: row ",
          state.history.size() + 1, " is of epoch ", metrics.epoch);
    state.history.push_back(metrics);
  }
  const TrainingState& s = state;
  auto require = [](bool ok, const char* field, const auto& value, const char* range) {
    check(ok, "training state: field \"", field, "\" holds ", value, ", outside ", range);
  };
  require(s.batches_done >= 0 && (s.batches_done == 0 || s.epoch < s.options.epochs), "batches_done",
          s.batches_done, "0..batches per epoch, within the run");
  require(s.partial_loss_sum >= 0.0, "partial_loss_sum", s.partial_loss_sum, "0 and more");
  require(s.partial_seen >= 0, "partial_seen", s.partial_seen, "0 and more");
  require(s.partial_correct >= 0 && s.partial_correct <= s.partial_seen, "partial_correct", s.partial_correct,
          "0..partial_seen");
  require(s.partial_seconds >= 0.0, "partial_seconds", s.partial_seconds, "0 and more");
  require(s.best_accuracy >= -1.0 && s.best_accuracy <= 1.0, "best_accuracy", s.best_accuracy, "-1..1");
  require(s.best_epoch >= 0 && s.best_epoch <= s.epoch, "best_epoch", s.best_epoch, "0..epoch");
  require(s.scaler.scale >= 1.0 && s.scaler.scale <= MixedPrecision::kMaxScale, "loss_scale", s.scaler.scale,
          "1..2^24");
  require(s.scaler.clean_steps >= 0 && s.scaler.clean_steps < MixedPrecision::kGrowthInterval,
          "loss_scale_good_steps", s.scaler.clean_steps, "0..1999");
  require(s.scaler.skipped_steps >= 0, "loss_scale_skipped_steps", s.scaler.skipped_steps, "0 and more");
  require(s.partial_skipped_steps >= 0 && s.partial_skipped_steps <= s.scaler.skipped_steps, "partial_skipped_steps",
          s.partial_skipped_steps, "0..loss_scale_skipped_steps");
  return state;
}

// ---- files --------------------------------------------------------------------

namespace {

constexpr const char* kFormat = "armnet-checkpoint";
constexpr const char* kVersion = "1";

bool has_suffix(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first `count` bytes of a file (fewer when it is shorter); nothing when
// it cannot be opened, which the reader that follows reports.
std::optional<std::string> first_bytes(const std::string& path, std::size_t count) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::nullopt;
  std::string bytes(count, '\0');
  bytes.resize(std::fread(bytes.data(), 1, count, file));
  std::fclose(file);
  return bytes;
}

// A .pth file of PyTorch 1.6 and later is a zip archive ("PK\x03\x04").
bool is_zip(const std::string& head) { return head.compare(0, 4, std::string("PK\x03\x04", 4)) == 0; }

// What a file that cannot be a checkpoint is, from its first bytes, for
// "not a checkpoint: FILE is a PNG image"; empty when it may be one: a zip
// (.pth), a pickle (an old .pth) or a safetensors file (an 8-byte header
// length, then the header's JSON object).
std::string what_else_it_is(const std::string& head) {
  if (head.empty()) return "an empty file";
  if (is_zip(head) || static_cast<unsigned char>(head[0]) == 0x80) return "";
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(head.data());
  switch (image_format_of(bytes, head.size())) {
    case ImageFormat::Jpeg: return "a JPEG image";
    case ImageFormat::Png: return "a PNG image";
    case ImageFormat::Bmp: return "a BMP image";
    case ImageFormat::None: break;
  }
  if (head.compare(0, 4, "GIF8") == 0) return "a GIF image";
  if (head.compare(0, 4, "%PDF") == 0) return "a PDF document";
  if (head.compare(0, 2, "\x1f\x8b") == 0) return "a gzip file";
  if (head.size() > 8 && head[8] == '{') return "";
  const bool text = std::all_of(head.begin(), head.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 ? byte != 0x7f : (c == '\n' || c == '\r' || c == '\t');
  });
  if (text) return "a text file";
  std::string start;
  for (std::size_t i = 0; i < std::min<std::size_t>(head.size(), 8); ++i)
    start += str_cat(i == 0 ? "" : " ", "0123456789abcdef"[bytes[i] >> 4], "0123456789abcdef"[bytes[i] & 15]);
  return str_cat("neither safetensors nor a PyTorch file (it starts with the bytes ", start, ")");
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
  const std::optional<std::string> head = first_bytes(path, 512);
  if (head) {
    const std::string other = what_else_it_is(*head);
    check(other.empty(), "not a checkpoint: ", path, " is ", other,
          " (armnet reads its own checkpoints, safetensors weights and PyTorch .pth files)");
  }
  if ((head && is_zip(*head)) || has_suffix(path, ".pth") || has_suffix(path, ".pt")) {
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
    check(metadata["version"] == kVersion, path, ": armnet checkpoint version \"", printable(metadata["version"]),
          "\" (this armnet reads version ", kVersion, ")");
    try {
      checkpoint.training = training_state_from_json(parse_untrusted_json(metadata["training"], "the training state"));
    } catch (const Error& error) {
      throw Error(str_cat(path, ": ", error.what()));
    }
  }
  return checkpoint;
}

namespace {

std::string architecture_of(const NamedTensors& weights) {
  for (const auto& [key, tensor] : weights)
    if (key.compare(0, 4, "arm.") == 0) return "arm";
  return "resnet18";
}

}  // namespace

// The first element of `values` that is NaN or infinite, or -1.
template <class T>
std::int64_t first_non_finite(const T* values, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i)
    if (!std::isfinite(static_cast<double>(values[i]))) return i;
  return -1;
}

// A weight that is NaN or infinite makes every prediction NaN: refused, named.
void check_finite(const std::string& path, const NamedTensors& tensors, const char* what) {
  for (const auto& [name, tensor] : tensors) {
    if (!is_floating(tensor.dtype())) continue;
    const Tensor values = tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Float64
                              ? tensor.to(Device::CPU)
                              : tensor.to(Device::CPU).to(DType::Float32);  // 16-bit: small, converted
    const std::int64_t bad = values.dtype() == DType::Float64
                                 ? first_non_finite(values.data<double>(), values.numel())
                                 : first_non_finite(values.data<float>(), values.numel());
    if (bad >= 0)
      throw Error(str_cat(path, ": ", what, " '", printable(name), "' holds ", values.to_vector()[bad],
                          " at element ", bad, " (of ", shape_str(tensor.shape()),
                          "): the weights are damaged or diverged"));
  }
}

std::vector<std::string> class_names_of(const Checkpoint& checkpoint, int num_classes) {
  if (checkpoint.training) return checkpoint.training->class_names;
  if (num_classes == kRafNumClasses) return {kRafClassNames.begin(), kRafClassNames.end()};
  std::vector<std::string> names;
  for (int c = 0; c < num_classes; ++c) names.push_back(str_cat("class ", c));
  return names;
}

void load_checkpoint_weights(Classifier& model, const Checkpoint& checkpoint) {
  check_finite(checkpoint.path, checkpoint.weights, "tensor");
  check_finite(checkpoint.path, checkpoint.optimizer_state, "optimizer tensor");
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
    options = model_options(checkpoint.training->options, static_cast<int>(checkpoint.training->class_names.size()));
    if (image_size_hint > 0 && options.architecture == "resnet18") options.image_size = image_size_hint;
  } else {
    options.architecture = architecture_of(checkpoint.weights);
    options.image_size = image_size_hint > 0 ? image_size_hint : 224;
    if (const Tensor* fc = find_tensor(checkpoint.weights, "fc.weight"); fc != nullptr && fc->ndim() == 2) {
      check(fc->size(0) >= 1 && fc->size(0) <= 100'000, checkpoint.path, ": its fc.weight ", shape_str(fc->shape()),
            " gives ", fc->size(0), " classes (1..100000 make sense)");
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
