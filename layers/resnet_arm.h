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

// The named intermediate tensors of one forward pass (Classifier::trace),
// for pictures of what the model computes (`armnet explain`). Shapes for a
// 224 x 224 input; the ARM's fields stay undefined for the baseline.
struct ForwardTrace {
  Tensor last_stage;    // the output of features.7 (layer4), [N, 512, 7, 7]
  Tensor shuffled;      // ARM: pixel_shuffle(last_stage, 16), [N, 2, 112, 112]
  Tensor de_albino;     // ARM: the shared 32x32 kernel's output, before arm.bn, [N, 2, 11, 11]
  Tensor amended_bn;    // ARM: arm.bn of de_albino, [N, 2, 11, 11]
  Tensor channel_mean;  // ARM: the mean of amended_bn over its 2 channels, [N, 1, 11, 11]
  Tensor global_term;   // ARM: alpha x the batch-global mean (over N and channels), [1, 1, 11, 11]
  Tensor amended;       // ARM: channel_mean + global_term flattened, [N, 121]: what fc reads (after dropout)
  Tensor logits;        // [N, num_classes], what forward() returns
};

// Where a trace's autograd graph starts.
enum class TraceGraph {
  Whole,                  // as forward(): gradients reach every parameter
  FromLastStageAsLeaf,    // last_stage is a detached leaf that requires grad (the
                          // backbone runs without recording); the rest of the
                          // model runs from it, so a backward from the logits
                          // leaves d logits / d last_stage in last_stage.grad()
                          // (Grad-CAM)
};

// The classifier: forward(images [N, 3, S, S]) -> logits [N, num_classes].
// For "arm", alpha() is the learnable affinity weight (shape [1]).
class Classifier : public Module {
 public:
  // trace(images).logits, the one implementation of the forward pass.
  Tensor forward(const Tensor& images) final { return trace(images).logits; }
  // One forward pass that keeps its intermediates (same mode, same numbers
  // as forward()).
  virtual ForwardTrace trace(const Tensor& images, TraceGraph graph = TraceGraph::Whole) = 0;
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

// The fixed geometry of the model (ARM-SPEC section 1), for the code that
// rebuilds or draws it (apps/onnx_export.cpp, apps/explain.cpp).
constexpr int kFeatureChannels = 512;  // ResNet-18's last stage
constexpr int kShuffleFactor = 16;     // 512 x s x s -> 2 x 16s x 16s
constexpr int kDeAlbinoKernel = 32;
constexpr int kDeAlbinoStride = 8;
// The side s of ResNet-18's last feature map for a square image (7 for 224).
int resnet_feature_side(int image_size);

}  // namespace armnet
