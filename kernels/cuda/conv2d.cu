// The CUDA bodies of 2-D convolution (arguments checked by kernels/conv2d.cpp):
// conv2d on cuDNN, and the ARM's shared-channel (de-albino) convolution by
// hand.
//
// conv2d uses cuDNN's legacy convolution API (cudnnConvolutionForward,
// BackwardData, BackwardFilter), deprecated in cuDNN 9 but present and the
// most readable; its header marks it deprecated only under
// CUDNN_WARN_DEPRECATED, which the build does not define, so no warning needs
// silencing. Every cuDNN call of armnet is in this file, so that a move to the
// graph API touches nothing else.
//   - A plan per geometry and dtype, made on first use and kept for the
//     process (as the handles are; the model has a few dozen geometries): the
//     NCHW descriptors and, for each pass the first time it runs, the
//     algorithm cudnnFind*AlgorithmEx measured fastest, with its workspace size.
//   - Math: float32 with CUDNN_FMA_MATH (no TF32, so that float32 agrees with
//     the CPU to rounding) unless ARMNET_TF32=1 (CUDNN_DEFAULT_MATH: TF32
//     tensor cores allowed); float64 with CUDNN_DEFAULT_MATH; float16 and
//     bfloat16 (mixed precision) with CUDNN_TENSOR_OP_MATH and float32
//     accumulation (the convolution descriptor's compute type), the
//     scaling factors float32.
//   - Algorithms: only those that sum the products directly (implicit GEMM,
//     GEMM, direct; backward ALGO_0/1/3). FFT and Winograd transform the data
//     and round more in float32 than the parity bound of docs/parity.md allows.
//     Among those, the fastest deterministic one (Find reports it per
//     result: backward-data ALGO_0 and backward-filter ALGO_0 and ALGO_3 add
//     with atomics, in an order that changes between runs); a
//     non-deterministic one only when Find returns no other.
//   - Workspaces, for Find and for every call, come from the caching
//     allocator (a uint8 tensor), as do Find's scratch outputs: Find writes
//     into the output it is given, never the caller's.
//   - The bias is added and reduced by the elementwise kernels (kernels::add of
//     the [C, 1, 1] view, kernels::sum_to), as in linear.
// One host thread drives the GPU (the cuDNN handle is not thread-safe either),
// so the plans need no lock.
//
// The shared-channel kernels (one k x k kernel over every plane, stride s, no
// padding) compute each element with the functions of kernels/conv2d.h that
// tests/test_index_math_conv.cpp checks over every index on the CPU. Byte
// counts are for float32 (float64: twice) at the ARM's 224x224 shapes, batch
// 64: x [64, 2, 112, 112] (6.4 MB), y [64, 2, 11, 11] (62 KB), k 32, s 8.
#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <map>
#include <optional>
#include <ostream>

#include "kernels/conv2d.h"
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/elementwise.h"

namespace armnet::kernels::cuda {

namespace {

// ---- conv2d on cuDNN ----------------------------------------------------------------

// A convolution's shapes and dtype in a message, formatted only on failure.
struct GeometryText {
  const Conv2dGeometry& g;
  DType dtype;
};
std::ostream& operator<<(std::ostream& out, const GeometryText& text) {
  const Conv2dGeometry& g = text.g;
  return out << " (" << dtype_name(text.dtype) << " input [" << g.batch << ", " << g.in_channels << ", " << g.in_h
             << ", " << g.in_w << "], weight [" << g.out_channels << ", " << g.in_channels << ", " << g.kernel_h << ", "
             << g.kernel_w << "], stride " << g.stride_h << "x" << g.stride_w << ", padding " << g.pad_h << "x"
             << g.pad_w << ")";
}

cudnnDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    case DType::Float16: return CUDNN_DATA_HALF;
    case DType::BFloat16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
  }
}

// What the products are summed in: the data type, float32 for 16-bit data.
cudnnDataType_t compute_type(DType dtype) { return is_16bit(dtype) ? CUDNN_DATA_FLOAT : data_type(dtype); }

cudnnMathType_t math_type(DType dtype) {
  if (is_16bit(dtype)) return CUDNN_TENSOR_OP_MATH;
  return dtype == DType::Float32 && !tf32_enabled() ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

// cuDNN's scaling factors: double for float64 data, float otherwise.
const void* one_of(DType dtype) {
  static const float one_float = 1.0f;
  static const double one_double = 1.0;
  return dtype == DType::Float64 ? static_cast<const void*>(&one_double) : static_cast<const void*>(&one_float);
}
const void* zero_of(DType dtype) {
  static const float zero_float = 0.0f;
  static const double zero_double = 0.0;
  return dtype == DType::Float64 ? static_cast<const void*>(&zero_double) : static_cast<const void*>(&zero_float);
}

// The algorithms that sum the products directly (see the top of the file).
bool sums_directly(cudnnConvolutionFwdAlgo_t algorithm) {
  return algorithm == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
         algorithm == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         algorithm == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || algorithm == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}
bool sums_directly(cudnnConvolutionBwdDataAlgo_t algorithm) {
  return algorithm == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 || algorithm == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
}
bool sums_directly(cudnnConvolutionBwdFilterAlgo_t algorithm) {
  return algorithm == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || algorithm == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 ||
         algorithm == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
}

// Find tries only the algorithms whose workspace fits what it is given: the
// largest that cuDNN's heuristics report for an allowed algorithm, up to this.
constexpr std::size_t kMaxWorkspaceBytes = std::size_t{1} << 30;

template <class Algorithm>
struct Chosen {
  Algorithm algorithm;
  std::size_t workspace_bytes;
};

struct ConvolutionPlan {
  cudnnTensorDescriptor_t input = nullptr, output = nullptr;
  cudnnFilterDescriptor_t weight = nullptr;
  cudnnConvolutionDescriptor_t convolution = nullptr;
  std::optional<Chosen<cudnnConvolutionFwdAlgo_t>> forward;
  std::optional<Chosen<cudnnConvolutionBwdDataAlgo_t>> backward_data;
  std::optional<Chosen<cudnnConvolutionBwdFilterAlgo_t>> backward_filter;
};

ConvolutionPlan make_plan(const Conv2dGeometry& g, DType dtype, const char* op) {
  const GeometryText where{g, dtype};
  const std::int64_t largest =
      std::max({g.batch * g.in_channels * g.in_h * g.in_w, g.batch * g.out_channels * g.out_h * g.out_w,
                g.out_channels * g.in_channels * g.kernel_h * g.kernel_w});
  check(largest <= INT_MAX, op, where, ": more elements than cuDNN's int sizes allow");
  const cudnnDataType_t type = data_type(dtype);
  ConvolutionPlan plan;
  check_cudnn(cudnnCreateTensorDescriptor(&plan.input), op, where);
  check_cudnn(
      cudnnSetTensor4dDescriptor(plan.input, CUDNN_TENSOR_NCHW, type, static_cast<int>(g.batch),
                                 static_cast<int>(g.in_channels), static_cast<int>(g.in_h), static_cast<int>(g.in_w)),
      op, where);
  check_cudnn(cudnnCreateTensorDescriptor(&plan.output), op, where);
  check_cudnn(cudnnSetTensor4dDescriptor(plan.output, CUDNN_TENSOR_NCHW, type, static_cast<int>(g.batch),
                                         static_cast<int>(g.out_channels), static_cast<int>(g.out_h),
                                         static_cast<int>(g.out_w)),
              op, where);
  check_cudnn(cudnnCreateFilterDescriptor(&plan.weight), op, where);
  check_cudnn(cudnnSetFilter4dDescriptor(plan.weight, type, CUDNN_TENSOR_NCHW, static_cast<int>(g.out_channels),
                                         static_cast<int>(g.in_channels), static_cast<int>(g.kernel_h),
                                         static_cast<int>(g.kernel_w)),
              op, where);
  check_cudnn(cudnnCreateConvolutionDescriptor(&plan.convolution), op, where);
  check_cudnn(cudnnSetConvolution2dDescriptor(plan.convolution, static_cast<int>(g.pad_h), static_cast<int>(g.pad_w),
                                              static_cast<int>(g.stride_h), static_cast<int>(g.stride_w), 1, 1,
                                              CUDNN_CROSS_CORRELATION, compute_type(dtype)),
              op, where);
  check_cudnn(cudnnSetConvolutionMathType(plan.convolution, math_type(dtype)), op, where);
  return plan;
}

using PlanKey = std::array<std::int64_t, 14>;

// The plan of (g, dtype), made on first use; std::map never moves its
// elements, so the reference stays valid.
ConvolutionPlan& plan_for(const Conv2dGeometry& g, DType dtype, const char* op) {
  static std::map<PlanKey, ConvolutionPlan> plans;
  const PlanKey key{
      g.batch,    g.in_channels, g.in_h,  g.in_w,  g.out_channels, g.kernel_h, g.kernel_w,
      g.stride_h, g.stride_w,    g.pad_h, g.pad_w, g.out_h,        g.out_w,    static_cast<std::int64_t>(dtype)};
  auto found = plans.find(key);
  if (found == plans.end()) found = plans.emplace(key, make_plan(g, dtype, op)).first;
  return found->second;
}

// `bytes` of GPU scratch from the caching allocator, held by the returned
// tensor. Freeing it before the queued work has run is safe: everything runs
// on the one stream, so whoever gets the block next uses it after this work.
Tensor workspace(std::size_t bytes) {
  return Tensor::empty({std::max<std::int64_t>(static_cast<std::int64_t>(bytes), 1)}, DType::UInt8, Device::CUDA);
}

// The largest workspace that cuDNN's heuristics report for an allowed
// algorithm within kMaxWorkspaceBytes: what Find is given.
template <class Perf>
std::size_t find_workspace_bytes(const Perf* results, int count) {
  std::size_t bytes = 0;
  for (int i = 0; i < count; ++i)
    if (results[i].status == CUDNN_STATUS_SUCCESS && sums_directly(results[i].algo) &&
        results[i].memory <= kMaxWorkspaceBytes)
      bytes = std::max(bytes, results[i].memory);
  return bytes;
}

// The fastest allowed algorithm of Find's results (sorted fastest first):
// deterministic if one is among them.
template <class Perf>
Chosen<decltype(Perf::algo)> fastest(const Perf* results, int count, const char* op, const GeometryText& where) {
  for (const bool deterministic_only : {true, false})
    for (int i = 0; i < count; ++i)
      if (results[i].status == CUDNN_STATUS_SUCCESS && sums_directly(results[i].algo) &&
          (!deterministic_only || results[i].determinism == CUDNN_DETERMINISTIC))
        return {results[i].algo, results[i].memory};
  throw Error(str_cat(op, where, ": cuDNN found no algorithm that sums directly"));
}

const Chosen<cudnnConvolutionFwdAlgo_t>& forward_algorithm(ConvolutionPlan& plan, const Tensor& x, const Tensor& weight,
                                                           const Conv2dGeometry& g, const char* op,
                                                           const GeometryText& where) {
  if (plan.forward) return *plan.forward;
  std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> results{};
  int count = 0;
  check_cudnn(cudnnGetConvolutionForwardAlgorithm_v7(cudnn(), plan.input, plan.weight, plan.convolution, plan.output,
                                                     static_cast<int>(results.size()), &count, results.data()),
              op, where);
  const std::size_t find_bytes = find_workspace_bytes(results.data(), count);
  Tensor find_space = workspace(find_bytes);
  Tensor scratch_y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, x.dtype(), Device::CUDA);
  check_cudnn(cudnnFindConvolutionForwardAlgorithmEx(cudnn(), plan.input, x.data_ptr(), plan.weight, weight.data_ptr(),
                                                     plan.convolution, plan.output, scratch_y.data_ptr(),
                                                     static_cast<int>(results.size()), &count, results.data(),
                                                     find_space.data_ptr(), find_bytes),
              op, where);
  Chosen<cudnnConvolutionFwdAlgo_t> chosen = fastest(results.data(), count, op, where);
  std::size_t bytes = 0;
  check_cudnn(cudnnGetConvolutionForwardWorkspaceSize(cudnn(), plan.input, plan.weight, plan.convolution, plan.output,
                                                      chosen.algorithm, &bytes),
              op, where);
  chosen.workspace_bytes = std::max(chosen.workspace_bytes, bytes);  // Find's and the query's: the larger
  plan.forward = chosen;
  return *plan.forward;
}

const Chosen<cudnnConvolutionBwdDataAlgo_t>& backward_data_algorithm(ConvolutionPlan& plan, const Tensor& grad_y,
                                                                     const Tensor& weight, const Conv2dGeometry& g,
                                                                     const char* op, const GeometryText& where) {
  if (plan.backward_data) return *plan.backward_data;
  std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> results{};
  int count = 0;
  check_cudnn(
      cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn(), plan.weight, plan.output, plan.convolution, plan.input,
                                                  static_cast<int>(results.size()), &count, results.data()),
      op, where);
  const std::size_t find_bytes = find_workspace_bytes(results.data(), count);
  Tensor find_space = workspace(find_bytes);
  Tensor scratch_dx = Tensor::empty({g.batch, g.in_channels, g.in_h, g.in_w}, grad_y.dtype(), Device::CUDA);
  check_cudnn(cudnnFindConvolutionBackwardDataAlgorithmEx(cudnn(), plan.weight, weight.data_ptr(), plan.output,
                                                          grad_y.data_ptr(), plan.convolution, plan.input,
                                                          scratch_dx.data_ptr(), static_cast<int>(results.size()),
                                                          &count, results.data(), find_space.data_ptr(), find_bytes),
              op, where);
  Chosen<cudnnConvolutionBwdDataAlgo_t> chosen = fastest(results.data(), count, op, where);
  std::size_t bytes = 0;
  check_cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn(), plan.weight, plan.output, plan.convolution,
                                                           plan.input, chosen.algorithm, &bytes),
              op, where);
  chosen.workspace_bytes = std::max(chosen.workspace_bytes, bytes);
  plan.backward_data = chosen;
  return *plan.backward_data;
}

const Chosen<cudnnConvolutionBwdFilterAlgo_t>& backward_filter_algorithm(ConvolutionPlan& plan, const Tensor& grad_y,
                                                                         const Tensor& x, const Conv2dGeometry& g,
                                                                         const char* op, const GeometryText& where) {
  if (plan.backward_filter) return *plan.backward_filter;
  std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> results{};
  int count = 0;
  check_cudnn(
      cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn(), plan.input, plan.output, plan.convolution, plan.weight,
                                                    static_cast<int>(results.size()), &count, results.data()),
      op, where);
  const std::size_t find_bytes = find_workspace_bytes(results.data(), count);
  Tensor find_space = workspace(find_bytes);
  Tensor scratch_dw =
      Tensor::empty({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, grad_y.dtype(), Device::CUDA);
  check_cudnn(cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnn(), plan.input, x.data_ptr(), plan.output,
                                                            grad_y.data_ptr(), plan.convolution, plan.weight,
                                                            scratch_dw.data_ptr(), static_cast<int>(results.size()),
                                                            &count, results.data(), find_space.data_ptr(), find_bytes),
              op, where);
  Chosen<cudnnConvolutionBwdFilterAlgo_t> chosen = fastest(results.data(), count, op, where);
  std::size_t bytes = 0;
  check_cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn(), plan.input, plan.output, plan.convolution,
                                                             plan.weight, chosen.algorithm, &bytes),
              op, where);
  chosen.workspace_bytes = std::max(chosen.workspace_bytes, bytes);
  plan.backward_filter = chosen;
  return *plan.backward_filter;
}

// ---- the shared-channel (de-albino) convolution by hand ------------------------------


// y [N*C, out_h, out_w] (flat) = each plane of x [N*C, H, W] convolved with
// kernel [k, k]: one thread per output element, grid-stride, a k x k dot
// product in double (shared_channel_output). Reads x once from memory (the
// overlapping windows, 16 per element at k 32 s 8, come from the cache) and
// the kernel (4 KB, cached), writes y: 6.4 MB + 4 KB read, 62 KB written.
template <class T>
__global__ void shared_channel_forward_kernel(const T* x, const T* kernel, T* y, SharedChannelGeometry g,
                                              std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    y[i] = static_cast<T>(shared_channel_output(x, kernel, g, i));
}

// grad_x [N*C, H, W] (flat): one thread per input element, grid-stride, a
// gather over the outputs whose window covers it (at most 4 x 4 at k 32 s 8),
// in double (shared_channel_input_gradient). Reads grad_y (62 KB) and the
// kernel (4 KB) from the cache, writes grad_x: 66 KB read, 6.4 MB written.
template <class T>
__global__ void shared_channel_input_gradient_kernel(const T* grad_y, const T* kernel, T* grad_x,
                                                     SharedChannelGeometry g, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    grad_x[i] = static_cast<T>(shared_channel_input_gradient(grad_y, kernel, g, i));
}

// grad_kernel [k, k] (flat): one block of kThreads per kernel tap (k*k = 1024
// blocks); thread t sums, in double, the terms of outputs t, t + kThreads, ...
// of the N*C*out_h*out_w outputs (shared_channel_kernel_gradient_term: the
// output's gradient times the input it read through the tap), then the
// block's tree (runtime.h's block_reduce), and thread 0 writes the tap. Each block reads grad_y and one input per
// output (2 x 62 KB, from L2 after the first blocks: 127 MB of L2 traffic in
// all); from memory 6.4 MB + 62 KB read, 4 KB written.
template <class T>
__global__ void __launch_bounds__(kThreads)
    shared_channel_kernel_gradient_kernel(const T* grad_y, const T* x, T* grad_kernel, SharedChannelGeometry g,
                                          std::int64_t outputs) {
  __shared__ double partial[kThreads];
  const std::int64_t tap = blockIdx.x;
  double sum = 0.0;
  for (std::int64_t r = threadIdx.x; r < outputs; r += kThreads)
    sum += shared_channel_kernel_gradient_term(grad_y, x, g, tap, r);
  sum = block_reduce<kThreads>(sum, partial);
  if (threadIdx.x == 0) grad_kernel[tap] = static_cast<T>(sum);
}

}  // namespace

// ---- conv2d -------------------------------------------------------------------------

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g) {
  const char* op = "conv2d";
  const GeometryText where{g, x.dtype()};
  ConvolutionPlan& plan = plan_for(g, x.dtype(), op);
  const Chosen<cudnnConvolutionFwdAlgo_t>& chosen = forward_algorithm(plan, x, weight, g, op, where);
  Tensor space = workspace(chosen.workspace_bytes);
  check_cudnn(cudnnConvolutionForward(cudnn(), one_of(x.dtype()), plan.input, x.data_ptr(), plan.weight,
                                      weight.data_ptr(), plan.convolution, chosen.algorithm, space.data_ptr(),
                                      chosen.workspace_bytes, zero_of(x.dtype()), plan.output, y.data_ptr()),
              op, where);
  sync_if_debugging(op);
  if (bias.defined()) kernels::add(y, bias.detach().reshape({g.out_channels, 1, 1}), y);  // y += bias per channel
}

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g) {
  const char* op = "conv2d_backward_data";
  const GeometryText where{g, grad_y.dtype()};
  ConvolutionPlan& plan = plan_for(g, grad_y.dtype(), op);
  const Chosen<cudnnConvolutionBwdDataAlgo_t>& chosen = backward_data_algorithm(plan, grad_y, weight, g, op, where);
  Tensor space = workspace(chosen.workspace_bytes);
  check_cudnn(
      cudnnConvolutionBackwardData(cudnn(), one_of(grad_y.dtype()), plan.weight, weight.data_ptr(), plan.output,
                                   grad_y.data_ptr(), plan.convolution, chosen.algorithm, space.data_ptr(),
                                   chosen.workspace_bytes, zero_of(grad_y.dtype()), plan.input, grad_x.data_ptr()),
      op, where);
  sync_if_debugging(op);
}

void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g) {
  const char* op = "conv2d_backward_weights";
  const GeometryText where{g, grad_y.dtype()};
  ConvolutionPlan& plan = plan_for(g, grad_y.dtype(), op);
  const Chosen<cudnnConvolutionBwdFilterAlgo_t>& chosen = backward_filter_algorithm(plan, grad_y, x, g, op, where);
  Tensor space = workspace(chosen.workspace_bytes);
  check_cudnn(cudnnConvolutionBackwardFilter(cudnn(), one_of(grad_y.dtype()), plan.input, x.data_ptr(), plan.output,
                                             grad_y.data_ptr(), plan.convolution, chosen.algorithm, space.data_ptr(),
                                             chosen.workspace_bytes, zero_of(grad_y.dtype()), plan.weight,
                                             grad_weight.data_ptr()),
              op, where);
  sync_if_debugging(op);
  if (grad_bias.defined()) {  // the sum of grad_y over N, H and W per channel
    Tensor per_channel = grad_bias.detach().reshape({g.out_channels, 1, 1});
    kernels::sum_to(grad_y, per_channel);
  }
}

// ---- the shared-channel convolution ---------------------------------------------------

void shared_channel_conv2d_forward(const Tensor& x, const Tensor& kernel, Tensor& y, const SharedChannelGeometry& g) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t n = y.numel();
    launch("shared_channel_conv2d", shared_channel_forward_kernel<T>, grid_for(n), kThreads, 0, x.data<T>(),
           kernel.data<T>(), y.data<T>(), g, n);
  });
}

void shared_channel_conv2d_backward_input(const Tensor& grad_y, const Tensor& kernel, Tensor& grad_x,
                                          const SharedChannelGeometry& g) {
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t n = grad_x.numel();
    launch("shared_channel_conv2d_backward_input", shared_channel_input_gradient_kernel<T>, grid_for(n), kThreads, 0,
           grad_y.data<T>(), kernel.data<T>(), grad_x.data<T>(), g, n);
  });
}

void shared_channel_conv2d_backward_kernel(const Tensor& grad_y, const Tensor& x, Tensor& grad_kernel,
                                           const SharedChannelGeometry& g) {
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    const auto taps = static_cast<unsigned>(g.kernel_size * g.kernel_size);
    launch("shared_channel_conv2d_backward_kernel", shared_channel_kernel_gradient_kernel<T>, taps, kThreads, 0,
           grad_y.data<T>(), x.data<T>(), grad_kernel.data<T>(), g, grad_y.numel());
  });
}

}  // namespace armnet::kernels::cuda
