// The threaded batch loader: worker threads decode, augment, resize and
// normalise samples ahead of the training loop into a bounded window of
// batches; the consumer receives them in order.
//
//   Loader loader(dataset.train, options);
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     Batch batch;
//     while (loader.next(batch)) { ... batch.images [B, 3, S, S], batch.labels [B] ... }
//     // loader.skipped_in_epoch(): bad samples dropped (skip_bad)
//   }
//
// Determinism: an epoch's order comes from a generator seeded by
// (seed, epoch), and the sample at position p of it is transformed with a
// generator seeded by (seed, epoch, p), so the batches are identical for any
// number of workers. Batch k holds positions [k B, (k + 1) B) of the order;
// the last batch may be smaller (it is kept, as PyTorch's default).
//
// Memory: at most `prefetch_batches` batches are being filled or waiting, so
// a slow consumer stalls the workers instead of growing a queue.
//
// Samples: each goes through load_sample() (data/dataset.h): decoded from
// its file or taken from memory, cropped to its face box, RGB.
//
// Errors: a sample that cannot be loaded throws armnet::Error naming the
// file (or the sample), from next(), when the consumer reaches its batch;
// the epoch is then over (workers stop) and the next start_epoch() begins
// afresh. With
// `skip_bad`, such a sample is dropped from its batch (the batch gets
// smaller; one left empty is skipped), a warning goes to stderr, and
// skipped_in_epoch() counts it. Other failures (out of memory) always throw.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/image.h"
#include "data/raf_db.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace armnet {

enum class Sampler {
  Sequential,  // the data set's order (evaluation)
  Shuffle,     // a fresh permutation each epoch (the reference's training)
  MRR,         // minimal random resampling (ARM-SPEC section 2; mrr_order)
};

// "sequential", "shuffle", "mrr" (the --sampler values); anything else throws.
Sampler parse_sampler(const std::string& name);
const char* sampler_name(Sampler sampler);

struct LoaderOptions {
  int batch_size = 64;
  int image_size = 224;
  bool augment = false;  // the training augmentation of data/transforms.h
  Sampler sampler = Sampler::Shuffle;
  std::int64_t mrr_target = 0;  // MRR's per-class target; 0: the largest class
  int num_classes = kRafNumClasses;  // the data set's (Dataset::num_classes()): labels, MRR's classes
  std::uint64_t seed = 0;
  int workers = 0;           // 0: std::thread::hardware_concurrency(); at most limits::kWorkers
  int prefetch_batches = 4;  // batches filled ahead (every worker helps fill the nearest one)
  bool skip_bad = false;
  std::int64_t max_image_pixels = limits::kDefaultImagePixels;  // larger images are refused before decoding
  // Batches in Tensor::empty_pinned memory: recycled between batches, and
  // page-locked when CUDA is built and a GPU is present.
  bool pin_memory = true;
};

struct Batch {
  Tensor images;  // float32 [B, 3, S, S], normalised
  Tensor labels;  // int64 [B]
  std::int64_t index = 0;                   // the batch's number in the epoch
  std::vector<std::int64_t> sample_indices;  // the data set index of each row
};

// A stable 64-bit mix of a seed and a key (splitmix64's finaliser over their
// combination): independent generator seeds from (seed, epoch, position).
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t key);

// The seeds the loader gives the generators of an epoch's order and of the
// sample at `position` of that order.
std::uint64_t epoch_order_seed(std::uint64_t seed, std::int64_t epoch);
std::uint64_t sample_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t position);

// Refuses batches whose buffers (the loader keeps prefetch_batches + 1 of
// them) would take more than half of the machine's physical memory, naming
// the sizes; the Loader checks it before starting.
void check_batch_memory(const LoaderOptions& options);

// Fisher-Yates shuffle of `order` in place.
void shuffle_in_place(std::vector<std::int64_t>& order, Generator& generator);

// MRR's order of one epoch over samples with these labels (0..num_classes-1):
// every original sample once, plus, for each class with fewer than `target`
// samples (target 0: the largest class's count), target - count extra
// samples of that class drawn uniformly with replacement; all shuffled.
// Classes without samples stay empty; larger classes are not cut.
std::vector<std::int64_t> mrr_order(const std::vector<int>& labels, int num_classes, std::int64_t target,
                                    Generator& generator);

class Loader {
 public:
  Loader(std::vector<LabeledImage> samples, LoaderOptions options);
  ~Loader();  // stops and joins the workers, also mid-epoch
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Begins epoch `epoch` (abandoning what is left of the current one) at
  // batch `first_batch`: batches before it are not loaded, later ones are
  // exactly those of a full epoch (how a resumed run continues mid-epoch).
  void start_epoch(std::int64_t epoch, std::int64_t first_batch = 0);
  // The next batch of the epoch in order; false when the epoch is done.
  bool next(Batch& batch);

  // The data set indices of an epoch's order (what start_epoch uses).
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;
  std::int64_t epoch_length() const;  // samples per epoch (MRR adds some)
  std::int64_t batches_per_epoch() const;
  // Bad samples dropped so far in the current epoch (skip_bad).
  std::int64_t skipped_in_epoch() const;
  int workers() const { return static_cast<int>(threads_.size()); }
  const LoaderOptions& options() const { return options_; }

 private:
  struct Epoch;
  struct PendingBatch;
  void work();
  void stop_workers();
  bool claimable(const Epoch& epoch) const;
  void run_sample(Epoch& epoch, PendingBatch& pending, std::int64_t position, BilinearResizer& resizer);

  std::vector<LabeledImage> samples_;
  std::vector<int> labels_;
  LoaderOptions options_;
  std::int64_t epoch_length_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable work_available_;  // workers wait on it
  std::condition_variable batch_ready_;     // the consumer waits on it
  std::shared_ptr<Epoch> epoch_;
  std::int64_t skipped_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace armnet
