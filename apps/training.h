// `armnet train`: the reference's training loop (ARM-SPEC section 3) with
// checkpoints that resume exactly. docs/training.md explains the outputs.
//
//   per epoch: train over the shuffled (or MRR-resampled) train split with
//   augmentation, then evaluate the test split; print the reference's two
//   summary lines; rewrite DIR/metrics.csv and DIR/curves.png; save
//   DIR/best.safetensors when validation accuracy improves and
//   DIR/last.safetensors always. The learning rate is lr * 0.9^epoch.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/report.h"
#include "data/dataset.h"
#include "data/raf_db.h"
#include "layers/mixed_precision.h"
#include "layers/resnet_arm.h"
#include "tensor/limits.h"

namespace armnet::apps {

// Every setting of a run (the flags of `armnet train`); stored in each
// checkpoint, so that --resume continues with the same ones.
struct TrainOptions {
  std::string raf_path = "./datasets/raf-basic/";  // the data set (--data, or its old name --raf_path)
  std::string data_format = "raf";                 // raf, folder, fer2013 or affectnet (data/dataset.h)
  std::string test_split = "PublicTest";           // fer2013's evaluated split: PublicTest, PrivateTest or both
  int affectnet_classes = 7;                       // 7, or 8 with Contempt
  std::int64_t limit_train = 0, limit_test = 0;    // a seeded, class-stratified subset (0: all)
  int batch_size = 256;
  int val_batch_size = 64;
  std::string optimizer = "adam";  // "adam" or "sgd"
  double lr = 0.0;                 // 0: the optimizer's default (adam 1e-3, sgd 0.01)
  double momentum = 0.9;           // sgd
  double weight_decay = 1e-4;
  double lr_gamma = 0.9;           // the learning rate is multiplied by it after each epoch
  int workers = 4;
  int epochs = 70;
  std::string checkpoint;  // -c: start from these weights (and optimizer state, if it holds one)
  std::string model = "arm";  // "arm" or "resnet18"
  // torchvision's ImageNet ResNet-18 for the feature stack: "auto" (the file
  // where PyTorch keeps it, if there), "none", or a path.
  std::string pretrained = "auto";
  int image_size = 224;
  double drop_rate = 0.0;
  bool batch_independent_eval = false;
  std::string sampler = "shuffle";  // "shuffle" or "mrr"
  std::int64_t mrr_target = 0;
  std::uint64_t seed = 0;
  std::string out = "runs/arm";
  std::string device = "cpu";
  bool skip_bad = false;
  std::string amp = "off";         // mixed precision: "off", "O1" or "O2" (docs/mixed-precision.md)
  std::string amp_dtype = "fp16";  // its 16-bit type: "fp16" or "bf16"
  std::string select_best = "accuracy";  // best.safetensors by "accuracy" or "mean_class_accuracy"
  // Settings of this process only, not saved in checkpoints (a resumed run
  // takes them from its own command line):
  std::int64_t max_image_pixels = limits::kDefaultImagePixels;
  bool force = false;  // an --out that holds a run is moved aside (OUT.1, ...), not refused
};

// Refuses options out of their range (sizes, counts, rates, names), naming
// the flag: the command line's and a checkpoint's options alike.
void check_train_options(const TrainOptions& options);

nlohmann::json to_json(const TrainOptions& options);
// Throws naming a missing field, one of the wrong type (integers must be
// integers that fit, numbers finite) or out of range (check_train_options).
TrainOptions train_options_from_json(const nlohmann::json& json);
// The model the options describe, for a data set of `num_classes` classes.
ModelOptions model_options(const TrainOptions& options, int num_classes);
// What read_dataset needs of the options (data/dataset.h).
DatasetOptions dataset_options(const TrainOptions& options);

// Where a run stands: everything beyond weights and optimizer buffers that a
// checkpoint holds so that a resumed run continues exactly.
struct TrainingState {
  TrainOptions options;
  // The data set's classes, index = label (RAF-DB's in checkpoints from
  // before other data sets).
  std::vector<std::string> class_names{kRafClassNames.begin(), kRafClassNames.end()};
  std::string data_fingerprint;          // its samples' counts and names' hash: a resume checks the same data
  std::int64_t epoch = 0;          // 0-based epoch in progress (== epochs when the run is complete)
  std::int64_t batches_done = 0;   // of that epoch (non-zero only after an interrupt)
  double partial_loss_sum = 0.0;   // sum of the batch losses so far in that epoch
  std::int64_t partial_correct = 0, partial_seen = 0;
  double partial_seconds = 0.0;
  double best_accuracy = -1.0;
  int best_epoch = 0;              // 1-based; 0: none yet
  std::vector<EpochMetrics> history;
  std::string dropout_generator;   // Generator::state() of the model's dropout
  // The loss scaler of mixed precision (fp16's moves; fixed at 1 otherwise),
  // and the steps it skipped in the epoch in progress.
  LossScalerState scaler;
  std::int64_t partial_skipped_steps = 0;
};

nlohmann::json to_json(const TrainingState& state);
// Validates every field (types and ranges, and that the state is consistent:
// epoch within the run, the history one row per finished epoch, ...).
TrainingState training_state_from_json(const nlohmann::json& json);

// Runs (or with `resume`, continues) training; returns the process exit
// status: 0 when done, 130 when interrupted by Ctrl-C (after saving last).
// `given_flags`: the flags the command line set ("--lr", ...): with --resume,
// one that changes the training refuses to run.
int run_training(const TrainOptions& options, const std::string& resume_dir, const std::set<std::string>& given_flags);

}  // namespace armnet::apps
