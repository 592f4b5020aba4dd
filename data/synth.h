// A synthetic RAF-DB: procedurally drawn faces with the seven expressions,
// written in RAF-DB's "basic" layout so that everything that reads RAF-DB
// (the loader, `armnet train/test`) runs on it unchanged. It is the data of
// the end-to-end tests and of the README's demo, for users without the
// licensed data set. docs/synth.md describes the drawing and the variation.
//
// Layout written under out_dir (labels 1..7 = Surprise, Fear, Disgust,
// Happiness, Sadness, Anger, Neutral, as RAF-DB):
//   EmoLabel/list_patition_label.txt     lines "train_00001.jpg 5", then "test_0001.jpg 3"
//   Image/aligned/train_00001_aligned.jpg
// Every file appears atomically (a temporary file renamed into place); the
// label file is written last, so a listed image always exists.
//
// Deterministic: the same options give the same bytes, whatever the number
// of threads (each image draws from its own Generator, seeded from the seed,
// the split and the image's index).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "data/image.h"
#include "data/raf_db.h"

namespace armnet {

using SynthClassCounts = std::array<std::int64_t, kRafNumClasses>;  // index = class 0..6 (label 1..7)

// RAF-DB's images per class (Surprise, Fear, Disgust, Happiness, Sadness,
// Anger, Neutral) in its train and test splits.
constexpr SynthClassCounts kRafTrainClassCounts = {1290, 281, 717, 4772, 1982, 705, 2524};
constexpr SynthClassCounts kRafTestClassCounts = {329, 74, 160, 1185, 478, 162, 680};

enum class SynthBalance { Raf, Uniform };
// "raf" or "uniform"; anything else throws armnet::Error.
SynthBalance parse_synth_balance(const std::string& name);

struct SynthOptions {
  std::string out_dir;
  std::int64_t train = 2000;  // images in the train split
  std::int64_t test = 500;    // images in the test split
  std::uint64_t seed = 0;
  int size = 100;             // images are size x size RGB
  SynthBalance balance = SynthBalance::Raf;
};

struct SynthSummary {
  SynthClassCounts train_counts{};
  SynthClassCounts test_counts{};
  std::string label_file;  // OUT/EmoLabel/list_patition_label.txt
  std::string image_dir;   // OUT/Image/aligned
};

// Writes the whole data set (see above). Throws armnet::Error naming the
// value or the path: a negative count, size < 16, an out_dir that cannot be
// created or written.
SynthSummary write_synthetic_raf_db(const SynthOptions& options);

// `total` images shared among the classes in proportion to `reference`
// (largest-remainder rounding, so the counts sum to exactly `total`); when
// total >= 7 every class with a non-zero reference gets at least one image
// (proportional_counts, data/dataset.h).
SynthClassCounts scale_class_counts(std::int64_t total, const SynthClassCounts& reference);
// The counts of one split: RAF-DB's proportions of that split, or equal.
SynthClassCounts synthetic_class_counts(std::int64_t total, Split split, SynthBalance balance);

// One face of class 0..6 at expression intensity 0..1 (0 = the identity's
// resting face, 1 = strong); everything else (identity, pose, background,
// lighting, blur, noise) comes from `seed` and does not depend on the class,
// so one seed shows one person making each expression.
Image render_synthetic_face(int size, int expression, double intensity, std::uint64_t seed);

// A contact sheet: 7 columns (the classes in label order) by `rows` rows,
// each row one person at an intensity rising from subtle (top) to strong
// (bottom). Written as a PNG.
void write_synthetic_examples(const std::string& png_path, int size, std::uint64_t seed, int rows = 3);

}  // namespace armnet
