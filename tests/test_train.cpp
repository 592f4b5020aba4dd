// armnet train / test / predict end to end on a tiny synthetic RAF-DB, run as
// the user runs them (the armnet program in a child process), plus the
// checkpoint format in-process: round trip, resume exactness (also after a
// Ctrl-C mid-epoch), the error cases, and the fault test: kill -9 during
// checkpoint writes leaves loadable checkpoints, and the next run cleans up.
#define BOOST_TEST_MODULE train
#include <signal.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "apps/checkpoint.h"
#include "data/image.h"
#include "layers/state_dict.h"
#include "tensor/io/safetensors.h"
#include "tensor/io/torch_checkpoint.h"
#include "tests/bounded_run.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

using namespace armnet;
using namespace armnet::apps;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

// metrics.csv without the wall-time column (which differs between runs).
std::vector<std::string> metrics_without_time(const fs::path& run) {
  std::istringstream lines(read_file((run / "metrics.csv").string()));
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line.substr(0, line.rfind(',')));
  return rows;
}

// The tiny synthetic data set every test trains on, written once.
struct SyntheticData {
  TemporaryDirectory directory;
  std::string root = directory.file("raf");
  SyntheticData() {
    const RunResult result = run_armnet({"synth", "--out", root, "--train", "48", "--test", "16", "--seed", "5",
                                         "--size", "48"});
    BOOST_TEST_REQUIRE(result.status == 0);
  }
};

const SyntheticData& data() {
  static const SyntheticData instance;
  return instance;
}

// armnet train on the tiny set: 40x40 inputs, batch 8 (6 batches per epoch).
std::vector<std::string> train_arguments(const std::string& out, int epochs) {
  return {"train", "--raf_path", data().root, "--image_size", "40", "--batch_size", "8", "--val_batch_size", "8",
          "--epochs", std::to_string(epochs), "--workers", "2", "--seed", "11", "--out", out, "--pretrained", "none"};
}

std::vector<std::string> with(std::vector<std::string> arguments, const std::vector<std::string>& more) {
  arguments.insert(arguments.end(), more.begin(), more.end());
  return arguments;
}

void expect_same_tensors(const NamedTensors& a, const NamedTensors& b) {
  BOOST_TEST_REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_TEST(a[i].first == b[i].first);
    BOOST_TEST(a[i].second.shape() == b[i].second.shape());
    BOOST_TEST(std::memcmp(a[i].second.data_ptr(), b[i].second.data_ptr(), a[i].second.nbytes()) == 0,
               "tensor " << a[i].first << " differs");
  }
}

// Two runs ended in the same place: the same metrics (but the wall time) and
// every tensor of last.safetensors bit for bit.
void expect_same_run(const fs::path& run, const fs::path& expected) {
  BOOST_TEST(metrics_without_time(run) == metrics_without_time(expected), boost::test_tools::per_element());
  expect_same_tensors(read_safetensors((run / "last.safetensors").string()),
                      read_safetensors((expected / "last.safetensors").string()));
}

// Starts `armnet train arguments`, waits for its header (printed on stderr
// once the Ctrl-C handler is in place, before the first step), waits `delay`
// more, sends SIGINT and returns the exit status; `err` gets its stderr (the
// header, progress and the interruption's note).
int interrupt_training(const std::vector<std::string>& arguments, const TemporaryDirectory& directory,
                       std::chrono::milliseconds delay, std::string& err) {
  const std::string out_log = directory.file("stdout"), err_log = directory.file("stderr");
  const pid_t pid = spawn_armnet(arguments, out_log, err_log);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!contains(read_file(err_log), "batches per epoch") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(delay);
  BOOST_TEST_REQUIRE(kill(pid, SIGINT) == 0);
  const int status = wait_for_armnet(pid).status;
  err = read_file(err_log);
  BOOST_TEST_MESSAGE("stopped with status " << status << ":\n" << read_file(out_log) << err);
  return status;
}

// One uninterrupted two-epoch run, shared by the tests that compare with it.
const fs::path& reference_run() {
  static TemporaryDirectory directory;
  static const fs::path run = [] {
    const fs::path out = directory / "run";
    const RunResult result = run_armnet(train_arguments(out.string(), 2));
    BOOST_TEST_REQUIRE(result.status == 0);
    return out;
  }();
  return run;
}

}  // namespace

BOOST_AUTO_TEST_CASE(train_writes_the_reference_lines_metrics_curves_and_checkpoints) {
  const fs::path run = reference_run();
  for (const char* name : {"last.safetensors", "best.safetensors", "metrics.csv", "curves.png"})
    BOOST_TEST(fs::exists(run / name), name);
  const std::vector<std::string> rows = metrics_without_time(run);
  BOOST_TEST_REQUIRE(rows.size() == 3u);
  BOOST_TEST(rows[0] ==
             "epoch,train_loss,train_accuracy,val_loss,val_accuracy,val_mean_class_accuracy,val_recall_Surprise,"
             "val_recall_Fear,val_recall_Disgust,val_recall_Happiness,val_recall_Sadness,val_recall_Anger,"
             "val_recall_Neutral,lr,skipped_steps,loss_scale");
  BOOST_TEST(rows[1].rfind("1,", 0) == 0u);
  BOOST_TEST(rows[2].rfind("2,", 0) == 0u);
  const Image curves = decode_image((run / "curves.png").string());
  BOOST_TEST(curves.width == 1000);
  BOOST_TEST(curves.height == 420);

  const Checkpoint last = read_checkpoint((run / "last.safetensors").string());
  BOOST_TEST_REQUIRE(last.training.has_value());
  const TrainingState& state = *last.training;
  BOOST_TEST(state.epoch == 2);
  BOOST_TEST(state.batches_done == 0);
  BOOST_TEST(state.history.size() == 2u);
  BOOST_TEST(state.options.image_size == 40);
  BOOST_TEST(state.options.seed == 11u);
  BOOST_TEST(state.history[1].lr == 1e-3 * 0.9, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(!state.scaler.dynamic);
  BOOST_TEST(state.scaler.scale == 1.0);
  // Adam state for every parameter: 2 epochs x 6 batches = 12 steps.
  bool found_step = false;
  for (const auto& [name, tensor] : last.optimizer_state) {
    if (name == "step.fc.weight") {
      found_step = true;
      BOOST_TEST(tensor.data<std::int64_t>()[0] == 12);
    }
  }
  BOOST_TEST(found_step);
  BOOST_TEST(last.optimizer_state.size() == 3 * make_model(model_options(state.options, 7))->named_parameters().size());
  // The weights carry the reference's names.
  bool has_alpha = false;
  for (const auto& [name, tensor] : last.weights) has_alpha = has_alpha || name == "arm.alpha";
  BOOST_TEST(has_alpha);
  // best.safetensors is the epoch of the best validation accuracy.
  const Checkpoint best = read_checkpoint(run.string());
  BOOST_TEST(best.path == (run / "best.safetensors").string());
  BOOST_TEST(best.training->best_epoch >= 1);
  BOOST_TEST(best.training->epoch == best.training->best_epoch);
}

BOOST_AUTO_TEST_CASE(test_reports_the_validation_accuracy_of_the_best_checkpoint_and_plots) {
  const fs::path run = reference_run();
  const Checkpoint best = read_checkpoint(run.string());
  const EpochMetrics& best_metrics = best.training->history.back();
  TemporaryDirectory pictures;
  const std::string predictions = (pictures.path() / "predictions.csv").string();
  const RunResult result = run_armnet({"test", "-c", run.string(), "--raf_path", data().root, "-b", "8", "-p",
                                       "--out", pictures.path().string(), "--workers", "1", "--predictions",
                                       predictions});
  BOOST_TEST_REQUIRE(result.status == 0);
  char expected[64];
  std::snprintf(expected, sizeof expected, "Test accuracy: %.4f\n", best_metrics.val_accuracy);
  BOOST_TEST(contains(result.out, expected), "expected " << expected);
  BOOST_TEST(contains(result.out, "batch 8"));
  BOOST_TEST(contains(result.out, "precision"));
  BOOST_TEST(contains(result.out, "mean class accuracy"));
  BOOST_TEST(contains(result.out, ", macro-F1 0."));
  BOOST_TEST(contains(result.out, "SU  FE  DI  HA  SA  AN  NE"));
  const Image picture = decode_image((pictures.path() / "confusion_matrix.png").string());
  BOOST_TEST(picture.width == 640);

  // --predictions: a header, then one row per test image in the list's order
  // (file, target, predicted, the 7 probabilities, summing to 1, the largest
  // the predicted class's); right rows / rows is the accuracy reported.
  std::istringstream rows(read_file(predictions));
  std::string line;
  std::getline(rows, line);
  BOOST_TEST(line ==
             "file,target,predicted,p_Surprise,p_Fear,p_Disgust,p_Happiness,p_Sadness,p_Anger,p_Neutral");
  std::vector<std::string> listed;
  std::istringstream labels(read_file((fs::path(data().root) / "EmoLabel" / "list_patition_label.txt").string()));
  while (std::getline(labels, line))
    if (line.rfind("test_", 0) == 0) listed.push_back(line.substr(0, line.find('.')));
  const std::vector<std::string> names = {"Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"};
  std::size_t count = 0, right = 0;
  while (std::getline(rows, line)) {
    std::vector<std::string> fields;
    std::istringstream cells(line);
    for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
    BOOST_TEST_REQUIRE(fields.size() == 10u, line);
    BOOST_TEST_REQUIRE(count < listed.size());
    BOOST_TEST(contains(fields[0], listed[count] + "_aligned.jpg"), fields[0]);
    double sum = 0.0, largest = 0.0, of_predicted = -1.0;
    for (std::size_t c = 0; c < names.size(); ++c) {
      const double p = std::stod(fields[3 + c]);
      sum += p;
      largest = std::max(largest, p);
      if (fields[2] == names[c]) of_predicted = p;
    }
    BOOST_TEST(sum == 1.0, boost::test_tools::tolerance(1e-5));
    BOOST_TEST(of_predicted == largest, line);
    right += fields[1] == fields[2];
    ++count;
  }
  BOOST_TEST(count == listed.size());
  std::snprintf(expected, sizeof expected, "Test accuracy: %.4f\n", static_cast<double>(right) / count);
  BOOST_TEST(contains(result.out, expected), "expected " << expected);
}

BOOST_AUTO_TEST_CASE(test_batch_sweep_reports_three_batch_sizes_both_orders) {
  const RunResult result = run_armnet({"test", "-c", reference_run().string(), "--raf_path", data().root,
                                       "--batch_sweep", "--workers", "1"});
  BOOST_TEST_REQUIRE(result.status == 0);
  BOOST_TEST(contains(result.out, "file order"));
  BOOST_TEST(contains(result.out, "shuffled"));
  for (const char* row : {"\n  1 ", "\n  64 ", "\n  256 "}) BOOST_TEST(contains(result.out, row), row);
}

BOOST_AUTO_TEST_CASE(predict_prints_probabilities_that_sum_to_one) {
  const std::string image = (fs::path(data().root) / "Image" / "aligned" / "test_0001_aligned.jpg").string();
  // The same image under a second name (one file named twice is classified once).
  TemporaryDirectory directory;
  const std::string copy = directory.file("copy.jpg");
  fs::copy_file(image, copy);
  const RunResult result = run_armnet({"predict", "-c", (reference_run() / "last.safetensors").string(), image,
                                       copy, "--json"});
  BOOST_TEST_REQUIRE(result.status == 0);
  const nlohmann::json json = nlohmann::json::parse(result.out);
  BOOST_TEST_REQUIRE(json.size() == 2u);
  double total = 0.0, largest = 0.0;
  std::string best;
  for (const auto& [name, p] : json[0]["probabilities"].items()) {
    total += p.get<double>();
    if (p.get<double>() > largest) largest = p.get<double>(), best = name;
  }
  BOOST_TEST(total == 1.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(json[0]["expression"].get<std::string>() == best);
  BOOST_TEST(json[0]["probabilities"] == json[1]["probabilities"]);  // each image alone: the same image, the same answer
  const RunResult text = run_armnet({"predict", "-c", reference_run().string(), image});
  BOOST_TEST(contains(text.out, image + ": " + best));
}

BOOST_AUTO_TEST_CASE(resume_continues_exactly_like_an_uninterrupted_run) {
  TemporaryDirectory directory;
  const std::string out = directory.file("run");
  BOOST_TEST_REQUIRE(run_armnet(train_arguments(out, 1)).status == 0);
  const RunResult resumed = run_armnet({"train", "--resume", out, "--epochs", "2"});
  BOOST_TEST_REQUIRE(resumed.status == 0);
  BOOST_TEST(contains(resumed.err, "resuming"));
  expect_same_run(out, reference_run());
}

BOOST_AUTO_TEST_CASE(ctrl_c_saves_last_mid_epoch_and_resume_is_exact) {
  TemporaryDirectory directory;
  const std::string out = directory.file("run");
  std::string log;
  BOOST_TEST_REQUIRE(interrupt_training(train_arguments(out, 2), directory, std::chrono::milliseconds(0), log) == 130);
  BOOST_TEST(contains(log, "interrupted: saved"));
  const Checkpoint last = read_checkpoint(out + "/last.safetensors");
  BOOST_TEST_REQUIRE(last.training.has_value());
  BOOST_TEST(last.training->epoch * 6 + last.training->batches_done >= 1);
  BOOST_TEST_REQUIRE(run_armnet({"train", "--resume", out}).status == 0);
  expect_same_run(out, reference_run());
}

BOOST_AUTO_TEST_CASE(ctrl_c_during_validation_saves_and_resume_is_exact) {
  // One training batch per epoch and a long validation: a Ctrl-C some time
  // after the start most likely lands in the validation pass (wherever it
  // lands, the resumed run must end exactly as an uninterrupted one).
  TemporaryDirectory directory;
  const std::string root = directory.file("raf");
  BOOST_TEST_REQUIRE(run_armnet({"synth", "--out", root, "--train", "8", "--test", "240", "--seed", "6", "--size",
                                 "48"})
                         .status == 0);
  auto arguments = [&](const std::string& out) {
    return std::vector<std::string>{"train", "--raf_path", root, "--image_size", "40", "--batch_size", "8",
                                    "--val_batch_size", "4", "--epochs", "2", "--workers", "1", "--seed", "2",
                                    "--out", out};
  };
  const std::string whole = directory.file("whole"), split = directory.file("split");
  BOOST_TEST_REQUIRE(run_armnet(arguments(whole)).status == 0);
  std::string log;
  const int status = interrupt_training(arguments(split), directory, std::chrono::milliseconds(300), log);
  BOOST_TEST((status == 130 || status == 0));  // 0: the run was over before the signal
  BOOST_TEST_REQUIRE(run_armnet({"train", "--resume", split}).status == 0);
  expect_same_run(split, whole);
}

BOOST_AUTO_TEST_CASE(checkpoint_round_trip_in_process) {
  ModelOptions options;
  options.image_size = 40;
  options.drop_rate = 0.3;
  std::shared_ptr<Classifier> model = make_model(options);
  Optimizer optimizer(model->named_parameters(), default_optimizer_options("sgd"));
  Generator generator(3);
  for (auto& [name, parameter] : model->named_parameters()) {
    Tensor gradient = randn(parameter.shape(), generator);
    parameter.backward(gradient);  // a leaf: its gradient is `gradient`
  }
  optimizer.step();
  model->dropout_generator().normal();  // a pending spare value too
  TrainingState state;
  state.options.image_size = 40;
  state.options.drop_rate = 0.3;
  state.options.optimizer = "sgd";
  state.epoch = 2;  // two finished epochs: the two rows of history below
  state.batches_done = 2;
  state.partial_loss_sum = 1.25;
  state.best_accuracy = 0.5;
  state.best_epoch = 2;
  state.history = {{1, 2.0, 0.1, 2.1, 0.2, 1e-2, 3.5}, {2, 1.5, 0.3, 1.9, 0.5, 9e-3, 3.25}};
  state.dropout_generator = model->dropout_generator().state();
  TemporaryDirectory directory;
  const std::string path = directory.file("c.safetensors");
  write_checkpoint(path, *model, optimizer, state);

  const Checkpoint loaded = read_checkpoint(path);
  BOOST_TEST_REQUIRE(loaded.training.has_value());
  BOOST_TEST(to_json(*loaded.training) == to_json(state));
  expect_same_tensors(loaded.weights, model->state_dict());  // in the file's order, the state dict's
  std::shared_ptr<Classifier> restored = model_from_checkpoint(loaded);
  BOOST_TEST(restored->options().drop_rate == 0.3);
  Optimizer restored_optimizer(restored->named_parameters(), default_optimizer_options("sgd"));
  restored_optimizer.load_state(loaded.optimizer_state);
  const NamedTensors a = optimizer.state(), b = restored_optimizer.state();
  expect_same_tensors(a, b);
}

BOOST_AUTO_TEST_CASE(test_accepts_plain_weights_with_the_dataparallel_prefix) {
  // What another program saves: only the state dict, under DataParallel's
  // "module." names, no armnet metadata; the model is inferred from the names.
  const fs::path run = reference_run();
  const Checkpoint best = read_checkpoint(run.string());
  NamedTensors prefixed;
  for (const auto& [name, tensor] : best.weights) prefixed.emplace_back("module." + name, tensor);
  TemporaryDirectory directory;
  const std::string weights = directory.file("weights.safetensors");
  write_safetensors(weights, prefixed);
  const Checkpoint plain = read_checkpoint(weights);
  BOOST_TEST(!plain.training.has_value());
  BOOST_TEST(plain.optimizer_state.empty());
  BOOST_TEST(plain.weights.front().first.rfind("module.", 0) == std::string::npos);
  const RunResult result = run_armnet({"test", "-c", weights, "--image_size", "40", "--raf_path", data().root, "-b",
                                       "8", "--workers", "1"});
  BOOST_TEST_REQUIRE(result.status == 0);
  char expected[64];
  std::snprintf(expected, sizeof expected, "Test accuracy: %.4f\n", best.training->history.back().val_accuracy);
  BOOST_TEST(contains(result.out, expected), "expected " << expected);
  BOOST_TEST(contains(result.out, "weights only"));
  // Without the size it was trained at, the fc width does not fit: said so.
  expect_one_line_error(run_armnet({"test", "-c", weights, "--raf_path", data().root}),
                        {"weights.safetensors", "--image_size", "121"});
}

BOOST_AUTO_TEST_CASE(reference_pth_checkpoints_give_their_model_state_dict) {
  // tests/data/reference_checkpoint.pth: the reference's {"iter",
  // "model_state_dict", "optimizer_state_dict"} layout (tools/make_pth_fixture.py).
  const Checkpoint checkpoint =
      read_checkpoint((fs::path(__FILE__).parent_path() / "data" / "reference_checkpoint.pth").string());
  BOOST_TEST(!checkpoint.training.has_value());
  std::vector<std::string> names;
  for (const auto& [name, tensor] : checkpoint.weights) names.push_back(name);
  BOOST_TEST(names == std::vector<std::string>({"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                                "1.num_batches_tracked", "3.weight", "3.bias"}),
             boost::test_tools::per_element());
  BOOST_TEST(checkpoint.weights[0].second.at(1) == -0.75);  // element 1 of the formula 0.25 i - 1
}

BOOST_AUTO_TEST_CASE(errors_are_one_line_and_name_the_culprit) {
  TemporaryDirectory directory;
  // A missing data root.
  expect_one_line_error(run_armnet({"train", "--raf_path", directory.file("nowhere"), "--out", directory.file("o")}),
                        {directory.file("nowhere")});
  // An --out that cannot be a directory (below a regular file).
  std::ofstream(directory.file("plain")) << "x";
  expect_one_line_error(run_armnet(with(train_arguments(directory.file("plain") + "/run", 1), {})),
                        {"--out", directory.file("plain")});
  // A checkpoint of the other model.
  expect_one_line_error(
      run_armnet(with(train_arguments(directory.file("r2"), 1),
                      {"--model", "resnet18", "-c", (reference_run() / "last.safetensors").string()})),
      {"last.safetensors", "ARM", "not resnet18"});
  // A corrupt (truncated) checkpoint.
  const std::string bytes = read_file((reference_run() / "best.safetensors").string());
  const std::string corrupt = directory.file("corrupt.safetensors");
  std::ofstream(corrupt, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_one_line_error(run_armnet({"test", "-c", corrupt, "--raf_path", data().root}), {corrupt});
  expect_one_line_error(run_armnet({"predict", "-c", directory.file("missing.safetensors"), "x.jpg"}),
                        {"missing.safetensors"});
  // --resume of a directory without a checkpoint.
  expect_one_line_error(run_armnet({"train", "--resume", directory.file("empty")}), {"last.safetensors"});
}

BOOST_AUTO_TEST_CASE(a_diverging_loss_stops_with_the_epoch_and_step) {
  TemporaryDirectory directory;
  const RunResult result = run_armnet(with(train_arguments(directory.file("run"), 1), {"--lr", "1e30"}));
  // After the run's notes on stderr, its last line is the error.
  BOOST_TEST(result.status == 1);
  const std::string last_line = result.err.substr(result.err.rfind('\n', result.err.size() - 2) + 1);
  BOOST_TEST(last_line.rfind("armnet: error: ", 0) == 0u, result.err);
  for (const char* fragment : {"the training loss became", "at epoch 1, step"})
    BOOST_TEST(contains(last_line, fragment), "missing: " << fragment);
  BOOST_TEST(!fs::exists(directory / "run" / "last.safetensors"));
}

BOOST_AUTO_TEST_CASE(resume_refuses_a_checkpoint_without_its_optimizer_state_and_c_starts_afresh) {
  TemporaryDirectory directory;
  std::map<std::string, std::string> metadata;
  NamedTensors weights_only;
  for (auto& [name, tensor] : read_safetensors((reference_run() / "last.safetensors").string(), &metadata))
    if (name.rfind(kOptimizerPrefix, 0) != 0) weights_only.emplace_back(name, tensor);
  const fs::path run = directory / "run";
  fs::create_directories(run);
  write_safetensors((run / "last.safetensors").string(), weights_only, metadata);
  expect_one_line_error(run_armnet({"train", "--resume", run.string()}),
                        {"last.safetensors", "no optimizer tensors", "cannot resume exactly", "-c"});
  const RunResult fresh = run_armnet(with(train_arguments(directory.file("fresh"), 1),
                                          {"-c", (run / "last.safetensors").string()}));
  BOOST_TEST(fresh.status == 0);
  BOOST_TEST(contains(fresh.err, "holds no optimizer state: the optimizer starts afresh"));
}

namespace {

// The temporary files (NAME.tmp-PID-N) in `directory`.
std::vector<std::string> temporary_files(const fs::path& directory) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator entry(directory, error), end; !error && entry != end; entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    if (contains(name, ".tmp-")) names.push_back(name);
  }
  return names;
}

}  // namespace

BOOST_AUTO_TEST_CASE(kill_during_checkpoint_writes_leaves_loadable_checkpoints_and_the_next_run_cleans_up) {
  // Each run is killed (SIGKILL: nothing can be cleaned up) a random moment
  // after its n-th checkpoint write began; a checkpoint is 134 MB, so the
  // kill lands inside the write.
  const std::uint64_t seed = fresh_seed("kill during checkpoint writes");
  std::mt19937_64 random(seed);
  int left_behind = 0;
  for (int nth_write = 1; nth_write <= 4; ++nth_write) {
    BOOST_TEST_CONTEXT("killed during write " << nth_write) {
      TemporaryDirectory directory;
      const fs::path out = directory / "run";
      const pid_t pid = spawn_armnet(train_arguments(out.string(), 2), directory.file("out"), directory.file("err"));
      std::set<std::string> seen;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
      while (static_cast<int>(seen.size()) < nth_write && std::chrono::steady_clock::now() < deadline) {
        for (const std::string& name : temporary_files(out))
          if (contains(name, ".safetensors.tmp-")) seen.insert(name);
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
      BOOST_TEST_REQUIRE(static_cast<int>(seen.size()) >= nth_write, "the run never wrote " << nth_write << " checkpoints");
      std::this_thread::sleep_for(std::chrono::milliseconds(random() % 40));
      BOOST_TEST_REQUIRE(kill(pid, SIGKILL) == 0);
      BOOST_TEST(wait_for_armnet(pid).status == 128 + SIGKILL);
      const std::vector<std::string> leftovers = temporary_files(out);
      left_behind += static_cast<int>(leftovers.size());
      BOOST_TEST_MESSAGE("killed during " << *seen.rbegin() << "; left: " << leftovers.size() << " temporary files");

      // Whatever checkpoint exists is whole and loads.
      for (const char* name : {"last.safetensors", "best.safetensors"}) {
        if (!fs::exists(out / name)) continue;
        const Checkpoint checkpoint = read_checkpoint((out / name).string());
        BOOST_TEST(checkpoint.training.has_value(), name);
        BOOST_TEST(model_from_checkpoint(checkpoint)->options().image_size == 40);
      }
      // The next run into the directory removes what the dead one left, and
      // says so (with --epochs 0 it stops there).
      const bool resumable = fs::exists(out / "last.safetensors");
      const RunResult next =
          run_armnet(resumable ? std::vector<std::string>{"train", "--resume", out.string(), "--epochs", "0"}
                               : train_arguments(out.string(), 0));
      BOOST_TEST(next.status == 0);
      if (!leftovers.empty()) BOOST_TEST(contains(next.err, "a temporary file left by process " + std::to_string(pid)));
      BOOST_TEST(temporary_files(out).empty());
    }
  }
  BOOST_TEST(left_behind >= 2);  // the kills did land inside writes
}

// ---- mixed precision (docs/mixed-precision.md) -----------------------------------

namespace {

// metrics.csv as numbers, one row per epoch, by column name.
std::vector<std::map<std::string, double>> metric_rows(const fs::path& run) {
  std::istringstream lines(read_file((run / "metrics.csv").string()));
  std::string line;
  std::getline(lines, line);
  std::vector<std::string> header;
  std::istringstream names(line);
  for (std::string name; std::getline(names, name, ',');) header.push_back(name);
  std::vector<std::map<std::string, double>> rows;
  while (std::getline(lines, line)) {
    std::map<std::string, double> row;
    std::istringstream fields(line);
    std::size_t column = 0;
    for (std::string field; std::getline(fields, field, ',');) row[header.at(column++)] = std::stod(field);
    rows.push_back(row);
  }
  return rows;
}

// The two-epoch run of reference_run() with --amp `level` --amp_dtype `dtype`.
const fs::path& amp_run(const std::string& level, const std::string& dtype) {
  static TemporaryDirectory directory;
  static std::map<std::string, fs::path> runs;
  const std::string key = level + "_" + dtype;
  if (runs.count(key) == 0) {
    const fs::path out = directory / key;
    const RunResult result = run_armnet(with(train_arguments(out.string(), 2), {"--amp", level, "--amp_dtype", dtype}));
    BOOST_TEST_MESSAGE(result.out);
    BOOST_TEST_REQUIRE(result.status == 0, result.err);
    BOOST_TEST(contains(result.err, "mixed precision " + level + " " + dtype));
    BOOST_TEST(contains(result.out, "[Epoch 2] Mixed precision " + level + " " + dtype + ": loss scale"));
    runs[key] = out;
  }
  return runs[key];
}

}  // namespace

BOOST_AUTO_TEST_CASE(amp_runs_follow_the_float32_loss_curve) {
  const auto reference = metric_rows(reference_run());
  for (const auto& [level, dtype] : {std::pair{"O1", "fp16"}, {"O2", "fp16"}, {"O1", "bf16"}}) {
    const auto rows = metric_rows(amp_run(level, dtype));
    BOOST_TEST_REQUIRE(rows.size() == reference.size());
    double skipped = 0.0;
    for (std::size_t epoch = 0; epoch < rows.size(); ++epoch) {
      // The same data and steps, rounded to 16 bits: the training loss within 5%.
      const double loss = rows[epoch].at("train_loss"), reference_loss = reference[epoch].at("train_loss");
      BOOST_TEST(std::abs(loss - reference_loss) / reference_loss < 0.05,
                 level << " " << dtype << " epoch " << epoch + 1 << ": train loss " << loss << " against float32's "
                       << reference_loss);
      // Every skip so far halved the scale (no growth in 12 steps).
      skipped += rows[epoch].at("skipped_steps");
      BOOST_TEST(rows[epoch].at("loss_scale") == (std::string(dtype) == "fp16" ? 65536.0 : 1.0) / std::pow(2.0, skipped),
                 boost::test_tools::tolerance(0.0));
    }
  }
}

BOOST_AUTO_TEST_CASE(o2_checkpoints_are_float32_and_o1_o2_take_the_same_steps) {
  const fs::path o1 = amp_run("O1", "fp16"), o2 = amp_run("O2", "fp16");
  BOOST_TEST(metrics_without_time(o1) == metrics_without_time(o2), boost::test_tools::per_element());
  const NamedTensors weights = read_safetensors((o2 / "last.safetensors").string());
  for (const auto& [name, tensor] : weights)
    BOOST_TEST((tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Int64), name << " is " << tensor);
  expect_same_tensors(weights, read_safetensors((o1 / "last.safetensors").string()));
  const Checkpoint last = read_checkpoint((o2 / "last.safetensors").string());
  BOOST_TEST(last.training->scaler.dynamic);
  BOOST_TEST(last.training->options.amp == "O2");
  // An O2 checkpoint is an ordinary one: armnet test reads it, in float32 or 16 bits.
  for (const std::vector<std::string>& amp : {std::vector<std::string>{}, {"--amp", "O1", "--amp_dtype", "bf16"}}) {
    const RunResult result = run_armnet(with({"test", "-c", o2.string(), "--raf_path", data().root, "--workers", "1"}, amp));
    BOOST_TEST(result.status == 0, result.err);
    BOOST_TEST(contains(result.out, "Test accuracy: "));
    BOOST_TEST(contains(result.out, "16-bit inference") == !amp.empty());
  }
  const std::string image = (fs::path(data().root) / "Image" / "aligned" / "test_0001_aligned.jpg").string();
  const RunResult predicted = run_armnet({"predict", "-c", o2.string(), image, "--amp", "O2", "--json"});
  BOOST_TEST_REQUIRE(predicted.status == 0, predicted.err);
  const nlohmann::json json = nlohmann::json::parse(predicted.out);
  double total = 0.0;
  for (const auto& [name, p] : json[0]["probabilities"].items()) total += p.get<double>();
  BOOST_TEST(total == 1.0, boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(amp_resume_after_ctrl_c_is_exact) {
  TemporaryDirectory directory;
  const std::string out = directory.file("run");
  std::string log;
  const std::vector<std::string> arguments = with(train_arguments(out, 2), {"--amp", "O2", "--amp_dtype", "fp16"});
  BOOST_TEST_REQUIRE(interrupt_training(arguments, directory, std::chrono::milliseconds(300), log) == 130);
  const Checkpoint last = read_checkpoint(out + "/last.safetensors");
  BOOST_TEST_REQUIRE(last.training.has_value());
  BOOST_TEST(last.training->scaler.dynamic);
  BOOST_TEST_REQUIRE(run_armnet({"train", "--resume", out}).status == 0);
  expect_same_run(out, amp_run("O2", "fp16"));
}

BOOST_AUTO_TEST_CASE(amp_flags_are_checked) {
  TemporaryDirectory directory;
  for (const auto& [flag, value] : {std::pair{"--amp", "O3"}, {"--amp_dtype", "fp8"}}) {
    const RunResult result = run_armnet(with(train_arguments(directory.file("run"), 1), {flag, value}));
    BOOST_TEST(result.status != 0);  // the command line's own status (CLI11's, as for every flag)
    BOOST_TEST(result.err.rfind(std::string("armnet: error: ") + flag + ": " + value, 0) == 0u, result.err);
    BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  }
}

// ---- runs that a mistake cannot lose, the reference's lines, ImageNet weights ------

BOOST_AUTO_TEST_CASE(epoch_lines_are_the_references_to_the_character) {
  const RunResult result = run_armnet(train_arguments((TemporaryDirectory() / "run").string(), 1));
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  const std::regex training(R"((?:^|\n)\[Epoch 1\] Training accuracy: \d\.\d{4}\. Loss: \d+\.\d{3} LR: 0\.001000\n)");
  const std::regex validation(R"(\n\[Epoch 1\] Validation accuracy:\d\.\d{4}\. Loss:\d+\.\d{3}\n)");
  BOOST_TEST(std::regex_search(result.out, training), result.out);
  BOOST_TEST(std::regex_search(result.out, validation), result.out);
}

BOOST_AUTO_TEST_CASE(metrics_hold_the_mean_class_accuracy_and_select_best_may_use_it) {
  const auto rows = metric_rows(reference_run());
  const Checkpoint last = read_checkpoint((reference_run() / "last.safetensors").string());
  for (std::size_t epoch = 0; epoch < rows.size(); ++epoch) {
    const EpochMetrics& saved = last.training->history[epoch];
    BOOST_TEST(rows[epoch].at("val_mean_class_accuracy") == saved.val_mean_class_accuracy);
    BOOST_TEST_REQUIRE(saved.val_class_recall.size() == 7u);
    double mean = 0.0;
    for (double recall : saved.val_class_recall) mean += recall;
    BOOST_TEST(rows[epoch].at("val_recall_Happiness") == saved.val_class_recall[3]);
    // The synthetic test split has every class, so the mean over them all.
    BOOST_TEST(saved.val_mean_class_accuracy == mean / 7.0, boost::test_tools::tolerance(1e-12));
  }
  TemporaryDirectory directory;
  const RunResult result =
      run_armnet(with(train_arguments(directory.file("run"), 2), {"--select_best", "mean_class_accuracy"}));
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  BOOST_TEST(contains(result.out, "best validation mean_class_accuracy"));
  const Checkpoint best = read_checkpoint(directory.file("run"));
  const auto& history = best.training->history;
  double best_value = -1.0;
  for (const EpochMetrics& m : history) best_value = std::max(best_value, m.val_mean_class_accuracy);
  BOOST_TEST(best.training->best_accuracy == best_value);
}

BOOST_AUTO_TEST_CASE(an_out_that_holds_a_run_is_refused_or_moved_aside_never_lost) {
  TemporaryDirectory directory;
  const std::string out = directory.file("run");
  BOOST_TEST_REQUIRE(run_armnet(train_arguments(out, 1)).status == 0);
  const std::string first_metrics = read_file(fs::path(out) / "metrics.csv");
  expect_one_line_error(run_armnet(train_arguments(out, 1)), {out, "already holds a run", "--resume", "--force"});
  BOOST_TEST(read_file(fs::path(out) / "metrics.csv") == first_metrics);  // untouched
  const RunResult forced = run_armnet(with(train_arguments(out, 1), {"--force"}));
  BOOST_TEST_REQUIRE(forced.status == 0, forced.err);
  BOOST_TEST(contains(forced.err, "moved the run in " + out + " to " + out + ".1"));
  BOOST_TEST(read_file(fs::path(out + ".1") / "metrics.csv") == first_metrics);
  BOOST_TEST(fs::exists(fs::path(out) / "last.safetensors"));
  BOOST_TEST_REQUIRE(run_armnet(with(train_arguments(out, 1), {"--force"})).status == 0);
  BOOST_TEST(fs::exists(fs::path(out + ".2") / "last.safetensors"));  // .1 is kept too
  BOOST_TEST(fs::exists(fs::path(out + ".1") / "last.safetensors"));
}

BOOST_AUTO_TEST_CASE(resume_refuses_a_flag_that_changes_the_training) {
  TemporaryDirectory directory;
  const std::string out = directory.file("run");
  BOOST_TEST_REQUIRE(run_armnet(train_arguments(out, 1)).status == 0);
  expect_one_line_error(run_armnet({"train", "--resume", out, "--lr", "0.01"}),
                        {"--resume " + out, "--lr 0.01", "differs from the run's 0.0", "-c " + out});
  expect_one_line_error(run_armnet({"train", "--resume", out, "--batch_size", "4"}), {"--batch_size 4", "8"});
  expect_one_line_error(run_armnet({"train", "--resume", out, "--model", "resnet18"}), {"--model \"resnet18\""});
  expect_one_line_error(run_armnet({"train", "--resume", out, "--amp", "O1"}), {"--amp \"O1\""});
  // The same value is no change; the data set may move (the same images).
  const fs::path moved = directory / "moved";
  fs::copy(data().root, moved, fs::copy_options::recursive);
  const RunResult resumed = run_armnet({"train", "--resume", out, "--epochs", "2", "--batch_size", "8", "--data",
                                        moved.string(), "--workers", "1"});
  BOOST_TEST_REQUIRE(resumed.status == 0, resumed.err);
  expect_same_run(out, reference_run());
  // Other images under the same name are not the run's data set.
  const fs::path other = directory / "other";
  BOOST_TEST_REQUIRE(run_armnet({"synth", "--out", other.string(), "--train", "40", "--test", "16", "--seed", "6",
                                 "--size", "48"})
                         .status == 0);
  expect_one_line_error(run_armnet({"train", "--resume", out, "--epochs", "3", "--data", other.string()}),
                        {other.string(), "not the data set the run trained on"});
}

BOOST_AUTO_TEST_CASE(nothing_to_train_writes_nothing_and_a_failed_start_leaves_no_directory) {
  TemporaryDirectory directory;
  const RunResult zero = run_armnet(train_arguments(directory.file("zero"), 0));
  BOOST_TEST(zero.status == 0);
  BOOST_TEST(contains(zero.err, "nothing to train: --epochs 0; nothing written"));
  BOOST_TEST(!fs::exists(directory / "zero"));
  std::vector<std::string> missing_data = train_arguments(directory.file("failed"), 1);
  missing_data[2] = directory.file("no-such-data");
  const RunResult failed = run_armnet(missing_data);
  BOOST_TEST(failed.status == 1);
  BOOST_TEST(contains(failed.err, "no-such-data"));
  BOOST_TEST(!fs::exists(directory / "failed"));
  // A finished run asked for no more epochs: says so, writes nothing.
  const std::string out = directory.file("run");
  BOOST_TEST_REQUIRE(run_armnet(train_arguments(out, 1)).status == 0);
  const auto written = fs::last_write_time(fs::path(out) / "last.safetensors");
  const RunResult again = run_armnet({"train", "--resume", out});
  BOOST_TEST(again.status == 0);
  BOOST_TEST(contains(again.err, "has done 1 of 1 epochs"));
  BOOST_TEST((fs::last_write_time(fs::path(out) / "last.safetensors") == written));
}

namespace {

// torchvision's ImageNet ResNet-18 as a .pth (its keys, a baseline model's
// feature weights under them), where PyTorch keeps downloads under TORCH_HOME.
void write_imagenet_resnet18(const fs::path& file) {
  ModelOptions options;
  options.architecture = "resnet18";
  options.image_size = 40;
  options.seed = 99;
  const std::map<std::string, std::string> torchvision = {{"features.0.", "conv1."}, {"features.1.", "bn1."},
                                                          {"features.4.", "layer1."}, {"features.5.", "layer2."},
                                                          {"features.6.", "layer3."}, {"features.7.", "layer4."}};
  std::vector<PickledTensor> tensors;
  ZipEntries entries;
  for (const auto& [name, tensor] : make_model(options)->state_dict()) {
    for (const auto& [ours, theirs] : torchvision) {
      if (name.rfind(ours, 0) != 0) continue;
      const std::string key = std::to_string(tensors.size());
      std::vector<std::int64_t> strides(tensor.shape().size());
      std::int64_t stride = 1;
      for (std::size_t d = strides.size(); d-- > 0;) strides[d] = stride, stride *= tensor.shape()[d];
      tensors.push_back({theirs + name.substr(ours.size()), key,
                         tensor.dtype() == DType::Int64 ? "LongStorage" : "FloatStorage", tensor.numel(), 0,
                         tensor.shape(), strides});
      entries.emplace_back("archive/data/" + key,
                           std::string(static_cast<const char*>(tensor.data_ptr()), tensor.nbytes()));
    }
  }
  entries.emplace_back("archive/data.pkl", state_dict_pickle(tensors));
  fs::create_directories(file.parent_path());
  write_zip(file, entries);
}

}  // namespace

BOOST_AUTO_TEST_CASE(imagenet_weights_are_found_where_pytorch_keeps_them) {
  TemporaryDirectory directory;
  const fs::path torch_home = directory / "torch";
  const std::vector<std::string> arguments = {"train", "--raf_path", data().root, "--image_size", "40", "--model",
                                              "resnet18", "--batch_size", "8", "--workers", "1"};
  // Absent: one clear warning, random weights.
  fs::create_directories(torch_home);
  const RunResult absent = run_armnet(with(arguments, {"--out", directory.file("absent"), "--epochs", "1"}),
                                      {{"TORCH_HOME", torch_home.string()}});
  BOOST_TEST_REQUIRE(absent.status == 0, absent.err);
  BOOST_TEST(contains(absent.err, "warning: no ImageNet weights (resnet18-f37072fd.pth) in " +
                                      (torch_home / "hub" / "checkpoints").string()));
  BOOST_TEST(contains(absent.err, "--pretrained none"));
  // --pretrained none: silence.
  const RunResult none =
      run_armnet(with(arguments, {"--out", directory.file("none"), "--pretrained", "none", "--epochs", "1"}),
                                    {{"TORCH_HOME", torch_home.string()}});
  BOOST_TEST_REQUIRE(none.status == 0, none.err);
  BOOST_TEST(!contains(none.err, "warning"));
  // Present: loaded, and said from where; the weights are those of the file.
  const fs::path file = torch_home / "hub" / "checkpoints" / "resnet18-f37072fd.pth";
  write_imagenet_resnet18(file);
  const RunResult found = run_armnet(with(arguments, {"--out", directory.file("found"), "--epochs", "0"}),
                                     {{"TORCH_HOME", torch_home.string()}});
  BOOST_TEST(found.status == 0, found.err);  // --epochs 0: nothing trained, so nothing loaded either
  const RunResult loaded =
      run_armnet(with(arguments, {"--out", directory.file("found"), "--lr", "1e-30", "--epochs", "1"}),
                                      {{"TORCH_HOME", torch_home.string()}});
  BOOST_TEST_REQUIRE(loaded.status == 0, loaded.err);
  BOOST_TEST(contains(loaded.err, "ImageNet tensors from " + file.string()));
  // At a learning rate of 1e-30 the convolutions keep the file's values.
  const NamedTensors imagenet = map_torchvision_resnet18(read_torch_checkpoint(file.string()));
  const Checkpoint last = read_checkpoint(directory.file("found") + "/last.safetensors");
  for (const auto& [name, tensor] : imagenet) {
    if (name != "features.0.weight") continue;
    for (const auto& [saved_name, saved] : last.weights)
      if (saved_name == name)
        BOOST_TEST(std::memcmp(saved.data_ptr(), tensor.data_ptr(), tensor.nbytes()) == 0, name);
  }
}

// ---- other data sets, any number of classes (data/dataset.h) -----------------------

namespace {

// One epoch on a data set at `data` in `format` (40x40 inputs, batch 8),
// into `out`; the run must succeed.
RunResult train_one_epoch(const std::string& data, const std::string& format, const std::string& out,
                          const std::vector<std::string>& more = {}) {
  const RunResult result = run_armnet(with({"train", "--data", data, "--data_format", format, "--image_size", "40",
                                            "--batch_size", "8", "--val_batch_size", "8", "--epochs", "1",
                                            "--workers", "2", "--seed", "3", "--pretrained", "none", "--out", out},
                                           more));
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(class_folders_train_and_test_with_their_classes) {
  TemporaryDirectory directory;
  // SFEW's folder names, in its (alphabetical) order, with a val/ split.
  const fs::path root = directory / "sfew";
  write_folder_dataset(root, {"Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"}, 4, 2, "Val");
  const std::string out = directory.file("run");
  const RunResult trained = train_one_epoch(root.string(), "folder", out);
  BOOST_TEST(contains(trained.err, "28 train, 14 test images in 7 classes"));
  // The seven expressions take RAF-DB's order and names.
  BOOST_TEST(metric_rows(out)[0].count("val_recall_Happiness") == 1u);
  const Checkpoint last = read_checkpoint(out + "/last.safetensors");
  BOOST_TEST(last.training->class_names ==
                 std::vector<std::string>({"Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"}),
             boost::test_tools::per_element());
  const RunResult tested =
      run_armnet({"test", "-c", out, "--data", root.string(), "--data_format", "folder", "--workers", "1"});
  BOOST_TEST_REQUIRE(tested.status == 0, tested.err);
  BOOST_TEST(contains(tested.out, "Test accuracy: "));
  BOOST_TEST(contains(tested.out, "Happiness"));

  // Three classes that are not expressions: sorted, end to end, in predict too.
  const fs::path pets = directory / "pets";
  write_folder_dataset(pets, {"dog", "cat", "bird"}, 6, 3);
  const std::string pets_out = directory.file("pets-run");
  train_one_epoch(pets.string(), "folder", pets_out);
  BOOST_TEST(read_checkpoint(pets_out).training->class_names == std::vector<std::string>({"bird", "cat", "dog"}),
             boost::test_tools::per_element());
  const std::string image = (pets / "test" / "cat" / "img_000.jpg").string();
  const RunResult predicted = run_armnet({"predict", "-c", pets_out, image, "--json"});
  BOOST_TEST_REQUIRE(predicted.status == 0, predicted.err);
  const nlohmann::json json = nlohmann::json::parse(predicted.out);
  BOOST_TEST(json[0]["probabilities"].size() == 3u);
  BOOST_TEST(json[0]["probabilities"].contains("bird"));
  // A model of three classes tested on seven: refused, both lists named.
  expect_one_line_error(run_armnet({"test", "-c", pets_out, "--data", root.string(), "--data_format", "folder"}),
                        {"bird, cat, dog", "Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral"});
}

BOOST_AUTO_TEST_CASE(fer2013s_csv_trains_and_tests_on_the_chosen_split) {
  TemporaryDirectory directory;
  const fs::path csv = directory / "fer2013.csv";
  write_fer2013_csv(csv, 21, 7, 14);
  const std::string out = directory.file("run");
  const RunResult trained = train_one_epoch(csv.string(), "fer2013", out, {"--test_split", "PrivateTest"});
  BOOST_TEST(contains(trained.err, "21 train, 14 test images in 7 classes"));
  const RunResult tested = run_armnet({"test", "-c", out, "--data", directory.path().string(), "--data_format",
                                       "fer2013", "--test_split", "both", "--workers", "1"});
  BOOST_TEST_REQUIRE(tested.status == 0, tested.err);
  BOOST_TEST(contains(tested.out, "evaluating 21 test images"));
}

BOOST_AUTO_TEST_CASE(affectnet_lists_train_and_test_with_8_classes) {
  TemporaryDirectory directory;
  const fs::path root = directory / "affectnet";
  write_affectnet_set(root, 44, 22);
  const std::string out = directory.file("run");
  const RunResult trained = train_one_epoch(root.string(), "affectnet", out, {"--affectnet_classes", "8"});
  BOOST_TEST(contains(trained.err, "in 8 classes"));
  const std::vector<std::string> classes = read_checkpoint(out).training->class_names;
  BOOST_TEST_REQUIRE(classes.size() == 8u);
  BOOST_TEST(classes[7] == "Contempt");
  const RunResult tested = run_armnet({"test", "-c", out, "--data", root.string(), "--data_format", "affectnet",
                                       "--affectnet_classes", "8", "--workers", "1"});
  BOOST_TEST_REQUIRE(tested.status == 0, tested.err);
  BOOST_TEST(contains(tested.out, "Contempt"));
  // With 7 classes the same set is another set of classes for this model.
  expect_one_line_error(run_armnet({"test", "-c", out, "--data", root.string(), "--data_format", "affectnet"}),
                        {"Contempt", "are not the data set's"});
}
