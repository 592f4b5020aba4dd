#include "data/loader.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <iostream>
#include <limits>
#include <map>
#include <numeric>
#include <system_error>

#include "data/dataset.h"
#include "data/image.h"
#include "data/transforms.h"

namespace armnet {

Sampler parse_sampler(const std::string& name) {
  if (name == "sequential") return Sampler::Sequential;
  if (name == "shuffle") return Sampler::Shuffle;
  if (name == "mrr") return Sampler::MRR;
  throw Error(str_cat("unknown sampler \"", name, "\" (expected shuffle, mrr or sequential)"));
}

const char* sampler_name(Sampler sampler) {
  switch (sampler) {
    case Sampler::Sequential: return "sequential";
    case Sampler::Shuffle: return "shuffle";
    case Sampler::MRR: return "mrr";
  }
  return "?";
}

// ---- seeds and orders --------------------------------------------------------

std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t key) {
  // splitmix64: step the state by the golden-ratio increment `key + 1` times
  // (a bijection of the key for a fixed seed), then its finaliser.
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (key + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

namespace {
// Separate streams, so that an epoch's order and its samples never share a seed.
constexpr std::uint64_t kOrderStream = 1;
constexpr std::uint64_t kSampleStream = 2;
}  // namespace

std::uint64_t epoch_order_seed(std::uint64_t seed, std::int64_t epoch) {
  return mix_seed(mix_seed(seed, kOrderStream), static_cast<std::uint64_t>(epoch));
}

std::uint64_t sample_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t position) {
  return mix_seed(mix_seed(mix_seed(seed, kSampleStream), static_cast<std::uint64_t>(epoch)),
                  static_cast<std::uint64_t>(position));
}

void shuffle_in_place(std::vector<std::int64_t>& order, Generator& generator) {
  for (std::int64_t i = static_cast<std::int64_t>(order.size()) - 1; i > 0; --i) {
    std::swap(order[i], order[generator.integer(i + 1)]);
  }
}

namespace {

std::vector<std::int64_t> counts_of(const std::vector<int>& labels, int num_classes) {
  std::vector<std::int64_t> counts(num_classes, 0);
  for (int label : labels) ++counts[label];
  return counts;
}

std::int64_t resolved_target(const std::vector<std::int64_t>& counts, std::int64_t target) {
  return target > 0 ? target : *std::max_element(counts.begin(), counts.end());
}

}  // namespace

std::vector<std::int64_t> mrr_order(const std::vector<int>& labels, int num_classes, std::int64_t target,
                                    Generator& generator) {
  check(num_classes > 0, "mrr_order: ", num_classes, " classes");
  for (int label : labels) {
    check(label >= 0 && label < num_classes, "mrr_order: label ", label, " is outside 0..", num_classes - 1);
  }
  check(target >= 0, "mrr_order: negative target ", target);
  std::vector<std::vector<std::int64_t>> members(num_classes);
  for (std::size_t i = 0; i < labels.size(); ++i) members[labels[i]].push_back(static_cast<std::int64_t>(i));
  const std::int64_t class_target = resolved_target(counts_of(labels, num_classes), target);
  std::vector<std::int64_t> order(labels.size());
  std::iota(order.begin(), order.end(), 0);
  // Top up each smaller, non-empty class with draws with replacement.
  for (const std::vector<std::int64_t>& member_indices : members) {
    const std::int64_t count = static_cast<std::int64_t>(member_indices.size());
    for (std::int64_t extra = count; count > 0 && extra < class_target; ++extra) {
      order.push_back(member_indices[generator.integer(count)]);
    }
  }
  shuffle_in_place(order, generator);
  return order;
}

// ---- the loader ----------------------------------------------------------------

// A batch being filled by the workers (or filled and waiting for the consumer).
struct Loader::PendingBatch {
  Tensor images;
  Tensor labels;
  std::int64_t first_position = 0;
  std::int64_t size = 0;
  std::int64_t finished = 0;           // rows done, good or bad
  std::vector<std::string> failures;   // per row: empty, or why it was skipped
  std::exception_ptr error;            // the fatal error of the lowest position
  std::int64_t error_position = std::numeric_limits<std::int64_t>::max();

  // Keeps the error of the lowest position: the one the consumer rethrows.
  void record_error(std::exception_ptr new_error, std::int64_t position) {
    if (position < error_position) {
      error = std::move(new_error);
      error_position = position;
    }
  }
};

struct Loader::Epoch {
  std::int64_t number = 0;
  std::vector<std::int64_t> order;  // data set indices
  std::int64_t num_batches = 0;
  std::int64_t next_position = 0;  // the next position a worker claims
  std::int64_t next_batch = 0;     // the next batch the consumer takes
  // The lowest batch with a fatal error: nothing after it is started.
  std::int64_t failed_batch = std::numeric_limits<std::int64_t>::max();
  bool abandoned = false;
  std::map<std::int64_t, PendingBatch> pending;  // by batch index; nodes never move
};

Loader::Loader(std::vector<LabeledImage> samples, LoaderOptions options)
    : samples_(std::move(samples)), options_(options) {
  check(!samples_.empty(), "Loader: no samples");
  check(options_.batch_size > 0, "Loader: batch size ", options_.batch_size, " must be positive");
  check(options_.image_size > 0 && options_.image_size <= limits::kModelImageSize, "Loader: image size ",
        options_.image_size, " is out of range");
  check(options_.num_classes > 0, "Loader: ", options_.num_classes, " classes");
  check(options_.mrr_target >= 0, "Loader: negative MRR target ", options_.mrr_target);
  check(options_.workers >= 0 && options_.workers <= limits::kWorkers, "Loader: ", options_.workers,
        " workers; the limit is ", limits::kWorkers);
  check(options_.max_image_pixels > 0, "Loader: an image pixel limit of ", options_.max_image_pixels);
  check(options_.prefetch_batches >= 1, "Loader: prefetch depth ", options_.prefetch_batches, " must be at least 1");
  check_batch_memory(options_);
  for (const LabeledImage& sample : samples_) {
    check(sample.label >= 0 && sample.label < options_.num_classes, "Loader: label ", sample.label, " of ",
          Printable{sample.name}, " is outside 0..", options_.num_classes - 1);
    labels_.push_back(sample.label);
  }
  epoch_length_ = static_cast<std::int64_t>(samples_.size());
  if (options_.sampler == Sampler::MRR) {
    const std::vector<std::int64_t> counts = counts_of(labels_, options_.num_classes);
    const std::int64_t target = resolved_target(counts, options_.mrr_target);
    for (std::int64_t count : counts) {
      if (count > 0 && count < target) epoch_length_ += target - count;
    }
  }
  int workers = options_.workers;
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
  options_.workers = workers;
  threads_.reserve(workers);
  try {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
  } catch (const std::system_error& error) {  // the system allows no more threads
    const std::size_t started = threads_.size();
    stop_workers();
    throw Error(str_cat("cannot start data-loading worker ", started + 1, " of ", workers, ": ", error.what(),
                        " (use fewer --workers)"));
  }
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    if (epoch_) epoch_->abandoned = true;
  }
  work_available_.notify_all();
  batch_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

std::vector<std::int64_t> Loader::epoch_order(std::int64_t epoch) const {
  Generator generator(epoch_order_seed(options_.seed, epoch));
  std::vector<std::int64_t> order;
  switch (options_.sampler) {
    case Sampler::MRR:
      return mrr_order(labels_, options_.num_classes, options_.mrr_target, generator);
    case Sampler::Shuffle:
      order.resize(samples_.size());
      std::iota(order.begin(), order.end(), 0);
      shuffle_in_place(order, generator);
      return order;
    case Sampler::Sequential:
      order.resize(samples_.size());
      std::iota(order.begin(), order.end(), 0);
      return order;
  }
  return order;
}

std::int64_t Loader::epoch_length() const { return epoch_length_; }

std::int64_t Loader::batches_per_epoch() const {
  return (epoch_length_ + options_.batch_size - 1) / options_.batch_size;
}

std::int64_t Loader::skipped_in_epoch() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return skipped_;
}

void Loader::start_epoch(std::int64_t epoch, std::int64_t first_batch) {
  auto next_epoch = std::make_shared<Epoch>();
  next_epoch->number = epoch;
  next_epoch->order = epoch_order(epoch);
  next_epoch->num_batches = batches_per_epoch();
  check(first_batch >= 0 && first_batch <= next_epoch->num_batches, "Loader: first batch ", first_batch,
        " is outside 0..", next_epoch->num_batches);
  next_epoch->next_batch = first_batch;
  next_epoch->next_position = first_batch * options_.batch_size;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (epoch_) epoch_->abandoned = true;
    epoch_ = std::move(next_epoch);
    skipped_ = 0;
  }
  work_available_.notify_all();
}

bool Loader::claimable(const Epoch& epoch) const {
  if (epoch.abandoned || epoch.next_position >= static_cast<std::int64_t>(epoch.order.size())) return false;
  const std::int64_t batch_index = epoch.next_position / options_.batch_size;
  return batch_index < epoch.next_batch + options_.prefetch_batches && batch_index <= epoch.failed_batch;
}

void check_batch_memory(const LoaderOptions& options) {
  const std::int64_t image_bytes = 3 * static_cast<std::int64_t>(options.image_size) * options.image_size * 4;
  const std::int64_t batch_bytes = image_bytes * options.batch_size;  // both at most 2^45: no overflow
  const std::int64_t kept = options.prefetch_batches + 1;             // filling or waiting, and the consumer's
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_bytes = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_bytes <= 0) return;  // unknown: nothing to compare with
  const std::int64_t memory = static_cast<std::int64_t>(pages) * page_bytes;
  constexpr double kGiB = 1 << 30;
  check(batch_bytes <= memory / 2 / kept, "a batch of ", options.batch_size, " images of ", options.image_size, "x",
        options.image_size, " takes ", batch_bytes / kGiB, " GiB and the loader keeps ", kept,
        " of them, more than half of this machine's ", memory / kGiB, " GiB of memory: use a smaller batch size");
}

namespace {

// A new batch tensor: recycled (and pinned when a GPU is present) memory, or
// plain memory.
Tensor batch_tensor(const Shape& shape, DType dtype, bool pinned) {
  return pinned ? Tensor::empty_pinned(shape, dtype) : Tensor::empty(shape, dtype);
}

}  // namespace

// Worker thread: claim the next position of the current epoch (within the
// prefetch window), fill its row of the batch, repeat.
void Loader::work() {
  BilinearResizer resizer;  // this thread's weight tables and scratch rows
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_available_.wait(lock, [&] { return stopping_ || (epoch_ && claimable(*epoch_)); });
    if (stopping_) return;
    const std::shared_ptr<Epoch> epoch = epoch_;  // keeps it alive if a new epoch replaces it
    const std::int64_t position = epoch->next_position++;
    const std::int64_t batch_index = position / options_.batch_size;
    const auto [entry, created] = epoch->pending.try_emplace(batch_index);
    PendingBatch& pending = entry->second;
    if (created) {
      pending.first_position = batch_index * options_.batch_size;
      pending.size = std::min<std::int64_t>(options_.batch_size,
                                            static_cast<std::int64_t>(epoch->order.size()) - pending.first_position);
      pending.failures.resize(pending.size);
      const Shape image_shape = {pending.size, 3, options_.image_size, options_.image_size};
      try {
        pending.images = batch_tensor(image_shape, DType::Float32, options_.pin_memory);
        pending.labels = batch_tensor({pending.size}, DType::Int64, options_.pin_memory);
      } catch (...) {  // out of memory: the batch fails, its rows are only counted
        pending.images = Tensor();
        pending.record_error(std::current_exception(), pending.first_position);
        epoch->failed_batch = std::min(epoch->failed_batch, batch_index);
      }
    }
    lock.unlock();

    std::exception_ptr fatal;
    std::string skipped_because;
    if (pending.images.defined()) {
      try {
        run_sample(*epoch, pending, position, resizer);
      } catch (const Error& error) {
        if (options_.skip_bad) {
          skipped_because = error.what();
        } else {
          fatal = std::current_exception();
        }
      } catch (...) {
        fatal = std::current_exception();
      }
    }

    lock.lock();
    if (fatal) {
      pending.record_error(fatal, position);
      epoch->failed_batch = std::min(epoch->failed_batch, batch_index);
    }
    if (!skipped_because.empty()) pending.failures[position - pending.first_position] = skipped_because;
    if (++pending.finished == pending.size) batch_ready_.notify_all();
  }
}

// Loads and transforms the sample at `position` into its row of the batch.
void Loader::run_sample(Epoch& epoch, PendingBatch& pending, std::int64_t position, BilinearResizer& resizer) {
  const std::int64_t row = position - pending.first_position;
  const LabeledImage& sample = samples_[epoch.order[position]];
  const std::int64_t row_floats = 3 * static_cast<std::int64_t>(options_.image_size) * options_.image_size;
  Image image = load_sample(sample, options_.max_image_pixels);
  Generator generator(sample_seed(options_.seed, epoch.number, position));
  transform_sample(image, options_.image_size, options_.augment, generator, resizer,
                   pending.images.data<float>() + row * row_floats);
  pending.labels.data<std::int64_t>()[row] = sample.label;
}

bool Loader::next(Batch& batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  check(epoch_ != nullptr, "Loader::next: call start_epoch first");
  const std::shared_ptr<Epoch> epoch = epoch_;
  while (true) {
    if (epoch->abandoned || epoch->next_batch >= epoch->num_batches) return false;
    const std::int64_t batch_index = epoch->next_batch;
    batch_ready_.wait(lock, [&] {
      const auto entry = epoch->pending.find(batch_index);
      return stopping_ || (entry != epoch->pending.end() && entry->second.finished == entry->second.size);
    });
    if (stopping_) return false;
    const auto entry = epoch->pending.find(batch_index);
    PendingBatch pending = std::move(entry->second);
    epoch->pending.erase(entry);
    ++epoch->next_batch;
    if (pending.error) {
      epoch->abandoned = true;
      lock.unlock();
      work_available_.notify_all();
      std::rethrow_exception(pending.error);
    }
    std::vector<std::int64_t> good_rows;
    for (std::int64_t row = 0; row < pending.size; ++row) {
      if (pending.failures[row].empty()) good_rows.push_back(row);
    }
    skipped_ += pending.size - static_cast<std::int64_t>(good_rows.size());
    lock.unlock();
    work_available_.notify_all();  // the prefetch window moved

    for (const std::string& failure : pending.failures) {
      if (!failure.empty()) std::cerr << "warning: skipped a bad sample: " << printable(failure, 1000) << "\n";
    }
    const auto order_begin = epoch->order.begin() + pending.first_position;
    batch.index = batch_index;
    if (static_cast<std::int64_t>(good_rows.size()) == pending.size) {
      batch.images = std::move(pending.images);
      batch.labels = std::move(pending.labels);
      batch.sample_indices.assign(order_begin, order_begin + pending.size);
      return true;
    }
    if (!good_rows.empty()) {
      // Compact the good rows into smaller tensors.
      const std::int64_t count = static_cast<std::int64_t>(good_rows.size());
      const Shape image_shape = {count, 3, options_.image_size, options_.image_size};
      batch.images = batch_tensor(image_shape, DType::Float32, options_.pin_memory);
      batch.labels = batch_tensor({count}, DType::Int64, options_.pin_memory);
      const std::size_t row_bytes = pending.images.nbytes() / static_cast<std::size_t>(pending.size);
      batch.sample_indices.clear();
      for (std::int64_t i = 0; i < count; ++i) {
        const std::int64_t row = good_rows[i];
        std::memcpy(static_cast<char*>(batch.images.data_ptr()) + i * row_bytes,
                    static_cast<const char*>(pending.images.data_ptr()) + row * row_bytes, row_bytes);
        batch.labels.data<std::int64_t>()[i] = pending.labels.data<std::int64_t>()[row];
        batch.sample_indices.push_back(order_begin[row]);
      }
      return true;
    }
    lock.lock();  // every sample of this batch was bad: on to the next
  }
}

}  // namespace armnet
