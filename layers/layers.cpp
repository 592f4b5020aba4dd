#include "layers/layers.h"

#include <cmath>
#include <string>

#include "autograd/functional.h"
#include "kernels/convert.h"

namespace armnet {

// ---- Conv2d ------------------------------------------------------------------

Conv2d::Conv2d(int in_channels, int out_channels, int kernel_size, int stride, int padding, Generator& generator)
    : stride_(stride), padding_(padding) {
  check(in_channels > 0 && out_channels > 0 && kernel_size > 0, "Conv2d: channels ", in_channels, " -> ", out_channels,
        " and kernel size ", kernel_size, " must be positive");
  Tensor weight = Tensor::empty({out_channels, in_channels, kernel_size, kernel_size});
  const double fan_out = static_cast<double>(out_channels) * kernel_size * kernel_size;
  fill_normal(weight, 0.0, std::sqrt(2.0 / fan_out), generator);
  weight_ = register_parameter("weight", weight);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight_, Tensor(), {stride_, stride_, padding_, padding_}); }

// ---- SharedChannelConv2d -------------------------------------------------------

SharedChannelConv2d::SharedChannelConv2d(int kernel_size, int stride, Generator& generator) : stride_(stride) {
  check(kernel_size > 0, "SharedChannelConv2d: kernel size ", kernel_size, " must be positive");
  const double bound = 1.0 / kernel_size;  // 1 / sqrt(fan_in), fan_in = kernel_size^2
  weight_ = register_parameter("weight", rand_uniform({1, 1, kernel_size, kernel_size}, -bound, bound, generator));
}

Tensor SharedChannelConv2d::forward(const Tensor& x) { return shared_channel_conv2d(x, weight_, stride_); }

// ---- BatchNorm2d -------------------------------------------------------------

BatchNorm2d::BatchNorm2d(int channels, double eps, double momentum) : eps_(eps), momentum_(momentum) {
  check(channels > 0, "BatchNorm2d: ", channels, " channels");
  weight_ = register_parameter("weight", Tensor::ones({channels}));
  bias_ = register_parameter("bias", Tensor::zeros({channels}));
  running_mean_ = register_buffer("running_mean", Tensor::zeros({channels}));
  running_var_ = register_buffer("running_var", Tensor::ones({channels}));
  num_batches_tracked_ = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  if (is_training()) kernels::increment(num_batches_tracked_);  // on the GPU: no host round trip
  return batch_norm2d(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum_, eps_);
}

// ---- Linear ------------------------------------------------------------------

Linear::Linear(int in_features, int out_features, Generator& generator) {
  check(in_features > 0 && out_features > 0, "Linear: features ", in_features, " -> ", out_features,
        " must be positive");
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight_ = register_parameter("weight", rand_uniform({out_features, in_features}, -bound, bound, generator));
  bias_ = register_parameter("bias", rand_uniform({out_features}, -bound, bound, generator));
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight_, bias_); }

// ---- parameter-free layers ---------------------------------------------------

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

MaxPool2d::MaxPool2d(int kernel_size, int stride, int padding)
    : kernel_size_(kernel_size), stride_(stride), padding_(padding) {}

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, kernel_size_, stride_, padding_); }

Dropout::Dropout(double p, std::uint64_t seed) : p_(p), generator_(seed) {
  check(p >= 0.0 && p < 1.0, "Dropout: probability ", p, " must be in [0, 1)");
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p_, is_training(), generator_); }

// ---- Sequential --------------------------------------------------------------

void Sequential::append(std::shared_ptr<Module> module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& module : modules_) y = module->forward(y);
  return y;
}

}  // namespace armnet
