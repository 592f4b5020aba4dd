// Mixed precision's training step, APEX's way (amp O1 and O2 with dynamic
// loss scaling), explicit instead of patched in:
//
//   MixedPrecision amp(AmpLevel::O1, DType::Float16);
//   amp.train_step(*model, optimizer, images, labels);
//
// which is, spelled out:
//   { AutocastScope scope(amp.autocast()); loss = cross_entropy(model->forward(x), y); }
//   amp.backward(loss);         // the gradients of loss x scale
//   amp.step(optimizer);        // unscale + check, then step or skip
//   amp.zero_grad(optimizer);
//
// The loss scaler (float16 only; bfloat16 has float32's range and runs at a
// fixed scale of 1): the backward starts from the scale instead of 1, so
// that small gradients do not flush to zero in 16 bits; step() divides every
// gradient by the scale into float32 and checks them all in one pass
// (kernels::unscale_all). All finite: the optimizer steps, and after
// kGrowthInterval such steps in a row the scale doubles (at most kMaxScale).
// Not finite: the step is skipped (weights, optimizer state and step counts
// untouched), the scale halves and the run of clean steps restarts. When the
// scale would fall below 1, the gradients are not finite whatever the scale:
// step() throws, naming the first parameter whose gradient is not finite.
//
// O2's float32 master weights are the model's own parameters (so checkpoints
// are ordinary float32 ones); the 16-bit working copies the forward uses are
// the Autocast's (autograd/autocast.h), and the optimizer rewrites them in
// the launch that updates the masters.
#pragma once

#include <cstdint>

#include "autograd/autocast.h"
#include "layers/module.h"
#include "layers/optimizer.h"

namespace armnet {

// What a checkpoint saves of the scaler, so that a resumed run continues
// exactly.
struct LossScalerState {
  bool dynamic = false;            // float16: the scale moves; bfloat16 and float32: fixed at 1
  double scale = 1.0;
  std::int64_t clean_steps = 0;    // steps since the last skip or growth
  std::int64_t skipped_steps = 0;  // in the whole run
};

// What one training step did (MixedPrecision::train_step).
struct MixedPrecisionStep {
  Tensor logits;            // float32
  Tensor loss;              // float32, unscaled
  double loss_value = 0.0;  // loss.item()
  bool stepped = false;     // false: the step was skipped, or the loss was not finite (then nothing ran)
};

class MixedPrecision {
 public:
  static constexpr double kInitialScale = 65536.0;  // 2^16
  static constexpr double kMaxScale = 16777216.0;   // 2^24
  static constexpr std::int64_t kGrowthInterval = 2000;

  // `level` O1 or O2, `dtype` float16 (dynamic scaling from kInitialScale)
  // or bfloat16 (scale 1).
  MixedPrecision(AmpLevel level, DType dtype);

  Autocast& autocast() { return autocast_; }
  const LossScalerState& scaler() const { return scaler_; }
  // A saved state (checkpoints); refused unless it fits this dtype.
  void set_scaler(const LossScalerState& state);

  // The backward of loss x scale: seeded with the scale (APEX's
  // scale_loss(loss).backward(), without recording the product).
  void backward(const Tensor& loss) const;
  // See the top of the file. Returns whether the optimizer stepped.
  bool step(Optimizer& optimizer);
  // Drops the gradients of the optimizer's parameters and of O2's working
  // copies.
  void zero_grad(Optimizer& optimizer);
  // One training step of `model` (a classifier) on a batch, as at the top of
  // the file, the cross-entropy loss against `labels`. A loss that is not
  // finite is returned before any backward (the caller stops: no scale
  // helps a forward pass that overflowed).
  MixedPrecisionStep train_step(Module& model, Optimizer& optimizer, const Tensor& images, const Tensor& labels);

 private:
  Autocast autocast_;
  LossScalerState scaler_;
};

// The model's forward pass under `autocast` with its output in float32 (the
// 16-bit forward of training, evaluation and the benchmark); without
// autocast (null), the plain forward.
Tensor autocast_forward(Module& model, const Tensor& input, Autocast* autocast);

}  // namespace armnet
