// The Tensor members that autograd records: views (reshape, flatten), copies
// between dtypes and devices (to, clone), and backward() itself.
#include "autograd/engine.h"
#include "kernels/convert.h"

namespace armnet {

// Resolves one -1 in `shape` against `numel` and checks the element count.
static Shape resolve_shape(const Shape& from, const Shape& shape) {
  Shape resolved = shape;
  std::int64_t known = 1;
  int inferred = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(inferred < 0, "reshape ", shape_str(from), " to ", shape_str(shape), ": more than one -1");
      inferred = static_cast<int>(i);
    } else {
      check(shape[i] >= 0, "reshape ", shape_str(from), " to ", shape_str(shape), ": negative size");
      known *= shape[i];
    }
  }
  const std::int64_t numel = shape_numel(from);
  if (inferred >= 0) {
    check(known > 0 && numel % known == 0, "reshape ", shape_str(from), " to ", shape_str(shape),
          ": cannot infer the -1");
    resolved[static_cast<std::size_t>(inferred)] = numel / known;
  }
  check(shape_numel(resolved) == numel, "reshape ", shape_str(from), " (", numel, " elements) to ",
        shape_str(shape), " (", shape_numel(resolved), " elements)");
  return resolved;
}

Tensor Tensor::reshape(const Shape& shape) const {
  Tensor view = detach();
  view.impl().shape = resolve_shape(this->shape(), shape);
  const Shape original = this->shape();
  return autograd::record("reshape", view, {*this}, [original](const Tensor& grad) {
    return std::vector<Tensor>{grad.reshape(original)};
  });
}

Tensor Tensor::flatten(int start_dim) const {
  const int n = ndim();
  const int start = start_dim < 0 ? start_dim + n : start_dim;
  check(start >= 0 && start < std::max(n, 1), "flatten(", start_dim, ") of ", describe());
  Shape shape(this->shape().begin(), this->shape().begin() + start);
  shape.push_back(-1);
  return reshape(shape);
}

// `destination` = `source` converted: between floating dtypes on one device
// by the cast kernel (on a GPU without a trip through the host; mixed
// precision casts every step), otherwise by copy_from.
static void convert_into(const Tensor& source, Tensor& destination) {
  if (source.dtype() != destination.dtype() && source.device() == destination.device() &&
      is_floating(source.dtype()) && is_floating(destination.dtype()))
    kernels::cast(source, destination);
  else
    destination.copy_from(source);
}

// A differentiable copy into (dtype, device); the gradient is copied back.
static Tensor copy_to(const Tensor& source, DType dtype, Device device, const char* op) {
  Tensor copy = Tensor::empty(source.shape(), dtype, device);
  convert_into(source, copy);
  const DType source_dtype = source.dtype();
  const Device source_device = source.device();
  return autograd::record(op, copy, {source}, [source_dtype, source_device](const Tensor& grad) {
    Tensor back = Tensor::empty(grad.shape(), source_dtype, source_device);
    convert_into(grad, back);
    return std::vector<Tensor>{back};
  });
}

Tensor Tensor::to(DType dtype) const { return dtype == this->dtype() ? *this : copy_to(*this, dtype, device(), "to"); }
Tensor Tensor::to(Device device) const {
  return device == this->device() ? *this : copy_to(*this, dtype(), device, "to");
}
Tensor Tensor::clone() const { return copy_to(*this, dtype(), device(), "clone"); }

void Tensor::backward(const Tensor& gradient) const { autograd::run_backward(*this, gradient); }

}  // namespace armnet
