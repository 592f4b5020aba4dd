#include "autograd/autocast.h"

#include "kernels/float32_stand_ins.h"  // is_16bit

namespace armnet {

Autocast::Autocast(AmpLevel level, DType dtype) : level_(level), dtype_(dtype) {
  check(level == AmpLevel::O1 || level == AmpLevel::O2, "Autocast: the level must be O1 or O2");
  check(kernels::is_16bit(dtype), "Autocast: ", dtype_name(dtype), " is not float16 or bfloat16");
}

Tensor Autocast::weight(const Tensor& weight) {
  if (!weight.defined() || weight.dtype() != DType::Float32) return weight;
  const TensorImpl* key = weight.impl_ptr().get();
  const auto found = weights_.find(key);
  if (found != weights_.end() && found->second.device() == weight.device()) return found->second;
  Tensor low;
  if (level_ == AmpLevel::O1) {
    low = weight.to(dtype_);  // recorded: the gradient flows back to the float32 weight
  } else {
    low = weight.detach().to(dtype_);  // a leaf of its own
    low.requires_grad_(weight.requires_grad());
  }
  weights_[key] = low;
  return low;
}

Tensor Autocast::working_copy(const Tensor& parameter) const {
  if (level_ != AmpLevel::O2) return Tensor();
  const auto found = weights_.find(parameter.impl_ptr().get());
  return found == weights_.end() ? Tensor() : found->second;
}

void Autocast::zero_grad() {
  for (auto& [key, copy] : weights_) copy.zero_grad();
}

void Autocast::end_forward() {
  if (level_ == AmpLevel::O1) weights_.clear();
}

static thread_local Autocast* current_autocast = nullptr;

AutocastScope::AutocastScope(Autocast& autocast) : previous_(current_autocast), autocast_(autocast) {
  current_autocast = &autocast;
}

AutocastScope::~AutocastScope() {
  autocast_.end_forward();
  current_autocast = previous_;
}

namespace autocast {

Autocast* current() { return current_autocast; }

Tensor to_low_precision(const Tensor& x) {
  if (current_autocast == nullptr || !x.defined() || x.dtype() != DType::Float32) return x;
  return x.to(current_autocast->dtype());
}

Tensor weight(const Tensor& weight) { return current_autocast == nullptr ? weight : current_autocast->weight(weight); }

Tensor to_float32(const Tensor& x) {
  if (current_autocast == nullptr || !kernels::is_16bit(x)) return x;
  return x.to(DType::Float32);
}

// float64 > float32 > the 16-bit types.
static int width(DType dtype) {
  if (dtype == DType::Float64) return 3;
  return dtype == DType::Float32 ? 2 : 1;
}

void promote(Tensor& a, Tensor& b) {
  if (current_autocast == nullptr || a.dtype() == b.dtype() || !is_floating(a.dtype()) || !is_floating(b.dtype()))
    return;
  if (width(a.dtype()) < width(b.dtype()))
    a = a.to(b.dtype());
  else
    b = b.to(a.dtype());
}

}  // namespace autocast

AmpLevel parse_amp_level(const std::string& text) {
  if (text == "off") return AmpLevel::Off;
  if (text == "O1") return AmpLevel::O1;
  if (text == "O2") return AmpLevel::O2;
  throw Error(str_cat("--amp \"", text, "\": expected off, O1 or O2"));
}

DType parse_amp_dtype(const std::string& text) {
  if (text == "fp16") return DType::Float16;
  if (text == "bf16") return DType::BFloat16;
  throw Error(str_cat("--amp_dtype \"", text, "\": expected fp16 or bf16"));
}

const char* amp_level_name(AmpLevel level) {
  switch (level) {
    case AmpLevel::O1: return "O1";
    case AmpLevel::O2: return "O2";
    default: return "off";
  }
}

const char* amp_dtype_name(DType dtype) { return dtype == DType::BFloat16 ? "bf16" : "fp16"; }

}  // namespace armnet
