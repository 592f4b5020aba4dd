// Mixed precision on CUDA against the CPU's emulation of the same policy
// (the same casts, in the same places): the 16-bit forward, one scaled
// backward and SGD step, the unscale pass and the fused O2 working copies,
// and the caching allocator under --amp. Without a usable GPU the program
// exits 77: ctest reports it as skipped.
//
// The bounds: both devices round every op's output to 16 bits, but cuDNN
// and the CPU add a convolution's products in different orders, so a value
// may round one way here and the other way there (one unit in the last
// place: 2^-11 relative in float16, 2^-8 in bfloat16), and such differences
// travel through the network. After ~20 layers the logits agree to
// 2e-2 (float16) and 1e-1 (bfloat16) of their size, the bounds of the CPU's
// own 16-bit forward against float32 (tests/test_mixed_precision.cpp); one
// SGD step's weight changes (the gradients) to twice that. The pieces with a
// single rounding (the unscale, the working copies) agree bit for bit.
#define BOOST_TEST_MODULE cuda_mixed_precision
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "autograd/functional.h"
#include "kernels/finite.h"
#include "kernels/optimizer.h"
#include "layers/mixed_precision.h"
#include "layers/resnet_arm.h"
#include "tensor/device.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

using armnet::testing::RequireGpu;
BOOST_TEST_GLOBAL_FIXTURE(RequireGpu);

namespace {

struct StepResult {
  Tensor logits;                          // float32, on the CPU
  std::vector<Tensor> weight_changes;     // float32, on the CPU
};

// One forward (logits kept), scaled backward and plain SGD step (lr 0.1, no
// momentum, no decay) of the ARM model under (level, dtype) on `device`, at
// a fixed scale of 1024 (so that neither device skips).
StepResult one_step(Device device, AmpLevel level, DType dtype) {
  ModelOptions options;
  options.image_size = 64;
  options.seed = 4;
  std::shared_ptr<Classifier> model = make_model(options);
  model->to(device);
  OptimizerOptions sgd = default_optimizer_options("sgd");
  sgd.lr = 0.1;
  sgd.momentum = 0.0;
  sgd.weight_decay = 0.0;
  Optimizer optimizer(model->named_parameters(), sgd);
  MixedPrecision amp(level, dtype);
  if (amp.scaler().dynamic) {
    LossScalerState fixed = amp.scaler();
    fixed.scale = 1024.0;
    amp.set_scaler(fixed);
  }
  std::vector<Tensor> before;
  for (const auto& [name, parameter] : model->named_parameters())
    before.push_back(parameter.detach().to(Device::CPU).clone());  // a copy, on the CPU too
  const Tensor images = random_tensor({6, 3, 64, 64}, 8).to(DType::Float32).to(device);
  const Tensor labels = Tensor::from_vector({0, 1, 2, 3, 4, 5}, {6}, DType::Int64).to(device);
  StepResult result;
  Tensor loss;
  {
    AutocastScope scope(amp.autocast());
    const Tensor logits = autocast::to_float32(model->forward(images));
    result.logits = logits.detach().to(Device::CPU);
    loss = cross_entropy(logits, labels);
  }
  amp.backward(loss);
  BOOST_TEST_REQUIRE(amp.step(optimizer));
  std::size_t i = 0;
  for (const auto& [name, parameter] : model->named_parameters()) {
    const std::vector<double> after = parameter.to(Device::CPU).to_vector(), start = before[i++].to_vector();
    std::vector<double> change(after.size());
    for (std::size_t k = 0; k < after.size(); ++k) change[k] = after[k] - start[k];
    result.weight_changes.push_back(Tensor::from_vector(change, parameter.shape()));
  }
  return result;
}

}  // namespace

BOOST_AUTO_TEST_CASE(forward_and_step_follow_the_cpu_emulation) {
  for (AmpLevel level : {AmpLevel::O1, AmpLevel::O2}) {
    for (DType dtype : {DType::Float16, DType::BFloat16}) {
      const std::string what = str_cat(amp_level_name(level), " ", dtype_name(dtype));
      const double bound = dtype == DType::Float16 ? 2e-2 : 1e-1;
      const StepResult cuda = one_step(Device::CUDA, level, dtype);
      const StepResult cpu = one_step(Device::CPU, level, dtype);
      expect_elements_within(cuda.logits, cpu.logits, bound, what + " logits");
      BOOST_TEST_REQUIRE(cuda.weight_changes.size() == cpu.weight_changes.size());
      for (std::size_t i = 0; i < cpu.weight_changes.size(); ++i)
        expect_elements_within(cuda.weight_changes[i], cpu.weight_changes[i], 2 * bound,
                               str_cat(what, " weight change ", i));
    }
  }
}

BOOST_AUTO_TEST_CASE(unscale_and_working_copies_agree_bit_for_bit) {
  const Tensor values = random_tensor({4099}, 3).to(DType::Float32);
  for (DType dtype : {DType::Float16, DType::BFloat16}) {
    const Tensor gradient = values.to(dtype);
    Tensor cpu_out = Tensor::empty({4099}), cuda_out = Tensor::empty({4099}, DType::Float32, Device::CUDA);
    BOOST_TEST(kernels::unscale_all({gradient}, {cpu_out}, 1.0 / 256.0));
    BOOST_TEST(kernels::unscale_all({gradient.to(Device::CUDA)}, {cuda_out}, 1.0 / 256.0));
    BOOST_TEST(std::memcmp(cpu_out.data_ptr(), cuda_out.to(Device::CPU).data_ptr(), cpu_out.nbytes()) == 0,
               dtype_name(dtype) << " unscaled");
    Tensor with_inf = gradient.to(Device::CPU).clone();
    static_cast<std::uint16_t*>(with_inf.data_ptr())[4000] = dtype == DType::Float16 ? 0x7c00 : 0x7f80;
    BOOST_TEST(!kernels::unscale_all({with_inf.to(Device::CUDA)}, {cuda_out}, 1.0));

    // Adam with a working copy: the masters and the copies bit for bit.
    auto update = [&](Device device) {
      Tensor master = values.to(device).clone(), grad = values.to(device).clone();
      Tensor m = Tensor::zeros({4099}, DType::Float32, device), v = Tensor::zeros({4099}, DType::Float32, device);
      Tensor copy = Tensor::zeros({4099}, dtype, device);
      kernels::adam_update_all({{master, grad, m, v, 3, copy}}, kernels::AdamHyper{1e-2, 0.9, 0.999, 1e-8, 1e-4});
      return std::pair{master.to(Device::CPU), copy.to(Device::CPU)};
    };
    const auto [cpu_master, cpu_copy] = update(Device::CPU);
    const auto [cuda_master, cuda_copy] = update(Device::CUDA);
    BOOST_TEST(std::memcmp(cpu_master.data_ptr(), cuda_master.data_ptr(), cpu_master.nbytes()) == 0);
    BOOST_TEST(std::memcmp(cpu_copy.data_ptr(), cuda_copy.data_ptr(), cpu_copy.nbytes()) == 0,
               dtype_name(dtype) << " working copy");
  }
}

BOOST_AUTO_TEST_CASE(an_amp_step_in_steady_state_allocates_nothing) {
  ModelOptions options;
  options.image_size = 112;
  std::shared_ptr<Classifier> model = make_model(options);
  model->to(Device::CUDA);
  Optimizer optimizer(model->named_parameters(), default_optimizer_options("adam"));
  MixedPrecision amp(AmpLevel::O2, DType::Float16);
  const Tensor images = random_tensor({8, 3, 112, 112}, 5).to(DType::Float32).to(Device::CUDA);
  const Tensor labels = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 0}, {8}, DType::Int64).to(Device::CUDA);
  std::vector<std::int64_t> raw_allocations;
  for (int step = 0; step < 5; ++step) {
    BOOST_TEST(std::isfinite(amp.train_step(*model, optimizer, images, labels).loss_value));
    raw_allocations.push_back(memory_stats(Device::CUDA).raw_allocations);
  }
  BOOST_TEST_MESSAGE("cudaMalloc calls after steps 1-5: " << raw_allocations[0] << " .. " << raw_allocations[4]
                                                         << "; peak in use "
                                                         << (memory_stats(Device::CUDA).peak_in_use >> 20) << " MiB");
  if (std::getenv("ARMNET_CUDA_ALLOC") == nullptr) BOOST_TEST(raw_allocations[4] == raw_allocations[2]);
}
