#include "apps/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>


namespace armnet::apps {

namespace {
constexpr double kTerminalRedrawSeconds = 0.2;
constexpr double kLogLineSeconds = 10.0;
constexpr int kBarWidth = 20;
}  // namespace

std::string format_duration(double seconds) {
  const long total = std::lround(std::max(0.0, seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
  }
  return text;
}

ProgressBar::ProgressBar(std::string label, std::int64_t total_batches)
    : label_(std::move(label)),
      total_batches_(total_batches),
      terminal_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string ProgressBar::text(std::int64_t batches_done, std::int64_t images, double running_loss,
                              const std::string& note) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::int64_t batches_here = batches_done - first_batch_;
  const double seconds_per_batch = batches_here > 0 ? elapsed / static_cast<double>(batches_here) : 0.0;
  const double eta = seconds_per_batch * static_cast<double>(total_batches_ - batches_done);
  const int filled = total_batches_ > 0 ? static_cast<int>(kBarWidth * batches_done / total_batches_) : kBarWidth;
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kBarWidth, '.');
  char numbers[160];
  std::snprintf(numbers, sizeof numbers, "] %lld/%lld batches  %.1f img/s  loss %.4f  ETA %s",
                static_cast<long long>(batches_done), static_cast<long long>(total_batches_),
                elapsed > 0.0 ? static_cast<double>(images) / elapsed : 0.0, running_loss, format_duration(eta).c_str());
  return label_ + " [" + bar + numbers + (note.empty() ? "" : "  " + note);
}

void ProgressBar::update(std::int64_t batches_done, std::int64_t images, double running_loss,
                         const std::string& note) {
  if (first_batch_ < 0) first_batch_ = batches_done - 1;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  const bool last = batches_done == total_batches_;
  if (terminal_) {
    if (since_draw < kTerminalRedrawSeconds && !last && drawn_) return;
    std::fprintf(stderr, "\r%s\033[K", text(batches_done, images, running_loss, note).c_str());
  } else {
    if (since_draw < kLogLineSeconds) return;
    std::fprintf(stderr, "%s\n", text(batches_done, images, running_loss, note).c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
  last_draw_ = now;
}

void ProgressBar::finish() {
  if (terminal_ && drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace armnet::apps
