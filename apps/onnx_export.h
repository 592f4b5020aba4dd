// The ONNX graph of a classifier in evaluation mode (`armnet export --onnx`,
// docs/deployment.md): built with ONNX's own protobuf classes
// (onnx::ModelProto), opset 17, and passed through onnx::checker and ONNX's
// strict shape inference before anyone writes it. Input "input" [N, 3, S, S]
// (RGB scaled to [0, 1], normalised with ImageNet's mean and std), output
// "logits" [N, classes]. Only in builds with ONNX (libonnx-dev).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/resnet_arm.h"

namespace armnet::apps {

constexpr int kOnnxOpset = 17;

struct OnnxOptions {
  std::int64_t batch = 0;  // the graph's fixed batch size; 0: dynamic (the dimension "batch")
  bool float16 = false;    // weights and arithmetic in float16; "input" and "logits" stay float32
};

// Whether this armnet was built with ONNX.
bool onnx_export_built();

// `model` (evaluated as in eval mode: BatchNorm's running statistics; the
// ARM's batch mean, or its running mean when trained batch-independent) as
// a checked, serialized ONNX model. `class_names` go into its metadata.
// Throws armnet::Error when the build has no ONNX, when a float16 weight
// would overflow, or when the checker refuses the graph.
std::string onnx_model_bytes(const Classifier& model, const std::vector<std::string>& class_names,
                             const OnnxOptions& options);

}  // namespace armnet::apps
