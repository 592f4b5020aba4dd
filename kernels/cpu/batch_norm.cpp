// The CPU bodies of BatchNorm2d (arguments checked by kernels/batch_norm.cpp):
// per-channel statistics over (N, H, W) of an NCHW tensor.
// Channel c of image n is the contiguous plane x[(n*C + c)*H*W ...], so each
// channel is N planes of H*W elements. Work is split across threads by
// channel (one OpenMP iteration per channel: its sums, its running statistics
// and its slice of y or grad_x belong to that iteration alone). Sums are
// accumulated in double for both dtypes, in several partial sums per loop
// (omp simd reductions) so that the loops vectorise.
#include "kernels/batch_norm.h"

#include <cmath>

#include "kernels/cpu/channel_sum.h"
#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

// The sizes of an NCHW tensor as BatchNorm walks it.
struct ChannelLayout {
  std::int64_t batch, channels, plane;  // plane = H*W
};

static ChannelLayout channel_layout(const Tensor& x) { return {x.size(0), x.size(1), x.size(2) * x.size(3)}; }

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                                 Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& mean,
                                 Tensor& invstd) {
  const ChannelLayout layout = channel_layout(x);
  const std::int64_t count = layout.batch * layout.plane;  // above 1 (checked)
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pweight = weight.data<T>();
    const T* pbias = bias.data<T>();
    T* prunning_mean = running_mean.data<T>();
    T* prunning_var = running_var.data<T>();
    T* py = y.data<T>();
    T* pmean = mean.data<T>();
    T* pinvstd = invstd.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (std::int64_t c = 0; c < layout.channels; ++c) {
      // Two passes: the mean, then the sum of squared deviations from it.
      const double channel_mean =
          channel_sum(px, layout.batch, layout.channels, layout.plane, c) / static_cast<double>(count);
      double squared_deviations = 0.0;
      for (std::int64_t n = 0; n < layout.batch; ++n) {
        const T* plane = px + (n * layout.channels + c) * layout.plane;
#pragma omp simd reduction(+ : squared_deviations)
        for (std::int64_t i = 0; i < layout.plane; ++i) {
          const double deviation = plane[i] - channel_mean;
          squared_deviations += deviation * deviation;
        }
      }
      const double biased_var = squared_deviations / static_cast<double>(count);
      const double unbiased_var = squared_deviations / static_cast<double>(count - 1);
      const double channel_invstd = 1.0 / std::sqrt(biased_var + eps);
      pmean[c] = static_cast<T>(channel_mean);
      pinvstd[c] = static_cast<T>(channel_invstd);
      prunning_mean[c] = static_cast<T>((1.0 - momentum) * prunning_mean[c] + momentum * channel_mean);
      prunning_var[c] = static_cast<T>((1.0 - momentum) * prunning_var[c] + momentum * unbiased_var);

      // y = x * scale + shift, with the normalisation folded into the affine map.
      const double scale = channel_invstd * pweight[c];
      const double shift = pbias[c] - channel_mean * scale;
      for (std::int64_t n = 0; n < layout.batch; ++n) {
        const std::int64_t offset = (n * layout.channels + c) * layout.plane;
        for (std::int64_t i = 0; i < layout.plane; ++i)
          py[offset + i] = static_cast<T>(px[offset + i] * scale + shift);
      }
    }
  });
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  const ChannelLayout layout = channel_layout(x);
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pweight = weight.data<T>();
    const T* pbias = bias.data<T>();
    const T* prunning_mean = running_mean.data<T>();
    const T* prunning_var = running_var.data<T>();
    T* py = y.data<T>();
    T* pmean = mean.data<T>();
    T* pinvstd = invstd.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (std::int64_t c = 0; c < layout.channels; ++c) {
      const double channel_mean = prunning_mean[c];
      const double channel_invstd = 1.0 / std::sqrt(static_cast<double>(prunning_var[c]) + eps);
      pmean[c] = static_cast<T>(channel_mean);
      pinvstd[c] = static_cast<T>(channel_invstd);
      const double scale = channel_invstd * pweight[c];
      const double shift = pbias[c] - channel_mean * scale;
      for (std::int64_t n = 0; n < layout.batch; ++n) {
        const std::int64_t offset = (n * layout.channels + c) * layout.plane;
        for (std::int64_t i = 0; i < layout.plane; ++i)
          py[offset + i] = static_cast<T>(px[offset + i] * scale + shift);
      }
    }
  });
}

void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool training, Tensor& grad_x, Tensor& grad_weight,
                         Tensor& grad_bias) {
  const ChannelLayout layout = channel_layout(x);
  const double count = static_cast<double>(layout.batch * layout.plane);
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* pgrad_y = grad_y.data<T>();
    const T* px = x.data<T>();
    const T* pweight = weight.data<T>();
    const T* pmean = mean.data<T>();
    const T* pinvstd = invstd.data<T>();
    T* pgrad_x = grad_x.data<T>();
    T* pgrad_weight = grad_weight.data<T>();
    T* pgrad_bias = grad_bias.data<T>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (std::int64_t c = 0; c < layout.channels; ++c) {
      const double channel_mean = pmean[c];
      const double channel_invstd = pinvstd[c];
      double sum_grad = 0.0;       // sum of grad_y
      double sum_grad_xhat = 0.0;  // sum of grad_y * xhat
      for (std::int64_t n = 0; n < layout.batch; ++n) {
        const std::int64_t offset = (n * layout.channels + c) * layout.plane;
#pragma omp simd reduction(+ : sum_grad, sum_grad_xhat)
        for (std::int64_t i = 0; i < layout.plane; ++i) {
          const double xhat = (px[offset + i] - channel_mean) * channel_invstd;
          sum_grad += pgrad_y[offset + i];
          sum_grad_xhat += pgrad_y[offset + i] * xhat;
        }
      }
      pgrad_bias[c] = static_cast<T>(sum_grad);
      pgrad_weight[c] = static_cast<T>(sum_grad_xhat);

      const double scale = pweight[c] * channel_invstd;
      const double mean_grad = training ? sum_grad / count : 0.0;
      const double mean_grad_xhat = training ? sum_grad_xhat / count : 0.0;
      for (std::int64_t n = 0; n < layout.batch; ++n) {
        const std::int64_t offset = (n * layout.channels + c) * layout.plane;
        for (std::int64_t i = 0; i < layout.plane; ++i) {
          const double xhat = (px[offset + i] - channel_mean) * channel_invstd;
          pgrad_x[offset + i] = static_cast<T>(scale * (pgrad_y[offset + i] - mean_grad - xhat * mean_grad_xhat));
        }
      }
    }
  });
}

}  // namespace armnet::kernels::cpu
