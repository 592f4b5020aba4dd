// 2-D convolution on the CPU: the reference path, im2col + GEMM.
//
// Layout: x [N, C_in, H, W], weight [C_out, C_in, kH, kW] viewed as the matrix
// W [C_out, K] with K = C_in*kH*kW, y [N, C_out, OH, OW]. The batch is cut
// into chunks of `chunk` images; for each chunk im2col writes the matrix
//   columns [K, chunk*OH*OW]   row (c*kH + i)*kW + j, column img*OH*OW + oh*OW + ow
// holding x[img, c, oh*stride_h - pad_h + i, ow*stride_w - pad_w + j] (0 in
// the padding), and the three passes are one GEMM each:
//   forward           Y [C_out, chunk*OH*OW]  = W * columns          (+ bias)
//   backward data     columns                 = W^T * dY, then col2im adds
//                                               each column entry back into dx
//   backward weights  dW [C_out, K]          += dY * columns^T       (beta = 1)
// Y and dY are [C_out, chunk*OH*OW] here, so a chunk of more than one image
// goes through a staging buffer that is scattered to / gathered from NCHW
// (one image is already in that layout and needs no copy).
//
// Parallelism: im2col (per image, channel and kernel row), col2im (per image,
// channel and input row) and the NCHW copies (per image and channel) split
// their work into OpenMP tasks that never write the same memory; the GEMMs run
// outside any parallel region, where Eigen threads them itself. The chunk is
// as large as the workspace budget allows so that the GEMM's N dimension is
// large even for 7x7 feature maps.
//
// These are the CPU bodies behind the checked entries of kernels/conv2d.cpp:
// they hand float32 work to the oneDNN fast path (kernels/cpu/conv2d_onednn.cpp)
// when it is the chosen implementation, and run the reference otherwise.
#include "kernels/conv2d.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu/conv2d_onednn.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/channel_sum.h"
#include "kernels/dispatch.h"

namespace armnet::kernels {

static Conv2dImplementation initial_implementation() {
  const char* forced = std::getenv("ARMNET_CONV");
  if (forced && std::string(forced) == "reference") return Conv2dImplementation::Reference;
  check(!forced || std::string(forced) == "onednn", "ARMNET_CONV=", forced ? forced : "",
        " is neither 'reference' nor 'onednn'");
  return onednn::built() ? Conv2dImplementation::OneDnn : Conv2dImplementation::Reference;
}

static Conv2dImplementation& chosen_implementation() {
  static Conv2dImplementation implementation = initial_implementation();
  return implementation;
}

Conv2dImplementation conv2d_implementation() { return chosen_implementation(); }

void set_conv2d_implementation(Conv2dImplementation implementation) {
  check(implementation == Conv2dImplementation::Reference || onednn::built(),
        "set_conv2d_implementation: this build has no oneDNN");
  chosen_implementation() = implementation;
}

const char* conv2d_implementation_name(Conv2dImplementation implementation) {
  return implementation == Conv2dImplementation::OneDnn ? "onednn" : "reference";
}

}  // namespace armnet::kernels

namespace armnet::kernels::cpu {

using armnet::cpu::gemm;  // kernels/cpu/gemm.h, in the namespace outside this one

// The im2col columns plus the staging buffer of one chunk stay below this
// (unless a single image needs more). 16 MiB keeps the GEMM's N dimension in
// the hundreds or more for every ResNet-18 layer; larger chunks did not make
// the GEMM faster, and the buffer is kept per thread (see Scratch).
constexpr std::int64_t kWorkspaceBytes = std::int64_t{16} << 20;

// True when a convolution of `dtype` goes to oneDNN: float32, and bfloat16
// on a processor with bfloat16 instructions.
static bool onednn_takes(DType dtype) {
  if (chosen_implementation() != Conv2dImplementation::OneDnn) return false;
  return dtype == DType::Float32 || (dtype == DType::BFloat16 && onednn::native_bfloat16());
}

bool conv2d_takes(DType dtype) { return dtype == DType::Float32 || dtype == DType::Float64 || onednn_takes(dtype); }

// Sizes of the GEMM view and of the chunks of the batch.
struct ConvPlan {
  std::int64_t patch;          // K = C_in * kH * kW, one column of `columns`
  std::int64_t pixels;         // OH * OW of one image
  std::int64_t chunk;          // images per chunk (>= 1)
  std::int64_t columns_numel;  // K * chunk * pixels
  std::int64_t staging_numel;  // C_out * chunk * pixels, 0 when chunk == 1
};

static ConvPlan make_plan(const Conv2dGeometry& g, std::size_t element_bytes) {
  ConvPlan plan{};
  plan.patch = g.in_channels * g.kernel_h * g.kernel_w;
  plan.pixels = g.out_h * g.out_w;
  const std::int64_t bytes_per_image =
      (plan.patch + g.out_channels) * plan.pixels * static_cast<std::int64_t>(element_bytes);
  plan.chunk = std::clamp<std::int64_t>(kWorkspaceBytes / std::max<std::int64_t>(bytes_per_image, 1), 1,
                                        std::max<std::int64_t>(g.batch, 1));
  plan.columns_numel = plan.patch * plan.chunk * plan.pixels;
  plan.staging_numel = plan.chunk > 1 ? g.out_channels * plan.chunk * plan.pixels : 0;
  return plan;
}

// The columns and staging buffers of one call. A call within the workspace
// budget (every one but a single huge image) uses a buffer that the calling
// thread keeps between calls, so that its pages are faulted in once rather
// than on every call (that cost as much as the GEMM on the large layers);
// a larger one gets memory of its own, freed on return.
template <class T>
class Scratch {
 public:
  explicit Scratch(const ConvPlan& plan) {
    const std::int64_t numel = plan.columns_numel + plan.staging_numel;
    Tensor* buffer = &own_;
    if (numel * static_cast<std::int64_t>(sizeof(T)) <= kWorkspaceBytes) {
      thread_local Tensor kept;
      buffer = &kept;
    }
    if (!buffer->defined() || buffer->numel() < numel) *buffer = Tensor::empty({numel}, dtype_of<T>());
    columns = buffer->data<T>();
    staging = columns + plan.columns_numel;
  }
  T* columns;
  T* staging;  // [C_out, chunk*pixels]; unused when chunk == 1

 private:
  Tensor own_;
};

// The output columns [first, last) whose input coordinate
// out * stride - pad + offset lies in [0, size): the rest read padding.
struct ValidRange {
  std::int64_t first, last;
};

static ValidRange valid_outputs(std::int64_t offset, std::int64_t stride, std::int64_t pad, std::int64_t size,
                                std::int64_t out_size) {
  // Smallest `out` with out*stride >= pad - offset, largest with out*stride < size + pad - offset.
  const std::int64_t low = pad - offset;
  const std::int64_t first = low <= 0 ? 0 : (low + stride - 1) / stride;
  const std::int64_t high = size + pad - offset;  // exclusive bound on out*stride
  const std::int64_t last = high <= 0 ? 0 : (high - 1) / stride + 1;
  return {std::min(first, out_size), std::clamp(last, std::min(first, out_size), out_size)};
}

// columns [K, chunk*pixels] of images [first_image, first_image + images) of
// x. One task per (image, channel, kernel row) writes the kW rows of columns
// of that kernel row.
template <class T>
static void im2col(const T* x, T* columns, std::int64_t first_image, std::int64_t images, const Conv2dGeometry& g,
                   const ConvPlan& plan) {
  const std::int64_t row_length = images * plan.pixels;
  const std::int64_t tasks = images * g.in_channels * g.kernel_h;
#pragma omp parallel for if (tasks * g.kernel_w * plan.pixels > kParallelGrain)
  for (std::int64_t task = 0; task < tasks; ++task) {
    const std::int64_t image = task / (g.in_channels * g.kernel_h);
    const std::int64_t channel = task / g.kernel_h % g.in_channels, i = task % g.kernel_h;
    const T* plane = x + ((first_image + image) * g.in_channels + channel) * g.in_h * g.in_w;
    const ValidRange rows = valid_outputs(i, g.stride_h, g.pad_h, g.in_h, g.out_h);
    for (std::int64_t j = 0; j < g.kernel_w; ++j) {
      const ValidRange cols = valid_outputs(j, g.stride_w, g.pad_w, g.in_w, g.out_w);
      const std::int64_t column_shift = j - g.pad_w;  // input column = ow * stride_w + column_shift
      T* out = columns + ((channel * g.kernel_h + i) * g.kernel_w + j) * row_length + image * plan.pixels;
      for (std::int64_t oh = 0; oh < g.out_h; ++oh, out += g.out_w) {
        if (oh < rows.first || oh >= rows.last) {
          std::fill(out, out + g.out_w, T(0));
          continue;
        }
        const T* in_row = plane + (oh * g.stride_h - g.pad_h + i) * g.in_w;
        std::fill(out, out + cols.first, T(0));
        if (g.stride_w == 1)
          std::copy(in_row + cols.first + column_shift, in_row + cols.last + column_shift, out + cols.first);
        else
          for (std::int64_t ow = cols.first; ow < cols.last; ++ow) out[ow] = in_row[ow * g.stride_w + column_shift];
        std::fill(out + cols.last, out + g.out_w, T(0));
      }
    }
  }
}

// The adjoint of im2col: dx of images [first_image, first_image + images) is
// overwritten with the sum of the column entries that read each element.
// One task per (image, channel, input row) gathers what the kernel rows
// that reach this input row wrote, so tasks never write the same memory.
template <class T>
static void col2im(const T* columns, T* grad_x, std::int64_t first_image, std::int64_t images, const Conv2dGeometry& g,
                   const ConvPlan& plan) {
  const std::int64_t row_length = images * plan.pixels;
  const std::int64_t tasks = images * g.in_channels * g.in_h;
#pragma omp parallel for if (images * g.in_channels * g.kernel_h * g.kernel_w * plan.pixels > kParallelGrain)
  for (std::int64_t task = 0; task < tasks; ++task) {
    const std::int64_t image = task / (g.in_channels * g.in_h);
    const std::int64_t channel = task / g.in_h % g.in_channels, ih = task % g.in_h;
    T* out_row = grad_x + (((first_image + image) * g.in_channels + channel) * g.in_h + ih) * g.in_w;
    std::fill(out_row, out_row + g.in_w, T(0));
    for (std::int64_t i = 0; i < g.kernel_h; ++i) {
      // Output row oh reads input row ih through kernel row i when oh * stride_h = ih + pad_h - i.
      const std::int64_t offset = ih + g.pad_h - i;
      if (offset < 0 || offset % g.stride_h != 0 || offset / g.stride_h >= g.out_h) continue;
      const std::int64_t oh = offset / g.stride_h;
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const ValidRange cols = valid_outputs(j, g.stride_w, g.pad_w, g.in_w, g.out_w);
        const std::int64_t column_shift = j - g.pad_w;  // input column = ow * stride_w + column_shift
        const T* source =
            columns + ((channel * g.kernel_h + i) * g.kernel_w + j) * row_length + image * plan.pixels + oh * g.out_w;
        for (std::int64_t ow = cols.first; ow < cols.last; ++ow) out_row[ow * g.stride_w + column_shift] += source[ow];
      }
    }
  }
}

// Copies `staging` [C_out, images*pixels] into y's images [first_image, ...)
// adding bias (may be null). `staging` may be y's own first image when
// images == 1 (then the layouts coincide and only the bias is added).
template <class T>
static void store_output(const T* staging, const T* bias, T* y, std::int64_t first_image, std::int64_t images,
                         const Conv2dGeometry& g, const ConvPlan& plan) {
  const std::int64_t tasks = images * g.out_channels;
  const std::int64_t row_length = images * plan.pixels;
#pragma omp parallel for if (tasks * plan.pixels > kParallelGrain)
  for (std::int64_t task = 0; task < tasks; ++task) {
    const std::int64_t image = task / g.out_channels, channel = task % g.out_channels;
    const T* source = staging + channel * row_length + image * plan.pixels;
    T* destination = y + ((first_image + image) * g.out_channels + channel) * plan.pixels;
    const T shift = bias ? bias[channel] : T(0);
    for (std::int64_t p = 0; p < plan.pixels; ++p) destination[p] = source[p] + shift;
  }
}

// Copies dy's images [first_image, ...) into `staging` [C_out, images*pixels].
template <class T>
static void gather_output_gradient(const T* grad_y, T* staging, std::int64_t first_image, std::int64_t images,
                                   const Conv2dGeometry& g, const ConvPlan& plan) {
  const std::int64_t tasks = images * g.out_channels;
  const std::int64_t row_length = images * plan.pixels;
#pragma omp parallel for if (tasks * plan.pixels > kParallelGrain)
  for (std::int64_t task = 0; task < tasks; ++task) {
    const std::int64_t image = task / g.out_channels, channel = task % g.out_channels;
    const T* source = grad_y + ((first_image + image) * g.out_channels + channel) * plan.pixels;
    std::memcpy(staging + channel * row_length + image * plan.pixels, source,
                static_cast<std::size_t>(plan.pixels) * sizeof(T));
  }
}

// dY of a chunk as the matrix [C_out, images*pixels]: dy itself for one
// image, else gathered into `staging`.
template <class T>
static const T* output_gradient_matrix(const T* grad_y, T* staging, std::int64_t first_image, std::int64_t images,
                                       const Conv2dGeometry& g, const ConvPlan& plan) {
  if (images == 1) return grad_y + first_image * g.out_channels * plan.pixels;
  gather_output_gradient(grad_y, staging, first_image, images, g, plan);
  return staging;
}

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g) {
  if (onednn_takes(x.dtype())) return onednn::conv2d_forward(x, weight, bias, y, g);
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const ConvPlan plan = make_plan(g, sizeof(T));
    Scratch<T> scratch(plan);
    const T* bias_data = bias.defined() ? bias.data<T>() : nullptr;
    T* y_data = y.data<T>();
    for (std::int64_t first = 0; first < g.batch; first += plan.chunk) {
      const std::int64_t images = std::min(plan.chunk, g.batch - first);
      im2col(x.data<T>(), scratch.columns, first, images, g, plan);
      T* product = images == 1 ? y_data + first * g.out_channels * plan.pixels : scratch.staging;
      const std::int64_t n = images * plan.pixels;
      gemm<T>(false, false, g.out_channels, n, plan.patch, T(1), weight.data<T>(), plan.patch, scratch.columns, n,
              T(0), product, n);
      if (images > 1 || bias_data) store_output(product, bias_data, y_data, first, images, g, plan);
    }
  });
}

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g) {
  if (onednn_takes(grad_y.dtype())) return onednn::conv2d_backward_data(grad_y, weight, grad_x, g);
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    const ConvPlan plan = make_plan(g, sizeof(T));
    Scratch<T> scratch(plan);
    for (std::int64_t first = 0; first < g.batch; first += plan.chunk) {
      const std::int64_t images = std::min(plan.chunk, g.batch - first);
      const T* dy = output_gradient_matrix(grad_y.data<T>(), scratch.staging, first, images, g, plan);
      const std::int64_t n = images * plan.pixels;
      gemm<T>(true, false, plan.patch, n, g.out_channels, T(1), weight.data<T>(), plan.patch, dy, n, T(0),
              scratch.columns, n);
      col2im(scratch.columns, grad_x.data<T>(), first, images, g, plan);
    }
  });
}

void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g) {
  if (onednn_takes(grad_y.dtype())) return onednn::conv2d_backward_weights(grad_y, x, grad_weight, grad_bias, g);
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    const ConvPlan plan = make_plan(g, sizeof(T));
    Scratch<T> scratch(plan);
    T* dw = grad_weight.data<T>();
    std::fill(dw, dw + grad_weight.numel(), T(0));  // every chunk adds with beta = 1
    for (std::int64_t first = 0; first < g.batch; first += plan.chunk) {
      const std::int64_t images = std::min(plan.chunk, g.batch - first);
      im2col(x.data<T>(), scratch.columns, first, images, g, plan);
      const T* dy = output_gradient_matrix(grad_y.data<T>(), scratch.staging, first, images, g, plan);
      const std::int64_t n = images * plan.pixels;
      gemm<T>(false, true, g.out_channels, plan.patch, n, T(1), dy, n, scratch.columns, n, T(1), dw, plan.patch);
    }
    if (!grad_bias.defined()) return;
    // db[c] = the sum of dy[:, c, :, :], accumulated in double.
    const T* dy = grad_y.data<T>();
    T* db = grad_bias.data<T>();
#pragma omp parallel for if (grad_y.numel() > kParallelGrain)
    for (std::int64_t channel = 0; channel < g.out_channels; ++channel)
      db[channel] = static_cast<T>(channel_sum(dy, g.batch, g.out_channels, plan.pixels, channel));
  });
}

}  // namespace armnet::kernels::cpu
