// Loading named tensors into a Module, as PyTorch's load_state_dict.
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"

namespace armnet {

struct LoadReport {
  std::vector<std::string> missing;     // in the model, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the model
};

// Copies every tensor whose name the module has into it (converting dtype, so
// float16 files load into float32 models). A shape mismatch is an error naming
// the key and both shapes. strict: missing or unexpected keys are an error
// listing them; otherwise they are reported.
LoadReport load_state_dict(Module& module, const NamedTensors& tensors, bool strict = true);

// torchvision's ImageNet ResNet-18 keys (conv1.*, bn1.*, layer1..4.*, fc.*)
// mapped onto armnet's feature stack (features.0, features.1, features.4..7);
// fc.* is dropped (the ImageNet head does not fit).
NamedTensors map_torchvision_resnet18(const NamedTensors& imagenet);

}  // namespace armnet
