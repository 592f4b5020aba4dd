// armnet_conv_bench: GFLOP/s of the CPU convolution kernels (forward,
// backward-data, backward-weights) on every distinct convolution shape of
// ResNet-18 at 224x224 input, plus the ARM de-albino 32x32 stride-8 kernel.
//
//   armnet_conv_bench [--batch N] [--repeat N] [--dtype f32|f64] [--compare torch.csv]
//
// Each pass runs once to warm up, then --repeat times; the best time counts
// (as bench/conv_bench_torch.py does). FLOPs = 2*N*C_out*OH*OW*C_in*kH*kW per
// pass. With --compare, PyTorch's GFLOP/s from the CSV written by
// conv_bench_torch.py and the ratio armnet / PyTorch stand next to armnet's.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cpu/gemm.h"
#include "tensor/random.h"

using namespace armnet;

namespace {

struct ConvShape {
  std::string name;  // also the key of the CSV rows
  std::int64_t in_channels, out_channels, kernel, stride, pad, size;
  std::int64_t images_per_batch_image;  // the de-albino conv sees 2 images per sample
};

// Every distinct convolution of ResNet-18 at 224x224, then the ARM head's.
const std::vector<ConvShape> kShapes = {
    {"conv1 7x7 3->64 s2 @224", 3, 64, 7, 2, 3, 224, 1}, {"3x3 64->64 s1 @56", 64, 64, 3, 1, 1, 56, 1},
    {"3x3 64->128 s2 @56", 64, 128, 3, 2, 1, 56, 1},     {"1x1 64->128 s2 @56", 64, 128, 1, 2, 0, 56, 1},
    {"3x3 128->128 s1 @28", 128, 128, 3, 1, 1, 28, 1},   {"3x3 128->256 s2 @28", 128, 256, 3, 2, 1, 28, 1},
    {"1x1 128->256 s2 @28", 128, 256, 1, 2, 0, 28, 1},   {"3x3 256->256 s1 @14", 256, 256, 3, 1, 1, 14, 1},
    {"3x3 256->512 s2 @14", 256, 512, 3, 2, 1, 14, 1},   {"1x1 256->512 s2 @14", 256, 512, 1, 2, 0, 14, 1},
    {"3x3 512->512 s1 @7", 512, 512, 3, 1, 1, 7, 1},     {"de-albino 32x32 1->1 s8 @112", 1, 1, 32, 8, 0, 112, 2},
};

struct PassRates {
  double forward = 0, backward_data = 0, backward_weights = 0;  // GFLOP/s
};

struct Options {
  std::int64_t batch = 32;
  int repeat = 3;
  DType dtype = DType::Float32;
  std::string compare;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "armnet_conv_bench: " << problem << "\n"
            << "usage: armnet_conv_bench [--batch N] [--repeat N] [--dtype f32|f64] [--compare torch.csv]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("convolution micro-benchmark");
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--batch")
      options.batch = std::atoll(value.c_str());
    else if (flag == "--repeat")
      options.repeat = std::atoi(value.c_str());
    else if (flag == "--dtype" && (value == "f32" || value == "f64"))
      options.dtype = value == "f32" ? DType::Float32 : DType::Float64;
    else if (flag == "--compare")
      options.compare = value;
    else
      usage("unknown flag or value: " + flag + " " + value);
  }
  if (options.batch < 1 || options.repeat < 1) usage("--batch and --repeat must be positive");
  return options;
}

// The best of `repeat` timed runs of `pass`, after one untimed warm-up run.
template <class Pass>
double best_seconds(int repeat, Pass&& pass) {
  pass();
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    pass();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

PassRates measure(const ConvShape& shape, const Options& options, Generator& generator) {
  const std::int64_t images = options.batch * shape.images_per_batch_image;
  const Tensor x = randn({images, shape.in_channels, shape.size, shape.size}, generator, options.dtype);
  const Tensor weight =
      randn({shape.out_channels, shape.in_channels, shape.kernel, shape.kernel}, generator, options.dtype);
  Conv2dOptions conv;
  conv.stride_h = conv.stride_w = static_cast<int>(shape.stride);
  conv.pad_h = conv.pad_w = static_cast<int>(shape.pad);
  const kernels::Conv2dGeometry g = kernels::conv2d_geometry(x, weight, conv);
  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, options.dtype);
  const Tensor grad_y = randn(y.shape(), generator, options.dtype);
  Tensor grad_x = Tensor::empty_like(x), grad_weight = Tensor::empty_like(weight), no_bias;

  const double flops = 2.0 * static_cast<double>(g.batch * g.out_channels * g.out_h * g.out_w) *
                       static_cast<double>(g.in_channels * g.kernel_h * g.kernel_w);
  PassRates rates;
  rates.forward =
      flops / best_seconds(options.repeat, [&] { kernels::conv2d_forward(x, weight, no_bias, y, g); }) / 1e9;
  rates.backward_data =
      flops / best_seconds(options.repeat, [&] { kernels::conv2d_backward_data(grad_y, weight, grad_x, g); }) / 1e9;
  rates.backward_weights =
      flops /
      best_seconds(options.repeat, [&] { kernels::conv2d_backward_weights(grad_y, x, grad_weight, no_bias, g); }) / 1e9;
  return rates;
}

// Rows of conv_bench_torch.py's CSV:
// shape,batch,forward_gflops,backward_data_gflops,backward_weights_gflops
std::map<std::string, PassRates> read_torch_csv(const std::string& path, std::int64_t batch) {
  std::ifstream file(path);
  if (!file) usage("cannot read " + path);
  std::map<std::string, PassRates> rows;
  std::string line;
  std::getline(file, line);  // header
  while (std::getline(file, line)) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
    if (fields.size() != 5) continue;
    if (std::atoll(fields[1].c_str()) != batch)
      std::cerr << "warning: " << path << " was measured at batch " << fields[1] << ", not " << batch << "\n";
    rows[fields[0]] = {std::atof(fields[2].c_str()), std::atof(fields[3].c_str()), std::atof(fields[4].c_str())};
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  try {
    std::map<std::string, PassRates> torch;
    if (!options.compare.empty()) torch = read_torch_csv(options.compare, options.batch);
    const kernels::Conv2dImplementation implementation =
        options.dtype == DType::Float32 ? kernels::conv2d_implementation() : kernels::Conv2dImplementation::Reference;
    std::printf("armnet conv2d micro-benchmark: %s, batch %lld, %s convolution, gemm isa %s, %d OpenMP threads, "
                "best of %d\n",
                dtype_name(options.dtype), static_cast<long long>(options.batch),
                kernels::conv2d_implementation_name(implementation), cpu::gemm_isa().c_str(), omp_get_max_threads(),
                options.repeat);
    std::printf("GFLOP/s (2*N*C_out*OH*OW*C_in*kH*kW per pass)%s\n\n",
                torch.empty() ? "" : "; ratio = armnet / torch, above 1 is armnet faster");
    const char* columns[] = {"forward", "backward data", "backward weights"};
    std::printf("%-30s", "shape");
    for (const char* column : columns) std::printf(torch.empty() ? " %16s" : " | %-24s", column);
    std::printf("\n");
    if (!torch.empty()) {
      std::printf("%-30s", "");
      for (int pass = 0; pass < 3; ++pass) std::printf(" | %8s %8s %6s", "armnet", "torch", "ratio");
      std::printf("\n");
    }
    Generator generator(2026);
    for (const ConvShape& shape : kShapes) {
      const PassRates ours = measure(shape, options, generator);
      std::printf("%-30s", shape.name.c_str());
      const auto found = torch.find(shape.name);
      const double armnet_rates[] = {ours.forward, ours.backward_data, ours.backward_weights};
      for (int pass = 0; pass < 3; ++pass) {
        if (torch.empty()) {
          std::printf(" %16.1f", armnet_rates[pass]);
          continue;
        }
        if (found == torch.end()) {
          std::printf(" | %8.1f %8s %6s", armnet_rates[pass], "-", "-");
          continue;
        }
        const double theirs[] = {found->second.forward, found->second.backward_data, found->second.backward_weights};
        std::printf(" | %8.1f %8.1f %6.2f", armnet_rates[pass], theirs[pass], armnet_rates[pass] / theirs[pass]);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
  } catch (const Error& error) {
    std::cerr << "armnet_conv_bench: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
