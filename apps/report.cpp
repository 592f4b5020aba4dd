// The confusion matrix and its metrics (apps/report.h).
#include "apps/report.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace armnet::apps {

namespace {

// The argmax of `row` (length n): the first maximum, or the first NaN.
template <class T>
int row_argmax(const T* row, std::int64_t n) {
  int best = 0;
  for (std::int64_t j = 0; j < n; ++j) {
    if (std::isnan(row[j])) return static_cast<int>(j);
    if (row[j] > row[best]) best = static_cast<int>(j);
  }
  return best;
}

double ratio(std::int64_t numerator, std::int64_t denominator) {
  return denominator == 0 ? 0.0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

}  // namespace

std::string format(const char* pattern, ...) {
  va_list arguments;
  va_start(arguments, pattern);
  va_list again;
  va_copy(again, arguments);
  const int length = std::vsnprintf(nullptr, 0, pattern, arguments);
  va_end(arguments);
  std::string text(static_cast<std::size_t>(std::max(length, 0)) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), pattern, again);
  va_end(again);
  text.pop_back();
  return text;
}

ConfusionMatrix::ConfusionMatrix(int num_classes) : num_classes_(num_classes) {
  check(num_classes >= 1, "ConfusionMatrix: num_classes ", num_classes, " must be at least 1");
  counts_.assign(static_cast<std::size_t>(num_classes) * num_classes, 0);
}

void ConfusionMatrix::check_class(int c, const char* what) const {
  check(c >= 0 && c < num_classes_, "ConfusionMatrix: ", what, " ", c, " is outside 0..", num_classes_ - 1);
}

void ConfusionMatrix::check_names(const std::vector<std::string>& names, const char* what) const {
  check(static_cast<int>(names.size()) == num_classes_, "ConfusionMatrix::", what, ": ", names.size(),
        " class names for ", num_classes_, " classes");
}

void ConfusionMatrix::add(int target, int prediction) {
  check_class(target, "target");
  check_class(prediction, "prediction");
  ++counts_[static_cast<std::size_t>(target) * num_classes_ + prediction];
  ++total_;
}

void ConfusionMatrix::add_batch(const Tensor& logits, const Tensor& labels) {
  check(logits.defined() && labels.defined(), "ConfusionMatrix::add_batch: undefined tensor");
  check(logits.device() == Device::CPU && labels.device() == Device::CPU,
        "ConfusionMatrix::add_batch: logits ", logits.describe(), " and labels ", labels.describe(),
        " must be on the cpu");
  check(logits.dtype() == DType::Float32 || logits.dtype() == DType::Float64,
        "ConfusionMatrix::add_batch: logits ", logits.describe(), " must be float32 or float64");
  check(logits.ndim() == 2 && logits.size(1) == num_classes_, "ConfusionMatrix::add_batch: logits ",
        logits.describe(), " must be [N, ", num_classes_, "]");
  check(labels.dtype() == DType::Int64 && labels.ndim() == 1 && labels.size(0) == logits.size(0),
        "ConfusionMatrix::add_batch: labels ", labels.describe(), " must be int64[", logits.size(0), "]");
  const std::int64_t rows = logits.size(0);
  const std::int64_t* label = labels.data<std::int64_t>();
  for (std::int64_t i = 0; i < rows; ++i)
    check(label[i] >= 0 && label[i] < num_classes_, "ConfusionMatrix::add_batch: label ", label[i], " of row ", i,
          " is outside 0..", num_classes_ - 1);
  for (std::int64_t i = 0; i < rows; ++i) {
    const int prediction = logits.dtype() == DType::Float32
                               ? row_argmax(logits.data<float>() + i * num_classes_, num_classes_)
                               : row_argmax(logits.data<double>() + i * num_classes_, num_classes_);
    add(static_cast<int>(label[i]), prediction);
  }
}

std::int64_t ConfusionMatrix::count(int target, int prediction) const {
  check_class(target, "target");
  check_class(prediction, "prediction");
  return counts_[static_cast<std::size_t>(target) * num_classes_ + prediction];
}

std::int64_t ConfusionMatrix::column_sum(int c) const {
  std::int64_t sum = 0;
  for (int t = 0; t < num_classes_; ++t) sum += counts_[static_cast<std::size_t>(t) * num_classes_ + c];
  return sum;
}

std::int64_t ConfusionMatrix::support(int c) const {
  check_class(c, "class");
  std::int64_t sum = 0;
  for (int p = 0; p < num_classes_; ++p) sum += counts_[static_cast<std::size_t>(c) * num_classes_ + p];
  return sum;
}

double ConfusionMatrix::accuracy() const {
  std::int64_t trace = 0;
  for (int c = 0; c < num_classes_; ++c) trace += counts_[static_cast<std::size_t>(c) * num_classes_ + c];
  return ratio(trace, total_);
}

double ConfusionMatrix::precision(int c) const {
  check_class(c, "class");
  return ratio(count(c, c), column_sum(c));
}

double ConfusionMatrix::recall(int c) const { return ratio(count(c, c), support(c)); }

double ConfusionMatrix::f1(int c) const {
  const double p = precision(c), r = recall(c);
  return p + r == 0.0 ? 0.0 : 2.0 * p * r / (p + r);
}

double ConfusionMatrix::mean_class_accuracy() const {
  double sum = 0.0;
  int present = 0;
  for (int c = 0; c < num_classes_; ++c)
    if (support(c) > 0) {
      sum += recall(c);
      ++present;
    }
  return present == 0 ? 0.0 : sum / present;
}

double ConfusionMatrix::macro_f1() const {
  double sum = 0.0;
  int labels = 0;
  for (int c = 0; c < num_classes_; ++c)
    if (support(c) > 0 || column_sum(c) > 0) {
      sum += f1(c);
      ++labels;
    }
  return labels == 0 ? 0.0 : sum / labels;
}

std::string ConfusionMatrix::per_class_table(const std::vector<std::string>& names) const {
  check_names(names, "per_class_table");
  int name_width = 5;  // "class"
  for (const std::string& name : names) name_width = std::max(name_width, static_cast<int>(name.size()));
  std::string text = format("%-*s  precision  recall  f1-score  support\n", name_width, "class");
  for (int c = 0; c < num_classes_; ++c)
    text += format("%-*s  %9.4f  %6.4f  %8.4f  %7lld\n", name_width, names[c].c_str(), precision(c), recall(c),
                   f1(c), static_cast<long long>(support(c)));
  text += format("mean class accuracy %.4f, macro-F1 %.4f\n", mean_class_accuracy(), macro_f1());
  text += format("accuracy %.4f (%lld samples)\n", accuracy(), static_cast<long long>(total_));
  return text;
}

std::string ConfusionMatrix::matrix_table(const std::vector<std::string>& names) const {
  check_names(names, "matrix_table");
  const std::string corner = "target\\predicted";
  int column_width = 1;
  for (const std::string& name : names) column_width = std::max(column_width, static_cast<int>(name.size()));
  for (std::int64_t value : counts_)
    column_width = std::max(column_width, static_cast<int>(std::to_string(value).size()));
  int row_label_width = static_cast<int>(corner.size());
  for (const std::string& name : names) row_label_width = std::max(row_label_width, static_cast<int>(name.size()));

  std::string text = format("%-*s", row_label_width, corner.c_str());
  for (const std::string& name : names) text += format("  %*s", column_width, name.c_str());
  text += "\n";
  for (int t = 0; t < num_classes_; ++t) {
    text += format("%-*s", row_label_width, names[t].c_str());
    for (int p = 0; p < num_classes_; ++p)
      text += format("  %*lld", column_width, static_cast<long long>(count(t, p)));
    text += "\n";
  }
  return text;
}

std::vector<std::vector<double>> softmax_rows(const Tensor& logits) {
  const Tensor values = logits.detach().to(Device::CPU).to(DType::Float64);
  const std::int64_t rows = values.size(0), classes = values.size(1);
  std::vector<std::vector<double>> out(static_cast<std::size_t>(rows), std::vector<double>(classes));
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = values.data<double>() + r * classes;
    const double largest = *std::max_element(row, row + classes);
    double total = 0.0;
    for (std::int64_t c = 0; c < classes; ++c) total += out[r][c] = std::exp(row[c] - largest);
    for (double& p : out[r]) p /= total;
  }
  return out;
}

int best_class(const std::vector<double>& row) { return row_argmax(row.data(), static_cast<std::int64_t>(row.size())); }

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string csv_probability(double p) { return format("%.6f", p); }

std::string class_list(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return printable(text);
}

}  // namespace armnet::apps
