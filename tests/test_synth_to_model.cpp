// Issue 4's end to end: `armnet synth` data, read by the RAF-DB reader and fed
// by the threaded loader (training augmentation on), trains the ARM model: one
// forward and backward per batch with finite loss and gradients in every
// parameter, in CI, without the licensed data set.
#define BOOST_TEST_MODULE synth_to_model
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "autograd/functional.h"
#include "data/loader.h"
#include "data/raf_db.h"
#include "data/synth.h"
#include "layers/resnet_arm.h"
#include "tests/gradcheck.h"

using namespace armnet;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_CASE(synthetic_raf_db_feeds_the_arm_model) {
  const fs::path root = fs::temp_directory_path() / ("armnet_synth_to_model_" + std::to_string(::getpid()));
  SynthOptions synth;
  synth.out_dir = root.string();
  synth.train = 40;
  synth.test = 10;
  synth.seed = 5;
  write_synthetic_raf_db(synth);

  const Dataset dataset = read_raf_db(root.string());
  BOOST_TEST(dataset.train.size() == 40u);
  BOOST_TEST(dataset.test.size() == 10u);

  LoaderOptions options;
  options.batch_size = 16;
  options.image_size = 96;  // ResNet map 3x3 -> shuffled 48x48 -> de-albino 3x3: 9 ARM features
  options.augment = true;
  options.workers = 2;
  options.seed = 1;
  Loader loader(dataset.train, options);

  ModelOptions model_options;
  model_options.image_size = options.image_size;
  auto model = make_model(model_options);
  BOOST_TEST(arm_feature_count(options.image_size) == 9);
  model->train();
  loader.start_epoch(0);
  Batch batch;
  std::int64_t images_seen = 0;
  while (loader.next(batch)) {
    BOOST_TEST((batch.images.shape() == Shape{batch.labels.numel(), 3, 96, 96}));
    for (Tensor parameter : model->parameters()) parameter.zero_grad();
    Tensor loss = cross_entropy(model->forward(batch.images), batch.labels);
    BOOST_TEST(std::isfinite(loss.item()));
    BOOST_TEST(loss.item() > 0.0);
    loss.backward();
    for (const auto& [name, parameter] : model->named_parameters()) {
      BOOST_TEST_REQUIRE(parameter.grad().defined(), name << " got no gradient");
      double norm = 0.0;
      for (double value : parameter.grad().to_vector()) norm += value * value;
      BOOST_TEST(std::isfinite(norm), name << " has a non-finite gradient");
    }
    images_seen += batch.labels.numel();
  }
  BOOST_TEST(images_seen == 40);  // 16 + 16 + the kept partial batch of 8
  fs::remove_all(root);
}
