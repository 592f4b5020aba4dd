// armnet_train_bench: time of one CPU training step or one evaluation pass of
// the whole model (ResNet18_ARM by default), float32, and the process's peak
// resident memory.
//
//   armnet_train_bench [--mode train|eval] [--model arm|resnet18] [--batch 32]
//                      [--size 224] [--warmup 2] [--steps 10]
//                      [--amp off|O1|O2] [--amp_dtype fp16|bf16] [--device cpu|cuda]
//
// train: model->train(); logits = forward(x); loss = cross_entropy(logits,
//        labels); loss.backward(); optimizer.step(); optimizer.zero_grad()
//        with the reference's Adam (lr 1e-3, weight decay 1e-4).
// eval:  model->eval(); logits = forward(x) under NoGradGuard.
// --amp: the same under mixed precision (layers/mixed_precision.h: the
//        forward in an autocast scope, the scaled backward, the unscale +
//        check, the step); on the CPU its 16-bit ops are emulated in float32
//        (docs/mixed-precision.md), so it measures the emulation's cost.
// --device cuda: the same on the GPU (tools/gpu_check.sh); each step ends
//        with the loss (or a logit) read back, which waits for the GPU, and
//        the peak memory is the caching allocator's high-water mark of
//        tensors in use (peak_mib), the host's resident size aside.
// The input is N(0, 1) and the labels n % 7, made once. After --warmup
// untimed steps, --steps steps are timed one by one; the median and mean time
// per step and images/s (batch / median) are printed, then the peak resident
// set size (getrusage ru_maxrss) of the whole process. Train and eval are
// meant to run as separate processes (bench/train_bench.sh does), so that one
// peak does not hide the other. The last line is machine-readable:
//
//   RESULT framework=armnet mode=train model=arm batch=32 size=224 threads=2
//          warmup=2 steps=10 median_ms=... mean_ms=... images_per_s=...
//          cpu_ms=... peak_mib=... start_mib=...
//
// (one line; cpu_ms is the process's CPU time per timed step, all threads
// together, which a busy machine disturbs less than the wall-clock time;
// start_mib is the resident size before the model was built).
// Threads: OMP_NUM_THREADS, as every armnet kernel.
#include <omp.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functional.h"
#include "layers/mixed_precision.h"
#include "layers/optimizer.h"
#include "layers/resnet_arm.h"
#include "tensor/random.h"

using namespace armnet;

namespace {

struct Options {
  std::string mode = "train";
  std::string model = "arm";
  int batch = 32;
  int size = 224;
  int warmup = 2;
  int steps = 10;
  std::string amp = "off", amp_dtype = "fp16";
  std::string device = "cpu";
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "armnet_train_bench: " << problem << "\n"
            << "usage: armnet_train_bench [--mode train|eval] [--model arm|resnet18] [--batch N] [--size S]"
               " [--warmup N] [--steps N] [--amp off|O1|O2] [--amp_dtype fp16|bf16] [--device cpu|cuda]\n";
  std::exit(2);
}

int positive(const std::string& flag, const std::string& value, int minimum) {
  char* end = nullptr;
  const long parsed = std::strtol(value.c_str(), &end, 10);
  if (end == value.c_str() || *end != '\0' || parsed < minimum || parsed > 1000000)
    usage(flag + " needs an integer >= " + std::to_string(minimum) + ", got '" + value + "'");
  return static_cast<int>(parsed);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("training-step and evaluation benchmark");
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--mode" && (value == "train" || value == "eval"))
      options.mode = value;
    else if (flag == "--model" && (value == "arm" || value == "resnet18"))
      options.model = value;
    else if (flag == "--batch")
      options.batch = positive(flag, value, 2);  // BatchNorm in training needs two values per channel
    else if (flag == "--size")
      options.size = positive(flag, value, 1);
    else if (flag == "--warmup")
      options.warmup = positive(flag, value, 0);
    else if (flag == "--steps")
      options.steps = positive(flag, value, 1);
    else if (flag == "--amp" && (value == "off" || value == "O1" || value == "O2"))
      options.amp = value;
    else if (flag == "--amp_dtype" && (value == "fp16" || value == "bf16"))
      options.amp_dtype = value;
    else if (flag == "--device" && (value == "cpu" || value == "cuda"))
      options.device = value;
    else
      usage("unknown flag or value: " + flag + " " + value);
  }
  return options;
}

double peak_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

double current_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * 4096.0 / (1024.0 * 1024.0);
}

// CPU time of the whole process (all threads): on a shared machine it moves
// less than the wall-clock time when other programs take the cores.
double process_cpu_seconds() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  try {
    const double start_mib = current_mib();
    ModelOptions model_options;
    model_options.architecture = options.model;
    model_options.image_size = options.size;
    std::shared_ptr<Classifier> model = make_model(model_options);
    const Device device = options.device == "cuda" ? Device::CUDA : Device::CPU;
    if (device == Device::CUDA && !cuda_available()) usage("--device cuda: " + cuda_unavailable_reason());
    model->to(device);
    Optimizer optimizer(model->named_parameters(), default_optimizer_options("adam"));
    std::unique_ptr<MixedPrecision> amp;
    if (options.amp != "off")
      amp = std::make_unique<MixedPrecision>(parse_amp_level(options.amp), parse_amp_dtype(options.amp_dtype));

    Generator generator(1);
    const Tensor images = randn({options.batch, 3, options.size, options.size}, generator).to(device);
    std::vector<double> label_values(static_cast<std::size_t>(options.batch));
    for (int n = 0; n < options.batch; ++n) label_values[static_cast<std::size_t>(n)] = n % model_options.num_classes;
    const Tensor labels = Tensor::from_vector(label_values, {options.batch}, DType::Int64).to(device);

    const bool train = options.mode == "train";
    double checksum = 0.0;  // the last loss or logit sum, so that no work can be skipped
    auto step = [&] {
      if (train && amp) {
        model->train();
        checksum = amp->train_step(*model, optimizer, images, labels).loss_value;
      } else if (train) {
        model->train();
        const Tensor logits = model->forward(images);
        const Tensor loss = cross_entropy(logits, labels);
        loss.backward();
        optimizer.step();
        optimizer.zero_grad();
        checksum = loss.item();
      } else {
        model->eval();
        autograd::NoGradGuard no_grad;
        checksum = autocast_forward(*model, images, amp ? &amp->autocast() : nullptr).at(0);
      }
    };

    for (int i = 0; i < options.warmup; ++i) step();
    std::vector<double> seconds;
    const double cpu_begin = process_cpu_seconds();
    for (int i = 0; i < options.steps; ++i) {
      const auto begin = std::chrono::steady_clock::now();
      step();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
    }
    const double cpu_per_step = (process_cpu_seconds() - cpu_begin) / options.steps;

    const double median_s = median(seconds);
    const double mean_s = std::accumulate(seconds.begin(), seconds.end(), 0.0) / static_cast<double>(seconds.size());
    const double images_per_s = options.batch / median_s;
    const double peak = device == Device::CUDA
                            ? static_cast<double>(memory_stats(Device::CUDA).peak_in_use) / (1024.0 * 1024.0)
                            : peak_mib();
    const int threads = omp_get_max_threads();
    const std::string precision = amp ? "amp " + options.amp + " " + options.amp_dtype : std::string("float32");
    std::printf("armnet %s step on %s, model %s, batch %d, %dx%d %s, %d threads, %d warm-up + %d timed steps\n",
                options.mode.c_str(), options.device.c_str(), options.model.c_str(), options.batch, options.size,
                options.size, precision.c_str(), threads, options.warmup, options.steps);
    std::printf("  per step: median %.1f ms, mean %.1f ms, min %.1f ms, max %.1f ms\n", 1e3 * median_s, 1e3 * mean_s,
                1e3 * *std::min_element(seconds.begin(), seconds.end()),
                1e3 * *std::max_element(seconds.begin(), seconds.end()));
    std::printf("  CPU time (all threads) per step: mean %.1f ms\n", 1e3 * cpu_per_step);
    std::printf("  %.1f images/s; peak %s memory %.0f MiB (%.0f MiB resident before the model); last %s %.6g\n",
                images_per_s, device == Device::CUDA ? "GPU tensor" : "resident", peak, start_mib,
                train ? "loss" : "logit", checksum);
    std::printf(
        "RESULT framework=armnet mode=%s model=%s batch=%d size=%d threads=%d warmup=%d steps=%d median_ms=%.3f "
        "mean_ms=%.3f images_per_s=%.2f cpu_ms=%.3f peak_mib=%.1f start_mib=%.1f amp=%s device=%s\n",
        options.mode.c_str(), options.model.c_str(), options.batch, options.size, threads, options.warmup,
        options.steps, 1e3 * median_s, 1e3 * mean_s, images_per_s, 1e3 * cpu_per_step, peak, start_mib,
        amp ? (options.amp + "_" + options.amp_dtype).c_str() : "off", options.device.c_str());
  } catch (const Error& error) {
    std::cerr << "armnet_train_bench: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
