// Mixed precision's casts, made explicit (APEX patches torch functions for
// its O1; armnet's ops ask this file instead). While an AutocastScope is
// active on a thread, the ops of functional.h cast as the policy says:
//
//   conv2d, shared_channel_conv2d, linear   float32 inputs to the 16-bit dtype;
//                                           weights and biases through
//                                           Autocast::weight()
//   cross_entropy, log_softmax, mean, sum,  16-bit inputs to float32 (the
//   global_avg_pool2d                       FP32 islands: softmax and every
//                                           reduction, hence the ARM's means)
//   add, mul                                operands of two dtypes promoted to
//                                           the wider (the ARM's alpha term
//                                           stays float32)
//   batch_norm2d                            its input's dtype in and out, its
//                                           parameters and statistics float32
//   relu, add_relu, max_pool2d,             their input's dtype
//   pixel_shuffle, dropout
//
// float64 tensors are never cast. Outside a scope nothing is cast, and ops
// given two dtypes refuse them as before. docs/mixed-precision.md has the
// table and the reasons.
//
// The two levels differ in their weights (Autocast::weight):
//   O1  a float32 weight is cast to 16 bits once per forward pass (the scope
//       caches the cast, recorded by autograd, so the gradient reaches the
//       float32 weight as float32), however often the forward uses it;
//   O2  every weight an op asks for gets a persistent 16-bit working copy, a
//       leaf of its own that collects a 16-bit gradient; the float32
//       parameter is the optimizer's master copy, and the optimizer rewrites
//       the working copy after each update (layers/mixed_precision.h).
//       Checkpoints hold the float32 masters, as every checkpoint does.
#pragma once

#include <string>
#include <unordered_map>

#include "tensor/tensor.h"

namespace armnet {

enum class AmpLevel { Off, O1, O2 };

class Autocast {
 public:
  // `dtype` is float16 or bfloat16; `level` O1 or O2.
  Autocast(AmpLevel level, DType dtype);
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

  AmpLevel level() const { return level_; }
  DType dtype() const { return dtype_; }

  // What an op uses in place of a float32 weight or bias (see the top of
  // the file); other dtypes are returned as they are.
  Tensor weight(const Tensor& weight);
  // O2: the working copy of `parameter`, undefined when the forward has not
  // asked for one (BatchNorm's parameters, the ARM's alpha). O1: undefined.
  Tensor working_copy(const Tensor& parameter) const;
  // O2: drops the working copies' gradients (with the optimizer's zero_grad).
  void zero_grad();
  // O1: drops this forward pass's casts (AutocastScope does, at its end).
  void end_forward();

 private:
  AmpLevel level_;
  DType dtype_;
  // By the float32 parameter's TensorImpl: the 16-bit tensor ops use for it.
  std::unordered_map<const TensorImpl*, Tensor> weights_;
};

// Makes `autocast` the policy of this thread for the scope (a forward pass
// and its loss); restores the previous one at the end.
class AutocastScope {
 public:
  explicit AutocastScope(Autocast& autocast);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  Autocast* previous_;
  Autocast& autocast_;
};

// The policy's casts, for the ops (each an identity outside a scope).
namespace autocast {
Autocast* current();
// A float32 input of a convolution or linear layer, in the 16-bit dtype.
Tensor to_low_precision(const Tensor& x);
// A weight or bias of a convolution or linear layer (Autocast::weight).
Tensor weight(const Tensor& weight);
// A 16-bit input of an FP32 island, in float32.
Tensor to_float32(const Tensor& x);
// Two operands of different floating dtypes, both in the wider one (only
// inside a scope: outside, ops refuse mixed dtypes).
void promote(Tensor& a, Tensor& b);
}  // namespace autocast

// "off", "O1", "O2" and "fp16", "bf16": the flags' spellings. Throws naming
// the flag for anything else.
AmpLevel parse_amp_level(const std::string& text);
DType parse_amp_dtype(const std::string& text);
const char* amp_level_name(AmpLevel level);
const char* amp_dtype_name(DType dtype);  // "fp16", "bf16"

}  // namespace armnet
