// The Tensor container: storage, factories, host reads, dtype conversion.
// The differentiable members (reshape, flatten, to, clone, backward) are in
// autograd/, because they record graph nodes.
#include "tensor/tensor.h"

#include <cstring>
#include <ostream>

namespace armnet {

std::string shape_str(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::ostream& operator<<(std::ostream& out, const ShapeText& text) { return out << shape_str(text.shape); }

std::int64_t shape_numel(const Shape& shape) {
  std::int64_t count = 1;
  for (std::int64_t size : shape) count *= size;
  return count;
}

Storage::Storage(std::size_t bytes, Device device, const std::string& what, bool pinned)
    : data_(nullptr), bytes_(bytes), device_(device), pinned_(pinned) {
  check(!pinned || device == Device::CPU, "pinned memory is host memory: cannot pin ", what, " on ",
        device_name(device));
  data_ = pinned ? pinned_host_allocate(bytes, what) : device_allocate(device, bytes, what);
}

Storage::~Storage() {
  if (pinned_) {
    pinned_host_free(data_, bytes_);
  } else {
    device_free(device_, data_);
  }
}

TensorImpl& Tensor::impl() const {
  check(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

// A tensor over new, uninitialised Storage.
static Tensor allocate_tensor(const Shape& shape, DType dtype, Device device, bool pinned) {
  for (std::int64_t size : shape) check(size >= 0, "tensor shape ", shape_str(shape), " has a negative size");
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->device = device;
  const std::size_t bytes = static_cast<std::size_t>(shape_numel(shape)) * dtype_size(dtype);
  impl->storage = std::make_shared<Storage>(bytes, device, str_cat("a ", dtype_name(dtype), shape_str(shape), " tensor"),
                                            pinned);
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return allocate_tensor(shape, dtype, device, false);
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) { return allocate_tensor(shape, dtype, Device::CPU, true); }

// Converts n elements between any two dtypes on the host. Floating to int64
// truncates toward zero (as a C cast); float16/bfloat16 round to nearest even.
static void convert_host(const void* source, DType source_dtype, void* destination, DType destination_dtype,
                         std::int64_t n) {
  if (source_dtype == destination_dtype) {
    std::memcpy(destination, source, static_cast<std::size_t>(n) * dtype_size(source_dtype));
    return;
  }
  auto load = [&](std::int64_t i) -> double {
    switch (source_dtype) {
      case DType::Float32: return static_cast<const float*>(source)[i];
      case DType::Float64: return static_cast<const double*>(source)[i];
      case DType::Float16: return half_bits_to_float(static_cast<const std::uint16_t*>(source)[i]);
      case DType::BFloat16: return bfloat16_bits_to_float(static_cast<const std::uint16_t*>(source)[i]);
      case DType::Int64: return static_cast<double>(static_cast<const std::int64_t*>(source)[i]);
      case DType::UInt8: return static_cast<const std::uint8_t*>(source)[i];
    }
    return 0.0;
  };
  for (std::int64_t i = 0; i < n; ++i) {
    const double value = load(i);
    switch (destination_dtype) {
      case DType::Float32: static_cast<float*>(destination)[i] = static_cast<float>(value); break;
      case DType::Float64: static_cast<double*>(destination)[i] = value; break;
      case DType::Float16:
        static_cast<std::uint16_t*>(destination)[i] = float_to_half_bits(static_cast<float>(value));
        break;
      case DType::BFloat16:
        static_cast<std::uint16_t*>(destination)[i] = float_to_bfloat16_bits(static_cast<float>(value));
        break;
      case DType::Int64: static_cast<std::int64_t*>(destination)[i] = static_cast<std::int64_t>(value); break;
      case DType::UInt8: static_cast<std::uint8_t*>(destination)[i] = static_cast<std::uint8_t>(value); break;
    }
  }
}

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  check(static_cast<std::int64_t>(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
        " values do not fill shape ", shape_str(shape));
  Tensor tensor = empty(shape, dtype);
  convert_host(values.data(), DType::Float64, tensor.data_ptr(), dtype, tensor.numel());
  return tensor;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor host = from_vector(std::vector<double>(static_cast<std::size_t>(shape_numel(shape)), value), shape, dtype);
  return device == Device::CPU ? host : host.to(device);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor tensor = empty(shape, dtype, device);
  device_fill_zero(tensor.data_ptr(), device, tensor.nbytes());  // on a GPU: queued, no host round trip
  return tensor;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::scalar(double value, DType dtype) { return from_vector({value}, {}, dtype); }
Tensor Tensor::empty_like(const Tensor& other) { return empty(other.shape(), other.dtype(), other.device()); }
Tensor Tensor::zeros_like(const Tensor& other) { return zeros(other.shape(), other.dtype(), other.device()); }

std::int64_t Tensor::size(int axis) const {
  const int n = ndim();
  const int resolved = axis < 0 ? axis + n : axis;
  check(resolved >= 0 && resolved < n, "size(", axis, ") of a tensor with shape ", shape_str(shape()));
  return shape()[static_cast<std::size_t>(resolved)];
}

std::string Tensor::describe() const {
  if (!defined()) return "undefined tensor";
  return str_cat(dtype_name(dtype()), shape_str(shape()), " on ", device_name(device()));
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) { return out << tensor.describe(); }

void* Tensor::data_ptr() const {
  const TensorImpl& self = impl();
  return static_cast<char*>(self.storage->data()) + self.offset * static_cast<std::int64_t>(dtype_size(self.dtype));
}

Tensor Tensor::detach() const {
  auto view = std::make_shared<TensorImpl>();
  view->storage = impl().storage;
  view->offset = impl().offset;
  view->shape = impl().shape;
  view->dtype = impl().dtype;
  view->device = impl().device;
  return Tensor(std::move(view));
}

void Tensor::copy_from(const Tensor& source) {
  check(source.shape() == shape(), "copy_from: source ", source, " into ", *this);
  if (source.dtype() == dtype()) {
    // A pinned host source is copied to a GPU asynchronously: its storage is
    // held until the copy has completed (the loader recycles pinned batches).
    std::shared_ptr<const void> keep_alive;
    if (source.impl().storage->pinned() && device() != Device::CPU) keep_alive = source.impl().storage;
    device_copy(data_ptr(), device(), source.data_ptr(), source.device(), nbytes(), std::move(keep_alive));
    return;
  }
  // Different dtypes: convert on the host.
  Tensor host_source = source.device() == Device::CPU ? source : source.detach().to(Device::CPU);
  if (device() == Device::CPU) {
    convert_host(host_source.data_ptr(), source.dtype(), data_ptr(), dtype(), numel());
    return;
  }
  Tensor host_destination = empty(shape(), dtype());
  convert_host(host_source.data_ptr(), source.dtype(), host_destination.data_ptr(), dtype(), numel());
  device_copy(data_ptr(), device(), host_destination.data_ptr(), Device::CPU, nbytes());
}

std::vector<double> Tensor::to_vector() const {
  Tensor host = device() == Device::CPU ? *this : detach().to(Device::CPU);
  std::vector<double> values(static_cast<std::size_t>(numel()));
  convert_host(host.data_ptr(), dtype(), values.data(), DType::Float64, numel());
  return values;
}

double Tensor::at(std::int64_t flat_index) const {
  check(flat_index >= 0 && flat_index < numel(), "at(", flat_index, ") of ", describe());
  double value = 0.0;
  if (device() == Device::CPU) {
    convert_host(static_cast<const char*>(data_ptr()) + flat_index * static_cast<std::int64_t>(dtype_size(dtype())),
                 dtype(), &value, DType::Float64, 1);
    return value;
  }
  return to_vector()[static_cast<std::size_t>(flat_index)];
}

double Tensor::item() const {
  check(numel() == 1, "item() needs exactly one element, got ", describe());
  return at(0);
}

Tensor& Tensor::requires_grad_(bool requires) {
  check(is_leaf(), "requires_grad_() on a non-leaf tensor ", describe(), "; use detach() first");
  check(!requires || is_floating(dtype()), "requires_grad_() on a non-floating tensor ", describe());
  impl().requires_grad = requires;
  return *this;
}

Tensor Tensor::grad() const { return Tensor(impl().grad); }
void Tensor::zero_grad() { impl().grad.reset(); }

bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl().storage == other.impl().storage;
}

void check_same_dtype_device(const char* op, const Tensor& a, const Tensor& b) {
  check(a.defined() && b.defined(), op, ": undefined tensor argument");
  check(a.dtype() == b.dtype() && a.device() == b.device(), op, ": operands ", a, " and ", b,
        " differ in dtype or device");
}

void check_shape(const char* op, const char* what, const Tensor& tensor, const Shape& expected) {
  check(tensor.defined(), op, ": ", what, " is undefined");
  check(tensor.shape() == expected, op, ": ", what, " has shape ", shape_text(tensor.shape()), ", expected ",
        shape_text(expected));
}

void check_floating(const char* op, const Tensor& tensor) {
  check(tensor.defined(), op, ": undefined tensor argument");
  check(tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Float64, op, ": ", tensor,
        " is not float32 or float64 (the CPU compute types)");
}

void check_floating_or_16bit(const char* op, const Tensor& tensor) {
  check(tensor.defined(), op, ": undefined tensor argument");
  check(is_floating(tensor.dtype()), op, ": ", tensor, " is not a floating tensor");
}

}  // namespace armnet
