#include "apps/evaluation.h"

#include <memory>

#include "apps/progress.h"
#include "autograd/engine.h"
#include "autograd/functional.h"

namespace armnet::apps {

Evaluation evaluate(Classifier& model, Loader& loader, std::int64_t epoch, const std::string& progress_label,
                    const std::function<bool()>& should_stop, Autocast* autocast, const BatchLogits& each_batch) {
  const bool was_training = model.is_training();
  model.eval();
  autograd::NoGradGuard no_grad;
  Evaluation result;
  result.confusion = ConfusionMatrix(model.options().num_classes);
  std::unique_ptr<ProgressBar> progress;
  if (!progress_label.empty()) progress = std::make_unique<ProgressBar>(progress_label, loader.batches_per_epoch());
  double loss_sum = 0.0;
  std::int64_t images = 0;
  const Device device = model.device();
  loader.start_epoch(epoch);
  Batch batch;
  while (loader.next(batch)) {
    const Tensor logits = autocast_forward(model, batch.images.to(device), autocast);
    loss_sum += cross_entropy(logits, batch.labels.to(device)).item();
    const Tensor host_logits = logits.to(Device::CPU);
    result.confusion.add_batch(host_logits, batch.labels);
    if (each_batch) each_batch(batch, host_logits);
    ++result.batches;
    images += batch.labels.numel();
    if (progress) progress->update(batch.index + 1, images, loss_sum / static_cast<double>(result.batches));
    if (should_stop && should_stop()) {
      result.interrupted = true;
      break;
    }
  }
  if (progress) progress->finish();
  result.mean_loss = result.batches > 0 ? loss_sum / static_cast<double>(result.batches) : 0.0;
  model.train(was_training);
  return result;
}

}  // namespace armnet::apps
