#include "layers/module.h"

namespace armnet {

Tensor Module::forward(const Tensor&) { throw Error("this module has no single-tensor forward"); }

Tensor Module::register_parameter(const std::string& name, Tensor tensor) {
  if (!tensor.requires_grad()) tensor.requires_grad_(true);
  parameters_.emplace_back(name, std::move(tensor));
  return parameters_.back().second;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor) {
  buffers_.emplace_back(name, std::move(tensor));
  return buffers_.back().second;
}

// PyTorch's state_dict order: a module's own parameters, then its own
// buffers, then each child's, recursively.
void Module::collect(const std::string& prefix, bool parameters, bool buffers, NamedTensors& out) const {
  if (parameters)
    for (const auto& [name, tensor] : parameters_) out.emplace_back(prefix + name, tensor);
  if (buffers)
    for (const auto& [name, tensor] : buffers_) out.emplace_back(prefix + name, tensor);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", parameters, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

const Tensor* find_tensor(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [key, tensor] : tensors)
    if (key == name) return &tensor;
  return nullptr;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, tensor] : named_parameters()) out.push_back(tensor);
  return out;
}

void Module::train(bool training) {
  training_ = training;
  for (auto& [name, child] : children_) child->train(training);
}

Device Module::device() const {
  const NamedTensors parameters = named_parameters();
  return parameters.empty() ? Device::CPU : parameters.front().second.device();
}

void Module::to(Device device) {
  for (auto& [name, tensor] : parameters_) {
    if (tensor.device() == device) continue;
    Tensor moved = tensor.detach().to(device);
    moved.requires_grad_(true);
    tensor.impl() = std::move(moved.impl());
  }
  for (auto& [name, tensor] : buffers_)
    if (tensor.device() != device) tensor.impl() = std::move(tensor.detach().to(device).impl());
  for (auto& [name, child] : children_) child->to(device);
}

void Module::to(DType dtype) {
  for (auto& [name, tensor] : parameters_) {
    if (tensor.dtype() == dtype) continue;
    Tensor converted = tensor.detach().to(dtype);
    converted.requires_grad_(true);
    // Swap the contents of the existing handle so that every copy of it sees
    // the new dtype.
    tensor.impl() = std::move(converted.impl());
  }
  for (auto& [name, tensor] : buffers_)
    if (is_floating(tensor.dtype()) && tensor.dtype() != dtype) tensor.impl() = std::move(tensor.detach().to(dtype).impl());
  for (auto& [name, child] : children_) child->to(dtype);
}

}  // namespace armnet
