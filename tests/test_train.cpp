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
#include <set>
#include <sstream>
#include <thread>

#include "apps/checkpoint.h"
#include "data/image.h"
#include "tensor/io/safetensors.h"
#include "tests/bounded_run.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::apps;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const std::string& fragment) { return text.find(fragment) != std::string::npos; }

// A failed run: status 1 and one line "armnet: error: ..." containing each fragment.
void expect_one_line_error(const RunResult& result, const std::vector<std::string>& fragments) {
  BOOST_TEST(result.status == 1);
  BOOST_TEST(result.err.rfind("armnet: error: ", 0) == 0u);
  BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1);
  for (const std::string& fragment : fragments) BOOST_TEST(contains(result.err, fragment), "missing: " << fragment);
}

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
          "--epochs", std::to_string(epochs), "--workers", "2", "--seed", "11", "--out", out};
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

// Starts `armnet train arguments`, waits for its header (printed once the
// Ctrl-C handler is in place, before the first step), waits `delay` more,
// sends SIGINT and returns the exit status; `out` gets its stdout.
int interrupt_training(const std::vector<std::string>& arguments, const TemporaryDirectory& directory,
                       std::chrono::milliseconds delay, std::string& out) {
  const std::string out_log = directory.file("stdout"), err_log = directory.file("stderr");
  const pid_t pid = spawn_armnet(arguments, out_log, err_log);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!contains(read_file(out_log), "batches per epoch") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(delay);
  BOOST_TEST_REQUIRE(kill(pid, SIGINT) == 0);
  const int status = wait_for_armnet(pid).status;
  out = read_file(out_log);
  BOOST_TEST_MESSAGE("stopped with status " << status << ":\n" << out << read_file(err_log));
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
  BOOST_TEST(rows[0] == "epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,skipped_steps,loss_scale");
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
  BOOST_TEST(last.optimizer_state.size() == 3 * make_model(model_options(state.options))->named_parameters().size());
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
  const RunResult result = run_armnet({"test", "-c", run.string(), "--raf_path", data().root, "-b", "8", "-p",
                                       "--out", pictures.path().string(), "--workers", "1"});
  BOOST_TEST_REQUIRE(result.status == 0);
  char expected[64];
  std::snprintf(expected, sizeof expected, "Test accuracy: %.4f\n", best_metrics.val_accuracy);
  BOOST_TEST(contains(result.out, expected), "expected " << expected);
  BOOST_TEST(contains(result.out, "batch 8"));
  BOOST_TEST(contains(result.out, "precision"));
  BOOST_TEST(contains(result.out, "mean class accuracy"));
  BOOST_TEST(contains(result.out, "SU  FE  DI  HA  SA  AN  NE"));
  const Image picture = decode_image((pictures.path() / "confusion_matrix.png").string());
  BOOST_TEST(picture.width == 640);
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
  const RunResult result = run_armnet({"predict", "-c", (reference_run() / "last.safetensors").string(), image,
                                       image, "--json"});
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
  BOOST_TEST(contains(resumed.out, "resuming"));
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
  expect_one_line_error(result, {"the training loss became", "at epoch 1, step"});
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
  BOOST_TEST(contains(fresh.out, "holds no optimizer state: the optimizer starts afresh"));
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

// metrics.csv as numbers, one row per epoch (the header dropped).
std::vector<std::vector<double>> metric_rows(const fs::path& run) {
  std::vector<std::vector<double>> rows;
  std::istringstream lines(read_file((run / "metrics.csv").string()));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::vector<double> row;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) row.push_back(std::stod(field));
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
    BOOST_TEST(contains(result.out, "mixed precision " + level + " " + dtype));
    BOOST_TEST(contains(result.out, "[Epoch 2] Mixed precision " + level + " " + dtype + ": loss scale"));
    runs[key] = out;
  }
  return runs[key];
}

}  // namespace

BOOST_AUTO_TEST_CASE(amp_runs_follow_the_float32_loss_curve) {
  // Columns: epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, skipped_steps, loss_scale, seconds.
  const std::vector<std::vector<double>> reference = metric_rows(reference_run());
  for (const auto& [level, dtype] : {std::pair{"O1", "fp16"}, {"O2", "fp16"}, {"O1", "bf16"}}) {
    const std::vector<std::vector<double>> rows = metric_rows(amp_run(level, dtype));
    BOOST_TEST_REQUIRE(rows.size() == reference.size());
    for (std::size_t epoch = 0; epoch < rows.size(); ++epoch) {
      // The same data and steps, rounded to 16 bits: the training loss within 5%.
      const double difference = std::abs(rows[epoch][1] - reference[epoch][1]) / reference[epoch][1];
      BOOST_TEST(difference < 0.05, level << " " << dtype << " epoch " << epoch + 1 << ": train loss "
                                          << rows[epoch][1] << " against float32's " << reference[epoch][1]);
      BOOST_TEST(rows[epoch][7] == (std::string(dtype) == "fp16" ? 65536.0 : 1.0) / std::pow(2.0, rows[epoch][6]),
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
