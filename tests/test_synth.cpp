// The synthetic RAF-DB (data/synth.h): class counts, the layout and its
// images, determinism, that the classes differ where expressions show, and
// the errors.
#define BOOST_TEST_MODULE synth
#include <boost/test/unit_test.hpp>
#include <omp.h>
#include <stb/stb_image.h>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "data/raf_db.h"
#include "data/synth.h"
#include "tensor/error.h"
#include "tests/gradcheck.h"

using namespace armnet;
using armnet::testing::TemporaryDirectory;
using armnet::testing::read_file;
namespace fs = std::filesystem;

namespace {

struct LabelLine {
  std::string name;
  int label = 0;  // 1..7 as in the file
};

std::vector<LabelLine> read_label_lines(const fs::path& root) {
  std::istringstream text(read_file(root / "EmoLabel" / "list_patition_label.txt"));
  std::vector<LabelLine> lines;
  LabelLine line;
  while (text >> line.name >> line.label) lines.push_back(line);
  return lines;
}

std::int64_t sum(const SynthClassCounts& counts) {
  std::int64_t total = 0;
  for (std::int64_t count : counts) total += count;
  return total;
}

SynthOptions small_options(const fs::path& out_dir) {
  SynthOptions options;
  options.out_dir = out_dir.string();
  options.train = 70;
  options.test = 21;
  options.size = 32;
  options.seed = 7;
  options.balance = SynthBalance::Uniform;
  return options;
}

// Mean absolute difference of two equally sized float images.
double mean_absolute_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double total = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) total += std::fabs(a[i] - b[i]);
  return total / a.size();
}

}  // namespace

BOOST_AUTO_TEST_CASE(class_counts_follow_the_requested_balance) {
  BOOST_TEST((scale_class_counts(12271, kRafTrainClassCounts) == kRafTrainClassCounts));
  BOOST_TEST((scale_class_counts(3068, kRafTestClassCounts) == kRafTestClassCounts));
  BOOST_TEST((synthetic_class_counts(700, Split::Train, SynthBalance::Uniform) ==
              SynthClassCounts{100, 100, 100, 100, 100, 100, 100}));
  // Largest remainder: the first classes take the leftovers on ties.
  BOOST_TEST((synthetic_class_counts(10, Split::Test, SynthBalance::Uniform) == SynthClassCounts{2, 2, 2, 1, 1, 1, 1}));
  BOOST_TEST((synthetic_class_counts(7, Split::Train, SynthBalance::Raf) == (SynthClassCounts{1, 1, 1, 1, 1, 1, 1})));
  for (Split split : {Split::Train, Split::Test}) {
    const SynthClassCounts& reference = split == Split::Train ? kRafTrainClassCounts : kRafTestClassCounts;
    for (std::int64_t total = 0; total <= 300; ++total) {
      for (SynthBalance balance : {SynthBalance::Raf, SynthBalance::Uniform}) {
        const SynthClassCounts counts = synthetic_class_counts(total, split, balance);
        BOOST_TEST(sum(counts) == total);
        for (std::int64_t count : counts) BOOST_TEST((count >= (total >= 7 ? 1 : 0)));
      }
    }
    // Proportional to within one image when no class needs topping up.
    for (std::int64_t total : {1000, 2000, 12345}) {
      const SynthClassCounts counts = synthetic_class_counts(total, split, SynthBalance::Raf);
      for (int c = 0; c < kRafNumClasses; ++c) {
        const double exact = static_cast<double>(total) * reference[c] / sum(reference);
        BOOST_TEST(std::fabs(counts[c] - exact) < 1.0);
      }
    }
  }
  BOOST_CHECK_THROW(scale_class_counts(-1, kRafTrainClassCounts), Error);
}

BOOST_AUTO_TEST_CASE(writes_the_layout_with_the_requested_counts) {
  for (SynthBalance balance : {SynthBalance::Uniform, SynthBalance::Raf}) {
    TemporaryDirectory directory;
    SynthOptions options = small_options(directory.path());
    options.balance = balance;
    if (balance == SynthBalance::Raf) {
      options.train = 150;
      options.test = 40;
    }
    const SynthSummary summary = write_synthetic_raf_db(options);
    BOOST_TEST((summary.train_counts == synthetic_class_counts(options.train, Split::Train, balance)));
    BOOST_TEST((summary.test_counts == synthetic_class_counts(options.test, Split::Test, balance)));

    const std::vector<LabelLine> lines = read_label_lines(directory.path());
    BOOST_TEST_REQUIRE(lines.size() == static_cast<std::size_t>(options.train + options.test));
    SynthClassCounts train_counts{}, test_counts{};
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const bool train = i < static_cast<std::size_t>(options.train);
      char expected[32];
      std::snprintf(expected, sizeof expected, train ? "train_%05zu.jpg" : "test_%04zu.jpg",
                    train ? i + 1 : i + 1 - static_cast<std::size_t>(options.train));
      BOOST_TEST(lines[i].name == expected);
      BOOST_TEST_REQUIRE((lines[i].label >= 1 && lines[i].label <= 7));
      ++(train ? train_counts : test_counts)[lines[i].label - 1];

      const std::string stem = lines[i].name.substr(0, lines[i].name.size() - 4);
      const fs::path image = directory.path() / "Image" / "aligned" / (stem + "_aligned.jpg");
      int width = 0, height = 0, channels = 0;
      unsigned char* pixels = stbi_load(image.string().c_str(), &width, &height, &channels, 3);
      BOOST_TEST_REQUIRE(pixels != nullptr, image << ": " << stbi_failure_reason());
      stbi_image_free(pixels);
      BOOST_TEST(width == options.size);
      BOOST_TEST(height == options.size);
      BOOST_TEST(channels == 3);
    }
    BOOST_TEST((train_counts == summary.train_counts));
    BOOST_TEST((test_counts == summary.test_counts));

    // Nothing left behind but the layout, and the data set's reader takes it.
    std::size_t files = 0;
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(directory.path())) {
      files += entry.is_regular_file();
      BOOST_TEST(entry.path().string().find(".tmp") == std::string::npos, entry.path());
    }
    BOOST_TEST(files == lines.size() + 1);
    const Dataset dataset = read_raf_db(options.out_dir);
    const auto as_vector = [](const SynthClassCounts& counts) {
      return std::vector<std::int64_t>(counts.begin(), counts.end());
    };
    BOOST_TEST(count_per_class(dataset.train, kRafNumClasses) == as_vector(summary.train_counts),
               boost::test_tools::per_element());
    BOOST_TEST(count_per_class(dataset.test, kRafNumClasses) == as_vector(summary.test_counts),
               boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(the_same_seed_writes_the_same_bytes_whatever_the_threads) {
  TemporaryDirectory first, second, other;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  write_synthetic_raf_db(small_options(first.path()));
  omp_set_num_threads(std::max(2, threads));
  write_synthetic_raf_db(small_options(second.path()));
  omp_set_num_threads(threads);
  SynthOptions other_options = small_options(other.path());
  other_options.seed = 8;
  write_synthetic_raf_db(other_options);

  const fs::path labels = fs::path("EmoLabel") / "list_patition_label.txt";
  BOOST_TEST(read_file(first.path() / labels) == read_file(second.path() / labels));
  BOOST_TEST(read_file(first.path() / labels) != read_file(other.path() / labels));
  int differing = 0, images = 0;
  for (const LabelLine& line : read_label_lines(first.path())) {
    const fs::path image = fs::path("Image") / "aligned" / (line.name.substr(0, line.name.size() - 4) + "_aligned.jpg");
    const std::string bytes = read_file(first.path() / image);
    BOOST_TEST(!bytes.empty());
    BOOST_TEST((bytes == read_file(second.path() / image)), image);
    differing += bytes != read_file(other.path() / image);
    ++images;
  }
  BOOST_TEST(differing == images);
}

// A rectangle of a face image, in fractions of its size.
struct Region {
  const char* name;
  double x0, y0, x1, y1;
};

// means[class][half]: the mean over kFacesPerHalf faces (a different person
// each) of `region` as luminance standardised to mean 0 and deviation 1, so
// that skin tone and lighting do not count.
constexpr int kFaceSize = 48;
constexpr int kFacesPerHalf = 200;

std::vector<std::vector<std::vector<double>>> class_half_means(const std::vector<Image>& faces, const Region& region) {
  const int x0 = static_cast<int>(region.x0 * kFaceSize), x1 = static_cast<int>(region.x1 * kFaceSize);
  const int y0 = static_cast<int>(region.y0 * kFaceSize), y1 = static_cast<int>(region.y1 * kFaceSize);
  const std::size_t region_size = static_cast<std::size_t>((x1 - x0) * (y1 - y0));
  std::vector<std::vector<std::vector<double>>> means(kRafNumClasses);
  for (int c = 0; c < kRafNumClasses; ++c) {
    for (int half = 0; half < 2; ++half) {
      std::vector<double> mean(region_size, 0.0);
      for (int i = 0; i < kFacesPerHalf; ++i) {
        const Image& face = faces[(static_cast<std::size_t>(c) * 2 + half) * kFacesPerHalf + i];
        std::vector<double> values;
        for (int y = y0; y < y1; ++y) {
          for (int x = x0; x < x1; ++x) {
            const std::uint8_t* pixel = face.row(y) + 3 * x;
            values.push_back(0.299 * pixel[0] + 0.587 * pixel[1] + 0.114 * pixel[2]);
          }
        }
        double average = 0.0, variance = 0.0;
        for (double value : values) average += value / region_size;
        for (double value : values) variance += (value - average) * (value - average) / region_size;
        const double deviation = std::sqrt(variance) + 1e-6;
        for (std::size_t k = 0; k < region_size; ++k) mean[k] += (values[k] - average) / deviation / kFacesPerHalf;
      }
      means[c].push_back(mean);
    }
  }
  return means;
}

// How the class-mean images of one region differ: between two classes and
// between the two halves (two groups of people) of one class, on average;
// and each class from neutral, as a multiple of the latter.
struct RegionComparison {
  double between = 0.0;
  double within = 0.0;
  std::array<double, kRafNumClasses> from_neutral{};
};

RegionComparison compare_classes(const std::vector<Image>& faces, const Region& region) {
  const auto means = class_half_means(faces, region);
  RegionComparison comparison;
  for (int c = 0; c < kRafNumClasses; ++c) comparison.within += mean_absolute_difference(means[c][0], means[c][1]);
  comparison.within /= kRafNumClasses;
  int pairs = 0;
  for (int a = 0; a < kRafNumClasses; ++a) {
    for (int b = a + 1; b < kRafNumClasses; ++b) {
      comparison.between += mean_absolute_difference(means[a][0], means[b][1]);
      ++pairs;
    }
  }
  comparison.between /= pairs;
  BOOST_TEST_MESSAGE(region.name << ": between classes " << comparison.between << ", within a class "
                                 << comparison.within);
  for (int c = 0; c < kRafNumClasses; ++c) {
    comparison.from_neutral[c] = mean_absolute_difference(means[c][0], means[6][1]) / comparison.within;
    BOOST_TEST_MESSAGE("  " << kRafShortNames[c] << " vs NE: " << comparison.from_neutral[c] << " x within");
  }
  return comparison;
}

// The expression, not the nuisance, sets the classes apart: over the mouth
// region the class means differ far more between classes than between two
// groups of people of one class, and every expression moves the mouth or the
// brows and eyes away from neutral.
BOOST_AUTO_TEST_CASE(classes_differ_in_the_expression_region) {
  std::vector<Image> faces;  // [class][half][i]
  for (int c = 0; c < kRafNumClasses; ++c) {
    for (int half = 0; half < 2; ++half) {
      for (int i = 0; i < kFacesPerHalf; ++i) {
        faces.push_back(render_synthetic_face(kFaceSize, c, 0.7, 100000u * c + 2u * i + half));
      }
    }
  }
  const RegionComparison mouth = compare_classes(faces, {"mouth", 1.0 / 3, 5.0 / 8, 2.0 / 3, 5.0 / 6});
  const RegionComparison upper_face = compare_classes(faces, {"brows and eyes", 0.2, 0.28, 0.8, 0.52});
  BOOST_TEST(mouth.between > 1.5 * mouth.within);
  for (int c = 0; c < kRafNumClasses - 1; ++c) {
    BOOST_TEST(std::max(mouth.from_neutral[c], upper_face.from_neutral[c]) > 1.3, kRafShortNames[c] << " vs NE");
  }
}

BOOST_AUTO_TEST_CASE(errors_name_the_value_or_the_path) {
  TemporaryDirectory directory;
  auto message_of = [](const SynthOptions& options) {
    try {
      write_synthetic_raf_db(options);
    } catch (const Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  SynthOptions options = small_options(directory.path() / "out");
  options.train = -3;
  BOOST_TEST(message_of(options).find("-3") != std::string::npos, message_of(options));
  options = small_options(directory.path() / "out");
  options.test = -1;
  BOOST_TEST(message_of(options).find("-1") != std::string::npos, message_of(options));
  options = small_options(directory.path() / "out");
  options.size = 15;
  BOOST_TEST(message_of(options).find("15") != std::string::npos, message_of(options));

  // An output directory below a regular file cannot be created.
  fs::create_directories(directory.path());
  const fs::path file = directory.path() / "a_file";
  std::ofstream(file) << "not a directory";
  options = small_options(file / "out");
  BOOST_TEST(message_of(options).find(file.string()) != std::string::npos, message_of(options));

  BOOST_CHECK_THROW(parse_synth_balance("balanced"), Error);
  BOOST_TEST((parse_synth_balance("raf") == SynthBalance::Raf));
  BOOST_TEST((parse_synth_balance("uniform") == SynthBalance::Uniform));
  BOOST_CHECK_THROW(render_synthetic_face(100, 7, 1.0, 0), Error);
  BOOST_CHECK_THROW(render_synthetic_face(8, 0, 1.0, 0), Error);
}
