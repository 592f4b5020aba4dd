// Module: a layer or model with named parameters, buffers and children, whose
// hierarchical names are PyTorch's state-dict keys ("features.5.0.downsample.1.running_var").
//
// A model is a tree of Modules: each registers its own tensors and its
// children by name in construction order; named_parameters() and
// named_buffers() walk the tree depth-first and join names with '.'.
// Tensors are handles, so an optimizer or a weight loader that writes through
// them changes the model. train()/eval() set the mode of the whole tree.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace armnet {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// The tensor called `name` in `tensors` (the first, if several), or null.
const Tensor* find_tensor(const NamedTensors& tensors, const std::string& name);

class Module {
 public:
  virtual ~Module() = default;
  // The layer's computation. Modules whose forward takes something else
  // (none in ResNet-18 + ARM) do not override it.
  virtual Tensor forward(const Tensor& input);

  NamedTensors named_parameters() const;  // leaves that require grad
  NamedTensors named_buffers() const;     // running statistics, counters
  NamedTensors state_dict() const;        // parameters then buffers of each module, in PyTorch's order
  std::vector<Tensor> parameters() const;

  void train(bool training = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Converts every parameter and buffer of floating dtype to `dtype` in place
  // (int64 counters stay int64); parameters stay leaves that require grad.
  void to(DType dtype);
  // The device of the module's first parameter (CPU for a module without any).
  Device device() const;
  // Moves every parameter and buffer to `device` in place, keeping dtypes;
  // parameters stay leaves that require grad, and every handle (an
  // optimizer's, a layer's) sees the move.
  void to(Device device);

 protected:
  // Return a handle (a copy of the registered one: registering more may move
  // the stored handles, never the tensors they point to).
  Tensor register_parameter(const std::string& name, Tensor tensor);
  Tensor register_buffer(const std::string& name, Tensor tensor);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void collect(const std::string& prefix, bool parameters, bool buffers, NamedTensors& out) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace armnet
