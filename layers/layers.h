// The small layers ResNet-18 and the ARM are built from, each a Module over
// one op of autograd/functional.h. Tensor names are PyTorch's ("weight",
// "bias", "running_mean", ...), so that a model's state-dict keys are the
// reference's.
//
// Every layer with parameters initialises them in its constructor from the
// Generator it is given, with the scheme the reference's model uses for that
// layer (see ARM-SPEC section 1): torchvision's ResNet scheme for
// convolutions, PyTorch's default for Linear and the de-albino kernel.
// Parameters and buffers are float32 on the CPU; Module::to converts them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "layers/module.h"
#include "tensor/random.h"

namespace armnet {

// Convolution without bias (every convolution of ResNet-18), square kernel.
// weight [out, in, k, k] ~ Normal(0, sqrt(2 / fan_out)), fan_out = out * k * k:
// torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu"), not
// PyTorch's Conv2d default (armnet has no other convolution).
class Conv2d : public Module {
 public:
  Conv2d(int in_channels, int out_channels, int kernel_size, int stride, int padding, Generator& generator);
  Tensor forward(const Tensor& x) override;

 private:
  Tensor weight_;
  int stride_, padding_;
};

// The ARM's de-albino convolution: ONE kernel [1, 1, k, k] ("weight") applied
// to every channel separately (shared_channel_conv2d), no bias, no padding.
// weight ~ U(-1/sqrt(k*k), 1/sqrt(k*k)), PyTorch's Conv2d default.
class SharedChannelConv2d : public Module {
 public:
  SharedChannelConv2d(int kernel_size, int stride, Generator& generator);
  Tensor forward(const Tensor& x) override;

 private:
  Tensor weight_;
  int stride_;
};

// BatchNorm over (N, H, W) per channel, as PyTorch's BatchNorm2d: parameters
// weight (ones) and bias (zeros); buffers running_mean (zeros), running_var
// (ones) and num_batches_tracked (int64, shape [], counts training passes).
// Training normalises with the batch statistics and updates the running
// ones; evaluation normalises with the running ones.
constexpr double kBatchNormEps = 1e-5;  // PyTorch's default, the reference's every BatchNorm

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int channels, double eps = kBatchNormEps, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;

 private:
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
  double eps_, momentum_;
};

// y = x W^T + b, x [N, in]. weight [out, in] and bias [out] ~
// U(-1/sqrt(in), 1/sqrt(in)), PyTorch's Linear default.
class Linear : public Module {
 public:
  Linear(int in_features, int out_features, Generator& generator);
  Tensor forward(const Tensor& x) override;

 private:
  Tensor weight_, bias_;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) override;
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int kernel_size, int stride, int padding);
  Tensor forward(const Tensor& x) override;

 private:
  int kernel_size_, stride_, padding_;
};

// Zeroes each element with probability p in training (scaling the rest by
// 1/(1-p)); the identity in evaluation or when p is 0. Owns the generator of
// its masks.
class Dropout : public Module {
 public:
  Dropout(double p, std::uint64_t seed);
  Tensor forward(const Tensor& x) override;
  Generator& generator() { return generator_; }  // checkpoints save and restore its state

 private:
  double p_;
  Generator generator_;
};

// Modules applied in order; children are named "0", "1", ... as in
// PyTorch's nn.Sequential.
class Sequential : public Module {
 public:
  void append(std::shared_ptr<Module> module);
  Tensor forward(const Tensor& x) override;
  std::size_t size() const { return modules_.size(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace armnet
