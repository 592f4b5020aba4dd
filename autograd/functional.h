// The differentiable operations, like torch.nn.functional.
//
// Each function checks its arguments (the message names the op and the
// offending shapes), allocates the output, runs the forward kernel from
// kernels/, and, when an input requires grad, records a Node whose closure
// runs the backward kernels (see engine.h). Every one of them has a float64
// finite-difference gradient check in tests/.
//
// Layout: images are NCHW, weights of a convolution [C_out, C_in, kH, kW],
// linear weights [out_features, in_features] (as PyTorch).
#pragma once

#include <cstdint>
#include <vector>

#include "autograd/engine.h"
#include "kernels/conv2d.h"  // Conv2dOptions
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace armnet {

// ---- elementwise and reductions (autograd/elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);  // broadcasting, as PyTorch
Tensor mul(const Tensor& a, const Tensor& b);  // broadcasting, as PyTorch
Tensor relu(const Tensor& x);
// relu(add(a, b)) in one pass (a residual connection): a and b of one shape,
// no broadcasting. The gradient of both inputs is the same tensor.
Tensor add_relu(const Tensor& a, const Tensor& b);
// Sum / mean over `axes` (negative counts from the end; empty = all axes).
Tensor sum(const Tensor& x, std::vector<int> axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, std::vector<int> axes = {}, bool keepdim = false);

// ---- convolution and linear (autograd/conv_linear.cpp) ----
// x [N, C_in, H, W], weight [C_out, C_in, kH, kW], bias [C_out] or undefined.
// Output [N, C_out, (H + 2 pad_h - kH) / stride_h + 1, (W + 2 pad_w - kW) / stride_w + 1].
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options);
// The ARM's de-albino step: ONE single-channel kernel [1, 1, k, k] applied to
// every channel of x [N, C, H, W] separately (no bias, no padding), the same
// kernel for all channels: [N, C, H', W']. One convolution over the N*C
// planes, so the kernel's gradient sums over every channel of every image.
Tensor shared_channel_conv2d(const Tensor& x, const Tensor& kernel, int stride);
// x [N, in], weight [out, in], bias [out] or undefined -> [N, out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- normalisation, pooling, shuffles (autograd/nn.cpp) ----
// BatchNorm over (N, H, W) per channel. Training: normalise with the biased
// batch variance and update running_mean/running_var in place with
// `momentum` (running_var from the unbiased variance), as PyTorch.
// Evaluation: normalise with the running statistics. weight/bias [C].
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// Max pooling with implicit -infinity padding; on ties the gradient goes to
// the first maximum in the window (row-major order), as PyTorch.
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding);
// [N, C, H, W] -> [N, C]: the mean over H and W.
Tensor global_avg_pool2d(const Tensor& x);
// [N, C*r*r, H, W] -> [N, C, H*r, W*r]: out[n, c, r*h+i, r*w+j] = in[n, c*r*r + r*i + j, h, w].
Tensor pixel_shuffle(const Tensor& x, int factor);
// Training: zero each element with probability p and scale the rest by
// 1/(1-p), the mask drawn from `generator`. Evaluation or p == 0: identity.
Tensor dropout(const Tensor& x, double p, bool training, Generator& generator);

// ---- losses (autograd/loss.cpp) ----
// Log-softmax over the last axis of [N, C].
Tensor log_softmax(const Tensor& logits);
// Mean over the batch of -log softmax(logits)[n, target[n]]; target is int64
// [N] with values in [0, C) (checked). Returns a scalar (shape []).
Tensor cross_entropy(const Tensor& logits, const Tensor& target);

}  // namespace armnet
