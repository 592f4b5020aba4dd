// The evaluation report (apps/report.h) and its pictures (apps/plots.h): a
// hand-computed 3-class confusion matrix, the zero-division conventions,
// add_batch's argmax with ties and NaN, the errors, the text tables, and the
// PNGs decoded back (size, colours of the cells and their text, not blank,
// unwritable paths).
//
// ARMNET_PLOT_EXAMPLES_DIR=docs build/test_report --run_test=write_examples
// writes docs/example_curves.png and docs/example_confusion.png (made-up,
// RAF-DB-sized numbers).
#define BOOST_TEST_MODULE report
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "apps/plots.h"
#include "apps/report.h"
#include "data/image.h"
#include "tests/gradcheck.h"

using namespace armnet;
using armnet::testing::TemporaryDirectory;
using namespace armnet::apps;
using armnet::testing::throws_error_containing;
namespace fs = std::filesystem;

namespace {

// Adds `count` samples of (target, prediction).
void add_many(ConfusionMatrix& matrix, int target, int prediction, int count) {
  for (int i = 0; i < count; ++i) matrix.add(target, prediction);
}

// Rows = target:  A [5 1 0], B [2 3 1], C [1 0 4].
// Column sums 8 4 5, row sums 6 6 5, trace 12, total 17.
ConfusionMatrix three_class_matrix() {
  ConfusionMatrix matrix(3);
  const int counts[3][3] = {{5, 1, 0}, {2, 3, 1}, {1, 0, 4}};
  for (int t = 0; t < 3; ++t)
    for (int p = 0; p < 3; ++p) add_many(matrix, t, p, counts[t][p]);
  return matrix;
}

std::vector<std::vector<std::string>> split_lines_into_words(const std::string& text) {
  std::vector<std::vector<std::string>> lines;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    std::istringstream words(line);
    std::vector<std::string> tokens;
    std::string word;
    while (words >> word) tokens.push_back(word);
    lines.push_back(tokens);
  }
  return lines;
}

struct Pixel {
  int r, g, b;
  int brightness() const { return r + g + b; }
};

Pixel pixel_at(const Image& image, double x, double y) {
  const std::uint8_t* p = image.row(static_cast<int>(y)) + static_cast<int>(x) * 3;
  return {p[0], p[1], p[2]};
}

// The brightest and the darkest pixel in a square of half-side `radius` around (x, y).
std::pair<int, int> brightness_range(const Image& image, double x, double y, int radius) {
  int brightest = 0, darkest = 3 * 255;
  for (int dy = -radius; dy <= radius; ++dy)
    for (int dx = -radius; dx <= radius; ++dx) {
      const int b = pixel_at(image, x + dx, y + dy).brightness();
      brightest = std::max(brightest, b);
      darkest = std::min(darkest, b);
    }
  return {brightest, darkest};
}

// Pixels within `tolerance` per channel of (r, g, b).
int pixels_near(const Image& image, int r, int g, int b, int tolerance) {
  int count = 0;
  for (std::size_t i = 0; i + 2 < image.pixels.size(); i += 3)
    if (std::abs(image.pixels[i] - r) <= tolerance && std::abs(image.pixels[i + 1] - g) <= tolerance &&
        std::abs(image.pixels[i + 2] - b) <= tolerance)
      ++count;
  return count;
}

std::vector<EpochMetrics> made_up_history(int epochs) {
  std::vector<EpochMetrics> history;
  for (int e = 1; e <= epochs; ++e) {
    EpochMetrics m;
    m.epoch = e;
    m.train_loss = 0.05 + 1.6 * std::exp(-e / 10.0);
    m.val_loss = 0.45 + 0.9 * std::exp(-e / 8.0) + 0.002 * e;
    m.train_accuracy = 0.99 - 0.6 * std::exp(-e / 9.0);
    m.val_accuracy = 0.86 - 0.45 * std::exp(-e / 7.0);
    m.lr = 1e-3 * std::pow(0.9, e - 1);
    m.seconds = 60;
    history.push_back(m);
  }
  return history;
}

}  // namespace

BOOST_AUTO_TEST_CASE(hand_computed_metrics) {
  const ConfusionMatrix matrix = three_class_matrix();
  BOOST_TEST(matrix.num_classes() == 3);
  BOOST_TEST(matrix.total() == 17);
  BOOST_TEST(matrix.count(1, 0) == 2);
  BOOST_TEST(matrix.count(0, 2) == 0);
  BOOST_TEST(matrix.count(2, 0) == 1);
  BOOST_TEST(matrix.accuracy() == 12.0 / 17.0, boost::test_tools::tolerance(1e-12));
  const double precision[3] = {5.0 / 8, 3.0 / 4, 4.0 / 5};
  const double recall[3] = {5.0 / 6, 3.0 / 6, 4.0 / 5};
  const double f1[3] = {10.0 / 14, 6.0 / 10, 8.0 / 10};  // 2 TP / (2 TP + FP + FN)
  const std::int64_t support[3] = {6, 6, 5};
  for (int c = 0; c < 3; ++c) {
    BOOST_TEST_CONTEXT("class " << c) {
      BOOST_TEST(matrix.precision(c) == precision[c], boost::test_tools::tolerance(1e-12));
      BOOST_TEST(matrix.recall(c) == recall[c], boost::test_tools::tolerance(1e-12));
      BOOST_TEST(matrix.f1(c) == f1[c], boost::test_tools::tolerance(1e-12));
      BOOST_TEST(matrix.support(c) == support[c]);
    }
  }
  BOOST_TEST(matrix.mean_class_accuracy() == (5.0 / 6 + 0.5 + 0.8) / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(matrix.macro_f1() == (10.0 / 14 + 0.6 + 0.8) / 3, boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(zero_division_gives_zero) {
  const ConfusionMatrix empty(4);
  BOOST_TEST(empty.total() == 0);
  BOOST_TEST(empty.accuracy() == 0.0);
  BOOST_TEST(empty.mean_class_accuracy() == 0.0);
  BOOST_TEST(empty.precision(0) == 0.0);
  BOOST_TEST(empty.recall(0) == 0.0);
  BOOST_TEST(empty.f1(0) == 0.0);

  // Class 0: occurs twice, predicted once right. Class 1: occurs once, is
  // predicted twice. Class 2: never occurs but is predicted once. Class 3:
  // neither occurs nor is predicted.
  ConfusionMatrix matrix(4);
  matrix.add(0, 0);
  matrix.add(0, 1);
  matrix.add(1, 1);
  matrix.add(1, 2);
  matrix.add(1, 1);
  BOOST_TEST(matrix.precision(2) == 0.0);  // predicted once, never right
  BOOST_TEST(matrix.recall(2) == 0.0);     // never occurs
  BOOST_TEST(matrix.f1(2) == 0.0);
  BOOST_TEST(matrix.support(2) == 0);
  BOOST_TEST(matrix.precision(3) == 0.0);  // never predicted
  BOOST_TEST(matrix.recall(3) == 0.0);
  BOOST_TEST(matrix.f1(3) == 0.0);
  BOOST_TEST(matrix.precision(1) == 2.0 / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(matrix.recall(1) == 2.0 / 3, boost::test_tools::tolerance(1e-12));
  // Only classes 0 and 1 have samples: (1/2 + 2/3) / 2.
  BOOST_TEST(matrix.mean_class_accuracy() == (0.5 + 2.0 / 3) / 2, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(matrix.accuracy() == 3.0 / 5, boost::test_tools::tolerance(1e-12));
  // Macro-F1 over the classes that occur or are predicted (0, 1 and 2, not
  // 3), as scikit-learn's f1_score(average="macro"): F1 of class 0 is
  // 2 x 1 x 1/2 / (1 + 1/2) = 2/3, of class 1 2/3, of class 2 0.
  BOOST_TEST(matrix.macro_f1() == (2.0 / 3 + 2.0 / 3 + 0.0) / 3, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(empty.macro_f1() == 0.0);

  // A class that occurs but is never predicted: precision 0, recall 0.
  ConfusionMatrix missed(2);
  missed.add(1, 0);
  BOOST_TEST(missed.precision(1) == 0.0);
  BOOST_TEST(missed.recall(1) == 0.0);
  BOOST_TEST(missed.f1(1) == 0.0);
  BOOST_TEST(missed.precision(0) == 0.0);  // predicted once, wrong
}

BOOST_AUTO_TEST_CASE(add_batch_takes_the_first_maximum) {
  // Row predictions: tie 0/1 -> 0; tie 1/2 -> 1; all equal -> 0; plain -> 2;
  // a NaN counts as the maximum -> 1.
  const std::vector<double> logits = {1, 1, 0, 0, 2, 2, 3, 3, 3, -1, -2, -0.5, 0, NAN, 5};
  const Tensor labels = Tensor::from_vector({0, 2, 0, 2, 1}, {5}, DType::Int64);
  for (DType dtype : {DType::Float32, DType::Float64}) {
    BOOST_TEST_CONTEXT(dtype_name(dtype)) {
      ConfusionMatrix matrix(3);
      matrix.add_batch(Tensor::from_vector(logits, {5, 3}, dtype), labels);
      BOOST_TEST(matrix.total() == 5);
      BOOST_TEST(matrix.count(0, 0) == 2);  // rows 0 and 2
      BOOST_TEST(matrix.count(2, 1) == 1);  // row 1
      BOOST_TEST(matrix.count(2, 2) == 1);  // row 3
      BOOST_TEST(matrix.count(1, 1) == 1);  // row 4 (NaN)
      BOOST_TEST(matrix.accuracy() == 4.0 / 5, boost::test_tools::tolerance(1e-12));
    }
  }
  // Batches accumulate.
  ConfusionMatrix matrix(3);
  const Tensor batch = Tensor::from_vector({0, 0, 1}, {1, 3});
  matrix.add_batch(batch, Tensor::from_vector({2}, {1}, DType::Int64));
  matrix.add_batch(batch, Tensor::from_vector({2}, {1}, DType::Int64));
  BOOST_TEST(matrix.count(2, 2) == 2);
  // An empty batch counts nothing.
  matrix.add_batch(Tensor::zeros({0, 3}), Tensor::zeros({0}, DType::Int64));
  BOOST_TEST(matrix.total() == 2);
}

BOOST_AUTO_TEST_CASE(errors_name_the_bad_value) {
  BOOST_TEST(throws_error_containing([] { ConfusionMatrix(0); }, {"num_classes 0"}));
  ConfusionMatrix matrix(3);
  BOOST_TEST(throws_error_containing([&] { matrix.add(3, 0); }, {"target 3", "0..2"}));
  BOOST_TEST(throws_error_containing([&] { matrix.add(-1, 0); }, {"target -1"}));
  BOOST_TEST(throws_error_containing([&] { matrix.add(0, 7); }, {"prediction 7"}));
  BOOST_TEST(throws_error_containing([&] { matrix.count(0, 3); }, {"prediction 3"}));
  BOOST_TEST(throws_error_containing([&] { matrix.precision(5); }, {"class 5"}));
  BOOST_TEST(throws_error_containing([&] { matrix.support(-2); }, {"class -2"}));
  BOOST_TEST(matrix.total() == 0);

  const Tensor labels = Tensor::from_vector({0, 1}, {2}, DType::Int64);
  BOOST_TEST(throws_error_containing([&] { matrix.add_batch(Tensor::zeros({2, 4}), labels); }, {"[N, 3]"}));
  BOOST_TEST(throws_error_containing([&] { matrix.add_batch(Tensor::zeros({2, 3, 1}), labels); }, {"logits"}));
  BOOST_TEST(throws_error_containing(
      [&] { matrix.add_batch(Tensor::zeros({2, 3}, DType::Int64), labels); }, {"float32 or float64"}));
  BOOST_TEST(throws_error_containing([&] { matrix.add_batch(Tensor::zeros({3, 3}), labels); }, {"labels", "[3]"}));
  BOOST_TEST(throws_error_containing([&] { matrix.add_batch(Tensor::zeros({2, 3}), Tensor::zeros({2})); },
                                     {"labels", "int64"}));
  // A bad label in the second row: nothing of the batch is counted.
  BOOST_TEST(throws_error_containing(
      [&] { matrix.add_batch(Tensor::zeros({2, 3}), Tensor::from_vector({1, 9}, {2}, DType::Int64)); },
      {"label 9", "row 1"}));
  BOOST_TEST(matrix.total() == 0);

  BOOST_TEST(throws_error_containing([&] { matrix.per_class_table({"a", "b"}); }, {"2 class names", "3 classes"}));
  BOOST_TEST(throws_error_containing([&] { matrix.matrix_table({"a", "b", "c", "d"}); }, {"4 class names"}));
}

BOOST_AUTO_TEST_CASE(per_class_table_holds_the_numbers) {
  const std::string table = three_class_matrix().per_class_table({"A", "B", "C"});
  BOOST_TEST_MESSAGE(table);
  const auto lines = split_lines_into_words(table);
  BOOST_TEST_REQUIRE(lines.size() == 6u);
  BOOST_TEST((lines[0] == std::vector<std::string>{"class", "precision", "recall", "f1-score", "support"}));
  BOOST_TEST((lines[1] == std::vector<std::string>{"A", "0.6250", "0.8333", "0.7143", "6"}));
  BOOST_TEST((lines[2] == std::vector<std::string>{"B", "0.7500", "0.5000", "0.6000", "6"}));
  BOOST_TEST((lines[3] == std::vector<std::string>{"C", "0.8000", "0.8000", "0.8000", "5"}));
  BOOST_TEST((lines[4] == std::vector<std::string>{"mean", "class", "accuracy", "0.7111,", "macro-F1", "0.7048"}));
  BOOST_TEST((lines[5] == std::vector<std::string>{"accuracy", "0.7059", "(17", "samples)"}));
}

BOOST_AUTO_TEST_CASE(matrix_table_holds_the_counts) {
  ConfusionMatrix matrix = three_class_matrix();
  add_many(matrix, 1, 1, 1000);  // a wide number keeps the columns aligned
  const std::string table = matrix.matrix_table({"SU", "FE", "DI"});
  BOOST_TEST_MESSAGE(table);
  const auto lines = split_lines_into_words(table);
  BOOST_TEST_REQUIRE(lines.size() == 4u);
  BOOST_TEST((lines[0] == std::vector<std::string>{"target\\predicted", "SU", "FE", "DI"}));
  BOOST_TEST((lines[1] == std::vector<std::string>{"SU", "5", "1", "0"}));
  BOOST_TEST((lines[2] == std::vector<std::string>{"FE", "2", "1003", "1"}));
  BOOST_TEST((lines[3] == std::vector<std::string>{"DI", "1", "0", "4"}));
  // Right-aligned columns: every line has the same length.
  std::istringstream stream(table);
  std::string line;
  std::set<std::size_t> lengths;
  while (std::getline(stream, line)) lengths.insert(line.size());
  BOOST_TEST(lengths.size() == 1u);
}

BOOST_AUTO_TEST_CASE(confusion_matrix_picture) {
  TemporaryDirectory directory;
  const std::string path = (directory.path() / "cm.png").string();
  // Row 0 is all class 0 (1.00 on the diagonal), row 1 half and half, row 2 empty.
  ConfusionMatrix matrix(3);
  add_many(matrix, 0, 0, 4);
  add_many(matrix, 1, 0, 1);
  add_many(matrix, 1, 1, 1);
  write_confusion_matrix_png(path, matrix, {"SU", "FE", "DI"}, "Accuracy: 0.8333");
  const Image image = decode_image(path);
  BOOST_TEST(image.width == kConfusionWidth);
  BOOST_TEST(image.height == kConfusionHeight);
  BOOST_TEST(image.width == 640);
  BOOST_TEST(image.height == 600);

  // Sample each cell below its centre, away from the text.
  auto fill_of = [&](int row, int column) {
    const PixelRect cell = confusion_matrix_cell(3, row, column);
    return pixel_at(image, cell.x + cell.width / 2, cell.y + cell.height * 0.8);
  };
  const Pixel one = fill_of(0, 0), half = fill_of(1, 1), zero = fill_of(0, 1);
  BOOST_TEST_MESSAGE("1.00: " << one.r << " " << one.g << " " << one.b << "; 0.50: " << half.r << " " << half.g
                              << " " << half.b << "; 0.00: " << zero.r << " " << zero.g << " " << zero.b);
  BOOST_TEST(one.brightness() + 300 < zero.brightness());  // darker
  BOOST_TEST(one.brightness() < half.brightness());
  BOOST_TEST(half.brightness() < zero.brightness());
  BOOST_TEST(one.b > one.r + 50);    // blue
  BOOST_TEST(zero.brightness() > 700);  // nearly white
  BOOST_TEST(zero.b >= zero.r);
  // Equal values, equal colours; the empty row stays 0.
  BOOST_TEST(fill_of(1, 0).brightness() == half.brightness());
  for (int column = 0; column < 3; ++column) BOOST_TEST(fill_of(2, column).brightness() == zero.brightness());

  // White text on the dark cell, dark text on the light one.
  const PixelRect dark_cell = confusion_matrix_cell(3, 0, 0);
  const auto [dark_brightest, dark_darkest] =
      brightness_range(image, dark_cell.x + dark_cell.width / 2, dark_cell.y + dark_cell.height / 2, 12);
  BOOST_TEST(dark_brightest > 700);
  BOOST_TEST(dark_darkest == one.brightness());
  const PixelRect light_cell = confusion_matrix_cell(3, 0, 1);
  const auto [light_brightest, light_darkest] =
      brightness_range(image, light_cell.x + light_cell.width / 2, light_cell.y + light_cell.height / 2, 12);
  BOOST_TEST(light_darkest < 250);
  BOOST_TEST(light_brightest == zero.brightness());

  // Something (the title) is drawn above the matrix, and the tick labels left of it.
  const PixelRect top_left = confusion_matrix_cell(3, 0, 0);
  const auto [title_brightest, title_darkest] = brightness_range(image, 320, top_left.y / 2, 12);
  BOOST_TEST(title_darkest < 250);
  BOOST_TEST(title_brightest == 3 * 255);
  BOOST_TEST(brightness_range(image, top_left.x - 20, top_left.y + top_left.height / 2, 10).second < 250);

  // Cells are pixel-aligned and cover the matrix without gaps.
  for (int n : {1, 3, 7}) {
    BOOST_TEST_CONTEXT(n << " classes") {
      const PixelRect first = confusion_matrix_cell(n, 0, 0), last = confusion_matrix_cell(n, n - 1, n - 1);
      for (int k = 1; k < n; ++k) {
        const PixelRect previous = confusion_matrix_cell(n, 0, k - 1), next = confusion_matrix_cell(n, 0, k);
        BOOST_TEST(previous.x + previous.width == next.x);
      }
      BOOST_TEST(last.x + last.width - first.x == last.y + last.height - first.y);
      BOOST_TEST(last.x + last.width <= kConfusionWidth);
      BOOST_TEST(last.y + last.height <= kConfusionHeight);
    }
  }
}

BOOST_AUTO_TEST_CASE(training_curves_picture) {
  TemporaryDirectory directory;
  for (int epochs : {1, 2, 70}) {
    BOOST_TEST_CONTEXT(epochs << " epochs") {
      const std::string path = (directory.path() / ("curves_" + std::to_string(epochs) + ".png")).string();
      write_training_curves_png(path, made_up_history(epochs));
      const Image image = decode_image(path);
      BOOST_TEST(image.width == kCurvesWidth);
      BOOST_TEST(image.height == kCurvesHeight);
      std::set<int> colours;
      for (std::size_t i = 0; i + 2 < image.pixels.size(); i += 3)
        colours.insert(image.pixels[i] << 16 | image.pixels[i + 1] << 8 | image.pixels[i + 2]);
      BOOST_TEST(colours.size() >= 10u);
      // Mostly white background, the train series in blue, validation in orange.
      BOOST_TEST(pixels_near(image, 255, 255, 255, 0) > image.width * image.height / 2);
      BOOST_TEST(pixels_near(image, 31, 119, 180, 10) > 40);
      BOOST_TEST(pixels_near(image, 255, 127, 14, 10) > 40);
    }
  }
  // Non-finite values leave gaps instead of breaking the picture.
  std::vector<EpochMetrics> history = made_up_history(5);
  history[2].val_loss = NAN;
  history[3].train_loss = INFINITY;
  const std::string path = (directory.path() / "gaps.png").string();
  write_training_curves_png(path, history);
  BOOST_TEST(decode_image(path).width == kCurvesWidth);
}

BOOST_AUTO_TEST_CASE(pictures_replace_files_and_name_the_path_on_errors) {
  TemporaryDirectory directory;
  const std::string path = (directory.path() / "picture.png").string();
  const ConfusionMatrix matrix = three_class_matrix();
  write_confusion_matrix_png(path, matrix, {"A", "B", "C"}, "first");
  write_training_curves_png(path, made_up_history(3));  // replaces it
  BOOST_TEST(decode_image(path).width == kCurvesWidth);
  BOOST_TEST(std::distance(fs::directory_iterator(directory.path()), fs::directory_iterator()) == 1);

  const std::string unwritable = "/nonexistent-dir/x.png";
  BOOST_TEST(throws_error_containing([&] { write_training_curves_png(unwritable, made_up_history(3)); },
                                     {unwritable}));
  BOOST_TEST(throws_error_containing(
      [&] { write_confusion_matrix_png(unwritable, matrix, {"A", "B", "C"}, "title"); }, {unwritable}));
  BOOST_TEST(throws_error_containing([&] { write_training_curves_png(path, {}); }, {path, "no epochs"}));
  BOOST_TEST(throws_error_containing([&] { write_confusion_matrix_png(path, matrix, {"A", "B"}, "title"); },
                                     {path, "2 labels", "3 classes"}));
  BOOST_TEST(throws_error_containing([] { confusion_matrix_cell(3, 3, 0); }, {"cell (3, 0)"}));
  // The failed writes left the earlier picture alone.
  BOOST_TEST(decode_image(path).width == kCurvesWidth);
}

// Writes the two example pictures of docs/plots.md when
// ARMNET_PLOT_EXAMPLES_DIR is set; skipped otherwise.
bool examples_requested(boost::unit_test::test_unit_id) { return std::getenv("ARMNET_PLOT_EXAMPLES_DIR") != nullptr; }

BOOST_AUTO_TEST_CASE(write_examples, *boost::unit_test::precondition(examples_requested)) {
  const fs::path out(std::getenv("ARMNET_PLOT_EXAMPLES_DIR"));
  write_training_curves_png((out / "example_curves.png").string(), made_up_history(70));
  // Made-up predictions with the class counts of RAF-DB's test split.
  const int counts[7][7] = {{290, 8, 3, 8, 4, 4, 12},    {10, 44, 2, 5, 8, 2, 3},
                            {4, 2, 96, 12, 16, 10, 20},  {8, 2, 10, 1126, 12, 5, 22},
                            {4, 5, 14, 14, 411, 4, 26},  {5, 3, 10, 6, 6, 127, 5},
                            {10, 1, 14, 18, 36, 3, 598}};
  ConfusionMatrix matrix(7);
  for (int t = 0; t < 7; ++t)
    for (int p = 0; p < 7; ++p) add_many(matrix, t, p, counts[t][p]);
  char title[64];
  std::snprintf(title, sizeof title, "Accuracy: %.4f", matrix.accuracy());
  write_confusion_matrix_png((out / "example_confusion.png").string(), matrix,
                             {"SU", "FE", "DI", "HA", "SA", "AN", "NE"}, title);
  BOOST_TEST(decode_image((out / "example_curves.png").string()).width == kCurvesWidth);
  BOOST_TEST(decode_image((out / "example_confusion.png").string()).width == kConfusionWidth);
  BOOST_TEST_MESSAGE("wrote the examples into " << out << "\n"
                                                 << matrix.per_class_table({"SU", "FE", "DI", "HA", "SA", "AN", "NE"}));
}
