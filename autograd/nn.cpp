// batch_norm2d, max_pool2d, global_avg_pool2d, pixel_shuffle, dropout: the
// normalisation, pooling, shuffle and dropout layers of ResNet-18 and the ARM.
#include "autograd/autocast.h"
#include "autograd/functional.h"
#include "kernels/batch_norm.h"
#include "kernels/dropout.h"
#include "kernels/pixel_shuffle.h"
#include "kernels/pooling.h"

namespace armnet {

static void check_nchw(const char* op, const Tensor& x) {
  check_floating_or_16bit(op, x);
  check(x.ndim() == 4, op, ": expected a 4-D NCHW input, got ", x.describe());
}

Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm2d";
  // The kernel checks every argument. Its outputs are allocated first, like x
  // and like running_mean (which it checks to be [C] of x's dtype and
  // device), so only those two must exist before it runs.
  check(x.defined(), op, ": undefined tensor argument");
  check(running_mean.defined(), op, ": running_mean is undefined");
  Tensor y = Tensor::empty_like(x);
  Tensor mean = Tensor::empty_like(running_mean);
  Tensor invstd = Tensor::empty_like(running_mean);
  if (training)
    kernels::batch_norm_forward_training(x, weight, bias, running_mean, running_var, momentum, eps, y, mean, invstd);
  else
    kernels::batch_norm_forward_eval(x, weight, bias, running_mean, running_var, eps, y, mean, invstd);

  // The running statistics are buffers: updated in place above, never differentiated.
  Tensor saved_x = x.detach(), saved_weight = weight.detach();
  return autograd::record(op, y, {x, weight, bias},
                          [saved_x, saved_weight, mean, invstd, training](const Tensor& grad) {
                            Tensor grad_x = Tensor::empty_like(saved_x);
                            Tensor grad_weight = Tensor::empty_like(saved_weight);
                            Tensor grad_bias = Tensor::empty_like(saved_weight);
                            kernels::batch_norm_backward(grad, saved_x, saved_weight, mean, invstd, training, grad_x,
                                                         grad_weight, grad_bias);
                            return std::vector<Tensor>{grad_x, grad_weight, grad_bias};
                          });
}

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const kernels::MaxPool2dGeometry g = kernels::max_pool2d_geometry(x, kernel, stride, padding);
  const Shape out_shape{g.batch, g.channels, g.out_h, g.out_w};
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  // The positions of the maxima only serve the backward pass.
  Tensor indices = autograd::needs_grad({x}) ? Tensor::empty(out_shape, DType::Int64, x.device()) : Tensor();
  kernels::max_pool2d_forward(x, y, indices, g);
  const Shape input_shape = x.shape();
  return autograd::record("max_pool2d", y, {x}, [indices, g, input_shape](const Tensor& grad) {
    Tensor grad_x = Tensor::empty(input_shape, grad.dtype(), grad.device());
    kernels::max_pool2d_backward(grad, indices, grad_x, g);
    return std::vector<Tensor>{grad_x};
  });
}

Tensor global_avg_pool2d(const Tensor& input) {
  const char* op = "global_avg_pool2d";
  const Tensor x = autocast::to_float32(input);  // a mean: an FP32 island
  check_nchw(op, x);
  Tensor y = Tensor::empty({x.size(0), x.size(1)}, x.dtype(), x.device());
  kernels::global_avg_pool2d_forward(x, y);
  const Shape input_shape = x.shape();
  return autograd::record(op, y, {x}, [input_shape](const Tensor& grad) {
    Tensor grad_x = Tensor::empty(input_shape, grad.dtype(), grad.device());
    kernels::global_avg_pool2d_backward(grad, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

Tensor pixel_shuffle(const Tensor& x, int factor) {
  Tensor y = Tensor::empty(kernels::pixel_shuffle_shape(x, factor), x.dtype(), x.device());
  kernels::pixel_shuffle_forward(x, y, factor);
  const Shape input_shape = x.shape();
  return autograd::record("pixel_shuffle", y, {x}, [input_shape, factor](const Tensor& grad) {
    Tensor grad_x = Tensor::empty(input_shape, grad.dtype(), grad.device());
    kernels::pixel_shuffle_backward(grad, grad_x, factor);
    return std::vector<Tensor>{grad_x};
  });
}

// p == 1 is refused rather than returning zeros: a layer that drops
// everything is a configuration mistake, and 1/(1-p) would be infinite.
Tensor dropout(const Tensor& x, double p, bool training, Generator& generator) {
  const char* op = "dropout";
  check(p >= 0.0 && p < 1.0, op, ": probability ", p, " must be in [0, 1)");
  if (!training || p == 0.0) return x;
  check_floating_or_16bit(op, x);
  // Drawn on x's device (kernels/dropout.h: CPU and CUDA masks differ).
  Tensor mask = Tensor::empty(x.shape(), DType::UInt8, x.device());
  kernels::dropout_mask(mask, p, generator);
  const double scale = 1.0 / (1.0 - p);
  Tensor y = Tensor::empty_like(x);
  kernels::dropout_apply(x, mask, scale, y);
  return autograd::record(op, y, {x}, [mask, scale](const Tensor& grad) {
    Tensor grad_x = Tensor::empty_like(grad);
    kernels::dropout_apply(grad, mask, scale, grad_x);
    return std::vector<Tensor>{grad_x};
  });
}

}  // namespace armnet
