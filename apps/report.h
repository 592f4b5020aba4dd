// The evaluation report of `armnet train` / `armnet test`: a confusion matrix
// with the per-class metrics derived from it (precision, recall, F1, support,
// accuracy, mean class accuracy) and its text tables, and the per-epoch
// metrics that metrics.csv and the training curves hold (apps/plots.h draws
// both). Conventions follow scikit-learn with zero_division=0: a ratio whose
// denominator is zero is 0. docs/plots.md has the definitions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace armnet::apps {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes);

  // Counts one sample; both classes must lie in 0 .. num_classes - 1.
  void add(int target, int prediction);
  // Counts a batch: logits float32/float64 [N, C] and labels int64 [N], both
  // on the CPU, C == num_classes. The prediction of a row is its argmax (the
  // first maximum wins and a NaN counts as the maximum, as torch.argmax).
  // Nothing is counted when any label is out of range.
  void add_batch(const Tensor& logits, const Tensor& labels);

  int num_classes() const { return num_classes_; }
  std::int64_t count(int target, int prediction) const;  // rows = target, columns = prediction
  std::int64_t total() const { return total_; }

  double accuracy() const;            // trace / total (0 when empty)
  double precision(int c) const;      // count(c, c) / column sum (0 when c was never predicted)
  double recall(int c) const;         // count(c, c) / row sum (0 when c never occurs)
  double f1(int c) const;             // 2 p r / (p + r) (0 when p + r == 0)
  std::int64_t support(int c) const;  // row sum: the samples of class c
  // The mean recall over the classes with support > 0 (0 when empty), as
  // scikit-learn's balanced_accuracy_score.
  double mean_class_accuracy() const;
  // The mean F1 over the classes that occur or are predicted, as
  // scikit-learn's f1_score(average="macro") over those labels.
  double macro_f1() const;

  // One line per class (name, precision, recall, F1, support), then the mean
  // class accuracy with the macro-F1, and the accuracy. `names` has
  // num_classes entries.
  std::string per_class_table(const std::vector<std::string>& names) const;
  // The counts with row (target) and column (prediction) labels.
  std::string matrix_table(const std::vector<std::string>& names) const;

 private:
  void check_class(int c, const char* what) const;
  void check_names(const std::vector<std::string>& names, const char* what) const;
  std::int64_t column_sum(int c) const;

  int num_classes_;
  std::int64_t total_ = 0;
  std::vector<std::int64_t> counts_;  // num_classes x num_classes, row-major
};

// Softmax of each row of logits [N, C] (any floating dtype, any device), in
// double: the class probabilities that predict and test --predictions report.
std::vector<std::vector<double>> softmax_rows(const Tensor& logits);
// The predicted class of one row of probabilities (or logits): its argmax
// as add_batch takes it (the first maximum; a NaN counts as the maximum).
int best_class(const std::vector<double>& row);

// printf into a std::string of any length.
std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));

// A CSV field, quoted when it holds a comma, a quote or a line break (RFC
// 4180), and a probability as a CSV number (6 decimals).
std::string csv_field(const std::string& text);
std::string csv_probability(double p);

// Class names for a message: "Surprise, Fear, Disgust" (quoted with
// printable(), at most kQuotedBytes of it).
std::string class_list(const std::vector<std::string>& names);

// One row of metrics.csv and one point of each training curve.
struct EpochMetrics {
  int epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, lr = 0;
  double seconds = 0;  // wall time of the epoch
  // Mixed precision: the steps the loss scaler skipped in the epoch, and the
  // scale at its end (1 without loss scaling).
  std::int64_t skipped_steps = 0;
  double loss_scale = 1.0;
  double val_mean_class_accuracy = 0;  // the mean recall over classes (ConfusionMatrix::mean_class_accuracy)
  std::vector<double> val_class_recall{};  // per class, index = label
};

}  // namespace armnet::apps
