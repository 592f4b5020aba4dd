// ResNet-18 with the Amend Representation Module (ARM), and the baseline
// ResNet-18, exactly as ../shared/ARM-SPEC.md section 1 (the reference's
// state-dict names, initialisation and semantics). docs/model.md explains the
// shapes.
#pragma once

#include <memory>
#include <string>

#include "layers/module.h"
#include "tensor/random.h"

namespace armnet {

struct ModelOptions {
  std::string architecture = "arm";  // "arm" (ResNet18_ARM) or "resnet18" (baseline)
  int num_classes = 7;
  int image_size = 224;  // square input; the ARM's fc width follows it (224 -> 121, 112 -> 25)
  double drop_rate = 0.0;
  // Off (the reference): in evaluation the ARM's batch-global mean is taken
  // over the current batch. On: over a running average kept in training
  // (buffer "arm.global_running_mean"), so one image alone gets the same
  // prediction as in any batch.
  bool batch_independent_eval = false;
  std::uint64_t seed = 0;  // initialisation (torchvision's scheme, see ARM-SPEC)
};

// The classifier: forward(images [N, 3, S, S]) -> logits [N, num_classes].
// For "arm", alpha() is the learnable affinity weight (shape [1]).
class Classifier : public Module {
 public:
  virtual Tensor alpha() const { return Tensor(); }
  // The generator of the dropout masks (checkpoints save its state so that a
  // resumed run draws the masks an uninterrupted one would).
  virtual Generator& dropout_generator() = 0;
  const ModelOptions& options() const { return options_; }

 protected:
  explicit Classifier(ModelOptions options) : options_(std::move(options)) {}
  ModelOptions options_;
};

// Builds and initialises the model that `options` names; throws armnet::Error
// for an unknown architecture or an image size too small for the ARM's 32x32
// kernel (naming the size and the smallest that works).
std::shared_ptr<Classifier> make_model(const ModelOptions& options);

// The ARM's fc width for a square input of `image_size`: 121 for 224.
int arm_feature_count(int image_size);

}  // namespace armnet
