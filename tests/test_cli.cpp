// The command line as people expect it of Unix tools (apps/armnet.cpp):
// --version, `armnet help CMD`, the nearest command or flag suggested, exit
// status 2 for usage errors and 1 for errors while running, 130 for Ctrl-C,
// fixed value sets listed in --help and refused otherwise, required options
// marked, "not a checkpoint: FILE is a PNG image", and results on stdout with
// notes and progress on stderr.
#define BOOST_TEST_MODULE cli
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/bounded_run.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

using namespace armnet;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {}  // namespace

BOOST_AUTO_TEST_CASE(version_names_the_build) {
  const RunResult result = run_armnet({"--version"});
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  BOOST_TEST(result.out.rfind("armnet 0.1.0 (", 0) == 0u, result.out);
  for (const char* line : {" build)\n", "\ncpu gemm: ", "\ncpu float32 convolution: ", "\ncuda: ", "\nonnx export: ",
                           "\nface detection: "})
    BOOST_TEST(contains(result.out, line), "missing: " << line);
  BOOST_TEST(result.err.empty());
}

BOOST_AUTO_TEST_CASE(help_of_a_command_is_its_help) {
  for (const char* command : {"train", "test", "predict", "export", "explain", "synth", "info", "dump-grads"}) {
    const RunResult help = run_armnet({"help", command});
    const RunResult flag = run_armnet({command, "--help"});
    BOOST_TEST_REQUIRE(help.status == 0, command);
    BOOST_TEST(flag.status == 0, command);
    BOOST_TEST(help.out == flag.out, command);
    BOOST_TEST(contains(help.out, std::string(" ") + command + " [OPTIONS]"), command);
  }
  const RunResult all = run_armnet({"help"});
  BOOST_TEST_REQUIRE(all.status == 0);
  BOOST_TEST(all.out == run_armnet({"--help"}).out);
  for (const char* command : {"train", "test", "predict", "export", "explain", "help"})
    BOOST_TEST(contains(all.out, std::string("\n  ") + command + " "), command);
}

BOOST_AUTO_TEST_CASE(unknown_commands_and_flags_suggest_the_nearest_and_exit_2) {
  expect_one_line_error(run_armnet({"trian"}), {"unknown command \"trian\" (did you mean train?)"}, 2);
  expect_one_line_error(run_armnet({"tset", "-c", "x"}), {"(did you mean test?)"}, 2);
  expect_one_line_error(run_armnet({"exprot"}), {"(did you mean export?)"}, 2);
  // Nothing near: no guess.
  const RunResult far = run_armnet({"frobnicate"});
  expect_one_line_error(far, {"unknown command \"frobnicate\"", "armnet --help lists the commands"}, 2);
  BOOST_TEST(!contains(far.err, "did you mean"));
  expect_one_line_error(run_armnet({"help", "predcit"}), {"help: no command \"predcit\" (did you mean predict?)"}, 2);
  expect_one_line_error(run_armnet({"train", "--epoch", "3"}),
                        {"--epoch", "(did you mean --epochs?)", "armnet help train lists what it takes"}, 2);
  expect_one_line_error(run_armnet({"test", "-c", "x", "--batchsize", "3"}), {"(did you mean --batch_size?)"}, 2);
  expect_one_line_error(run_armnet({}), {"A subcommand is required"}, 2);
}

BOOST_AUTO_TEST_CASE(fixed_value_sets_are_listed_and_others_refused_with_2) {
  const RunResult train_help = run_armnet({"train", "--help"});
  for (const char* set : {"{adam,sgd}", "{arm,resnet18}", "{shuffle,mrr}", "{raf,folder,fer2013,affectnet}",
                          "{PublicTest,PrivateTest,both}", "{7,8}", "{cpu,cuda}", "{off,O1,O2}", "{fp16,bf16}",
                          "{accuracy,mean_class_accuracy}"})
    BOOST_TEST(contains(train_help.out, set), "train --help lacks " << set);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"--optimizer", "adamw"}, {"--model", "resnet50"}, {"--sampler", "random"}, {"--data_format", "csv"},
      {"--device", "tpu"},      {"--amp", "O3"},         {"--amp_dtype", "fp8"},  {"--select_best", "loss"}};
  for (const auto& [flag, value] : refused)
    expect_one_line_error(run_armnet({"train", flag, value}), {flag, value + " not in {"}, 2);
  // A number out of its range is a usage error as well.
  expect_one_line_error(run_armnet({"train", "--batch_size", "0", "--pretrained", "none", "--data", "nowhere"}),
                        {"--batch_size 0"}, 2);
  expect_one_line_error(run_armnet({"test", "-c", "x", "-b", "0"}), {"--batch_size"}, 2);
}

BOOST_AUTO_TEST_CASE(required_options_are_marked_and_their_absence_exits_2) {
  const RunResult help = run_armnet({"test", "--help"});
  BOOST_TEST(contains(help.out, "-c,--checkpoint TEXT REQUIRED"), help.out);
  BOOST_TEST(contains(run_armnet({"predict", "--help"}).out, "inputs TEXT ... REQUIRED"));
  expect_one_line_error(run_armnet({"test"}), {"--checkpoint is required"}, 2);
  expect_one_line_error(run_armnet({"explain", "-c", "x", "face.png"}), {"--out is required"}, 2);
}

BOOST_AUTO_TEST_CASE(errors_while_running_exit_1) {
  TemporaryDirectory directory;
  expect_one_line_error(run_armnet({"test", "-c", directory.file("missing.safetensors")}), {"missing.safetensors"});
  expect_one_line_error(run_armnet({"train", "--data", directory.file("no-such-data"), "--pretrained", "none", "--out",
                                    directory.file("run")}),
                        {"no-such-data"});
}

BOOST_AUTO_TEST_CASE(a_file_that_is_no_checkpoint_says_what_it_is) {
  TemporaryDirectory directory;
  const Image image = smooth_image(8, 8, 1);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"face.png", png_bytes(image)},
      {"face.jpg", jpeg_bytes(image)},
      {"face.bmp", bmp_bytes(image)},
      {"notes.txt", "epoch,accuracy\n1,0.5\n"},
      {"empty.safetensors", ""},
      {"model.gz", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8)},
      {"noise.bin", std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 10)},
  };
  const std::vector<std::string> kinds = {"a PNG image",
                                          "a JPEG image",
                                          "a BMP image",
                                          "a text file",
                                          "an empty file",
                                          "a gzip file",
                                          "neither safetensors nor a PyTorch file (it starts with the bytes 01 02 03"};
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string path = directory.file(files[i].first);
    write_file(path, files[i].second);
    // As the checkpoint of test and predict, and a .pth name does not hide it.
    expect_one_line_error(run_armnet({"test", "-c", path}), {"not a checkpoint: " + path + " is " + kinds[i]});
    expect_one_line_error(run_armnet({"predict", "-c", path, path}), {"not a checkpoint: " + path + " is " + kinds[i]});
  }
  const std::string renamed = directory.file("model.pth");
  write_file(renamed, png_bytes(image));
  expect_one_line_error(run_armnet({"test", "-c", renamed}), {"not a checkpoint: " + renamed + " is a PNG image"});
}

BOOST_AUTO_TEST_CASE(ctrl_c_exits_130_with_a_note_on_stderr) {
  // synth writing a large set: interrupted well before its end.
  TemporaryDirectory directory;
  const std::string out_log = directory.file("stdout"), err_log = directory.file("stderr");
  const pid_t pid =
      spawn_armnet({"synth", "--out", directory.file("set"), "--train", "200000", "--test", "0"}, out_log, err_log);
  // Until its first image is written (or 30 s), so the signal meets a running command.
  const fs::path images = directory / "set" / "Image" / "aligned";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::error_code error;
  while (std::chrono::steady_clock::now() < deadline &&
         (!fs::is_directory(images, error) || fs::is_empty(images, error)))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  BOOST_TEST_REQUIRE(kill(pid, SIGINT) == 0);
  const RunResult result = wait_for_armnet(pid, 120);
  BOOST_TEST(result.status == 130);
  BOOST_TEST(contains(read_file(err_log), "armnet: interrupted"));
}

BOOST_AUTO_TEST_CASE(results_on_stdout_notes_and_progress_on_stderr) {
  TemporaryDirectory directory;
  const fs::path data = directory / "data";
  write_folder_dataset(data, {"Happy", "Sad"}, 4, 2);
  const std::string out = directory.file("run");
  const RunResult trained =
      run_armnet({"train", "--data", data.string(), "--data_format", "folder", "--image_size", "40", "--batch_size",
                  "4", "--epochs", "1", "--workers", "1", "--pretrained", "none", "--out", out});
  BOOST_TEST_REQUIRE(trained.status == 0, trained.err);
  // stdout: the epoch lines and the outcome, nothing else.
  BOOST_TEST(contains(trained.out, "[Epoch 1] Training accuracy: "));
  BOOST_TEST(contains(trained.out, "[Epoch 1] Validation accuracy:"));
  BOOST_TEST(contains(trained.out, "done: best validation accuracy"));
  // stderr: the run's description and notes.
  BOOST_TEST(contains(trained.err, "armnet train: arm model, 40x40 input, 2 classes"));
  BOOST_TEST(contains(trained.err, "batches per epoch"));
  BOOST_TEST(!contains(trained.out, "armnet train:"));
  BOOST_TEST(!contains(trained.out, "best so far"));

  const RunResult tested = run_armnet({"test", "-c", out, "--data", data.string(), "--data_format", "folder", "-p",
                                       "--out", directory.file("pictures")});
  BOOST_TEST_REQUIRE(tested.status == 0, tested.err);
  BOOST_TEST(contains(tested.out, "Test accuracy: "));
  BOOST_TEST(contains(tested.err, "wrote the confusion matrix picture"));
  BOOST_TEST(!contains(tested.out, "wrote"));
}
