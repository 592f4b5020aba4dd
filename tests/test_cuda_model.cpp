// The whole model on CUDA: PyTorch's parity fixtures passed on the GPU (as
// tests/test_parity.cpp passes them on the CPU), CPU against CUDA element by
// element for both models in both modes, the caching allocator in a training
// loop, checkpoints across devices, pinned copies, and bad input on the GPU.
// Without a usable GPU the program exits 77: ctest reports it as skipped.
#define BOOST_TEST_MODULE cuda_model
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cstring>

#include "apps/checkpoint.h"
#include "autograd/functional.h"
#include "layers/optimizer.h"
#include "tensor/device.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"
#include "tests/parity_fixtures.h"

using namespace armnet;
using namespace armnet::testing;

using armnet::testing::RequireGpu;
BOOST_TEST_GLOBAL_FIXTURE(RequireGpu);

namespace {

// Every tensor of a CUDA pass against the same pass on the CPU, element by
// element: `bound(cuda, cpu, name)` gives each tensor's bound.
template <class Bound>
void expect_same_pass(const PassResult& cuda, const PassResult& cpu, Bound bound) {
  expect_elements_within(cuda.logits, cpu.logits, bound(cuda.logits, cpu.logits, "logits"), "logits");
  expect_elements_within(cuda.loss, cpu.loss, bound(cuda.loss, cpu.loss, "loss"), "loss");
  BOOST_TEST_REQUIRE(cuda.gradients.size() == cpu.gradients.size());
  for (std::size_t i = 0; i < cpu.gradients.size(); ++i) {
    const std::string what = "grad " + cpu.gradients[i].first;
    expect_elements_within(cuda.gradients[i].second, cpu.gradients[i].second,
                           bound(cuda.gradients[i].second, cpu.gradients[i].second, what), what);
  }
  BOOST_TEST_REQUIRE(cuda.buffers.size() == cpu.buffers.size());
  for (std::size_t i = 0; i < cpu.buffers.size(); ++i) {
    const Tensor& expected = cpu.buffers[i].second;
    if (expected.dtype() == DType::Int64) {
      BOOST_TEST(cuda.buffers[i].second.item() == expected.item(), cpu.buffers[i].first);
      continue;
    }
    expect_elements_within(cuda.buffers[i].second, expected, bound(cuda.buffers[i].second, expected, "buffer"),
                           cpu.buffers[i].first);
  }
}

int calibration_passes_of(const FixtureSpec& spec) {
  return static_cast<int>(fixture_tensor(read_fixture(spec.name()), "calibration_passes").item());
}

}  // namespace

BOOST_DATA_TEST_CASE(fixtures_pass_on_cuda, boost::unit_test::data::make(kFixtures), spec) {
  const std::map<std::string, Tensor> fixture = read_fixture(spec.name());
  const int calibration_passes = static_cast<int>(fixture_tensor(fixture, "calibration_passes").item());
  const PassResult result64 = run_pass(spec, calibration_passes, DType::Float64, Device::CUDA);
  const PassResult result32 = run_pass(spec, calibration_passes, DType::Float32, Device::CUDA);
  BOOST_TEST((result64.logits.device() == Device::CUDA));
  BOOST_TEST_MESSAGE(spec.name() << " on cuda: float64 " << result64.seconds << " s, float32 " << result32.seconds
                                 << " s");
  compare_float64(fixture, result64, calibration_passes, spec.eval);
  compare_float32(fixture, result32, result64);
}

BOOST_AUTO_TEST_CASE(cuda_and_cpu_agree_element_by_element_in_float64) {
  for (const FixtureSpec& spec : kFixtures) {
    if (spec.image_size != 112 || spec.batch != 2) continue;  // both models, both modes
    BOOST_TEST_CONTEXT(spec.name()) {
      const int passes = calibration_passes_of(spec);
      const PassResult cpu = run_pass(spec, passes, DType::Float64, Device::CPU);
      const PassResult cuda = run_pass(spec, passes, DType::Float64, Device::CUDA);
      expect_same_pass(cuda, cpu, [](const Tensor&, const Tensor&, const std::string&) { return 1e-10; });
    }
  }
}

BOOST_AUTO_TEST_CASE(cuda_float32_is_as_close_to_float64_as_the_cpu_float32) {
  for (const FixtureSpec& spec : kFixtures) {
    if (spec.image_size != 224 || spec.batch != 2) continue;
    BOOST_TEST_CONTEXT(spec.name()) {
      const int passes = calibration_passes_of(spec);
      const PassResult cpu64 = run_pass(spec, passes, DType::Float64, Device::CPU);
      const PassResult cpu32 = run_pass(spec, passes, DType::Float32, Device::CPU);
      const PassResult cuda32 = run_pass(spec, passes, DType::Float32, Device::CUDA);
      // Each tensor's bound: from the CPU's own float32 error on that tensor.
      std::map<std::string, double> bounds;
      bounds["logits"] = float32_bound(cpu32.logits, cpu64.logits);
      bounds["loss"] = float32_bound(cpu32.loss, cpu64.loss);
      for (std::size_t i = 0; i < cpu64.gradients.size(); ++i)
        bounds["grad " + cpu64.gradients[i].first] =
            float32_bound(cpu32.gradients[i].second, cpu64.gradients[i].second);
      expect_same_pass(cuda32, cpu64, [&](const Tensor& cuda, const Tensor& cpu, const std::string& what) {
        const auto found = bounds.find(what);
        return found != bounds.end() ? found->second : float32_bound(cuda, cpu);
      });
    }
  }
}

BOOST_AUTO_TEST_CASE(a_training_step_in_steady_state_allocates_nothing) {
  ModelOptions options;
  options.image_size = 112;
  std::shared_ptr<Classifier> model = make_model(options);
  model->to(Device::CUDA);
  Optimizer optimizer(model->named_parameters(), default_optimizer_options("adam"));
  const Tensor images = random_tensor({8, 3, 112, 112}, 5).to(DType::Float32).to(Device::CUDA);
  const Tensor labels = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 0}, {8}, DType::Int64).to(Device::CUDA);
  std::vector<std::int64_t> raw_allocations;
  for (int step = 0; step < 4; ++step) {
    const Tensor loss = cross_entropy(model->forward(images), labels);
    loss.backward();
    optimizer.step();
    optimizer.zero_grad();
    BOOST_TEST(std::isfinite(loss.item()));
    raw_allocations.push_back(memory_stats(Device::CUDA).raw_allocations);
  }
  const MemoryStats stats = memory_stats(Device::CUDA);
  BOOST_TEST_MESSAGE("cudaMalloc calls after steps 1-4: " << raw_allocations[0] << ", " << raw_allocations[1] << ", "
                                                         << raw_allocations[2] << ", " << raw_allocations[3]
                                                         << "; peak in use " << (stats.peak_in_use >> 20)
                                                         << " MiB, cached " << (stats.cached >> 20) << " MiB");
  if (std::getenv("ARMNET_CUDA_ALLOC") == nullptr) {
    BOOST_TEST(raw_allocations[2] == raw_allocations[1]);
    BOOST_TEST(raw_allocations[3] == raw_allocations[1]);
  }
}

BOOST_AUTO_TEST_CASE(checkpoints_move_between_devices) {
  ModelOptions options;
  options.image_size = 64;
  options.architecture = "resnet18";
  std::shared_ptr<Classifier> on_gpu = make_model(options);
  on_gpu->to(Device::CUDA);
  on_gpu->eval();
  Optimizer optimizer(on_gpu->named_parameters(), default_optimizer_options("adam"));
  apps::TrainingState state;
  state.options.model = "resnet18";
  state.options.image_size = 64;
  state.options.epochs = 1;
  TemporaryDirectory directory;
  const std::string path = directory.file("gpu.safetensors");
  apps::write_checkpoint(path, *on_gpu, optimizer, state);
  std::shared_ptr<Classifier> on_cpu = apps::model_from_checkpoint(apps::read_checkpoint(path));
  on_cpu->eval();
  const Tensor images = random_tensor({2, 3, 64, 64}, 9).to(DType::Float32);
  autograd::NoGradGuard no_grad;
  const Tensor cpu_logits = on_cpu->forward(images);
  const Tensor gpu_logits = on_gpu->forward(images.to(Device::CUDA));
  expect_elements_within(gpu_logits, cpu_logits, 1e-4, "logits");  // float32 on two devices
  // And back: the CPU model moved to the GPU gives the GPU's logits.
  on_cpu->to(Device::CUDA);
  expect_elements_within(on_cpu->forward(images.to(Device::CUDA)), gpu_logits, 0.0, "logits after the move");
}

BOOST_AUTO_TEST_CASE(pinned_batches_stay_alive_until_their_copy_is_done) {
  const Shape shape = {64, 3, 112, 112};
  Tensor device_copy_of_first;
  {
    Tensor pinned = Tensor::empty_pinned(shape);
    for (std::int64_t i = 0; i < pinned.numel(); ++i) pinned.data<float>()[i] = static_cast<float>(i % 1000);
    device_copy_of_first = pinned.to(Device::CUDA);
  }  // the host tensor is gone; the copy may still be in flight
  // The loader's next batch of the same size: recycled pinned memory, overwritten at once.
  Tensor next = Tensor::empty_pinned(shape);
  std::memset(next.data_ptr(), 0xFF, next.nbytes());
  const std::vector<double> values = device_copy_of_first.to_vector();
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(values.size()); i += 9973)
    BOOST_TEST(values[static_cast<std::size_t>(i)] == static_cast<double>(i % 1000));
}

BOOST_AUTO_TEST_CASE(bad_input_on_the_gpu_is_a_clear_error_and_the_process_goes_on) {
  // More memory than the GPU has.
  BOOST_TEST(throws_error_containing([] { Tensor::empty({std::int64_t{1} << 40}, DType::Float32, Device::CUDA); },
                                     {"out of memory", "on cuda", "MiB free"}));
  const Tensor fine = Tensor::zeros({1024}, DType::Float32, Device::CUDA);
  BOOST_TEST(fine.to_vector()[1023] == 0.0);
  // A CPU batch given to a model on the GPU.
  ModelOptions options;
  options.architecture = "resnet18";
  options.image_size = 32;
  std::shared_ptr<Classifier> model = make_model(options);
  model->to(Device::CUDA);
  const std::string message = error_message([&] { model->forward(Tensor::zeros({1, 3, 32, 32})); });
  BOOST_TEST(!message.empty());
  BOOST_TEST(message.find("cuda") != std::string::npos, message);
  BOOST_TEST(message.find("cpu") != std::string::npos, message);
  // An impossible shape.
  BOOST_TEST(!error_message([&] { model->forward(Tensor::zeros({1, 3, 32, 33}, DType::Float32, Device::CUDA)); })
                  .empty());
  // Still usable.
  autograd::NoGradGuard no_grad;
  BOOST_TEST(model->forward(Tensor::zeros({1, 3, 32, 32}, DType::Float32, Device::CUDA)).size(1) == 7);
}
