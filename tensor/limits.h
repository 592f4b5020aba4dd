// Every limit armnet puts on what it reads and on what it is asked to do, in
// one place, each with its reason. armnet reads files that people download
// from strangers (checkpoints, data sets), so a file's own claims (sizes,
// counts, depths) are checked against these before anything is allocated or
// walked, and a refusal names the file and the limit. docs/reliability.md
// says why each number is what it is.
#pragma once

#include <cstddef>
#include <cstdint>

namespace armnet::limits {

// ---- weight files (safetensors, PyTorch .pth) ----

// The safetensors format itself refuses headers above 100 MB.
constexpr std::uint64_t kSafetensorsHeaderBytes = 100'000'000;
// Tensors in one file: a ResNet-18 + ARM checkpoint with Adam's state holds
// about 300, the largest public model shards a few thousand.
constexpr std::int64_t kTensorsPerFile = 100'000;
// Dimensions of one tensor: armnet's have at most 4; NumPy's own limit is 64.
constexpr std::size_t kTensorDims = 64;
// Elements of one tensor: 2^36 (256 GiB of float32) is far beyond any face
// model, and keeps every byte count far from overflowing 64 bits.
constexpr std::int64_t kTensorElements = std::int64_t{1} << 36;
// Nesting of any JSON armnet reads (a safetensors header nests 3 deep, a
// training state 4): deeper is hostile, and nothing then walks it recursively.
constexpr int kJsonDepth = 32;

// The pickle of a .pth file (FOLDER/data.pkl): about 200 bytes per tensor, so
// 64 MiB is hundreds of thousands of tensors.
constexpr std::uint64_t kPickleBytes = 64ull << 20;
// Values the unpickler may build (about 170 bytes each): a state dict needs
// some 15 per tensor; this bounds a hostile pickle to about 170 MB.
constexpr std::int64_t kPickleValues = 1'000'000;
// Memo entries (BINPUT, MEMOIZE): at most one per value built.
constexpr std::int64_t kPickleMemoEntries = kPickleValues;
// Members of a .pth zip archive: one per storage plus a few.
constexpr std::int64_t kArchiveEntries = kTensorsPerFile + 16;
// torch.save stores archive members uncompressed. A re-zipped checkpoint of
// trained weights shrinks by less than 2x; 64x still admits tensors that are
// mostly zeros, while a 3 MB file can never cost more than 200 MB.
constexpr std::uint64_t kInflateRatio = 64;

// ---- images and data sets ----

// Pixels (width x height) of an image, read from its header before decoding:
// 40 megapixels holds an 8K video frame or a 12-megapixel phone photograph
// three times over, and every image of the public face data sets (RAF-DB,
// AffectNet, FER2013, SFEW). Decoding costs about 10 bytes a pixel, so this
// bounds one image to some 400 MB. --max_image_pixels overrides it.
constexpr std::int64_t kDefaultImagePixels = 40'000'000;
// Width or height of an image (stb_image's own limit is 2^24).
constexpr int kImageSide = 16384;
// A line of a label list: a file name is at most 255 bytes on every common
// file system; a longer line is not a label line.
constexpr std::size_t kLabelLineBytes = 4096;
// A row of a data set's CSV list (fer2013.csv, AffectNet's training.csv):
// FER2013's rows hold 2,304 pixel values (at most 9,216 bytes), AffectNet's
// 68 landmarks (about 1.2 KB); a longer row is not such a list.
constexpr std::size_t kCsvLineBytes = 65536;
// Fields of a CSV row: AffectNet's lists have 9, FER2013's 3; a row of more
// is not a data set list (and each field costs a string).
constexpr std::size_t kCsvFields = 64;
// Samples in one split of a data set: AffectNet, the largest face data set
// armnet reads, has 420,299 manually annotated images (about a million with
// the automatically annotated ones). A sample costs some 250 bytes in memory,
// so this bounds the lists of a data set to about 1 GB however small the
// rows of a CSV file are.
constexpr std::int64_t kSplitSamples = 4'000'000;
// The model's input size (--image_size): the reference trains at 224, and
// beyond 1024 a face of RAF-DB's 100x100 only gets blurrier while memory
// grows with the square.
constexpr int kModelImageSize = 1024;
// MRR's samples per class (--mrr_target): AffectNet's largest class has
// 134,000 images; an epoch's order grows with the target.
constexpr std::int64_t kMrrTarget = 1'000'000;
// Data-loading threads (--workers): more never helps a loader, and each
// thread holds a decoded image.
constexpr int kWorkers = 256;
// Classes of a data set or a checkpoint: expression sets have 7 or 8; a
// thousand (ImageNet's) is far beyond, and the confusion matrix grows with
// the square.
constexpr int kClasses = 1000;
// A class name (a folder's name: at most 255 bytes on every common file
// system).
constexpr std::size_t kClassNameBytes = 255;

// ---- messages ----

// At most this much of a bad line or value is quoted in an error message.
constexpr std::size_t kQuotedBytes = 200;

}  // namespace armnet::limits
