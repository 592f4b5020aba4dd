// The CUDA bodies of BatchNorm2d (arguments checked by kernels/batch_norm.cpp),
// the same arithmetic as kernels/cpu/batch_norm.cpp: per-channel sums over
// (N, H, W) accumulated in double for every dtype, the mean and the BIASED
// variance in two passes, the running statistics updated with the unbiased
// variance. Two kinds of kernel:
//   - per channel: one block of kChannelThreads threads per channel reduces
//     its N*H*W elements (a block-wide tree sum in shared memory), and its
//     thread 0 writes the channel's results;
//   - elementwise: a grid-stride loop over every element writes y or grad_x
//     from the per-channel values, in double, kept in a [2, C] float64
//     temporary so that float32 uses the same unrounded values as the CPU.
// Kernels are templates over T, the activations' type (x, y, grad_y,
// grad_x: float, double, Half or BFloat16), and P, the per-channel tensors'
// (weight, bias, running statistics, mean, invstd, grad_weight, grad_bias):
// T itself for float and double, float for the 16-bit types
// (StandInType<T>, the check of kernels/batch_norm.cpp). Activations are
// read through widened (exact) and written through narrowed<T>
// (batch_norm_y, batch_norm_grad_x: the CPU's static_cast for float and
// double, its float32 emulation for 16 bits); per-channel values are P,
// float or double, as in the float32 and float64 kernels. So a 16-bit result
// is the emulation's up to the order of the double sums (one unit in the
// last place, tests/test_cuda_norm_pool.cpp).
// Byte counts below are for float32 activations (float64: twice; float16
// and bfloat16: half, 2 bytes per element), with E = N*C*H*W.
#include "kernels/batch_norm.h"
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"

namespace armnet::kernels::cuda {

namespace {

// Threads of a per-channel block: a power of two (block_sum halves it), and
// many, since the grid is only C blocks (64 at the first ResNet-18
// BatchNorm, whose channels have 802,816 elements each at batch 64,
// 224x224). Not 1024: __launch_bounds__(1024) caps a thread at 64 registers,
// and ptxas then spills in its float64 division routine.
constexpr int kChannelThreads = 512;

// The sizes of an NCHW tensor as BatchNorm walks it.
struct ChannelLayout {
  std::int64_t batch, channels, plane;  // plane = H*W
};

ChannelLayout channel_layout(const Tensor& x) { return {x.size(0), x.size(1), x.size(2) * x.size(3)}; }

// The sum of every thread's `value` over the block (kChannelThreads of
// them; `shared` holds as many doubles): runtime.h's tree.
__device__ double block_sum(double value, double* shared) { return block_reduce<kChannelThreads>(value, shared); }

// Training forward, per channel: mean, biased variance (two passes over the
// channel), invstd, the running statistics, and the channel's scale and shift
// for batch_norm_affine_kernel (affine: [2, C] float64, scales then shifts).
// Block c = channel c; thread t takes the channel's elements t, t + kChannelThreads, ...
// Moves 2 E x 4 bytes (x read twice) plus O(C).
template <class T, class P>
__global__ void __launch_bounds__(kChannelThreads)
    batch_norm_statistics_kernel(const T* x, const P* weight, const P* bias, ChannelLayout layout, double momentum,
                                 double eps, P* running_mean, P* running_var, P* mean, P* invstd, double* affine) {
  __shared__ double shared[kChannelThreads];
  const std::int64_t c = blockIdx.x;
  const std::int64_t count = layout.batch * layout.plane;
  double sum = 0.0;
  for (std::int64_t j = threadIdx.x; j < count; j += kChannelThreads)
    sum += widened(x[batch_norm_channel_element(layout.channels, layout.plane, c, j)]);
  const double channel_mean = block_sum(sum, shared) / static_cast<double>(count);
  double squares = 0.0;
  for (std::int64_t j = threadIdx.x; j < count; j += kChannelThreads) {
    const double deviation =
        widened(x[batch_norm_channel_element(layout.channels, layout.plane, c, j)]) - channel_mean;
    squares += deviation * deviation;
  }
  const double squared_deviations = block_sum(squares, shared);
  if (threadIdx.x != 0) return;
  const double biased_var = squared_deviations / static_cast<double>(count);
  const double unbiased_var = squared_deviations / static_cast<double>(count - 1);
  const double channel_invstd = 1.0 / sqrt(biased_var + eps);
  mean[c] = static_cast<P>(channel_mean);
  invstd[c] = static_cast<P>(channel_invstd);
  running_mean[c] = static_cast<P>((1.0 - momentum) * running_mean[c] + momentum * channel_mean);
  running_var[c] = static_cast<P>((1.0 - momentum) * running_var[c] + momentum * unbiased_var);
  const BatchNormAffine map = batch_norm_affine(channel_mean, channel_invstd, weight[c], bias[c]);
  affine[c] = map.scale;
  affine[layout.channels + c] = map.shift;
}

// Evaluation forward, per channel: mean = running_mean, invstd from
// running_var, and the channel's scale and shift (affine as above). Only
// per-channel tensors (P). One thread per channel, grid-stride. Moves O(C)
// bytes.
template <class P>
__global__ void batch_norm_eval_statistics_kernel(const P* weight, const P* bias, const P* running_mean,
                                                  const P* running_var, std::int64_t channels, double eps, P* mean,
                                                  P* invstd, double* affine) {
  for (std::int64_t c = first_index(); c < channels; c += grid_stride()) {
    const double channel_mean = running_mean[c];
    const double channel_invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    mean[c] = static_cast<P>(channel_mean);
    invstd[c] = static_cast<P>(channel_invstd);
    const BatchNormAffine map = batch_norm_affine(channel_mean, channel_invstd, weight[c], bias[c]);
    affine[c] = map.scale;
    affine[channels + c] = map.shift;
  }
}

// y = x * scale[c] + shift[c] over every element (affine: [2, C] float64),
// rounded once to T (batch_norm_y). One thread per element, grid-stride.
// Moves 2 E x 4 bytes (x read, y written).
template <class T>
__global__ void batch_norm_affine_kernel(const T* x, const double* affine, ChannelLayout layout, std::int64_t n,
                                         T* y) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t c = batch_norm_channel_of(layout.channels, layout.plane, i);
    y[i] = batch_norm_y(x[i], BatchNormAffine{affine[c], affine[layout.channels + c]});
  }
}

// Backward, per channel: grad_bias = sum(grad_y), grad_weight =
// sum(grad_y * xhat), and into terms ([2, C] float64) the means of both in
// training, zeros in evaluation (batch_norm_input_grad's mean_grad and
// mean_grad_xhat). Block c = channel c; thread t takes the channel's elements
// t, t + kChannelThreads, ... Moves 2 E x 4 bytes (grad_y and x read) plus O(C).
template <class T, class P>
__global__ void __launch_bounds__(kChannelThreads)
    batch_norm_backward_sums_kernel(const T* grad_y, const T* x, const P* mean, const P* invstd, ChannelLayout layout,
                                    bool training, P* grad_weight, P* grad_bias, double* terms) {
  __shared__ double shared[kChannelThreads];
  const std::int64_t c = blockIdx.x;
  const std::int64_t count = layout.batch * layout.plane;
  const double channel_mean = mean[c];
  const double channel_invstd = invstd[c];
  double sum_grad = 0.0, sum_grad_xhat = 0.0;
  for (std::int64_t j = threadIdx.x; j < count; j += kChannelThreads) {
    const std::int64_t i = batch_norm_channel_element(layout.channels, layout.plane, c, j);
    const double xhat = (widened(x[i]) - channel_mean) * channel_invstd;
    const double gradient = widened(grad_y[i]);
    sum_grad += gradient;
    sum_grad_xhat += gradient * xhat;
  }
  sum_grad = block_sum(sum_grad, shared);
  sum_grad_xhat = block_sum(sum_grad_xhat, shared);
  if (threadIdx.x != 0) return;
  grad_bias[c] = static_cast<P>(sum_grad);
  grad_weight[c] = static_cast<P>(sum_grad_xhat);
  terms[c] = training ? sum_grad / static_cast<double>(count) : 0.0;
  terms[layout.channels + c] = training ? sum_grad_xhat / static_cast<double>(count) : 0.0;
}

// grad_x of every element (batch_norm_grad_x) from its channel's weight,
// mean, invstd and terms, rounded once to T. One thread per element,
// grid-stride. Moves 3 E x 4 bytes (grad_y and x read, grad_x written) plus
// O(C) cached.
template <class T, class P>
__global__ void batch_norm_input_grad_kernel(const T* grad_y, const T* x, const P* weight, const P* mean,
                                             const P* invstd, const double* terms, ChannelLayout layout,
                                             std::int64_t n, T* grad_x) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t c = batch_norm_channel_of(layout.channels, layout.plane, i);
    grad_x[i] = batch_norm_grad_x(grad_y[i], x[i], weight[c], mean[c], invstd[c], terms[c],
                                  terms[layout.channels + c]);
  }
}

}  // namespace

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                                 Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& mean,
                                 Tensor& invstd) {
  const char* op = "batch_norm2d (cuda, training)";
  const ChannelLayout layout = channel_layout(x);
  Tensor affine = Tensor::empty({2, layout.channels}, DType::Float64, Device::CUDA);
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using P = StandInType<T>;  // the per-channel tensors' type
    launch(op, batch_norm_statistics_kernel<T, P>, dim3(static_cast<unsigned>(layout.channels)),
           dim3(kChannelThreads), 0, x.data<T>(), weight.data<P>(), bias.data<P>(), layout, momentum, eps,
           running_mean.data<P>(), running_var.data<P>(), mean.data<P>(), invstd.data<P>(), affine.data<double>());
    launch(op, batch_norm_affine_kernel<T>, dim3(grid_for(x.numel())), dim3(kThreads), 0, x.data<T>(),
           affine.data<double>(), layout, x.numel(), y.data<T>());
  });
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  const char* op = "batch_norm2d (cuda, evaluation)";
  const ChannelLayout layout = channel_layout(x);
  Tensor affine = Tensor::empty({2, layout.channels}, DType::Float64, Device::CUDA);
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using P = StandInType<T>;  // the per-channel tensors' type
    launch(op, batch_norm_eval_statistics_kernel<P>, dim3(grid_for(layout.channels)), dim3(kThreads), 0,
           weight.data<P>(), bias.data<P>(), running_mean.data<P>(), running_var.data<P>(), layout.channels, eps,
           mean.data<P>(), invstd.data<P>(), affine.data<double>());
    launch(op, batch_norm_affine_kernel<T>, dim3(grid_for(x.numel())), dim3(kThreads), 0, x.data<T>(),
           affine.data<double>(), layout, x.numel(), y.data<T>());
  });
}

void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool training, Tensor& grad_x, Tensor& grad_weight,
                         Tensor& grad_bias) {
  const char* op = "batch_norm2d_backward (cuda)";
  const ChannelLayout layout = channel_layout(x);
  Tensor terms = Tensor::empty({2, layout.channels}, DType::Float64, Device::CUDA);
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using P = StandInType<T>;  // the per-channel tensors' type
    launch(op, batch_norm_backward_sums_kernel<T, P>, dim3(static_cast<unsigned>(layout.channels)),
           dim3(kChannelThreads), 0, grad_y.data<T>(), x.data<T>(), mean.data<P>(), invstd.data<P>(), layout,
           training, grad_weight.data<P>(), grad_bias.data<P>(), terms.data<double>());
    launch(op, batch_norm_input_grad_kernel<T, P>, dim3(grid_for(x.numel())), dim3(kThreads), 0, grad_y.data<T>(),
           x.data<T>(), weight.data<P>(), mean.data<P>(), invstd.data<P>(), terms.data<double>(), layout, x.numel(),
           grad_x.data<T>());
  });
}

}  // namespace armnet::kernels::cuda
