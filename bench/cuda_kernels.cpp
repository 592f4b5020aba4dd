// armnet_cuda_kernels: every hand-written CUDA kernel of a training step at
// the model's shapes, timed against its memory-bandwidth floor, and the ARM's
// de-albino convolution by hand against cuDNN's (docs/kernels.md).
//
//   armnet_cuda_kernels [--batch N] [--image_size S] [--repeat N] [--bandwidth GB/s] [--device cpu]
//
// Each row calls one entry point of kernels/<op>.h on CUDA float32 tensors
// of ResNet18_ARM's shapes (batch 64 at 224x224, the reference's setting, by
// default). "MB" is what the entry's launches must move at the least (each
// kernel's comment in kernels/cuda/ counts it); the floor is MB over the
// bandwidth, by default the one this GPU reaches in a device-to-device copy
// (read + write), measured first. A row's time is the best of three rounds
// of --repeat calls, each round ending with a synchronisation, divided by
// --repeat: launch overhead included, as a training step sees it. Small
// tensors (the loss, the ARM's means) are launch-bound: their floor is far
// below a launch and the ratio says so.
//
// Needs a GPU; tools/gpu_check.sh runs it. `--device cpu` runs the same
// rows on the CPU kernels (no cuDNN rows), which proves the rows' shapes and
// arguments without a GPU (ctest's bench_cuda_kernels_rows does, at a small
// size).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/conv2d.h"
#include "kernels/convert.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/finite.h"
#include "kernels/image_batch.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optimizer.h"
#include "kernels/pixel_shuffle.h"
#include "kernels/pooling.h"
#include "layers/resnet_arm.h"
#include "tensor/random.h"

using namespace armnet;

namespace {

struct Options {
  std::int64_t batch = 64;
  int image_size = 224;
  int repeat = 20;
  double bandwidth_gbs = 0.0;  // 0: measure a device-to-device copy
  Device device = Device::CUDA;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "armnet_cuda_kernels: " << problem << "\n"
            << "usage: armnet_cuda_kernels [--batch N] [--image_size S] [--repeat N] [--bandwidth GB/s] [--device cpu]\n";
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--device") {
      if (value != "cpu" && value != "cuda") usage("--device: cpu or cuda, not " + value);
      options.device = value == "cpu" ? Device::CPU : Device::CUDA;
      continue;
    }
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0' || !(number > 0) || number > 1e7) usage(flag + ": bad value " + value);
    if (flag == "--batch")
      options.batch = static_cast<std::int64_t>(number);
    else if (flag == "--image_size")
      options.image_size = static_cast<int>(number);
    else if (flag == "--repeat")
      options.repeat = static_cast<int>(number);
    else if (flag == "--bandwidth")
      options.bandwidth_gbs = number;
    else
      usage("unknown flag " + flag);
  }
  return options;
}

// Waits for the GPU (nothing to wait for on the CPU).
void finish(Device device, const char* what) {
  if (device == Device::CUDA) cuda_synchronize(what);
}

// Seconds per call of `body`: one warm-up call, then the best of three
// rounds of `repeat` calls, each round ending when the device has finished.
double seconds_per_call(Device device, const std::function<void()>& body, int repeat) {
  body();
  finish(device, "warm-up");
  double best = std::numeric_limits<double>::infinity();
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeat; ++r) body();
    finish(device, "timed round");
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeat);
  }
  return best;
}

// The bandwidth of a copy of 1 GiB within the device (256 MiB on the CPU):
// bytes read + written per second.
double copy_bandwidth(Device device, int repeat) {
  const std::int64_t bytes = std::int64_t{1} << (device == Device::CUDA ? 30 : 28);
  const Tensor source = Tensor::zeros({bytes}, DType::UInt8, device);
  Tensor destination = Tensor::empty({bytes}, DType::UInt8, device);
  const double seconds = seconds_per_call(
      device, [&] { device_copy(destination.data_ptr(), device, source.data_ptr(), device, bytes); },
      std::max(repeat / 4, 2));
  return 2.0 * static_cast<double>(bytes) / seconds;
}

struct Row {
  std::string kernel, shape;
  double bytes;
  std::function<void()> body;
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  const Device device = options.device;
  if (device == Device::CUDA && !cuda_available()) {
    std::cerr << "armnet_cuda_kernels: " << cuda_unavailable_reason() << "\n";
    return 1;
  }
  const auto random_on = [&](const Shape& shape, Generator& generator) { return randn(shape, generator).to(device); };
  const auto empty_on = [&](const Shape& shape, DType dtype = DType::Float32) { return Tensor::empty(shape, dtype, device); };
  try {
    const std::int64_t B = options.batch;
    const int S = options.image_size;
    // ResNet18_ARM's maps (layers/resnet_arm.cpp, docs/model.md): conv1 at
    // S/2, layer1 at S/4, the last stage at the feature side f, the pixel
    // shuffle at 16 f, the de-albino output at d.
    const std::int64_t conv1_side = (S + 2 * 3 - 7) / 2 + 1;
    const std::int64_t layer1_side = (conv1_side + 2 - 3) / 2 + 1;
    const std::int64_t feature_side = resnet_feature_side(S);
    const std::int64_t shuffled_side = kShuffleFactor * feature_side;
    const std::int64_t de_albino_side = (shuffled_side - kDeAlbinoKernel) / kDeAlbinoStride + 1;
    const std::int64_t fc_width = arm_feature_count(S);  // the ARM's output: one d x d map per image
    constexpr double kFloat = 4.0;

    Generator generator(1);
    const Shape conv1_out{B, 64, conv1_side, conv1_side};
    const Shape layer1{B, 64, layer1_side, layer1_side};
    const Shape last_stage{B, kFeatureChannels, feature_side, feature_side};
    const Shape shuffled{B, 2, shuffled_side, shuffled_side};
    const Shape amended{B, 2, de_albino_side, de_albino_side};
    const std::int64_t E1 = shape_numel(conv1_out), El = shape_numel(layer1), Ef = shape_numel(last_stage),
                       Es = shape_numel(shuffled), Ea = shape_numel(amended);

    // Inputs and outputs, made once.
    Tensor images_host = Tensor::empty({B, S, S, 3}, DType::UInt8);
    for (std::int64_t i = 0; i < images_host.numel(); ++i)
      images_host.data<std::uint8_t>()[i] = static_cast<std::uint8_t>(generator.integer(256));
    const Tensor images = images_host.to(device);
    Tensor normalized = empty_on({B, 3, S, S});
    const Tensor x1 = random_on(conv1_out, generator), grad1 = random_on(conv1_out, generator);
    Tensor y1 = empty_on(conv1_out), gx1 = empty_on(conv1_out);
    const Tensor weight64 = random_on({64}, generator), bias64 = random_on({64}, generator);
    Tensor running_mean = Tensor::zeros({64}, DType::Float32, device);
    Tensor running_var = Tensor::ones({64}, DType::Float32, device);
    Tensor mean64 = empty_on({64}), invstd64 = empty_on({64}), gw64 = empty_on({64}), gb64 = empty_on({64});
    const Tensor xl = random_on(layer1, generator), xl2 = random_on(layer1, generator),
                 gradl = random_on(layer1, generator);
    Tensor yl = empty_on(layer1), gxl = empty_on(layer1), accumulated = Tensor::zeros(layer1, DType::Float32, device);
    Tensor pool_indices = empty_on(layer1, DType::Int64);
    const kernels::MaxPool2dGeometry pool = kernels::max_pool2d_geometry(x1, 3, 2, 1);
    const Tensor xf = random_on(last_stage, generator);
    Tensor gxf = empty_on(last_stage), pooled = empty_on({B, 512});
    const Tensor grad_pooled = random_on({B, 512}, generator);
    Tensor ys = empty_on(shuffled), gxs = empty_on(shuffled);
    const Tensor xs = random_on(shuffled, generator), grads = random_on(shuffled, generator);
    const Tensor kernel = random_on({1, 1, 32, 32}, generator);
    Tensor grad_kernel = empty_on({1, 1, 32, 32});
    const kernels::SharedChannelGeometry de_albino = kernels::shared_channel_conv2d_geometry(xs, kernel, 8);
    const Tensor xa = random_on(amended, generator), grada = random_on(amended, generator);
    Tensor ya = empty_on(amended), channel_mean = empty_on({B, 1, de_albino_side, de_albino_side}),
           global_mean = empty_on({1, 1, de_albino_side, de_albino_side}), arm_out = empty_on(channel_mean.shape());
    const Tensor xd = random_on({B, fc_width}, generator);
    Tensor mask = empty_on({B, fc_width}, DType::UInt8), dropped = empty_on({B, fc_width});
    const Tensor logits = random_on({B, 7}, generator), grad_log_probs = random_on({B, 7}, generator);
    Tensor target_host = Tensor::empty({B}, DType::Int64);
    for (std::int64_t n = 0; n < B; ++n) target_host.data<std::int64_t>()[n] = generator.integer(7);
    const Tensor target = target_host.to(device);
    Tensor log_probs = empty_on({B, 7}), grad_logits = empty_on({B, 7}), loss = empty_on({});
    const Tensor grad_loss = Tensor::ones({}, DType::Float32, device);
    Tensor predictions = empty_on({B}, DType::Int64);

    // The whole model's parameters, with gradients and optimizer state.
    ModelOptions model_options;
    model_options.image_size = S;
    auto model = make_model(model_options);
    model->to(device);
    std::vector<Tensor> gradients;
    std::vector<kernels::AdamParameter> adam;
    std::vector<kernels::SgdParameter> sgd;
    std::int64_t P = 0;
    for (const Tensor& parameter : model->parameters()) {
      P += parameter.numel();
      gradients.push_back(random_on(parameter.shape(), generator));
      kernels::scale(gradients.back(), 1e-3);
      adam.push_back({parameter, gradients.back(), Tensor::zeros_like(parameter), Tensor::zeros_like(parameter), 1});
      sgd.push_back({parameter, gradients.back(), Tensor::zeros_like(parameter), false});
    }
    const Tensor flat = random_on({P}, generator);
    Tensor flat_half = empty_on({P}, DType::Float16);

    using namespace kernels;
    const std::string conv1_str = shape_str(conv1_out), layer1_str = shape_str(layer1),
                      last_str = shape_str(last_stage), shuffled_str = shape_str(shuffled),
                      amended_str = shape_str(amended), params_str = std::to_string(P) + " parameters";
    const double Ei = static_cast<double>(B) * 3 * S * S;
    const double kernel_bytes = kDeAlbinoKernel * kDeAlbinoKernel * kFloat;
    std::vector<Row> rows = {
        // ---- forward, in the order a step runs them
        {"normalize_images", shape_str({B, S, S, 3}) + " u8", Ei * (1 + kFloat), [&] { normalize_images(images, normalized); }},
        {"batch_norm training forward", conv1_str, 4.0 * E1 * kFloat,
         [&] { batch_norm_forward_training(x1, weight64, bias64, running_mean, running_var, 0.1, 1e-5, y1, mean64, invstd64); }},
        {"batch_norm eval forward", conv1_str, 2.0 * E1 * kFloat,
         [&] { batch_norm_forward_eval(x1, weight64, bias64, running_mean, running_var, 1e-5, y1, mean64, invstd64); }},
        {"relu forward", conv1_str, 2.0 * E1 * kFloat, [&] { relu_forward(x1, y1); }},
        {"max_pool2d 3x3 s2 forward", conv1_str, E1 * kFloat + El * (kFloat + 8.0), [&] { max_pool2d_forward(x1, yl, pool_indices, pool); }},
        {"add_relu forward", layer1_str, 3.0 * El * kFloat, [&] { add_relu_forward(xl, xl2, yl); }},
        {"pixel_shuffle x16 forward", last_str, 2.0 * Ef * kFloat, [&] { pixel_shuffle_forward(xf, ys, 16); }},
        {"de-albino forward (hand)", shuffled_str, (Es + Ea) * kFloat + kernel_bytes,
         [&] { set_shared_channel_implementation(SharedChannelImplementation::HandWritten); shared_channel_conv2d_forward(xs, kernel, ya, de_albino); }},
        {"de-albino forward (cuDNN)", shuffled_str, (Es + Ea) * kFloat + kernel_bytes,
         [&] { set_shared_channel_implementation(SharedChannelImplementation::Cudnn); shared_channel_conv2d_forward(xs, kernel, ya, de_albino); }},
        {"sum_to: channel mean", amended_str, 1.5 * Ea * kFloat, [&] { sum_to(xa, channel_mean); }},
        {"sum_to: batch-global mean", amended_str, Ea * kFloat, [&] { sum_to(xa, global_mean); }},
        {"add (broadcast): mean + alpha*global", shape_str(channel_mean.shape()), Ea * kFloat,
         [&] { add(channel_mean, global_mean, arm_out); }},
        {"global_avg_pool2d forward (baseline)", last_str, Ef * kFloat, [&] { global_avg_pool2d_forward(xf, pooled); }},
        {"dropout mask + apply", shape_str({B, fc_width}), (1 + kFloat + 1 + kFloat) * B * fc_width,
         [&] { dropout_mask(mask, 0.5, generator); dropout_apply(xd, mask, 2.0, dropped); }},
        {"cross_entropy forward", shape_str({B, 7}), (2.0 * B * 7) * kFloat + 8.0 * B, [&] { cross_entropy_forward(logits, target, loss, log_probs); }},
        {"argmax_rows", shape_str({B, 7}), B * 7 * kFloat + 8.0 * B, [&] { argmax_rows(logits, predictions); }},
        // ---- backward, in reverse
        {"cross_entropy backward", shape_str({B, 7}), (2.0 * B * 7) * kFloat + 8.0 * B, [&] { cross_entropy_backward(log_probs, target, grad_loss, grad_logits); }},
        {"log_softmax backward", shape_str({B, 7}), 3.0 * B * 7 * kFloat, [&] { log_softmax_backward(log_probs, grad_log_probs, grad_logits); }},
        {"de-albino input gradient (hand)", shuffled_str, (Es + Ea) * kFloat + kernel_bytes,
         [&] { set_shared_channel_implementation(SharedChannelImplementation::HandWritten); shared_channel_conv2d_backward_input(grada, kernel, gxs, de_albino); }},
        {"de-albino input gradient (cuDNN)", shuffled_str, (Es + Ea) * kFloat + kernel_bytes,
         [&] { set_shared_channel_implementation(SharedChannelImplementation::Cudnn); shared_channel_conv2d_backward_input(grada, kernel, gxs, de_albino); }},
        {"de-albino kernel gradient (hand)", shuffled_str, (Es + Ea) * kFloat + kernel_bytes,
         [&] { set_shared_channel_implementation(SharedChannelImplementation::HandWritten); shared_channel_conv2d_backward_kernel(grada, xs, grad_kernel, de_albino); }},
        {"de-albino kernel gradient (cuDNN)", shuffled_str, (Es + Ea) * kFloat + kernel_bytes,
         [&] { set_shared_channel_implementation(SharedChannelImplementation::Cudnn); shared_channel_conv2d_backward_kernel(grada, xs, grad_kernel, de_albino); }},
        {"pixel_shuffle x16 backward", shuffled_str, 2.0 * Es * kFloat, [&] { pixel_shuffle_backward(grads, gxf, 16); }},
        {"global_avg_pool2d backward (baseline)", last_str, Ef * kFloat, [&] { global_avg_pool2d_backward(grad_pooled, gxf); }},
        {"add_relu backward", layer1_str, 3.0 * El * kFloat, [&] { add_relu_backward(yl, gradl, gxl); }},
        {"add_into (gradient sum)", layer1_str, 3.0 * El * kFloat, [&] { add_into(accumulated, gradl); }},
        {"max_pool2d 3x3 s2 backward", conv1_str, E1 * kFloat + El * (kFloat + 8.0), [&] { max_pool2d_backward(gradl, pool_indices, gx1, pool); }},
        {"relu backward", conv1_str, 3.0 * E1 * kFloat, [&] { relu_backward(x1, grad1, gx1); }},
        {"batch_norm training backward", conv1_str, 5.0 * E1 * kFloat,
         [&] { batch_norm_backward(grad1, x1, weight64, mean64, invstd64, true, gx1, gw64, gb64); }},
        {"fill (zeros)", conv1_str, E1 * kFloat, [&] { fill(gx1, 0.0); }},
        // ---- the optimizer step
        {"all_finite (every gradient)", params_str, P * kFloat, [&] { all_finite(gradients); }},
        {"adam_update_all", params_str, 7.0 * P * kFloat, [&] { adam_update_all(adam, AdamHyper{}); }},
        {"sgd_update_all (momentum)", params_str, 5.0 * P * kFloat,
         [&] { sgd_update_all(sgd, SgdHyper{1e-2, 0.9, 1e-4}); }},
        {"cast float32 -> float16", params_str, P * (kFloat + 2), [&] { cast(flat, flat_half); }},
    };

    const double bandwidth =
        options.bandwidth_gbs > 0 ? options.bandwidth_gbs * 1e9 : copy_bandwidth(device, options.repeat);
    std::printf("armnet_cuda_kernels: %s, batch %lld, %dx%d input, float32, best of 3 x %d calls%s\n",
                device_name(device), static_cast<long long>(B), S, S, options.repeat,
                device == Device::CUDA ? ("; " + armnet::cuda::library_versions()).c_str() : "");
    std::printf("bandwidth floor: %.0f GB/s (%s)\n\n", bandwidth / 1e9,
                options.bandwidth_gbs > 0 ? "--bandwidth" : "a copy within the device, bytes read + written");
    std::printf("| %-38s | %-22s | %9s | %10s | %10s | %10s |\n", "kernel", "shape", "MB moved", "time (us)",
                "floor (us)", "floor/time");
    std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(40, '-').c_str(), std::string(24, '-').c_str(),
                std::string(11, '-').c_str(), std::string(12, '-').c_str(), std::string(12, '-').c_str(),
                std::string(12, '-').c_str());
    double hand_seconds = 0.0, cudnn_seconds = 0.0;  // the de-albino rows
    for (const Row& row : rows) {
      const bool is_cudnn = row.kernel.find("(cuDNN)") != std::string::npos;
      if (is_cudnn && device == Device::CPU) continue;  // the CPU has one implementation
      const double seconds = seconds_per_call(device, row.body, options.repeat);
      const double floor_seconds = row.bytes / bandwidth;
      std::printf("| %-38s | %-22s | %9.2f | %10.1f | %10.1f | %9.0f%% |\n", row.kernel.c_str(), row.shape.c_str(),
                  row.bytes / 1e6, seconds * 1e6, floor_seconds * 1e6, 100.0 * floor_seconds / seconds);
      if (is_cudnn) cudnn_seconds += seconds;
      if (row.kernel.find("(hand)") != std::string::npos) hand_seconds += seconds;
    }
    set_shared_channel_implementation(SharedChannelImplementation::HandWritten);
    if (device == Device::CUDA)
      std::printf("\nde-albino, forward + both gradients: by hand %.1f us, cuDNN %.1f us: %s is faster\n",
                  hand_seconds * 1e6, cudnn_seconds * 1e6, hand_seconds <= cudnn_seconds ? "by hand" : "cuDNN");
  } catch (const Error& error) {
    std::cerr << "armnet_cuda_kernels: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
