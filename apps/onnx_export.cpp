// The ONNX graph of ResNet-18 + ARM and of the baseline ResNet-18, node by
// node from the model's state dict (names and the operator mapping in
// docs/deployment.md), checked by ONNX's checker and its strict shape
// inference.
#include "apps/onnx_export.h"

#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "data/transforms.h"
#include "layers/layers.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

#ifdef ARMNET_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>
#endif

namespace armnet::apps {

#ifndef ARMNET_WITH_ONNX

bool onnx_export_built() { return false; }

std::string onnx_model_bytes(const Classifier&, const std::vector<std::string>&, const OnnxOptions&) {
  throw Error("export --onnx: this armnet was built without ONNX (install libonnx-dev and rebuild)");
}

#else

bool onnx_export_built() { return true; }

namespace {

// Appends the nodes of one graph, each named after the module it computes
// (its output carries the same name), and the initializers they read.
class GraphBuilder {
 public:
  GraphBuilder(onnx::GraphProto& graph, const NamedTensors& state, bool float16)
      : graph_(graph), float16_(float16) {
    for (const auto& [name, tensor] : state) state_.emplace(name, tensor);
  }

  int element_type() const { return float16_ ? onnx::TensorProto::FLOAT16 : onnx::TensorProto::FLOAT; }

  // The state-dict tensor `name`, as an initializer of the graph's element
  // type (once), under its own name or `as`, with `shape` (default: its
  // own), its values `copies` times over.
  std::string weight(const std::string& name, const std::string& as = "", std::vector<std::int64_t> shape = {},
                     int copies = 1) {
    const std::string initializer_name = as.empty() ? name : as;
    if (added_.count(initializer_name) != 0) return initializer_name;
    const auto found = state_.find(name);
    check(found != state_.end(), "export --onnx: the model has no tensor \"", name, "\"");
    const Tensor values = found->second.to(Device::CPU).to(DType::Float32);
    if (shape.empty()) shape.assign(values.shape().begin(), values.shape().end());
    std::vector<float> data;
    for (int copy = 0; copy < copies; ++copy)
      data.insert(data.end(), values.data<float>(), values.data<float>() + values.numel());
    return constant(initializer_name, data, shape, name);
  }

  // An initializer of the graph's element type holding `values`. A value
  // float16 cannot hold is refused, naming `source` (a state-dict tensor).
  std::string constant(const std::string& name, const std::vector<float>& values,
                       const std::vector<std::int64_t>& shape, const std::string& source = "") {
    added_.insert(name);
    onnx::TensorProto& tensor = *graph_.add_initializer();
    tensor.set_name(name);
    tensor.set_data_type(element_type());
    for (std::int64_t dim : shape) tensor.add_dims(dim);
    if (float16_) {  // raw_data is little-endian, as this machine
      std::vector<std::uint16_t> halves(values.size());
      for (std::size_t i = 0; i < values.size(); ++i) {
        halves[i] = float_to_half_bits(values[i]);
        check(std::isfinite(half_bits_to_float(halves[i])), "export --amp fp16: tensor \"",
              source.empty() ? name : source, "\" holds ", values[i], " at element ", i,
              ", beyond float16's range (+-65504)");
      }
      tensor.set_raw_data(halves.data(), halves.size() * sizeof(std::uint16_t));
    } else {
      tensor.set_raw_data(values.data(), values.size() * sizeof(float));
    }
    return name;
  }

  // A constant int64 tensor (shapes, axes), an initializer.
  std::string int64_constant(const std::string& name, const std::vector<std::int64_t>& values) {
    onnx::TensorProto& tensor = *graph_.add_initializer();
    tensor.set_name(name);
    tensor.set_data_type(onnx::TensorProto::INT64);
    tensor.add_dims(static_cast<std::int64_t>(values.size()));
    for (std::int64_t value : values) tensor.add_int64_data(value);
    return name;
  }

  onnx::NodeProto& node(const std::string& op, const std::string& output, const std::vector<std::string>& inputs) {
    onnx::NodeProto& node = *graph_.add_node();
    node.set_op_type(op);
    node.set_name(output);
    for (const std::string& input : inputs) node.add_input(input);
    node.add_output(output);
    return node;
  }

  static void ints(onnx::NodeProto& node, const std::string& name, const std::vector<std::int64_t>& values) {
    onnx::AttributeProto& attribute = *node.add_attribute();
    attribute.set_name(name);
    attribute.set_type(onnx::AttributeProto::INTS);
    for (std::int64_t value : values) attribute.add_ints(value);
  }
  static void int_attribute(onnx::NodeProto& node, const std::string& name, std::int64_t value) {
    onnx::AttributeProto& attribute = *node.add_attribute();
    attribute.set_name(name);
    attribute.set_type(onnx::AttributeProto::INT);
    attribute.set_i(value);
  }

  // Conv without bias: the module's weight [C_out, C_in / group, k, k].
  std::string conv(const std::string& x, const std::string& module, int stride, int padding) {
    const std::string w = weight(module + ".weight");
    const std::int64_t kernel = state_.at(module + ".weight").size(2);
    onnx::NodeProto& conv = node("Conv", module, {x, w});
    ints(conv, "kernel_shape", {kernel, kernel});
    ints(conv, "strides", {stride, stride});
    ints(conv, "pads", {padding, padding, padding, padding});
    return module;
  }

  // BatchNormalization in inference mode (the running statistics).
  std::string batch_norm(const std::string& x, const std::string& module) {
    onnx::NodeProto& bn = node("BatchNormalization", module,
                               {x, weight(module + ".weight"), weight(module + ".bias"),
                                weight(module + ".running_mean"), weight(module + ".running_var")});
    onnx::AttributeProto& epsilon = *bn.add_attribute();
    epsilon.set_name("epsilon");
    epsilon.set_type(onnx::AttributeProto::FLOAT);
    epsilon.set_f(static_cast<float>(kBatchNormEps));
    return module;
  }

  std::string relu(const std::string& x, const std::string& name) {
    node("Relu", name, {x});
    return name;
  }

  // torchvision's BasicBlock `module` (features.5.0, ...).
  std::string basic_block(const std::string& x, const std::string& module, int stride) {
    std::string out = relu(batch_norm(conv(x, module + ".conv1", stride, 1), module + ".bn1"), module + ".relu1");
    out = batch_norm(conv(out, module + ".conv2", 1, 1), module + ".bn2");
    std::string shortcut = x;
    if (state_.count(module + ".downsample.0.weight") != 0)
      shortcut = batch_norm(conv(x, module + ".downsample.0", stride, 0), module + ".downsample.1");
    node("Add", module + ".add", {out, shortcut});
    return relu(module + ".add", module);
  }

  // `features` (features.0 .. features.7): [N, 3, S, S] -> [N, 512, s, s].
  std::string resnet18_features(const std::string& x) {
    std::string out = relu(batch_norm(conv(x, "features.0", 2, 3), "features.1"), "features.2");
    onnx::NodeProto& pool = node("MaxPool", "features.3", {out});
    ints(pool, "kernel_shape", {3, 3});
    ints(pool, "strides", {2, 2});
    ints(pool, "pads", {1, 1, 1, 1});
    out = "features.3";
    for (int stage = 4; stage <= 7; ++stage) {
      const std::string module = str_cat("features.", stage);
      out = basic_block(out, module + ".0", stage == 4 ? 1 : 2);
      out = basic_block(out, module + ".1", 1);
    }
    return out;
  }

  // The ARM on the last stage [N, 512, s, s] -> the amended features [N, h*w].
  std::string amend(const std::string& x, bool batch_independent, int image_size) {
    // PixelShuffle(16), i.e. DepthToSpace in CRD order, written out as the
    // operator's own definition: Reshape [N, 2, 16, 16, s, s], Transpose
    // (0, 1, 4, 2, 5, 3), Reshape [N, 2, 16s, 16s]. OpenCV 4.6 cannot run
    // the DepthToSpace node itself (docs/deployment.md); -1 keeps N dynamic.
    const std::int64_t side = resnet_feature_side(image_size);
    const std::int64_t groups = kFeatureChannels / (kShuffleFactor * kShuffleFactor);
    node("Reshape", "arrangement.tiles",
         {x, int64_constant("arrangement.tiles_shape", {-1, groups, kShuffleFactor, kShuffleFactor, side, side})});
    ints(node("Transpose", "arrangement.transpose", {"arrangement.tiles"}), "perm", {0, 1, 4, 2, 5, 3});
    node("Reshape", "arrangement",
         {"arrangement.transpose",
          int64_constant("arrangement.shape", {-1, groups, kShuffleFactor * side, kShuffleFactor * side})});
    // The one shared 32x32 kernel on each of the 2 planes: a grouped Conv
    // (group 2) whose weight holds the same kernel once per plane.
    const std::string w = weight("arm.de_albino.weight", "arm.de_albino.weight_per_plane",
                                 {2, 1, kDeAlbinoKernel, kDeAlbinoKernel}, /*copies=*/2);
    onnx::NodeProto& de_albino = node("Conv", "arm.de_albino", {"arrangement", w});
    ints(de_albino, "kernel_shape", {kDeAlbinoKernel, kDeAlbinoKernel});
    ints(de_albino, "strides", {kDeAlbinoStride, kDeAlbinoStride});
    int_attribute(de_albino, "group", 2);
    const std::string normalised = batch_norm("arm.de_albino", "arm.bn");
    // xmean: the mean over the 2 channels, [N, 1, h, w], as a 1x1 Conv of
    // weights 1/2 (exactly the mean: halving is exact).
    onnx::NodeProto& channel_mean =
        node("Conv", "arm.channel_mean", {normalised, constant("arm.channel_mean.weight", {0.5f, 0.5f}, {1, 2, 1, 1})});
    ints(channel_mean, "kernel_shape", {1, 1});
    // From here the batch sits on a spatial axis: xmean [N, 1, h, w] ->
    // [N, hw] -> [hw, N] -> "planes" [1, hw, N, 1], so that the batch mean
    // is a GlobalAveragePool and adding it broadcasts over a spatial axis.
    // OpenCV 4.6 can neither reduce nor broadcast over a dynamic batch axis
    // (docs/deployment.md).
    const std::int64_t area = arm_feature_count(image_size);
    int_attribute(node("Flatten", "arm.rows", {"arm.channel_mean"}), "axis", 1);
    ints(node("Transpose", "arm.columns", {"arm.rows"}), "perm", {1, 0});
    node("Reshape", "arm.planes", {"arm.columns", int64_constant("arm.planes_shape", {1, area, -1, 1})});
    // alpha * global, global being the mean over the batch (of xmean, so
    // over batch and channels), [1, hw, 1, 1]; or, batch-independent, the
    // running mean kept in training: then the product is one constant,
    // computed here in float32 as armnet does.
    if (batch_independent) {
      const Tensor alpha = state_.at("arm.alpha").to(Device::CPU).to(DType::Float32);
      const Tensor running = state_.at("arm.global_running_mean").to(Device::CPU).to(DType::Float32);
      std::vector<float> term(static_cast<std::size_t>(running.numel()));
      for (std::size_t i = 0; i < term.size(); ++i) term[i] = alpha.data<float>()[0] * running.data<float>()[i];
      constant("arm.global_term", term, {1, area, 1, 1}, "arm.alpha x arm.global_running_mean");
    } else {
      node("GlobalAveragePool", "arm.batch_mean", {"arm.planes"});
      node("Mul", "arm.global_term", {weight("arm.alpha"), "arm.batch_mean"});
    }
    // xmean + alpha * global, back to [N, hw].
    node("Add", "arm.amended_planes", {"arm.planes", "arm.global_term"});
    node("Reshape", "arm.amended_columns",
         {"arm.amended_planes", int64_constant("arm.amended_columns_shape", {area, -1})});
    ints(node("Transpose", "arm.amended", {"arm.amended_columns"}), "perm", {1, 0});
    return "arm.amended";
  }

  // fc: [N, F] -> [N, classes].
  std::string fc(const std::string& x, const std::string& output) {
    int_attribute(node("Gemm", output, {x, weight("fc.weight"), weight("fc.bias")}), "transB", 1);
    return output;
  }

 private:
  onnx::GraphProto& graph_;
  bool float16_;
  std::map<std::string, Tensor> state_;
  std::set<std::string> added_;
};

void set_tensor_type(onnx::ValueInfoProto& value, const std::string& name, int element_type, std::int64_t batch,
                     const std::vector<std::int64_t>& dims) {
  value.set_name(name);
  onnx::TypeProto_Tensor& tensor = *value.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(element_type);
  onnx::TensorShapeProto& shape = *tensor.mutable_shape();
  if (batch > 0) {
    shape.add_dim()->set_dim_value(batch);
  } else {
    shape.add_dim()->set_dim_param("batch");
  }
  for (std::int64_t dim : dims) shape.add_dim()->set_dim_value(dim);
}

void add_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto& entry = *model.add_metadata_props();
  entry.set_key(key);
  entry.set_value(value);
}

}  // namespace

std::string onnx_model_bytes(const Classifier& classifier, const std::vector<std::string>& class_names,
                             const OnnxOptions& options) {
  const ModelOptions& model_options = classifier.options();
  const bool arm = model_options.architecture == "arm";
  const std::int64_t size = model_options.image_size;
  const std::int64_t classes = model_options.num_classes;
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("armnet");
  model.set_domain("armnet");
  model.set_model_version(1);
  // The normalisation the model expects (data/transforms.h), "0.485, 0.456, 0.406".
  auto three = [](const float (&values)[3]) { return str_cat(values[0], ", ", values[1], ", ", values[2]); };
  const std::string mean = three(kImageNetMean), deviation = three(kImageNetStd);
  model.set_doc_string(str_cat(arm ? "ResNet-18 + ARM" : "ResNet-18", " in evaluation mode. input: [N, 3, ", size, ", ",
                               size, "] float32, RGB scaled to [0, 1], minus ImageNet's mean (", mean,
                               "), divided by its std (", deviation, "); logits: [N, ", classes, "] float32."));
  onnx::OperatorSetIdProto& opset = *model.add_opset_import();
  opset.set_domain("");
  opset.set_version(kOnnxOpset);
  add_metadata(model, "architecture", model_options.architecture);
  add_metadata(model, "image_size", std::to_string(size));
  add_metadata(model, "class_names", nlohmann::json(class_names).dump());
  add_metadata(model, "mean", "[" + mean + "]");
  add_metadata(model, "std", "[" + deviation + "]");
  if (arm)
    add_metadata(model, "arm_global_mean", model_options.batch_independent_eval ? "running mean (batch-independent)"
                                                                                 : "mean over the batch");

  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name(arm ? "resnet18_arm" : "resnet18");
  set_tensor_type(*graph.add_input(), "input", onnx::TensorProto::FLOAT, options.batch, {3, size, size});
  set_tensor_type(*graph.add_output(), "logits", onnx::TensorProto::FLOAT, options.batch, {classes});
  GraphBuilder builder(graph, classifier.state_dict(), options.float16);
  std::string x = "input";
  if (options.float16) {
    GraphBuilder::int_attribute(builder.node("Cast", "input_float16", {x}), "to", onnx::TensorProto::FLOAT16);
    x = "input_float16";
  }
  const std::string last_stage = builder.resnet18_features(x);
  std::string features;
  if (arm) {
    features = builder.amend(last_stage, model_options.batch_independent_eval, model_options.image_size);
  } else {
    builder.node("GlobalAveragePool", "avgpool", {last_stage});
    GraphBuilder::int_attribute(builder.node("Flatten", "flatten", {"avgpool"}), "axis", 1);
    features = "flatten";
  }
  // Dropout is off in evaluation: fc reads the features directly.
  if (options.float16) {
    builder.fc(features, "logits_float16");
    GraphBuilder::int_attribute(builder.node("Cast", "logits", {"logits_float16"}), "to", onnx::TensorProto::FLOAT);
  } else {
    builder.fc(features, "logits");
  }

  try {
    onnx::checker::check_model(model);
    // Strict shape inference on a copy: every node's types and shapes agree,
    // down to the declared [N, classes] float32 output.
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true, /*strict=*/1));
  } catch (const std::exception& error) {
    throw Error(str_cat("export --onnx: ONNX's checker refuses the graph: ", error.what()));
  }
  std::string bytes;
  check(model.SerializeToString(&bytes), "export --onnx: the ONNX model could not be serialized");
  return bytes;
}

#endif  // ARMNET_WITH_ONNX

}  // namespace armnet::apps
