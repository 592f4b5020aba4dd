// `armnet export`: the ONNX graph passes ONNX's checker and a second runtime
// (OpenCV's dnn module) gives armnet's logits on it (float32, 1e-4 of the
// largest logit) for the ARM and the baseline, at fixed batches 1 and 4 and
// a dynamic batch run at two sizes, and for a batch-independent ARM; the
// float16 graph as far as a runtime here can take it; the safetensors
// weights hold exactly the model's tensors; bad input ends in one line and
// no file.
#define BOOST_TEST_MODULE export
#include <boost/test/unit_test.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "apps/checkpoint.h"
#include "autograd/engine.h"
#include "autograd/functional.h"
#include "layers/state_dict.h"
#include "tensor/io/safetensors.h"
#include "tests/bounded_run.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

#ifdef ARMNET_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#endif
#ifdef ARMNET_WITH_OPENCV
#include <opencv2/dnn.hpp>
#endif

using namespace armnet;
using namespace armnet::apps;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

// A model with realistic evaluation statistics: alpha moved off 1 and a few
// training-mode passes (no gradient) so that BatchNorm's running statistics,
// and the ARM's running global mean when kept, are those of data.
std::shared_ptr<Classifier> calibrated_model(const std::string& architecture, int image_size,
                                             bool batch_independent = false) {
  ModelOptions options;
  options.architecture = architecture;
  options.image_size = image_size;
  options.batch_independent_eval = batch_independent;
  options.seed = 5;
  std::shared_ptr<Classifier> model = make_model(options);
  if (architecture == "arm") model->alpha().copy_from(Tensor::full({1}, 0.7));
  autograd::NoGradGuard no_grad;
  Generator generator(11);
  model->train();
  for (int pass = 0; pass < 4; ++pass) model->forward(randn({4, 3, image_size, image_size}, generator));
  model->eval();
  return model;
}

// `model` as an armnet checkpoint (training options that rebuild it).
std::string write_model_checkpoint(const Classifier& model, const fs::path& path) {
  TrainingState state;
  state.options.model = model.options().architecture;
  state.options.image_size = model.options().image_size;
  state.options.batch_independent_eval = model.options().batch_independent_eval;
  state.options.epochs = 1;
  Optimizer optimizer(model.named_parameters(), default_optimizer_options("adam"));
  write_checkpoint(path.string(), model, optimizer, state);
  return path.string();
}

Tensor images(int batch, int size, std::uint64_t seed) {
  Generator generator(seed);
  return randn({batch, 3, size, size}, generator);
}

Tensor armnet_logits(Classifier& model, const Tensor& batch) {
  autograd::NoGradGuard no_grad;
  model.eval();
  return model.forward(batch);
}

// max |a - b| / max |b|: the distance relative to the largest logit.
double relative_difference(const Tensor& a, const Tensor& b) {
  BOOST_TEST_REQUIRE(a.shape() == b.shape());
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double difference = 0.0, largest = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    difference = std::max(difference, std::abs(x[i] - y[i]));
    largest = std::max(largest, std::abs(y[i]));
  }
  return difference / std::max(largest, 1e-30);
}

RunResult export_model(const std::vector<std::string>& arguments) {
  std::vector<std::string> command = {"export"};
  command.insert(command.end(), arguments.begin(), arguments.end());
  return run_armnet(command, 120);
}

// The files in `directory` (to prove a refused export left nothing behind).
std::vector<std::string> files_in(const fs::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

#ifdef ARMNET_WITH_ONNX
onnx::ModelProto read_onnx(const std::string& path) {
  onnx::ModelProto model;
  BOOST_TEST_REQUIRE(model.ParseFromString(read_file(path)));
  return model;
}

// The dims of a graph input or output: a number, or -1 for a named one.
std::vector<std::int64_t> dims_of(const onnx::ValueInfoProto& value) {
  std::vector<std::int64_t> dims;
  for (const auto& dim : value.type().tensor_type().shape().dim()) dims.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
  return dims;
}
#endif

#ifdef ARMNET_WITH_OPENCV
// OpenCV's dnn module, a second implementation of every operator, on the
// exported graph: the logits of each batch in turn, through one Net.
std::vector<Tensor> opencv_logits(const std::string& path, const std::vector<Tensor>& batches) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  std::vector<Tensor> results;
  for (const Tensor& batch : batches) {
    const int dims[4] = {static_cast<int>(batch.size(0)), 3, static_cast<int>(batch.size(2)),
                         static_cast<int>(batch.size(3))};
    const cv::Mat blob(4, dims, CV_32F, batch.data<float>());
    net.setInput(blob, "input");
    const cv::Mat out = net.forward().clone();
    BOOST_TEST_REQUIRE(out.type() == CV_32F);
    const std::int64_t count = static_cast<std::int64_t>(out.total());
    Tensor logits = Tensor::empty({batch.size(0), count / batch.size(0)}, DType::Float32);
    std::copy(out.ptr<float>(), out.ptr<float>() + count, logits.data<float>());
    results.push_back(logits);
  }
  return results;
}
#endif

// Exports `checkpoint` (of `model`) with `flags` at `batch_flag`, checks the
// graph's inputs and outputs, and compares OpenCV's logits with armnet's on
// each of `batch_sizes`.
void check_onnx_against_armnet(Classifier& model, const std::string& checkpoint, const std::string& batch_flag,
                               const std::vector<int>& batch_sizes, const std::vector<std::string>& flags = {}) {
#ifndef ARMNET_WITH_ONNX
  BOOST_TEST_MESSAGE("this build has no ONNX: export --onnx refuses (test bad_input_is_refused)");
  return;
#else
  TemporaryDirectory directory;
  const std::string onnx_file = directory.file("model.onnx");
  std::vector<std::string> arguments = {"-c", checkpoint, "--onnx", onnx_file, "--batch", batch_flag};
  arguments.insert(arguments.end(), flags.begin(), flags.end());
  const RunResult result = export_model(arguments);
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  onnx::checker::check_model(onnx_file);  // throws when it refuses
  const onnx::ModelProto proto = read_onnx(onnx_file);
  BOOST_TEST(proto.opset_import(0).version() == 17);
  const int size = model.options().image_size;
  const std::int64_t batch_dim = batch_flag == "dynamic" ? -1 : std::stoll(batch_flag);
  BOOST_TEST(proto.graph().input_size() == 1);
  BOOST_TEST(proto.graph().input(0).name() == "input");
  BOOST_TEST(dims_of(proto.graph().input(0)) == std::vector<std::int64_t>({batch_dim, 3, size, size}),
             boost::test_tools::per_element());
  BOOST_TEST(proto.graph().output_size() == 1);
  BOOST_TEST(proto.graph().output(0).name() == "logits");
  BOOST_TEST(dims_of(proto.graph().output(0)) ==
                 std::vector<std::int64_t>({batch_dim, model.options().num_classes}),
             boost::test_tools::per_element());
#ifndef ARMNET_WITH_OPENCV
  BOOST_TEST_MESSAGE("this build has no OpenCV: the exported graph is checked, not run");
#else
  std::vector<Tensor> batches;
  for (std::size_t i = 0; i < batch_sizes.size(); ++i) batches.push_back(images(batch_sizes[i], size, 100 + i));
  const std::vector<Tensor> theirs = opencv_logits(onnx_file, batches);
  for (std::size_t i = 0; i < batches.size(); ++i) {
    const double difference = relative_difference(theirs[i], armnet_logits(model, batches[i]));
    BOOST_TEST_MESSAGE(model.options().architecture << " " << size << "x" << size << " --batch " << batch_flag
                                                    << " run at " << batch_sizes[i] << ": OpenCV vs armnet "
                                                    << difference << " (relative to the largest logit)");
    BOOST_TEST(difference <= 1e-4);
  }
#endif
#endif
}

// The same through a checkpoint of `model` written here.
void check_onnx_against_armnet(Classifier& model, const std::string& batch_flag, const std::vector<int>& batch_sizes) {
  TemporaryDirectory directory;
  check_onnx_against_armnet(model, write_model_checkpoint(model, directory / "model.safetensors"), batch_flag,
                            batch_sizes);
}

}  // namespace

BOOST_AUTO_TEST_CASE(arm_graph_gives_armnet_logits_in_opencv) {
  const auto model = calibrated_model("arm", 96);  // 3x3 last stage, 48x48 shuffled, 3x3 de-albino output
  check_onnx_against_armnet(*model, "4", {4});
  check_onnx_against_armnet(*model, "1", {1});
  check_onnx_against_armnet(*model, "dynamic", {2, 5});
}

BOOST_AUTO_TEST_CASE(baseline_graph_gives_armnet_logits_in_opencv) {
  const auto model = calibrated_model("resnet18", 72);
  check_onnx_against_armnet(*model, "4", {4});
  check_onnx_against_armnet(*model, "1", {1});
  check_onnx_against_armnet(*model, "dynamic", {2, 3});
}

BOOST_AUTO_TEST_CASE(batch_independent_arm_exports_its_running_mean) {
  const auto model = calibrated_model("arm", 112, /*batch_independent=*/true);  // 4x4 last stage, 5x5 de-albino output
  check_onnx_against_armnet(*model, "dynamic", {1, 3});
  check_onnx_against_armnet(*model, "1", {1});
}

BOOST_AUTO_TEST_CASE(float16_graph) {
#ifndef ARMNET_WITH_ONNX
  BOOST_TEST_MESSAGE("this build has no ONNX: no float16 graph to check");
#else
  const auto model = calibrated_model("arm", 96);
  TemporaryDirectory directory;
  const std::string checkpoint = write_model_checkpoint(*model, directory / "model.safetensors");
  const std::string onnx_file = directory.file("model_fp16.onnx");
  const RunResult result = export_model({"-c", checkpoint, "--onnx", onnx_file, "--amp", "fp16"});
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  onnx::checker::check_model(onnx_file);
  const onnx::ModelProto proto = read_onnx(onnx_file);
  const onnx::GraphProto& graph = proto.graph();
  // float32 at both ends, float16 everywhere between.
  BOOST_TEST(graph.input(0).type().tensor_type().elem_type() == onnx::TensorProto::FLOAT);
  BOOST_TEST(graph.output(0).type().tensor_type().elem_type() == onnx::TensorProto::FLOAT);
  BOOST_TEST(graph.node(0).op_type() == "Cast");
  BOOST_TEST(graph.node(graph.node_size() - 1).op_type() == "Cast");
  int halves = 0;
  for (const onnx::TensorProto& initializer : graph.initializer()) {
    if (initializer.data_type() == onnx::TensorProto::INT64) continue;  // shapes
    BOOST_TEST(initializer.data_type() == onnx::TensorProto::FLOAT16, initializer.name());
    ++halves;
  }
  BOOST_TEST(halves > 100);
  // Half the size of the float32 graph, near enough.
  BOOST_TEST(fs::file_size(onnx_file) < 25'000'000u);
#ifdef ARMNET_WITH_OPENCV
  // OpenCV 4.6 refuses float16 initializers. What it can check: the same
  // graph with each float16 weight widened to float32 (exactly) and the
  // Casts made float32, against armnet with its weights rounded to float16
  // (its arithmetic stays float32, as OpenCV's): the weights were stored
  // right and the graph is the float32 one.
  try {
    opencv_logits(onnx_file, {images(1, 96, 7)});
    BOOST_FAIL("OpenCV ran the float16 graph: compare its logits here");
  } catch (const cv::Exception& error) {
    BOOST_TEST(contains(error.what(), "FLOAT16"));
  }
  onnx::ModelProto widened = proto;
  for (onnx::TensorProto& initializer : *widened.mutable_graph()->mutable_initializer()) {
    if (initializer.data_type() != onnx::TensorProto::FLOAT16) continue;
    const std::string& raw = initializer.raw_data();
    std::vector<float> values(raw.size() / 2);
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::uint16_t bits = 0;
      std::memcpy(&bits, raw.data() + 2 * i, 2);
      values[i] = half_bits_to_float(bits);
    }
    initializer.set_data_type(onnx::TensorProto::FLOAT);
    initializer.set_raw_data(values.data(), values.size() * sizeof(float));
  }
  for (onnx::NodeProto& node : *widened.mutable_graph()->mutable_node())
    if (node.op_type() == "Cast") node.mutable_attribute(0)->set_i(onnx::TensorProto::FLOAT);
  onnx::checker::check_model(widened);
  const std::string widened_file = directory.file("widened.onnx");
  write_file(widened_file, widened.SerializeAsString());
  auto rounded = calibrated_model("arm", 96);
  NamedTensors state = model->state_dict();
  for (auto& [name, tensor] : state)
    if (tensor.dtype() == DType::Float32) tensor = tensor.to(DType::Float16).to(DType::Float32);
  load_state_dict(*rounded, state, /*strict=*/true);
  const Tensor batch = images(3, 96, 7);
  const double difference = relative_difference(opencv_logits(widened_file, {batch})[0], armnet_logits(*rounded, batch));
  BOOST_TEST_MESSAGE("OpenCV 4.6 cannot load float16 weights: the float16 graph is checked by ONNX's checker "
                     "(dtypes, shapes), and its weights widened to float32 run in OpenCV: "
                     << difference << " from armnet with float16-rounded weights; tools/gpu_check.sh runs the "
                     "float16 graph itself in onnxruntime");
  BOOST_TEST(difference <= 1e-4);
#endif
#endif
}

BOOST_AUTO_TEST_CASE(weights_file_holds_exactly_the_model_tensors) {
  for (const std::string architecture : {"arm", "resnet18"}) {
    const auto model = calibrated_model(architecture, 96);
    TemporaryDirectory directory;
    // A checkpoint with optimizer state (one Adam step) and training metadata.
    TrainingState state;
    state.options.model = architecture;
    state.options.image_size = 96;
    state.options.epochs = 1;
    Optimizer optimizer(model->named_parameters(), default_optimizer_options("adam"));
    model->train();
    sum(model->forward(images(2, 96, 3))).backward();
    optimizer.step();
    model->eval();
    const std::string checkpoint = directory.file("checkpoint.safetensors");
    write_checkpoint(checkpoint, *model, optimizer, state);
    BOOST_TEST_REQUIRE(!read_checkpoint(checkpoint).optimizer_state.empty());

    const std::string weights = directory.file("weights.safetensors");
    const RunResult result = export_model({"-c", checkpoint, "--weights", weights});
    BOOST_TEST_REQUIRE(result.status == 0, result.err);
    std::map<std::string, std::string> metadata;
    const NamedTensors written = read_safetensors(weights, &metadata);
    const NamedTensors expected = model->state_dict();  // the reference's names, PyTorch's order
    BOOST_TEST_REQUIRE(written.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      BOOST_TEST(written[i].first == expected[i].first);
      const Tensor& a = written[i].second;
      const Tensor& b = expected[i].second;
      BOOST_TEST_REQUIRE((a.dtype() == b.dtype() && a.shape() == b.shape()), expected[i].first);
      BOOST_TEST(std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0, expected[i].first);
    }
    BOOST_TEST(written.size() == (architecture == "arm" ? 129u : 122u));
    BOOST_TEST(metadata.count("training") == 0u);
    BOOST_TEST(metadata["format"] == "pt");
    BOOST_TEST(metadata["architecture"] == architecture);
    BOOST_TEST(metadata["image_size"] == "96");
    // The weights alone are a checkpoint too: with their image size, the
    // same graph as from the full checkpoint.
    if (architecture == "arm") check_onnx_against_armnet(*model, weights, "2", {2}, {"--image_size", "96"});
  }
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_in_one_line_and_writes_nothing) {
  TemporaryDirectory directory;
  const auto model = calibrated_model("resnet18", 64);
  const std::string checkpoint = write_model_checkpoint(*model, directory / "model.safetensors");
  write_file(directory / "junk.safetensors", "not a checkpoint at all");
  write_file(directory / "a_file", "");
  const std::string onnx_file = directory.file("out.onnx");
  const std::string weights = directory.file("out.safetensors");
  const std::vector<std::string> before = files_in(directory.path());
  struct Case {
    std::vector<std::string> arguments;
    std::string message;
    int status;  // 1: an error while running; 2: a usage error
  };
  const std::vector<Case> cases = {
      {{"-c", directory.file("missing.safetensors"), "--onnx", onnx_file}, "no such checkpoint file", 1},
      {{"-c", directory.file("junk.safetensors"), "--onnx", onnx_file, "--weights", weights},
       "not a checkpoint: " + directory.file("junk.safetensors") + " is a text file", 1},
      {{"-c", checkpoint, "--onnx", directory.file("no/such/folder/out.onnx")}, "does not exist", 1},
      {{"-c", checkpoint, "--weights", directory.file("a_file/out.safetensors")}, "is not a folder", 1},
      {{"-c", checkpoint, "--onnx", directory.path().string()}, "is a directory", 1},
      {{"-c", checkpoint, "--onnx", onnx_file, "--batch", "0"}, "--batch", 2},
      {{"-c", checkpoint, "--onnx", onnx_file, "--batch", "-2"}, "--batch", 2},
      {{"-c", checkpoint, "--onnx", onnx_file, "--batch", "four"}, "--batch", 2},
      {{"-c", checkpoint, "--onnx", onnx_file, "--batch", "1.5"}, "--batch", 2},
      {{"-c", checkpoint, "--onnx", onnx_file, "--amp", "bf16"}, "--amp", 2},
      {{"-c", checkpoint, "--weights", weights, "--batch", "4"}, "--onnx", 2},
      {{"-c", checkpoint}, "nothing to write", 2},
      {{"--onnx", onnx_file}, "--checkpoint", 2},
  };
  for (const Case& bad : cases) {
    const RunResult result = export_model(bad.arguments);
    BOOST_TEST(result.status == bad.status, result.err);
    BOOST_TEST(contains(result.err, bad.message), result.err);
    BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1, result.err);
    BOOST_TEST(result.out.empty());
    BOOST_TEST(files_in(directory.path()) == before, boost::test_tools::per_element());
  }
#ifdef ARMNET_WITH_ONNX
  // A weight float16 cannot hold: refused, naming it, before either file is written.
  NamedTensors state = model->state_dict();
  for (auto& [name, tensor] : state)
    if (name == "features.1.running_var") tensor.copy_from(Tensor::full(tensor.shape(), 1e6));
  write_safetensors(directory.file("huge.safetensors"), state);
  const RunResult huge = export_model({"-c", directory.file("huge.safetensors"), "--image_size", "64", "--onnx",
                                       onnx_file, "--weights", weights, "--amp", "fp16"});
  BOOST_TEST(huge.status == 1);
  BOOST_TEST(contains(huge.err, "features.1.running_var"), huge.err);
  BOOST_TEST(contains(huge.err, "float16"), huge.err);
  BOOST_TEST(!fs::exists(onnx_file));
  BOOST_TEST(!fs::exists(weights));
#else
  const RunResult refused = export_model({"-c", checkpoint, "--onnx", onnx_file});
  BOOST_TEST(refused.status == 1);
  BOOST_TEST(contains(refused.err, "built without ONNX"), refused.err);
  BOOST_TEST(!fs::exists(onnx_file));
#endif
}
