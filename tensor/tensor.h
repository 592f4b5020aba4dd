// armnet::Tensor: a contiguous N-dimensional array on one device.
//
// A Tensor is a cheap handle (a shared pointer) to a TensorImpl: shape, dtype,
// device, an element offset into reference-counted Storage, and the autograd
// fields. Storage is always dense row-major (NCHW for images), so a view
// (reshape, flatten, detach) shares the Storage with another offset or shape
// and never copies. Differentiable ops live in autograd/functional.h; this
// file only holds the container and the copies between dtypes and devices.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

namespace armnet {

using Shape = std::vector<std::int64_t>;

std::string shape_str(const Shape& shape);  // "[2, 3, 4]"
std::int64_t shape_numel(const Shape& shape);

// A shape as a check's message part: check(ok, "got ", shape_text(s)) prints
// like shape_str(s), formatted only when a check fails. It refers to the shape,
// so it must not outlive it (a temporary lives to the end of the check call).
struct ShapeText {
  const Shape& shape;
};
inline ShapeText shape_text(const Shape& shape) { return ShapeText{shape}; }
std::ostream& operator<<(std::ostream& out, const ShapeText& text);

// Prints tensor.describe(): a check's message part, formatted only when a
// check fails (check(ok, op, ": ", x, " is ...")). Declared before the class
// so that Tensor::data<T>() can use it.
class Tensor;
std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// Owns bytes on one device; freed when the last Tensor that views it goes.
// `pinned` (CPU only): the bytes come from pinned_host_allocate.
class Storage {
 public:
  Storage(std::size_t bytes, Device device, const std::string& what, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

 private:
  void* data_;
  std::size_t bytes_;
  Device device_;
  bool pinned_;
};

namespace autograd {
struct Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  std::int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::Float32;
  Device device = Device::CPU;
  // Autograd: a leaf that requires grad collects its gradient in `grad`; a
  // result of a recorded op points at the node that computes its inputs'
  // gradients.
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Factories. Contents of empty() are uninitialised.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::CPU);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
                     Device device = Device::CPU);
  // A CPU tensor holding `values` converted to `dtype`.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::Float32);
  static Tensor scalar(double value, DType dtype = DType::Float32);  // shape []
  // A CPU tensor in pinned host memory (see pinned_host_allocate), for data
  // that is copied to a GPU; ordinary memory in builds without CUDA.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::Float32);
  static Tensor empty_like(const Tensor& other);
  static Tensor zeros_like(const Tensor& other);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  std::int64_t size(int axis) const;  // negative axes count from the end
  int ndim() const { return static_cast<int>(impl().shape.size()); }
  std::int64_t numel() const { return shape_numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().device; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype()); }
  std::string describe() const;  // "float32[2, 3] on cpu"

  // Element pointer; T must match dtype() (checked). On CUDA a device pointer.
  template <class T>
  T* data() const {
    check(defined(), "data(): undefined tensor");
    check(dtype_of<T>() == dtype(), "data<", dtype_name(dtype_of<T>()), ">() on a tensor ", *this);
    return static_cast<T*>(data_ptr());
  }
  void* data_ptr() const;

  // Views and copies. reshape/flatten accept -1 for one inferred size and are
  // differentiable; detach() shares the data but not the autograd history.
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int start_dim = 1) const;  // [N, C, H, W] -> [N, C*H*W]
  Tensor detach() const;
  Tensor to(DType dtype) const;    // differentiable; a copy unless already dtype
  Tensor to(Device device) const;  // differentiable; a copy unless already there
  Tensor clone() const;            // differentiable copy
  void copy_from(const Tensor& source);  // same shape; converts dtype/device; not recorded

  // Host-side reads of any dtype and device.
  double item() const;  // numel() == 1
  std::vector<double> to_vector() const;
  double at(std::int64_t flat_index) const;

  // Autograd.
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool requires = true);  // leaves only
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const;  // undefined until a backward reaches this leaf
  void zero_grad();     // drops the gradient (PyTorch's set_to_none)
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl().grad_fn; }
  // Backpropagates from this tensor. Without `gradient` it must hold one
  // element and the seed is 1; otherwise `gradient` has this tensor's shape.
  void backward(const Tensor& gradient = Tensor()) const;

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool shares_storage_with(const Tensor& other) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Checks used by every op: same dtype/device, and shapes, naming the op and
// both operands.
void check_same_dtype_device(const char* op, const Tensor& a, const Tensor& b);
void check_shape(const char* op, const char* what, const Tensor& tensor, const Shape& expected);
void check_floating(const char* op, const Tensor& tensor);  // float32 or float64 compute types
// Any floating dtype: float32 and float64, and the 16-bit storage types of
// mixed precision (which the kernels' entries send through run_in_float32,
// kernels/float32_stand_ins.h, or to a 16-bit body).
void check_floating_or_16bit(const char* op, const Tensor& tensor);

}  // namespace armnet
