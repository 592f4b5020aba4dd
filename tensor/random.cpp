#include "tensor/random.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace armnet {

double Generator::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Generator::uniform(double low, double high) { return low + (high - low) * uniform(); }

double Generator::normal(double mean, double stddev) {
  if (has_spare_) {
    has_spare_ = false;
    return mean + stddev * spare_;
  }
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * M_PI * u2;
  spare_ = radius * std::sin(angle);
  has_spare_ = true;
  return mean + stddev * radius * std::cos(angle);
}

std::int64_t Generator::integer(std::int64_t n) {
  check(n > 0, "Generator::integer(", n, "): n must be positive");
  // Rejection sampling removes the modulo bias.
  const std::uint64_t range = static_cast<std::uint64_t>(n);
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  std::uint64_t bits = engine_();
  while (bits >= limit) bits = engine_();
  return static_cast<std::int64_t>(bits % range);
}

std::string Generator::state() const {
  std::ostringstream out;
  out << engine_ << ' ' << (has_spare_ ? 1 : 0) << ' ' << std::hexfloat << spare_;
  return out.str();
}

void Generator::set_state(const std::string& text) {
  std::istringstream in(text);
  std::mt19937_64 engine;
  int has_spare = 0;
  std::string spare_text;
  in >> engine >> has_spare >> spare_text;
  // The spare must be one whole finite number (hexfloat: exact) and nothing may follow it.
  char* spare_end = nullptr;
  const double spare = spare_text.empty() ? 0.0 : std::strtod(spare_text.c_str(), &spare_end);
  const bool parsed = !in.fail();
  if (parsed && !in.eof()) in >> std::ws;  // trailing whitespace only
  check(parsed && in.eof() && (has_spare == 0 || has_spare == 1) && !spare_text.empty() &&
            spare_end == spare_text.c_str() + spare_text.size() && std::isfinite(spare),
        "malformed random generator state (", text.size(), " characters)");
  engine_ = engine;
  has_spare_ = has_spare == 1;
  spare_ = spare;
}

// Draws one value per element, in order, straight into the tensor (float32
// values are the float64 draws rounded once).
template <class Sample>
static void fill_with(Tensor& tensor, const char* op, Sample sample) {
  check(tensor.device() == Device::CPU, op, ": ", tensor.describe(), " is not on the cpu");
  check_floating(op, tensor);
  const std::int64_t n = tensor.numel();
  if (tensor.dtype() == DType::Float32) {
    float* values = tensor.data<float>();
    for (std::int64_t i = 0; i < n; ++i) values[i] = static_cast<float>(sample());
  } else {
    double* values = tensor.data<double>();
    for (std::int64_t i = 0; i < n; ++i) values[i] = sample();
  }
}

void fill_uniform(Tensor& tensor, double low, double high, Generator& generator) {
  fill_with(tensor, "fill_uniform", [&] { return generator.uniform(low, high); });
}

void fill_normal(Tensor& tensor, double mean, double stddev, Generator& generator) {
  fill_with(tensor, "fill_normal", [&] { return generator.normal(mean, stddev); });
}

Tensor randn(const Shape& shape, Generator& generator, DType dtype) {
  Tensor tensor = Tensor::empty(shape, dtype);
  fill_normal(tensor, 0.0, 1.0, generator);
  return tensor;
}

Tensor rand_uniform(const Shape& shape, double low, double high, Generator& generator, DType dtype) {
  Tensor tensor = Tensor::empty(shape, dtype);
  fill_uniform(tensor, low, high, generator);
  return tensor;
}

}  // namespace armnet
