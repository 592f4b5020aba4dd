// Optimizers with PyTorch's semantics (torch.optim.Adam, torch.optim.SGD) and
// the reference's learning-rate schedule.
//
//   Optimizer optimizer(model->named_parameters(), {"adam", 1e-3});
//   loss.backward(); optimizer.step(); optimizer.zero_grad();
//   optimizer.set_lr(exponential_lr(1e-3, 0.9, epoch));   // after each epoch
//
// One class for both kinds: the state is a few named tensors per parameter
// ("exp_avg", "exp_avg_sq" for Adam, "momentum_buffer" for SGD with momentum)
// plus a per-parameter step count, created lazily at a parameter's first
// update as PyTorch does, so parameters that never receive a gradient have
// no state. The element-wise updates are kernels/optimizer.h.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"

namespace armnet {

struct OptimizerOptions {
  std::string kind = "adam";  // "adam" or "sgd"
  double lr = 1e-3;
  double weight_decay = 1e-4;  // L2: added to the gradient (not AdamW)
  double momentum = 0.9;       // SGD only
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam only
};

// The reference's defaults for `kind`: Adam lr 1e-3, SGD lr 0.01 momentum 0.9;
// both weight decay 1e-4. Throws for an unknown kind.
OptimizerOptions default_optimizer_options(const std::string& kind);

// lr * gamma^epoch: PyTorch's ExponentialLR after `epoch` scheduler steps.
double exponential_lr(double initial_lr, double gamma, std::int64_t epoch);

class Optimizer {
 public:
  // `parameters` are the model's leaves (handles: updates reach the model).
  Optimizer(NamedTensors parameters, OptimizerOptions options);

  // Updates every parameter that has a gradient; the others are skipped.
  void step();
  // Mixed precision's step (layers/mixed_precision.h): `gradients` (one per
  // parameter, float32, undefined where none) replace the parameters' .grad,
  // and `working_copies` (O2: one per parameter, 16-bit, undefined where
  // none) receive the updated parameters rounded, in the same launch.
  void step(const std::vector<Tensor>& gradients, const std::vector<Tensor>& working_copies);
  // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  double lr() const { return options_.lr; }
  void set_lr(double lr) { options_.lr = lr; }
  const OptimizerOptions& options() const { return options_; }
  const NamedTensors& parameters() const { return parameters_; }

  // The state as named tensors, "<state name>.<parameter name>" (e.g.
  // "exp_avg.fc.weight", "step.fc.weight" as int64 [1]), for checkpoints.
  NamedTensors state() const;
  // Restores what state() returned (values are copied into fresh tensors).
  // Throws naming the entry if a name is unknown or a shape does not match.
  void load_state(const NamedTensors& state);

 private:
  struct ParameterState {
    std::int64_t step = 0;
    std::map<std::string, Tensor> buffers;  // by state name
  };
  std::vector<std::string> state_names() const;

  NamedTensors parameters_;
  OptimizerOptions options_;
  std::vector<ParameterState> states_;  // parallel to parameters_
};

}  // namespace armnet
