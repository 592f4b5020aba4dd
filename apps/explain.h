// `armnet explain` (apps/explain.cpp; docs/explain.md): pictures of what a
// checkpoint computes for some face images: the ARM's learned de-albino
// kernel, the ARM's steps for each image, and a Grad-CAM map of the
// predicted class. The computations behind the pictures are here, so that
// tests/test_explain.cpp can check them against hand-computed cases.
#pragma once

#include "apps/plots.h"
#include "layers/resnet_arm.h"

namespace armnet::apps {

// Grad-CAM (Selvaraju et al., 2017) of class `target_class` for the one image
// of `trace`, a trace of one image made with TraceGraph::FromLastStageAsLeaf
// (grad mode on). It backpropagates that class's logit to the last stage's
// output A [1, K, s, s] (features.7, K = 512), and returns the s x s map
//   CAM = ReLU(sum over k of weight_k * A_k),
//   weight_k = the mean over the s x s positions of d logit / d A_k.
// A trace can be backpropagated once; the backward also adds into the
// .grad of the parameters after the last stage, as any backward does.
Heatmap grad_cam(const ForwardTrace& trace, int target_class);

// `map` resized to width x height by bilinear interpolation with half-pixel
// centres and clamped edges (PyTorch's interpolate(mode="bilinear",
// align_corners=False), OpenCV's resize(INTER_LINEAR)).
Heatmap upsample_bilinear(const Heatmap& map, int width, int height);

}  // namespace armnet::apps
