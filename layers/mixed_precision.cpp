#include "layers/mixed_precision.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "autograd/functional.h"
#include "kernels/finite.h"

namespace armnet {

MixedPrecision::MixedPrecision(AmpLevel level, DType dtype) : autocast_(level, dtype) {
  scaler_.dynamic = dtype == DType::Float16;
  scaler_.scale = scaler_.dynamic ? kInitialScale : 1.0;
}

void MixedPrecision::set_scaler(const LossScalerState& state) {
  check(state.dynamic == scaler_.dynamic, "loss scaler: a ", state.dynamic ? "dynamic" : "fixed",
        " scaler's state for a run whose ", amp_dtype_name(autocast_.dtype()), " needs a ",
        scaler_.dynamic ? "dynamic" : "fixed", " one");
  check(std::isfinite(state.scale) && state.scale >= 1.0 && state.scale <= kMaxScale &&
            (state.dynamic || state.scale == 1.0),
        "loss scaler: scale ", state.scale, " is outside 1..", kMaxScale);
  check(state.clean_steps >= 0 && state.clean_steps < kGrowthInterval && state.skipped_steps >= 0,
        "loss scaler: ", state.clean_steps, " clean and ", state.skipped_steps, " skipped steps");
  scaler_ = state;
}

void MixedPrecision::backward(const Tensor& loss) const {
  if (scaler_.scale == 1.0) return loss.backward();
  loss.backward(Tensor::full(loss.shape(), scaler_.scale, loss.dtype(), loss.device()));
}

bool MixedPrecision::step(Optimizer& optimizer) {
  const NamedTensors& parameters = optimizer.parameters();
  // Each parameter's gradient (O2: its working copy's, where it has one) and
  // where its float32 unscaled value goes: in place for a float32 gradient.
  std::vector<Tensor> gradients(parameters.size()), working_copies(parameters.size());
  std::vector<Tensor> sources, unscaled;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& parameter = parameters[i].second;
    working_copies[i] = autocast_.working_copy(parameter);
    const Tensor gradient = working_copies[i].defined() ? working_copies[i].grad() : parameter.grad();
    if (!gradient.defined()) continue;
    gradients[i] = gradient.dtype() == DType::Float32
                       ? gradient
                       : Tensor::empty(gradient.shape(), DType::Float32, gradient.device());
    sources.push_back(gradient);
    unscaled.push_back(gradients[i]);
  }
  const bool finite = kernels::unscale_all(sources, unscaled, 1.0 / scaler_.scale);
  if (finite) {
    optimizer.step(gradients, working_copies);
    if (scaler_.dynamic && ++scaler_.clean_steps == kGrowthInterval) {
      scaler_.scale = std::min(2.0 * scaler_.scale, kMaxScale);
      scaler_.clean_steps = 0;
    }
    return true;
  }
  NamedTensors named_unscaled;  // (built only here, to name the culprit)
  for (std::size_t i = 0; i < parameters.size(); ++i)
    if (gradients[i].defined()) named_unscaled.emplace_back(parameters[i].first, gradients[i]);
  const std::string culprit = kernels::first_non_finite(named_unscaled);
  check(scaler_.dynamic, "mixed precision (", amp_dtype_name(autocast_.dtype()), ", no loss scaling): the gradient of ",
        culprit, " is not finite; training stopped");
  check(scaler_.scale / 2.0 >= 1.0, "mixed precision: the gradient of ", culprit,
        " is not finite whatever the loss scale (it fell to 1 after ", scaler_.skipped_steps + 1,
        " skipped steps in all); training stopped");
  scaler_.scale /= 2.0;
  scaler_.clean_steps = 0;
  ++scaler_.skipped_steps;
  return false;
}

void MixedPrecision::zero_grad(Optimizer& optimizer) {
  optimizer.zero_grad();
  autocast_.zero_grad();
}

MixedPrecisionStep MixedPrecision::train_step(Module& model, Optimizer& optimizer, const Tensor& images,
                                              const Tensor& labels) {
  MixedPrecisionStep result;
  result.logits = autocast_forward(model, images, &autocast_);
  result.loss = cross_entropy(result.logits, labels);
  result.loss_value = result.loss.item();
  if (!std::isfinite(result.loss_value)) return result;
  backward(result.loss);
  result.stepped = step(optimizer);
  zero_grad(optimizer);
  return result;
}

Tensor autocast_forward(Module& model, const Tensor& input, Autocast* autocast) {
  if (autocast == nullptr) return model.forward(input);
  AutocastScope scope(*autocast);
  return autocast::to_float32(model.forward(input));
}

}  // namespace armnet
