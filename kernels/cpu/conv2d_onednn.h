// The library fast path of float32 convolution on the CPU: oneDNN, what
// cuDNN is to the GPU and what PyTorch's CPU convolution runs on. The CPU
// bodies of kernels/conv2d.h (kernels/cpu/conv2d.cpp) call these for float32
// tensors, already checked, when the build has oneDNN; float64 (gradient
// checks, exact comparisons) always runs the im2col reference, and
// ARMNET_CONV=reference forces the reference for float32 too.
#pragma once

#include <string>

#include "kernels/conv2d.h"

namespace armnet::kernels::onednn {

bool built();  // false when configured without oneDNN (then nothing below may be called)
// True when built with oneDNN and the processor has bfloat16 instructions
// (AVX512-BF16): then the passes below also take bfloat16 tensors.
bool native_bfloat16();

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g);
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g);
void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g);

}  // namespace armnet::kernels::onednn
