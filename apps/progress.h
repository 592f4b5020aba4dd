// The progress line of training and evaluation, on stderr (like tqdm):
//   on a terminal, one line redrawn in place at most 5 times a second:
//     train 3/70 [##########..........]  24/48 batches  312.4 img/s  loss 1.2345  ETA 0:41
//   (mixed precision adds its loss scale and skipped steps: "  scale 65536 skipped 0")
//   otherwise (a log file, a pipe), the same text as a plain line at most
//   every 10 seconds, so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace armnet::apps {

class ProgressBar {
 public:
  // `label` starts the line ("train 3/70"); `total_batches` of the phase.
  ProgressBar(std::string label, std::int64_t total_batches);
  // After each batch: batches done so far (counting any done before a
  // resume), images processed in this process, the running mean loss, and
  // a note for the end of the line ("" for none).
  void update(std::int64_t batches_done, std::int64_t images, double running_loss, const std::string& note = "");
  // Ends the line on a terminal (the summary lines follow on their own).
  void finish();

 private:
  std::string text(std::int64_t batches_done, std::int64_t images, double running_loss, const std::string& note) const;

  std::string label_;
  std::int64_t total_batches_;
  std::int64_t first_batch_ = -1;  // batches done at the first update minus one
  bool terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:02:03" or "4:05".
std::string format_duration(double seconds);

}  // namespace armnet::apps
