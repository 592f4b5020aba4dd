// add, mul, relu, add_relu, sum, mean: the elementwise ops and reductions of
// the residual connections and of the ARM head (xmean + alpha * global).
#include <algorithm>

#include "autograd/autocast.h"
#include "autograd/functional.h"
#include "kernels/elementwise.h"

namespace armnet {

// The gradient of a broadcast from `shape` up to grad's shape: sum it back.
static Tensor reduce_to_shape(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  Tensor reduced = Tensor::empty(shape, grad.dtype(), grad.device());
  kernels::sum_to(grad, reduced);
  return reduced;
}

Tensor add(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = a_in, b = b_in;
  autocast::promote(a, b);
  check_same_dtype_device("add", a, b);
  Tensor out = Tensor::empty(kernels::broadcast_shape("add", a.shape(), b.shape()), a.dtype(), a.device());
  kernels::add(a, b, out);
  const Shape shape_a = a.shape(), shape_b = b.shape();
  return autograd::record("add", out, {a, b}, [shape_a, shape_b](const Tensor& grad) {
    return std::vector<Tensor>{reduce_to_shape(grad, shape_a), reduce_to_shape(grad, shape_b)};
  });
}

Tensor mul(const Tensor& a_in, const Tensor& b_in) {
  Tensor a = a_in, b = b_in;
  autocast::promote(a, b);
  check_same_dtype_device("mul", a, b);
  Tensor out = Tensor::empty(kernels::broadcast_shape("mul", a.shape(), b.shape()), a.dtype(), a.device());
  kernels::mul(a, b, out);
  const bool grad_a = a.requires_grad(), grad_b = b.requires_grad();
  Tensor saved_a = a.detach(), saved_b = b.detach();
  return autograd::record("mul", out, {a, b}, [saved_a, saved_b, grad_a, grad_b](const Tensor& grad) {
    std::vector<Tensor> grads(2);
    Tensor product = Tensor::empty_like(grad);
    if (grad_a) {
      kernels::mul(grad, saved_b, product);
      grads[0] = reduce_to_shape(product, saved_a.shape());
    }
    if (grad_b) {
      if (grad_a) product = Tensor::empty_like(grad);  // grads[0] may alias it
      kernels::mul(grad, saved_a, product);
      grads[1] = reduce_to_shape(product, saved_b.shape());
    }
    return grads;
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = Tensor::empty_like(x);
  kernels::relu_forward(x, y);
  Tensor saved_y = y.detach();
  return autograd::record("relu", y, {x}, [saved_y](const Tensor& grad) {
    Tensor grad_x = Tensor::empty_like(grad);
    kernels::relu_backward(saved_y, grad, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

Tensor add_relu(const Tensor& a, const Tensor& b) {
  check_same_dtype_device("add_relu", a, b);
  check(a.shape() == b.shape(), "add_relu: shapes ", shape_text(a.shape()), " and ", shape_text(b.shape()),
        " differ (add_relu does not broadcast)");
  Tensor y = Tensor::empty_like(a);
  kernels::add_relu_forward(a, b, y);
  Tensor saved_y = y.detach();
  return autograd::record("add_relu", y, {a, b}, [saved_y](const Tensor& grad) {
    Tensor grad_input = Tensor::empty_like(grad);
    kernels::add_relu_backward(saved_y, grad, grad_input);
    return std::vector<Tensor>{grad_input, grad_input};
  });
}

// The shape with `axes` set to 1, and the sorted, de-negated axes.
static Shape kept_shape(const char* op, const Shape& shape, std::vector<int>& axes) {
  const int n = static_cast<int>(shape.size());
  if (axes.empty())
    for (int i = 0; i < n; ++i) axes.push_back(i);
  Shape kept = shape;
  for (int& axis : axes) {
    check(axis >= -n && axis < n, op, ": axis ", axis, " out of range for shape ", shape_str(shape));
    if (axis < 0) axis += n;
    kept[static_cast<std::size_t>(axis)] = 1;
  }
  std::sort(axes.begin(), axes.end());
  check(std::adjacent_find(axes.begin(), axes.end()) == axes.end(), op, ": repeated axis");
  return kept;
}

static Shape drop_axes(const Shape& shape, const std::vector<int>& axes) {
  Shape dropped;
  for (std::size_t i = 0; i < shape.size(); ++i)
    if (!std::binary_search(axes.begin(), axes.end(), static_cast<int>(i))) dropped.push_back(shape[i]);
  return dropped;
}

// Sum over axes, times `factor` (1 for sum, 1/count for mean). Backward
// broadcasts the gradient back to the input shape, times the same factor.
static Tensor scaled_sum(const char* op, const Tensor& input, std::vector<int> axes, bool keepdim, bool average) {
  const Tensor x = autocast::to_float32(input);  // a reduction: an FP32 island
  check_floating(op, x);
  const Shape kept = kept_shape(op, x.shape(), axes);
  const double count = static_cast<double>(x.numel()) / static_cast<double>(std::max<std::int64_t>(shape_numel(kept), 1));
  const double factor = average ? 1.0 / count : 1.0;
  Tensor reduced = Tensor::empty(kept, x.dtype(), x.device());
  kernels::sum_to(x, reduced);
  if (average) kernels::scale(reduced, factor);
  if (!keepdim) reduced = reduced.detach().reshape(drop_axes(x.shape(), axes));
  const Shape input_shape = x.shape();
  return autograd::record(op, reduced, {x}, [input_shape, kept, factor](const Tensor& grad) {
    Tensor expanded = Tensor::zeros(input_shape, grad.dtype(), grad.device());
    Tensor broadcast = Tensor::empty_like(expanded);
    kernels::add(expanded, grad.reshape(kept), broadcast);
    if (factor != 1.0) kernels::scale(broadcast, factor);
    return std::vector<Tensor>{broadcast};
  });
}

Tensor sum(const Tensor& x, std::vector<int> axes, bool keepdim) {
  return scaled_sum("sum", x, std::move(axes), keepdim, false);
}

Tensor mean(const Tensor& x, std::vector<int> axes, bool keepdim) {
  return scaled_sum("mean", x, std::move(axes), keepdim, true);
}

}  // namespace armnet
