// The two pictures of `armnet train` / `armnet test`, drawn with Cairo and
// written as PNG: the training curves (loss and accuracy per epoch) and the
// row-normalised confusion matrix of the reference's --plot_cm. Each file
// appears atomically (tensor/io/atomic_file.h); every failure throws
// armnet::Error naming the path. docs/plots.md shows both.
#pragma once

#include <string>
#include <vector>

#include "apps/report.h"

namespace armnet::apps {

constexpr int kCurvesWidth = 1000;
constexpr int kCurvesHeight = 420;
constexpr int kConfusionWidth = 640;
constexpr int kConfusionHeight = 600;

// Two panels side by side: loss per epoch and accuracy per epoch, each with
// the training and the validation series, tick labels, a legend, the epoch on
// x. One epoch is drawn as markers; non-finite values leave gaps.
// `history` must not be empty.
void write_training_curves_png(const std::string& path, const std::vector<EpochMetrics>& history);

// Rows = target ("True"), columns = prediction ("Predicted"), each row
// normalised to sum 1 (a row without samples stays 0), coloured from light to
// dark blue with the value (2 decimals) in each cell, `labels` (one per class)
// on both axes, `title` above and a colour bar on the right.
void write_confusion_matrix_png(const std::string& path, const ConfusionMatrix& matrix,
                                const std::vector<std::string>& labels, const std::string& title);

// Where write_confusion_matrix_png draws cell (row, column) of a matrix of
// `num_classes` classes, in pixels from the top-left corner.
struct PixelRect {
  double x = 0, y = 0, width = 0, height = 0;
};
PixelRect confusion_matrix_cell(int num_classes, int row, int column);

}  // namespace armnet::apps
