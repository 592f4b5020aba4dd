// Checkpoints: one safetensors file per checkpoint (DIR/last.safetensors,
// DIR/best.safetensors), written atomically.
//
//   tensors   the model's state dict under the reference's names
//             ("features.0.weight", "arm.alpha", "fc.bias", ...), so any
//             safetensors reader gets the weights as they are;
//             the optimizer state under "optimizer/<state>.<parameter>"
//             ("optimizer/exp_avg.fc.weight")
//   metadata  "format": "armnet-checkpoint", "version": "1", and "training":
//             the TrainingState as JSON (options, epoch, RNG state, loss
//             scaler, best accuracy, metrics history)
//
// read_checkpoint also accepts what the reference and others write: PyTorch
// .pth files (a state dict, or a dict with "model_state_dict"; DataParallel's
// "module." prefix is stripped) and plain safetensors weights.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "apps/training.h"
#include "layers/optimizer.h"
#include "layers/resnet_arm.h"

namespace armnet::apps {

constexpr const char* kOptimizerPrefix = "optimizer/";

void write_checkpoint(const std::string& path, const Classifier& model, const Optimizer& optimizer,
                      const TrainingState& state);

struct Checkpoint {
  std::string path;
  NamedTensors weights;                 // model state dict
  NamedTensors optimizer_state;         // without the prefix; empty if none
  std::optional<TrainingState> training;  // armnet checkpoints only
};

// `path` is a checkpoint file, or a run directory (its best.safetensors, else
// last.safetensors). Errors name the file.
Checkpoint read_checkpoint(const std::string& path);

// The model a checkpoint holds: its architecture and image size come from the
// checkpoint's options when it has them, otherwise from its tensors (an
// "arm.*" key means ARM; its image size is `image_size_hint` (default 224),
// checked against the fc width). The weights are loaded strictly; a mismatch
// names the tensor and says which model the file seems to hold.
std::shared_ptr<Classifier> model_from_checkpoint(const Checkpoint& checkpoint, int image_size_hint = 0);

// The class names of a checkpoint's model of `num_classes` classes: those
// its training state saved; for weights alone, RAF-DB's when there are seven
// of them (the reference's), otherwise "class 0", "class 1", ...
std::vector<std::string> class_names_of(const Checkpoint& checkpoint, int num_classes);

// Loads checkpoint weights into `model` strictly, with the same messages.
void load_checkpoint_weights(Classifier& model, const Checkpoint& checkpoint);

}  // namespace armnet::apps
