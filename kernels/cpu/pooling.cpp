// The CPU bodies of pooling on NCHW tensors (arguments checked by
// kernels/pooling.cpp). Every (n, c) pair owns one contiguous H x W
// input plane and one output plane (or one output value for the global
// average), so work is split across threads by plane with OpenMP and no two
// threads ever write the same element, even in the max-pool backward pass,
// whose overlapping windows add into the same input plane. Evaluation, which
// needs no positions of the maxima, takes a two-pass path per plane (column
// maxima over the window rows, then over the window columns).
#include "kernels/pooling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

// The maxima of one plane without their positions (evaluation), in two
// passes per output row: the column maxima over the window's rows into
// `column_max` (a contiguous, vectorisable loop over the whole input row),
// then the maxima over each window's columns of those. Values are those of
// the single-pass loop below, NaN propagation included, but for the sign of
// a zero: a window whose maximum is both +0 and -0 may give either, as the
// order of the comparisons decides (the positions, not computed here,
// depend on that order too).
template <class T>
static void max_pool_plane_values(const T* in, T* out, T* column_max, const MaxPool2dGeometry& g) {
  for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
    const std::int64_t h_begin = std::max<std::int64_t>(oh * g.stride - g.padding, 0);
    const std::int64_t h_end = std::min(oh * g.stride - g.padding + g.kernel, g.in_h);
    std::copy(in + h_begin * g.in_w, in + (h_begin + 1) * g.in_w, column_max);
    for (std::int64_t h = h_begin + 1; h < h_end; ++h) {
      const T* row = in + h * g.in_w;
      for (std::int64_t w = 0; w < g.in_w; ++w) {
        const T value = row[w], best = column_max[w];
        column_max[w] = value > best || value != value ? value : best;
      }
    }
    for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
      const std::int64_t w_begin = std::max<std::int64_t>(ow * g.stride - g.padding, 0);
      const std::int64_t w_end = std::min(ow * g.stride - g.padding + g.kernel, g.in_w);
      T best = column_max[w_begin];
      for (std::int64_t w = w_begin + 1; w < w_end; ++w) {
        const T value = column_max[w];
        best = value > best || value != value ? value : best;
      }
      out[oh * g.out_w + ow] = best;
    }
  }
}

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const MaxPool2dGeometry& g) {
  const std::int64_t planes = g.batch * g.channels;
  if (!indices.defined()) {
    dispatch_floating(x, [&](auto zero) {
      using T = decltype(zero);
      const T* px = x.data<T>();
      T* py = y.data<T>();
#pragma omp parallel if (x.numel() > kParallelGrain)
      {
        std::vector<T> column_max(static_cast<std::size_t>(g.in_w));  // one per thread
#pragma omp for
        for (std::int64_t p = 0; p < planes; ++p)
          max_pool_plane_values(px + p * g.in_h * g.in_w, py + p * g.out_h * g.out_w, column_max.data(), g);
      }
    });
    return;
  }
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    std::int64_t* pindices = indices.data<std::int64_t>();
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (std::int64_t p = 0; p < planes; ++p) {
      const T* in = px + p * g.in_h * g.in_w;
      T* out = py + p * g.out_h * g.out_w;
      std::int64_t* out_index = pindices + p * g.out_h * g.out_w;
      for (std::int64_t oh = 0; oh < g.out_h; ++oh) {
        const std::int64_t h_begin = std::max<std::int64_t>(oh * g.stride - g.padding, 0);
        const std::int64_t h_end = std::min(oh * g.stride - g.padding + g.kernel, g.in_h);
        for (std::int64_t ow = 0; ow < g.out_w; ++ow) {
          const std::int64_t w_begin = std::max<std::int64_t>(ow * g.stride - g.padding, 0);
          const std::int64_t w_end = std::min(ow * g.stride - g.padding + g.kernel, g.in_w);
          // Padding is -infinity, so only the window's part inside the input
          // matters; the geometry guarantees that part is not empty.
          T best = -std::numeric_limits<T>::infinity();
          std::int64_t best_index = h_begin * g.in_w + w_begin;
          for (std::int64_t h = h_begin; h < h_end; ++h)
            for (std::int64_t w = w_begin; w < w_end; ++w) {
              const T value = in[h * g.in_w + w];
              if (value > best || std::isnan(value)) {  // strict: the first maximum stays
                best = value;
                best_index = h * g.in_w + w;
              }
            }
          out[oh * g.out_w + ow] = best;
          out_index[oh * g.out_w + ow] = best_index;
        }
      }
    }
  });
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x, const MaxPool2dGeometry& g) {
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    const T* pgrad_y = grad_y.data<T>();
    const std::int64_t* pindices = indices.data<std::int64_t>();
    T* pgrad_x = grad_x.data<T>();
    const std::int64_t planes = g.batch * g.channels;
    const std::int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
#pragma omp parallel for if (grad_x.numel() > kParallelGrain)
    for (std::int64_t p = 0; p < planes; ++p) {
      T* in_grad = pgrad_x + p * in_plane;
      const T* out_grad = pgrad_y + p * out_plane;
      const std::int64_t* out_index = pindices + p * out_plane;
      for (std::int64_t i = 0; i < in_plane; ++i) in_grad[i] = T(0);
      for (std::int64_t o = 0; o < out_plane; ++o) in_grad[out_index[o]] += out_grad[o];
    }
  });
}

void global_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const std::int64_t planes = x.size(0) * x.size(1), plane = x.size(2) * x.size(3);
#pragma omp parallel for if (x.numel() > kParallelGrain)
    for (std::int64_t p = 0; p < planes; ++p) {
      double sum = 0.0;
      for (std::int64_t i = 0; i < plane; ++i) sum += px[p * plane + i];
      py[p] = static_cast<T>(sum / static_cast<double>(plane));
    }
  });
}

void global_avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x) {
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    const T* pgrad_y = grad_y.data<T>();
    T* pgrad_x = grad_x.data<T>();
    const std::int64_t planes = grad_x.size(0) * grad_x.size(1), plane = grad_x.size(2) * grad_x.size(3);
#pragma omp parallel for if (grad_x.numel() > kParallelGrain)
    for (std::int64_t p = 0; p < planes; ++p) {
      const T share = static_cast<T>(static_cast<double>(pgrad_y[p]) / static_cast<double>(plane));
      for (std::int64_t i = 0; i < plane; ++i) pgrad_x[p * plane + i] = share;
    }
  });
}

}  // namespace armnet::kernels::cpu
