// Evaluation over a loader (the validation pass of `armnet train` and the
// whole of `armnet test`): the model in evaluation mode, no autograd, every
// batch's logits into a confusion matrix and its mean cross-entropy into the
// loss, as the reference does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "apps/report.h"
#include "autograd/autocast.h"
#include "data/loader.h"
#include "layers/mixed_precision.h"  // autocast_forward
#include "layers/resnet_arm.h"

namespace armnet::apps {

struct Evaluation {
  ConfusionMatrix confusion{1};  // evaluate() makes it the model's classes' size
  double mean_loss = 0.0;  // the mean over batches of each batch's mean loss (the reference's number)
  std::int64_t batches = 0;
  bool interrupted = false;  // should_stop() said so before the last batch
};

// Runs epoch `epoch` of `loader` (its order; Sequential for the plain test
// split) through `model`, restoring the model's training mode afterwards.
// `progress_label`: the progress bar's label; empty for none. `should_stop`,
// when given, is asked after each batch; true ends the pass early (Ctrl-C).
// `autocast`, when given, is the mixed-precision policy of the forward
// passes (16-bit inference, or a mixed-precision run's validation).
// `each_batch`, when given, sees every batch with its logits (float32 on the
// CPU): per-sample reports (armnet test --predictions).
using BatchLogits = std::function<void(const Batch& batch, const Tensor& logits)>;
Evaluation evaluate(Classifier& model, Loader& loader, std::int64_t epoch, const std::string& progress_label,
                    const std::function<bool()>& should_stop = {}, Autocast* autocast = nullptr,
                    const BatchLogits& each_batch = {});

}  // namespace armnet::apps
