#include "layers/optimizer.h"

#include <cmath>

#include "kernels/optimizer.h"

namespace armnet {

OptimizerOptions default_optimizer_options(const std::string& kind) {
  OptimizerOptions options;
  options.kind = kind;
  if (kind == "adam") {
    options.lr = 1e-3;
  } else if (kind == "sgd") {
    options.lr = 1e-2;
    options.momentum = 0.9;
  } else {
    throw Error(str_cat("unknown optimizer \"", kind, "\" (expected adam or sgd)"));
  }
  return options;
}

double exponential_lr(double initial_lr, double gamma, std::int64_t epoch) {
  return initial_lr * std::pow(gamma, static_cast<double>(epoch));
}

Optimizer::Optimizer(NamedTensors parameters, OptimizerOptions options)
    : parameters_(std::move(parameters)), options_(std::move(options)), states_(parameters_.size()) {
  check(options_.kind == "adam" || options_.kind == "sgd", "unknown optimizer \"", options_.kind,
        "\" (expected adam or sgd)");
  check(options_.lr >= 0.0, "optimizer: negative learning rate ", options_.lr);
  check(options_.weight_decay >= 0.0, "optimizer: negative weight decay ", options_.weight_decay);
  check(options_.momentum >= 0.0, "optimizer: negative momentum ", options_.momentum);
  check(options_.beta1 >= 0.0 && options_.beta1 < 1.0 && options_.beta2 >= 0.0 && options_.beta2 < 1.0,
        "optimizer: Adam betas (", options_.beta1, ", ", options_.beta2, ") must be in [0, 1)");
}

std::vector<std::string> Optimizer::state_names() const {
  if (options_.kind == "adam") return {"exp_avg", "exp_avg_sq"};
  if (options_.momentum != 0.0) return {"momentum_buffer"};
  return {};
}

void Optimizer::step() { step({}, {}); }

void Optimizer::step(const std::vector<Tensor>& gradients, const std::vector<Tensor>& working_copies) {
  check(gradients.empty() || gradients.size() == parameters_.size(), "optimizer step: ", gradients.size(),
        " gradients for ", parameters_.size(), " parameters");
  check(working_copies.empty() || working_copies.size() == parameters_.size(), "optimizer step: ",
        working_copies.size(), " working copies for ", parameters_.size(), " parameters");
  // The parameters that have a gradient, each with its state (created at its
  // first update) and its step number, updated together: one launch on CUDA.
  std::vector<kernels::AdamParameter> adam;
  std::vector<kernels::SgdParameter> sgd;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& param = parameters_[i].second;
    const Tensor grad = gradients.empty() ? param.grad() : gradients[i];
    if (!grad.defined()) continue;
    const Tensor working_copy = working_copies.empty() ? Tensor() : working_copies[i];
    ParameterState& state = states_[i];
    if (state.step == 0) {
      for (const std::string& name : state_names()) {
        state.buffers[name] = Tensor::zeros(param.shape(), param.dtype(), param.device());
      }
    }
    ++state.step;
    if (options_.kind == "adam") {
      adam.push_back({param, grad, state.buffers["exp_avg"], state.buffers["exp_avg_sq"], state.step, working_copy});
    } else {
      const Tensor buffer = options_.momentum != 0.0 ? state.buffers["momentum_buffer"] : Tensor();
      sgd.push_back({param, grad, buffer, state.step == 1, working_copy});
    }
  }
  if (options_.kind == "adam") {
    const kernels::AdamHyper hyper{options_.lr, options_.beta1, options_.beta2, options_.eps, options_.weight_decay};
    kernels::adam_update_all(adam, hyper);
  } else {
    const kernels::SgdHyper hyper{options_.lr, options_.momentum, options_.weight_decay};
    kernels::sgd_update_all(sgd, hyper);
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, param] : parameters_) param.zero_grad();
}

NamedTensors Optimizer::state() const {
  NamedTensors out;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const ParameterState& state = states_[i];
    if (state.step == 0) continue;
    const std::string& name = parameters_[i].first;
    Tensor step = Tensor::empty({1}, DType::Int64);
    step.data<std::int64_t>()[0] = state.step;
    out.emplace_back("step." + name, step);
    for (const auto& [state_name, buffer] : state.buffers) out.emplace_back(state_name + "." + name, buffer);
  }
  return out;
}

void Optimizer::load_state(const NamedTensors& state) {
  std::map<std::string, std::size_t> index_of;
  for (std::size_t i = 0; i < parameters_.size(); ++i) index_of[parameters_[i].first] = i;
  std::vector<ParameterState> loaded(parameters_.size());
  const std::vector<std::string> buffer_names = state_names();
  for (const auto& [key, tensor] : state) {
    const std::size_t dot = key.find('.');
    const std::string state_name = key.substr(0, dot);
    const auto found = dot == std::string::npos ? index_of.end() : index_of.find(key.substr(dot + 1));
    check(found != index_of.end(), "optimizer state \"", key, "\" names no parameter of this model");
    const Tensor& param = parameters_[found->second].second;
    ParameterState& target = loaded[found->second];
    if (state_name == "step") {
      check(tensor.dtype() == DType::Int64 && tensor.numel() == 1, "optimizer state \"", key, "\" is ",
            tensor.describe(), ", expected int64 [1]");
      target.step = tensor.data<std::int64_t>()[0];
      check(target.step >= 1, "optimizer state \"", key, "\" holds step ", target.step);
      continue;
    }
    bool known = false;
    for (const std::string& name : buffer_names) known = known || name == state_name;
    check(known, "optimizer state \"", key, "\" does not belong to ", options_.kind,
          options_.kind == "sgd" && options_.momentum == 0.0 ? " without momentum" : "");
    check(tensor.shape() == param.shape(), "optimizer state \"", key, "\" has shape ", shape_str(tensor.shape()),
          ", the parameter ", shape_str(param.shape()));
    target.buffers[state_name] = tensor.to(param.dtype()).to(param.device()).clone();
  }
  for (std::size_t i = 0; i < loaded.size(); ++i) {
    const bool complete = loaded[i].buffers.size() == buffer_names.size();
    check(loaded[i].step == 0 ? loaded[i].buffers.empty() : complete, "optimizer state of \"",
          parameters_[i].first, "\" is incomplete (", loaded[i].buffers.size(), " of ", buffer_names.size(),
          " buffers, step ", loaded[i].step, ")");
  }
  states_ = std::move(loaded);
}

}  // namespace armnet
