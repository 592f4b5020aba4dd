// float32 convolution through oneDNN (forward, backward-data,
// backward-weights), NCHW tensors in and out; and bfloat16 (mixed precision)
// on processors with bfloat16 instructions (AVX512-BF16, AMX), where oneDNN
// multiplies bfloat16 values, accumulates in float32 and rounds each output
// once to bfloat16: what the float32 stand-ins compute
// (kernels/float32_stand_ins.h), in another order of additions.
//
// oneDNN runs fastest on its own blocked layouts (e.g. 16 channels innermost),
// so each pass is planned with "any" layouts: the plain NCHW / OIHW buffers
// are reordered into the layouts the primitive asks for, and the result is
// reordered back (as PyTorch does for plain tensors). The reordered copies
// live in armnet tensors, so they come from armnet's allocator. Primitives
// are expensive to create, so one ConvolutionPlan per geometry is cached.
// oneDNN threads itself with OpenMP.
#include "kernels/cpu/conv2d_onednn.h"

#ifdef ARMNET_WITH_ONEDNN

#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

namespace armnet::kernels::onednn {

bool built() { return true; }

bool native_bfloat16() {
  static const bool supported = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16") != 0;
  }();
  return supported;
}

namespace {

using dnnl::memory;
using Layout = memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// The three primitives of one convolution geometry, with the plain layouts of
// its tensors.
struct ConvolutionPlan {
  memory::desc x_plain, weight_plain, bias_plain, y_plain;
  dnnl::convolution_forward::primitive_desc forward;
  dnnl::convolution_backward_data::primitive_desc backward_data;
  dnnl::convolution_backward_weights::primitive_desc backward_weights;
  dnnl::convolution_forward forward_primitive;
  dnnl::convolution_backward_data backward_data_primitive;
  dnnl::convolution_backward_weights backward_weights_primitive;
};

memory::data_type data_type_of(DType dtype) {
  return dtype == DType::BFloat16 ? memory::data_type::bf16 : memory::data_type::f32;
}

std::unique_ptr<ConvolutionPlan> make_plan(const Conv2dGeometry& g, bool has_bias, DType dtype) {
  auto plan = std::make_unique<ConvolutionPlan>();
  const memory::dims x_dims{g.batch, g.in_channels, g.in_h, g.in_w};
  const memory::dims weight_dims{g.out_channels, g.in_channels, g.kernel_h, g.kernel_w};
  const memory::dims bias_dims{g.out_channels};
  const memory::dims y_dims{g.batch, g.out_channels, g.out_h, g.out_w};
  const memory::dims strides{g.stride_h, g.stride_w};
  // Symmetric padding, as PyTorch: oneDNN, like PyTorch, floors the output
  // size, so the input a last partial window would need is simply not read.
  const memory::dims padding{g.pad_h, g.pad_w};
  const memory::dims& padding_right = padding;
  const memory::data_type type = data_type_of(dtype);
  plan->x_plain = memory::desc(x_dims, type, Layout::nchw);
  plan->weight_plain = memory::desc(weight_dims, type, Layout::oihw);
  plan->bias_plain = memory::desc(bias_dims, type, Layout::x);
  plan->y_plain = memory::desc(y_dims, type, Layout::nchw);
  const memory::desc x_any(x_dims, type, Layout::any), weight_any(weight_dims, type, Layout::any),
      y_any(y_dims, type, Layout::any);
  const auto algorithm = dnnl::algorithm::convolution_direct;
  dnnl::engine& engine = cpu_engine();

  const auto forward_desc =
      has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, x_any, weight_any,
                                                 plan->bias_plain, y_any, strides, padding, padding_right)
               : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, x_any, weight_any,
                                                 y_any, strides, padding, padding_right);
  plan->forward = dnnl::convolution_forward::primitive_desc(forward_desc, engine);
  plan->backward_data = dnnl::convolution_backward_data::primitive_desc(
      dnnl::convolution_backward_data::desc(algorithm, x_any, weight_any, y_any, strides, padding, padding_right),
      engine, plan->forward);
  const auto weights_desc =
      has_bias ? dnnl::convolution_backward_weights::desc(algorithm, x_any, weight_any, plan->bias_plain, y_any,
                                                          strides, padding, padding_right)
               : dnnl::convolution_backward_weights::desc(algorithm, x_any, weight_any, y_any, strides, padding,
                                                          padding_right);
  plan->backward_weights = dnnl::convolution_backward_weights::primitive_desc(weights_desc, engine, plan->forward);
  plan->forward_primitive = dnnl::convolution_forward(plan->forward);
  plan->backward_data_primitive = dnnl::convolution_backward_data(plan->backward_data);
  plan->backward_weights_primitive = dnnl::convolution_backward_weights(plan->backward_weights);
  return plan;
}

const ConvolutionPlan& plan_for(const Conv2dGeometry& g, bool has_bias, DType dtype) {
  static std::mutex mutex;
  static std::map<std::vector<std::int64_t>, std::unique_ptr<ConvolutionPlan>> plans;
  const std::vector<std::int64_t> key{g.batch,    g.in_channels, g.in_h,     g.in_w,  g.out_channels,
                                      g.kernel_h, g.kernel_w,    g.stride_h, g.stride_w, g.pad_h,
                                      g.pad_w,    has_bias ? 1 : 0, static_cast<std::int64_t>(dtype)};
  std::lock_guard<std::mutex> lock(mutex);
  auto& plan = plans[key];
  if (!plan) plan = make_plan(g, has_bias, dtype);
  return *plan;
}

// A oneDNN memory in `layout` over bytes from armnet's allocator, which keeps
// large freed blocks for reuse (tensor/device.cpp) where oneDNN's own
// allocation would page-fault a fresh block on every call; `holder` owns them.
memory new_memory(const memory::desc& layout, Tensor& holder) {
  holder = Tensor::empty({static_cast<std::int64_t>(layout.get_size())}, DType::UInt8);
  return memory(layout, cpu_engine(), holder.data_ptr());
}

// `plain` in the layout `wanted`: itself when the layouts agree, else a
// reordered copy (whose bytes `holder` owns).
memory in_layout(const memory& plain, const memory::desc& wanted, dnnl::stream& stream, Tensor& holder) {
  if (plain.get_desc() == wanted) return plain;
  memory converted = new_memory(wanted, holder);
  dnnl::reorder(plain, converted).execute(stream, const_cast<memory&>(plain), converted);
  return converted;
}

// A buffer in the layout `produced` whose result ends up in `plain`: `plain`
// itself when the layouts agree; copy_back() reorders otherwise.
struct OutputBuffer {
  Tensor holder;  // the bytes of `produced` when it is not `plain`
  memory plain, produced;
  OutputBuffer(const memory& plain_memory, const memory::desc& layout)
      : plain(plain_memory), produced(layout == plain_memory.get_desc() ? plain_memory : new_memory(layout, holder)) {}
  void copy_back(dnnl::stream& stream) {
    if (produced.get_data_handle() != plain.get_data_handle()) dnnl::reorder(produced, plain).execute(stream, produced, plain);
  }
};

// A plain tensor (float32, or bfloat16 with a bfloat16 plan) as a oneDNN memory.
memory wrap(const memory::desc& layout, const Tensor& tensor) {
  return memory(layout, cpu_engine(), tensor.data_ptr());
}

// oneDNN reports failures as dnnl::error; armnet's are armnet::Error.
template <class Body>
void run(const char* pass, const Conv2dGeometry& g, Body&& body) {
  try {
    body();
  } catch (const dnnl::error& error) {
    throw Error(str_cat("conv2d ", pass, " (oneDNN) for input [", g.batch, ", ", g.in_channels, ", ", g.in_h, ", ",
                        g.in_w, "], weight [", g.out_channels, ", ", g.in_channels, ", ", g.kernel_h, ", ",
                        g.kernel_w, "]: ", error.what()));
  }
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g) {
  run("forward", g, [&] {
    const ConvolutionPlan& plan = plan_for(g, bias.defined(), x.dtype());
    dnnl::stream stream(cpu_engine());
    Tensor x_holder, weight_holder;
    memory x_in = in_layout(wrap(plan.x_plain, x), plan.forward.src_desc(), stream, x_holder);
    memory weight_in = in_layout(wrap(plan.weight_plain, weight), plan.forward.weights_desc(), stream, weight_holder);
    OutputBuffer y_out(wrap(plan.y_plain, y), plan.forward.dst_desc());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, x_in}, {DNNL_ARG_WEIGHTS, weight_in}, {DNNL_ARG_DST, y_out.produced}};
    if (bias.defined()) args.emplace(DNNL_ARG_BIAS, wrap(plan.bias_plain, bias));
    plan.forward_primitive.execute(stream, args);
    y_out.copy_back(stream);
    stream.wait();
  });
}

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g) {
  run("backward-data", g, [&] {
    const ConvolutionPlan& plan = plan_for(g, false, grad_y.dtype());
    dnnl::stream stream(cpu_engine());
    Tensor grad_y_holder, weight_holder;
    memory grad_y_in = in_layout(wrap(plan.y_plain, grad_y), plan.backward_data.diff_dst_desc(), stream, grad_y_holder);
    memory weight_in =
        in_layout(wrap(plan.weight_plain, weight), plan.backward_data.weights_desc(), stream, weight_holder);
    OutputBuffer grad_x_out(wrap(plan.x_plain, grad_x), plan.backward_data.diff_src_desc());
    plan.backward_data_primitive.execute(
        stream, {{DNNL_ARG_DIFF_DST, grad_y_in}, {DNNL_ARG_WEIGHTS, weight_in}, {DNNL_ARG_DIFF_SRC, grad_x_out.produced}});
    grad_x_out.copy_back(stream);
    stream.wait();
  });
}

void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g) {
  run("backward-weights", g, [&] {
    const ConvolutionPlan& plan = plan_for(g, grad_bias.defined(), grad_y.dtype());
    dnnl::stream stream(cpu_engine());
    Tensor grad_y_holder, x_holder;
    memory grad_y_in =
        in_layout(wrap(plan.y_plain, grad_y), plan.backward_weights.diff_dst_desc(), stream, grad_y_holder);
    memory x_in = in_layout(wrap(plan.x_plain, x), plan.backward_weights.src_desc(), stream, x_holder);
    OutputBuffer grad_weight_out(wrap(plan.weight_plain, grad_weight), plan.backward_weights.diff_weights_desc());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_DIFF_DST, grad_y_in}, {DNNL_ARG_SRC, x_in}, {DNNL_ARG_DIFF_WEIGHTS, grad_weight_out.produced}};
    if (grad_bias.defined()) args.emplace(DNNL_ARG_DIFF_BIAS, wrap(plan.bias_plain, grad_bias));
    plan.backward_weights_primitive.execute(stream, args);
    grad_weight_out.copy_back(stream);
    stream.wait();
  });
}

}  // namespace armnet::kernels::onednn

#else  // built without oneDNN

namespace armnet::kernels::onednn {

bool built() { return false; }
bool native_bfloat16() { return false; }

static void not_built() { throw Error("conv2d: this build has no oneDNN (install libdnnl-dev and reconfigure)"); }
void conv2d_forward(const Tensor&, const Tensor&, const Tensor&, Tensor&, const Conv2dGeometry&) { not_built(); }
void conv2d_backward_data(const Tensor&, const Tensor&, Tensor&, const Conv2dGeometry&) { not_built(); }
void conv2d_backward_weights(const Tensor&, const Tensor&, Tensor&, Tensor&, const Conv2dGeometry&) { not_built(); }

}  // namespace armnet::kernels::onednn

#endif
