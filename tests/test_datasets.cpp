// The data set formats of data/dataset.h, each read from a set the test
// writes (tests/sample_files.h): class folders, fer2013.csv, AffectNet's
// lists. Classes, their order and mapping, splits, counts, crops, FER2013's
// pixels exactly, every malformed case as one clear line naming the file and
// line, the stratified subsets, BMP and gray decoding, the shared line and
// CSV readers, and the loader over FER2013 and AffectNet.
#define BOOST_TEST_MODULE datasets
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/raf_db.h"
#include "data/text_file.h"
#include "data/transforms.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

using namespace armnet;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

void write_text(const fs::path& path, const std::string& text) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

DatasetOptions options_of(DataFormat format) {
  DatasetOptions options;
  options.format = format;
  return options;
}

std::vector<std::string> raf_names() { return {kRafClassNames.begin(), kRafClassNames.end()}; }

std::vector<std::string> names_of(const std::vector<LabeledImage>& samples) {
  std::vector<std::string> names;
  for (const LabeledImage& sample : samples) names.push_back(sample.name);
  return names;
}

// The part of `image` inside the box (which lies inside the image).
Image crop_of(const Image& image, int x, int y, int width, int height) {
  Image out(width, height);
  for (int row = 0; row < height; ++row) std::copy_n(image.row(y + row) + 3 * x, 3 * width, out.row(row));
  return out;
}

// Replaces the first `from` in `text` (which must hold it).
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  BOOST_TEST_REQUIRE(at != std::string::npos, "no \"" << from << "\"");
  return text.replace(at, from.size(), to);
}

}  // namespace

// ---- class names -----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(class_names_map_to_rafs_expressions) {
  const std::vector<std::pair<std::string, std::string>> spellings = {{"surprise", "Surprise"},
                                                                      {"Surprised", "Surprise"},
                                                                      {"fear", "Fear"},
                                                                      {"fearful", "Fear"},
                                                                      {"SCARED", "Fear"},
                                                                      {"disgust", "Disgust"},
                                                                      {"Disgusted", "Disgust"},
                                                                      {"happy", "Happiness"},
                                                                      {"HAPPY", "Happiness"},
                                                                      {"Happiness", "Happiness"},
                                                                      {"joy", "Happiness"},
                                                                      {"sad", "Sadness"},
                                                                      {"Sadness", "Sadness"},
                                                                      {"angry", "Anger"},
                                                                      {"Anger", "Anger"},
                                                                      {"neutral", "Neutral"},
                                                                      {"calm", "Neutral"},
                                                                      {"contempt", "Contempt"},
                                                                      {"cat", ""},
                                                                      {"happy ", ""},
                                                                      {"", ""}};
  for (const auto& [spelling, expression] : spellings) {
    BOOST_TEST(canonical_expression(spelling) == expression, "\"" << spelling << "\"");
  }
  std::vector<std::string> expected = raf_names();
  expected.push_back("Contempt");
  BOOST_TEST(expression_names() == expected, boost::test_tools::per_element());
  BOOST_TEST(short_class_names({"Surprise", "happy", "Neutral", "Contempt", "cat", "x",
                                "\xC3\xBC"
                                "ber"}) == std::vector<std::string>({"SU", "HA", "NE", "CO", "CA", "X",
                                                                     "\xC3\xBC"
                                                                     "B"}),
             boost::test_tools::per_element());
  for (DataFormat format : {DataFormat::Raf, DataFormat::Folder, DataFormat::Fer2013, DataFormat::AffectNet}) {
    BOOST_TEST((parse_data_format(data_format_name(format)) == format));
  }
  BOOST_TEST(throws_error_containing([] { parse_data_format("ferplus"); },
                                     {"--data_format \"ferplus\"", "raf, folder, fer2013 or affectnet"}));
}

// ---- class folders ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(folder_set_of_the_seven_expressions_takes_rafs_order) {
  TemporaryDirectory directory;
  const std::vector<std::string> folders = {"happy", "Sad", "ANGRY", "surprised", "fearful", "disgust", "neutral"};
  write_folder_dataset(directory.path(), folders, 6, 2);
  const Dataset dataset = read_dataset(directory.path().string(), options_of(DataFormat::Folder));
  BOOST_TEST(dataset.class_names == raf_names(), boost::test_tools::per_element());
  BOOST_TEST(dataset.train.size() == 42u);
  BOOST_TEST(dataset.test.size() == 14u);
  BOOST_TEST(count_per_class(dataset.train, 7) == std::vector<std::int64_t>(7, 6), boost::test_tools::per_element());
  BOOST_TEST(count_per_class(dataset.test, 7) == std::vector<std::int64_t>(7, 2), boost::test_tools::per_element());
  // Class by class in RAF-DB's order, files sorted: Surprise first.
  const std::vector<std::string> train_names = names_of(dataset.train);
  const std::vector<std::string> first_six(train_names.begin(), train_names.begin() + 6);
  BOOST_TEST(first_six == std::vector<std::string>({"train/surprised/img_000.jpg", "train/surprised/img_001.png",
                                                    "train/surprised/img_002.bmp", "train/surprised/img_003.jpg",
                                                    "train/surprised/img_004.png", "train/surprised/img_005.bmp"}),
             boost::test_tools::per_element());
  for (std::size_t i = 0; i < dataset.train.size(); ++i) BOOST_TEST(dataset.train[i].label == static_cast<int>(i / 6));
  BOOST_TEST(dataset.train[0].path == (directory.path() / "train" / "surprised" / "img_000.jpg").string());
  BOOST_TEST(dataset.test[2].name == "test/fearful/img_000.jpg");
  BOOST_TEST(dataset.note.empty());
  // Every image loads as RGB, the gray PNG and the gray BMP included.
  for (const LabeledImage& sample : dataset.train) {
    const Image image = load_sample(sample);
    BOOST_TEST_REQUIRE(image.channels == 3);
    BOOST_TEST(image.width == 32);
    BOOST_TEST(image.pixels.size() == 32u * 32u * 3u);
  }
  for (int gray_index : {1, 5}) {
    const Image gray = load_sample(dataset.train[gray_index]);
    bool equal_channels = true;
    for (std::size_t i = 0; i < gray.pixels.size(); i += 3)
      equal_channels &= gray.pixels[i] == gray.pixels[i + 1] && gray.pixels[i] == gray.pixels[i + 2];
    BOOST_TEST(equal_channels, dataset.train[gray_index].name);
  }
  // The 24-bit BMP is the face exactly (BMP is lossless): "surprised" is
  // class folder 3, written with seed 2 x 3, its image 2 with 6 x 1000 + 2.
  BOOST_TEST(load_sample(dataset.train[2]).pixels == class_image("surprised", 32, 6002).pixels);
  const std::string summary = dataset.summary();
  BOOST_TEST(summary.find("class folders at " + directory.path().string() +
                          ": 42 train, 14 test images in 7 classes") != std::string::npos,
             summary);
  BOOST_TEST(summary.find("HA Happiness") != std::string::npos, summary);
}

BOOST_AUTO_TEST_CASE(folder_split_names_match_in_any_case_and_contempt_comes_last) {
  TemporaryDirectory directory;
  write_folder_dataset(directory.path(), {"Contempt", "happy", "sad"}, 3, 2, "Valid");
  fs::rename(directory / "train", directory / "TRAIN");
  const Dataset dataset = read_dataset(directory.path().string(), options_of(DataFormat::Folder));
  BOOST_TEST(dataset.class_names == std::vector<std::string>({"Happiness", "Sadness", "Contempt"}),
             boost::test_tools::per_element());
  BOOST_TEST(dataset.train.size() == 9u);
  BOOST_TEST(dataset.test.size() == 6u);
  BOOST_TEST(dataset.test[4].name == "Valid/Contempt/img_000.jpg");
  BOOST_TEST(dataset.test[4].label == 2);
  BOOST_TEST(short_class_names(dataset.class_names) == std::vector<std::string>({"HA", "SA", "CO"}),
             boost::test_tools::per_element());
  // The same classes under other spellings in the two splits agree.
  TemporaryDirectory spellings;
  write_class_folder(spellings / "train" / "happy", "happy", 2);
  write_class_folder(spellings / "train" / "angry", "angry", 2);
  write_class_folder(spellings / "val" / "Happiness", "Happiness", 1);
  write_class_folder(spellings / "val" / "ANGER", "ANGER", 1);
  const Dataset spelled = read_dataset(spellings.path().string(), options_of(DataFormat::Folder));
  BOOST_TEST(spelled.class_names == std::vector<std::string>({"Happiness", "Anger"}), boost::test_tools::per_element());
  BOOST_TEST(spelled.test[1].name == "val/ANGER/img_000.jpg");
  BOOST_TEST(spelled.test[1].label == 1);
}

BOOST_AUTO_TEST_CASE(folder_classes_that_are_not_expressions_are_sorted) {
  TemporaryDirectory directory;
  write_folder_dataset(directory.path(), {"zebra", "Apple", "mango"}, 2, 1);
  const Dataset dataset = read_dataset(directory.path().string(), options_of(DataFormat::Folder));
  BOOST_TEST(dataset.class_names == std::vector<std::string>({"Apple", "mango", "zebra"}),
             boost::test_tools::per_element());
  BOOST_TEST(dataset.train[0].name == "train/Apple/img_000.jpg");
  BOOST_TEST(dataset.test[2].name == "test/zebra/img_000.jpg");
  BOOST_TEST(dataset.test[2].label == 2);
  BOOST_TEST(short_class_names(dataset.class_names) == std::vector<std::string>({"AP", "MA", "ZE"}),
             boost::test_tools::per_element());
  // One name that is not an expression: all keep their names, sorted.
  TemporaryDirectory mixed;
  write_folder_dataset(mixed.path(), {"sad", "other", "happy"}, 1, 1);
  const Dataset mixed_set = read_dataset(mixed.path().string(), options_of(DataFormat::Folder));
  BOOST_TEST(mixed_set.class_names == std::vector<std::string>({"happy", "other", "sad"}),
             boost::test_tools::per_element());
  BOOST_TEST(short_class_names(mixed_set.class_names) == std::vector<std::string>({"HA", "OT", "SA"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(folder_set_skips_other_files_and_is_deterministic) {
  TemporaryDirectory directory;
  write_folder_dataset(directory.path(), {"happy", "sad"}, 4, 2);
  const Dataset clean = read_dataset(directory.path().string(), options_of(DataFormat::Folder));
  write_text(directory / "train" / "happy" / "Thumbs.db", "not an image");
  write_text(directory / "train" / "happy" / ".DS_Store", "not an image");
  write_text(directory / "train" / "happy" / "._img_000.jpg", "AppleDouble");
  write_text(directory / "test" / "sad" / "README", "about");
  write_text(directory / "train" / "labels.csv", "a,b");
  fs::create_directories(directory / "train" / ".ipynb_checkpoints");
  fs::create_directories(directory / "test" / "sad" / "nested");
  write_text(directory / "README.md", "a data set");
  const Dataset dataset = read_dataset(directory.path().string(), options_of(DataFormat::Folder));
  BOOST_TEST(names_of(dataset.train) == names_of(clean.train), boost::test_tools::per_element());
  BOOST_TEST(names_of(dataset.test) == names_of(clean.test), boost::test_tools::per_element());
  BOOST_TEST(dataset.note.find("skipped 7 entries") != std::string::npos, dataset.note);
  BOOST_TEST(dataset.summary().find("skipped 7 entries") != std::string::npos);
  // Upper-case extensions are images too.
  fs::rename(directory / "train" / "sad" / "img_000.jpg", directory / "train" / "sad" / "img_000.JPG");
  BOOST_TEST(read_dataset(directory.path().string(), options_of(DataFormat::Folder)).train.size() == 8u);
}

BOOST_AUTO_TEST_CASE(folder_set_errors_name_the_folder) {
  TemporaryDirectory directory;
  const fs::path root = directory / "set";
  const std::string root_text = root.string();
  const auto read = [&] { read_dataset(root_text, options_of(DataFormat::Folder)); };
  BOOST_TEST(throws_error_containing(read, {root_text, "is not a directory", "ROOT/train/<class>/"}));
  write_class_folder(root / "train" / "happy", "happy", 2);
  write_class_folder(root / "train" / "sad", "sad", 2);
  BOOST_TEST(throws_error_containing(read, {root_text, "no test/, val/ or valid/ folder"}));
  fs::create_directories(root / "test");
  BOOST_TEST(throws_error_containing(read, {(root / "test").string(), "no class folders"}));
  write_class_folder(root / "test" / "happy", "happy", 1);
  BOOST_TEST(throws_error_containing(
      read, {root_text, "the class folders of train/ and test/ differ", "only in train/: sad; only in test/: none"}));
  write_class_folder(root / "test" / "sad", "sad", 1);
  BOOST_TEST(read_dataset(root_text, options_of(DataFormat::Folder)).test.size() == 2u);
  write_class_folder(root / "val" / "sad", "sad", 1);
  BOOST_TEST(throws_error_containing(read, {root_text, "both test/ and val/", "keep one of test/, val/, valid/"}));
  fs::remove_all(root / "val");
  write_text(root / "test" / "fear" / "README", "no images here");
  BOOST_TEST(throws_error_containing(read, {(root / "test" / "fear").string(), "a class folder with no image"}));
  fs::remove_all(root / "test" / "fear");
  write_class_folder(root / "train" / "joy", "joy", 1);
  BOOST_TEST(throws_error_containing(
      read, {(root / "train").string(), "the class folders happy and joy", "same class (Happiness)"}));
  fs::remove_all(root / "train" / "joy");
  write_class_folder(root / "train" / "bad\x1b[31mname", "bad", 1);
  BOOST_TEST(throws_error_containing(
      read, {(root / "train").string(), "the class folder name \"bad\\x1b[31mname\" holds control bytes"}));
  fs::remove_all(root / "train" / "bad\x1b[31mname");
  write_class_folder(root / "Train", "happy", 1);
  BOOST_TEST(throws_error_containing(read, {root_text, "both Train/ and train/"}));
  fs::remove_all(root / "Train");
  fs::rename(root / "train", root / "training");
  BOOST_TEST(throws_error_containing(read, {root_text, "no train/ folder"}));
  fs::rename(root / "training", root / "train");
  // A damaged image is found when it is loaded, naming the file.
  write_text(root / "train" / "sad" / "img_000.jpg", "not an image");
  const Dataset dataset = read_dataset(root_text, options_of(DataFormat::Folder));
  BOOST_TEST(
      throws_error_containing([&] { load_sample(dataset.train[2]); },
                              {(root / "train" / "sad" / "img_000.jpg").string(), "not a JPEG, PNG or BMP image"}));
}

// ---- FER2013 ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fer2013_rows_are_read_exactly) {
  TemporaryDirectory directory;
  const std::vector<Fer2013Row> rows = write_fer2013_csv(directory / "fer2013.csv", 10, 4, 3, 7);
  DatasetOptions options = options_of(DataFormat::Fer2013);
  const Dataset dataset = read_dataset(directory.path().string(), options);
  BOOST_TEST(dataset.class_names == raf_names(), boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(dataset.train.size() == 10u);
  BOOST_TEST_REQUIRE(dataset.test.size() == 4u);  // PublicTest
  // FER2013's 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral in RAF-DB's order.
  const int raf_label[7] = {5, 2, 1, 3, 4, 0, 6};
  for (std::size_t i = 0; i < 10; ++i) {
    const LabeledImage& sample = dataset.train[i];
    BOOST_TEST(sample.label == raf_label[rows[i].emotion]);
    BOOST_TEST(sample.path.empty());
    BOOST_TEST_REQUIRE(sample.pixels != nullptr);
    BOOST_TEST(sample.pixels->channels == 1);  // kept gray in memory
    BOOST_TEST(sample.pixels->width == 48);
    BOOST_TEST(sample.pixels->pixels == rows[i].pixels);
    BOOST_TEST(sample.name == "fer2013.csv line " + std::to_string(i + 2));
    const Image image = load_sample(sample);
    BOOST_TEST_REQUIRE(image.channels == 3);
    BOOST_TEST_REQUIRE(image.pixels.size() == 48u * 48u * 3u);
    bool exact = true;
    for (std::size_t p = 0; p < 48 * 48; ++p)
      exact &= image.pixels[3 * p] == rows[i].pixels[p] && image.pixels[3 * p + 2] == rows[i].pixels[p];
    BOOST_TEST(exact);
  }
  BOOST_TEST(dataset.test[0].pixels->pixels == rows[10].pixels);
  BOOST_TEST(dataset.summary().find("FER2013 at " + (directory / "fer2013.csv").string() +
                                    ": 10 train, 4 test images in 7 classes") != std::string::npos,
             dataset.summary());
  // The file itself, and the other evaluated splits.
  options.fer2013_test_split = "PrivateTest";
  const Dataset private_test = read_dataset((directory / "fer2013.csv").string(), options);
  BOOST_TEST_REQUIRE(private_test.test.size() == 3u);
  BOOST_TEST(private_test.test[0].pixels->pixels == rows[14].pixels);
  BOOST_TEST(private_test.test[0].name == "fer2013.csv line 16");
  options.fer2013_test_split = "both";
  BOOST_TEST(read_dataset(directory.path().string(), options).test.size() == 7u);
  // Quoted pixels, Windows line ends, a blank line and a byte-order mark are fine.
  std::string text = fer2013_csv_text({rows[0], rows[10]});
  text = "\xEF\xBB\xBF" + replaced(replaced(text, "Usage\n", "Usage\r\n\r\n"), ",PublicTest", ",PublicTest\r");
  text = replaced(text, std::to_string(rows[0].emotion) + ",", std::to_string(rows[0].emotion) + ",\"");
  text = replaced(text, ",Training", "\",Training");
  write_text(directory / "quoted.csv", text);
  const Dataset quoted = read_dataset((directory / "quoted.csv").string(), options_of(DataFormat::Fer2013));
  BOOST_TEST_REQUIRE(quoted.train.size() == 1u);
  BOOST_TEST(quoted.train[0].pixels->pixels == rows[0].pixels);
  BOOST_TEST(quoted.test.size() == 1u);
}

BOOST_AUTO_TEST_CASE(fer2013_errors_name_the_file_and_line) {
  TemporaryDirectory directory;
  const std::vector<Fer2013Row> rows = fer2013_rows(2, 1, 1);
  const std::string good = fer2013_csv_text(rows);
  const std::string path = directory.file("fer2013.csv");
  const std::string first_pixels = std::to_string(rows[0].pixels[0]) + " " + std::to_string(rows[0].pixels[1]) + " " +
                                   std::to_string(rows[0].pixels[2]) + " " + std::to_string(rows[0].pixels[3]) + " " +
                                   std::to_string(rows[0].pixels[4]) + " ";
  const auto expect = [&](const std::string& text, const std::vector<std::string>& fragments,
                          const std::string& split = "PublicTest") {
    write_text(path, text);
    DatasetOptions options = options_of(DataFormat::Fer2013);
    options.fer2013_test_split = split;
    std::vector<std::string> all = {path};
    all.insert(all.end(), fragments.begin(), fragments.end());
    BOOST_TEST(throws_error_containing([&] { read_dataset(path, options); }, all), fragments.front());
  };
  expect(replaced(good, "emotion,pixels,Usage", "emotion,pixel,Usage"),
         {":1:", "no column pixels", "emotion,pixels,Usage"});
  expect(replaced(good, ",Training\n", "\n"), {":2:", "2 fields, not 3"});
  expect(replaced(good, "\n0,", "\n7,"), {":2:", "emotion \"7\" is not a label 0..6"});
  expect(replaced(good, "\n0,", "\nx,"), {":2:", "emotion \"x\" is not a label 0..6"});
  expect(replaced(good, ",Training\n1,", ",Validation\n1,"), {":2:", "Usage \"Validation\" is none of Training"});
  expect(replaced(good, "\n0," + first_pixels, "\n0," + first_pixels.substr(first_pixels.find(' ') + 1)),
         {":2:", "holds 2303 values, not 2304 (48x48)"});
  expect(replaced(good, "\n0," + first_pixels, "\n0,1 " + first_pixels), {":2:", "more than 2304 values"});
  expect(replaced(good, "\n0," + first_pixels, "\n0,1 2 3 4 256 "),
         {":2:", "pixel 5 is \"256\", not an integer 0..255"});
  expect(replaced(good, "\n0," + first_pixels, "\n0,1 -2 "), {":2:", "pixel 2 is \"-2\""});
  expect(replaced(good, "\n0," + first_pixels, "\n0,1 2.5 "), {":2:", "pixel 2 is \"2.5\""});
  expect(replaced(good, "\n1,", "\n1,\""), {":3:", "has no closing quote"});
  expect(good + "3,1 2 3,Training,extra\n", {":6:", "4 fields, not 3"});
  expect("", {"empty file", "emotion,pixels,Usage"});
  expect("emotion,pixels,Usage\n" + std::string(70000, '1') + "\n",
         {":2:", "a line of 70000 bytes", "more than the limit of 65536", "not fer2013.csv?"});
  expect(fer2013_csv_text(fer2013_rows(2, 0, 1)), {"FER2013 at", "no test images (--test_split)"});
  DatasetOptions public_split = options_of(DataFormat::Fer2013);
  public_split.fer2013_test_split = "Public";
  BOOST_TEST(throws_error_containing([&] { read_dataset(path, public_split); },
                                     {"--test_split \"Public\"", "PublicTest, PrivateTest or both"}));
  BOOST_TEST(
      throws_error_containing([&] { read_dataset((directory / "missing").string(), options_of(DataFormat::Fer2013)); },
                              {(directory / "missing").string(), "does not exist"}));
  fs::create_directories(directory / "empty");
  BOOST_TEST(
      throws_error_containing([&] { read_dataset((directory / "empty").string(), options_of(DataFormat::Fer2013)); },
                              {(directory / "empty").string(), "holds no fer2013.csv"}));
}

// ---- AffectNet -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(affectnet_lists_map_labels_drop_the_rest_and_crop_faces) {
  TemporaryDirectory directory;
  const auto [training, validation] = write_affectnet_set(directory.path(), 23, 12);
  // AffectNet's 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt.
  const int armnet_label[8] = {6, 3, 4, 0, 1, 2, 5, 7};
  for (int classes : {7, 8}) {
    BOOST_TEST_CONTEXT(classes << " classes") {
      DatasetOptions options = options_of(DataFormat::AffectNet);
      options.affectnet_classes = classes;
      const Dataset dataset = read_dataset(directory.path().string(), options);
      std::vector<std::string> expected_names = raf_names();
      if (classes == 8) expected_names.push_back("Contempt");
      BOOST_TEST(dataset.class_names == expected_names, boost::test_tools::per_element());
      for (const auto& [rows, samples] :
           {std::make_pair(&training, &dataset.train), std::make_pair(&validation, &dataset.test)}) {
        std::vector<AffectNetRow> kept;
        for (const AffectNetRow& row : *rows)
          if (row.expression < classes) kept.push_back(row);
        BOOST_TEST_REQUIRE(samples->size() == kept.size());
        for (std::size_t i = 0; i < kept.size(); ++i) {
          const LabeledImage& sample = (*samples)[i];
          BOOST_TEST(sample.name == kept[i].file);
          BOOST_TEST(sample.path == (directory / "Manually_Annotated_Images" / kept[i].file).string());
          BOOST_TEST(sample.label == armnet_label[kept[i].expression]);
          BOOST_TEST_REQUIRE(sample.box.has_value());
          BOOST_TEST((sample.box->x == kept[i].box.x && sample.box->y == kept[i].box.y &&
                      sample.box->width == kept[i].box.width && sample.box->height == kept[i].box.height));
        }
      }
      // training.csv: rows 0..22, labels cycling 0..10: labels 7..10 twice (rows 7-10, 18-21), minus the kept.
      const std::string note = dataset.note;
      BOOST_TEST(note.find("training.csv: dropped ") != std::string::npos, note);
      BOOST_TEST(
          note.find("2 of label 8 (None), 2 of label 9 (Uncertain), 2 of label 10 (Non-Face)") != std::string::npos,
          note);
      BOOST_TEST((note.find("2 of label 7 (Contempt)") != std::string::npos) == (classes == 7), note);
      BOOST_TEST(note.find("validation.csv: dropped ") != std::string::npos, note);
      BOOST_TEST(dataset.summary().find(note) != std::string::npos);
    }
  }
  // The crop: the face box of the decoded image, exactly.
  const Dataset dataset = read_dataset(directory.path().string(), options_of(DataFormat::AffectNet));
  const LabeledImage& sample = dataset.train[3];
  const Image face = load_sample(sample);
  BOOST_TEST(face.width == sample.box->width);
  BOOST_TEST(face.height == sample.box->height);
  const Image whole = decode_image(sample.path);
  BOOST_TEST(whole.width == 64);
  BOOST_TEST(face.pixels == crop_of(whole, sample.box->x, sample.box->y, sample.box->width, sample.box->height).pixels);
  // A box partly outside the image is clamped; one wholly outside is an error naming the file.
  LabeledImage clamped = sample;
  clamped.box = CropBox{-5, 50, 20, 30};
  const Image corner = load_sample(clamped);
  BOOST_TEST(corner.width == 15);
  BOOST_TEST(corner.height == 6);
  BOOST_TEST(corner.pixels == crop_of(whole, 0, 50, 15, 6).pixels);
  clamped.box = CropBox{64, 0, 10, 10};
  BOOST_TEST(
      throws_error_containing([&] { load_sample(clamped); },
                              {sample.path, "the face box (x 64, y 0, 10x10) has no area inside the 64x56 image"}));
  clamped.box = CropBox{3, 3, 0, 10};
  BOOST_TEST(throws_error_containing([&] { load_sample(clamped); }, {sample.path, "has no area"}));
  // Images beside the lists instead of under Manually_Annotated_Images/.
  TemporaryDirectory beside;
  write_affectnet_set(beside.path(), affectnet_rows(4, "t", {1, 2}), affectnet_rows(2, "v", {3}), false);
  const Dataset beside_set = read_dataset(beside.path().string(), options_of(DataFormat::AffectNet));
  BOOST_TEST_REQUIRE(beside_set.train.size() == 4u);
  BOOST_TEST(beside_set.train[1].path == (beside / "2" / "t_0001.jpg").string());
  BOOST_TEST(load_sample(beside_set.test[1]).width == beside_set.test[1].box->width);
  BOOST_TEST(beside_set.note.empty());
}

BOOST_AUTO_TEST_CASE(affectnet_errors_name_the_file_and_line) {
  TemporaryDirectory directory;
  const std::vector<AffectNetRow> training = affectnet_rows(3, "t", {0, 1, 2});
  const std::vector<AffectNetRow> validation = affectnet_rows(2, "v", {3, 4});
  write_affectnet_set(directory.path(), training, validation);
  const std::string root = directory.path().string();
  const std::string list = (directory / "training.csv").string();
  const std::string good = affectnet_csv_text(training);
  const auto read = [&] { read_dataset(root, options_of(DataFormat::AffectNet)); };
  const auto expect = [&](const std::string& text, const std::vector<std::string>& fragments) {
    write_text(list, text);
    std::vector<std::string> all = {list};
    all.insert(all.end(), fragments.begin(), fragments.end());
    BOOST_TEST(throws_error_containing(read, all), fragments.front());
  };
  BOOST_TEST(read_dataset(root, options_of(DataFormat::AffectNet)).train.size() == 3u);
  const std::string row1 = training[1].file + "," + std::to_string(training[1].box.x);
  expect(replaced(good, ",expression,", ",label,"), {":1:", "no column expression", "subDirectory_filePath,face_x"});
  expect(replaced(good, ",-0.055556\n" + row1, "\n" + row1), {":2:", "8 fields, not 9"});
  expect(replaced(good, "\"," + std::to_string(training[1].expression) + ",", "\",11,"),
         {":3:", "expression \"11\" is not a label 0..10"});
  expect(replaced(good, row1, training[1].file + ",1.5"), {":3:", "face_x \"1.5\" is not an integer"});
  expect(replaced(good, row1, training[1].file + ",99999"), {":3:", "face_x \"99999\"", "within +-16384"});
  expect(replaced(good, training[1].file + ",", "../secret.jpg,"), {":3:", "\"../secret.jpg\" is not a relative path"});
  expect(replaced(good, training[1].file + ",", "/etc/passwd,"), {":3:", "\"/etc/passwd\" is not a relative path"});
  expect(replaced(good, training[0].file + ",", "9/missing.jpg,"),
         {":2:", "the image 9/missing.jpg is neither at", "Manually_Annotated_Images"});
  expect(replaced(good, ".25\",", ".25,"), {":2:", "has no closing quote"});
  expect(replaced(good, ".25\",", ".25\"x,"), {":2:", "text after the closing quote"});
  expect(good + std::string(70, ',') + "\n", {":5:", "more than 64 comma-separated fields"});
  write_text(list, affectnet_csv_text(affectnet_rows(2, "t", {8, 9})));
  BOOST_TEST(throws_error_containing(read, {"AffectNet at " + root + ": no train images"}));
  fs::remove(list);
  BOOST_TEST(throws_error_containing(read, {list, "does not exist", "ROOT/validation.csv"}));
  DatasetOptions nine = options_of(DataFormat::AffectNet);
  nine.affectnet_classes = 9;
  BOOST_TEST(throws_error_containing([&] { read_dataset(root, nine); }, {"--affectnet_classes 9", "7, or 8"}));
}

// ---- RAF-DB through read_dataset ---------------------------------------------------

BOOST_AUTO_TEST_CASE(raf_db_is_a_dataset_too) {
  TemporaryDirectory directory;
  std::string list;
  fs::create_directories(directory / "Image" / "aligned");
  for (int i = 0; i < 14; ++i) {
    const std::string name = str_cat(i < 10 ? "train_" : "test_", 1000 + i, ".jpg");
    list += str_cat(name, " ", i % 7 + 1, "\n");
    write_jpeg(raf_image_path(directory.path().string(), name), smooth_image(16, 16, static_cast<std::uint64_t>(i)));
  }
  write_text(raf_label_list_path(directory.path().string()), list);
  DatasetOptions options = options_of(DataFormat::Raf);
  options.limit_train = 7;
  const Dataset dataset = read_dataset(directory.path().string(), options);
  BOOST_TEST((dataset.format == DataFormat::Raf));
  BOOST_TEST(dataset.class_names == raf_names(), boost::test_tools::per_element());
  BOOST_TEST(dataset.train.size() == 7u);
  BOOST_TEST(count_per_class(dataset.train, 7) == std::vector<std::int64_t>(7, 1), boost::test_tools::per_element());
  BOOST_TEST(dataset.test.size() == 4u);
  const std::string summary = dataset.summary();
  BOOST_TEST(summary.find("RAF-DB at " + directory.path().string() + ": 7 train, 4 test images in 7 classes") !=
                 std::string::npos,
             summary);
  BOOST_TEST(summary.find("train: a subset of 7 of the 10 images (--limit_train, stratified by class, seed 0)") !=
                 std::string::npos,
             summary);
}

// ---- subsets -------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(subsets_are_stratified_deterministic_and_in_order) {
  // Largest remainder, then at least one of every class when the total allows.
  BOOST_TEST(proportional_counts(10, {50, 30, 20}) == std::vector<std::int64_t>({5, 3, 2}),
             boost::test_tools::per_element());
  BOOST_TEST(proportional_counts(4, {50, 30, 20}) == std::vector<std::int64_t>({2, 1, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(proportional_counts(7, {100, 1, 1}) == std::vector<std::int64_t>({5, 1, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(proportional_counts(2, {100, 1, 1}) == std::vector<std::int64_t>({2, 0, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(proportional_counts(3, {60, 30, 1, 0}) == std::vector<std::int64_t>({1, 1, 1, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(throws_error_containing([] { proportional_counts(3, {0, 0}); }, {"all zero"}));

  // 60, 30 and 10 samples of three classes, interleaved.
  std::vector<LabeledImage> images;
  for (int i = 0; i < 100; ++i) {
    LabeledImage image;
    image.name = "sample_" + std::to_string(i);
    image.path = "/nowhere/" + image.name;
    image.label = i % 10 == 9 ? 2 : i % 3 == 0 ? 1 : 0;
    images.push_back(image);
  }
  BOOST_TEST_REQUIRE(count_per_class(images, 3) == std::vector<std::int64_t>({60, 30, 10}),
                     boost::test_tools::per_element());
  const std::vector<LabeledImage> subset = stratified_subset(images, 3, 10, 42);
  BOOST_TEST(count_per_class(subset, 3) == std::vector<std::int64_t>({6, 3, 1}), boost::test_tools::per_element());
  std::vector<int> positions;
  for (const LabeledImage& image : subset) positions.push_back(std::stoi(image.name.substr(7)));
  BOOST_TEST(std::is_sorted(positions.begin(), positions.end()));  // the set's order
  BOOST_TEST(std::set<int>(positions.begin(), positions.end()).size() == 10u);
  BOOST_TEST(names_of(stratified_subset(images, 3, 10, 42)) == names_of(subset), boost::test_tools::per_element());
  BOOST_TEST(names_of(stratified_subset(images, 3, 10, 43)) != names_of(subset));
  BOOST_TEST(stratified_subset(images, 3, 100, 1).size() == 100u);
  BOOST_TEST(stratified_subset(images, 3, 1000, 1).size() == 100u);
  BOOST_TEST(stratified_subset(images, 3, 0, 1).size() == 100u);
  BOOST_TEST(count_per_class(stratified_subset(images, 3, 3, 5), 3) == std::vector<std::int64_t>({1, 1, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(count_per_class(stratified_subset(images, 3, 2, 5), 3) == std::vector<std::int64_t>({1, 1, 0}),
             boost::test_tools::per_element());

  // Through read_dataset: both splits, deterministic for the seed.
  TemporaryDirectory directory;
  write_fer2013_csv(directory / "fer2013.csv", 28, 14, 0);
  DatasetOptions options = options_of(DataFormat::Fer2013);
  options.limit_train = 14;
  options.limit_test = 100;
  options.seed = 9;
  const Dataset first = read_dataset(directory.path().string(), options);
  const Dataset second = read_dataset(directory.path().string(), options);
  BOOST_TEST(first.train.size() == 14u);
  BOOST_TEST(count_per_class(first.train, 7) == std::vector<std::int64_t>(7, 2), boost::test_tools::per_element());
  BOOST_TEST(first.test.size() == 14u);  // a limit above the split's size keeps it whole
  BOOST_TEST(names_of(first.train) == names_of(second.train), boost::test_tools::per_element());
  BOOST_TEST(first.note == "train: a subset of 14 of the 28 images (--limit_train, stratified by class, seed 9)");
  options.limit_train = -1;
  BOOST_TEST(throws_error_containing([&] { read_dataset(directory.path().string(), options); },
                                     {"--limit_train -1 is negative"}));
}

// ---- decoding ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(bmp_and_gray_images_decode_to_rgb) {
  const auto decode = [](const std::string& bytes, const std::string& name) {
    return decode_image_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
  };
  // 24-bit, an odd width (rows padded to 4 bytes): exact.
  const Image face = smooth_image(13, 7, 3);
  const std::string bmp = bmp_bytes(face);
  BOOST_TEST(decode(bmp, "face.bmp").pixels == face.pixels);
  // Rows stored top-down (a negative height): the same image.
  std::string top_down = bmp;
  const std::size_t row_bytes = (13 * 3 + 3) / 4 * 4, data = 54;
  for (int y = 0; y < 7; ++y)
    top_down.replace(data + y * row_bytes, row_bytes, bmp.substr(data + (6 - y) * row_bytes, row_bytes));
  const std::int32_t minus_seven = -7;
  top_down.replace(22, 4, reinterpret_cast<const char*>(&minus_seven), 4);
  const Image from_top_down = decode(top_down, "top_down.bmp");
  BOOST_TEST(from_top_down.height == 7);
  BOOST_TEST(from_top_down.pixels == face.pixels);
  // 8-bit gray palette: R = G = B = the value.
  const std::vector<std::uint8_t> gray = {0, 10, 20, 30, 40, 250, 128, 7, 99, 3};
  const Image from_gray = decode(gray_bmp_bytes(gray, 5, 2), "gray.bmp");
  BOOST_TEST(from_gray.width == 5);
  BOOST_TEST(from_gray.channels == 3);
  for (std::size_t i = 0; i < gray.size(); ++i) {
    BOOST_TEST(from_gray.pixels[3 * i] == gray[i]);
    BOOST_TEST(from_gray.pixels[3 * i + 1] == gray[i]);
    BOOST_TEST(from_gray.pixels[3 * i + 2] == gray[i]);
  }
  const Image from_gray_png = decode(gray_png_bytes(gray, 5, 2), "gray.png");
  BOOST_TEST(from_gray_png.pixels == from_gray.pixels);
  // Gray in memory (FER2013's samples) becomes RGB at load.
  Image memory(5, 2, 1);
  memory.pixels = gray;
  BOOST_TEST(to_rgb(memory).pixels == from_gray.pixels);
  BOOST_TEST(throws_error_containing([&] { write_png("/tmp/never.png", memory); }, {"1 channels, not RGB"}));
  BOOST_TEST(throws_error_containing([&] { resize_bilinear(memory, 4, 4); }, {"1 channels, not RGB"}));

  // What stb_image would read wrongly is refused first.
  const std::string gray_bmp = gray_bmp_bytes(gray, 5, 2);
  BOOST_TEST(throws_error_containing([&] { decode(gray_bmp.substr(0, gray_bmp.size() - 3), "cut.bmp"); },
                                     {"cut.bmp", "truncated BMP", "2 rows of 8 bytes start at byte 1078"}));
  BOOST_TEST(throws_error_containing([&] { decode(bmp.substr(0, 30), "header.bmp"); },
                                     {"header.bmp", "truncated BMP (ends inside its header)"}));
  std::string small_palette = gray_bmp;  // 16 palette entries, pixels up to 250
  small_palette.erase(14 + 40 + 16 * 4, 240 * 4);
  const std::uint32_t offset = 14 + 40 + 16 * 4;
  small_palette.replace(10, 4, reinterpret_cast<const char*>(&offset), 4);
  BOOST_TEST(throws_error_containing([&] { decode(small_palette, "palette.bmp"); },
                                     {"palette.bmp", "corrupt BMP (pixel 0 of row 0 uses palette entry 250 of 16)"}));
  std::string rle = gray_bmp;
  rle[30] = 1;
  BOOST_TEST(throws_error_containing([&] { decode(rle, "rle.bmp"); }, {"rle.bmp", "unsupported BMP (compression 1"}));
  std::string two_bits = gray_bmp;
  two_bits[28] = 2;
  BOOST_TEST(
      throws_error_containing([&] { decode(two_bits, "bits.bmp"); }, {"bits.bmp", "corrupt BMP (2 bits per pixel)"}));
  std::string lowest = bmp;
  const std::int32_t int_min = INT32_MIN;
  lowest.replace(22, 4, reinterpret_cast<const char*>(&int_min), 4);
  BOOST_TEST(throws_error_containing([&] { decode(lowest, "lowest.bmp"); },
                                     {"lowest.bmp", "absurd dimensions 13x-2147483648"}));
  std::string wide = bmp;
  const std::int32_t huge_width = 20000;
  wide.replace(18, 4, reinterpret_cast<const char*>(&huge_width), 4);
  BOOST_TEST(throws_error_containing([&] { decode(wide, "wide.bmp"); }, {"wide.bmp", "absurd dimensions 20000x7"}));
  std::string v2 = bmp;
  v2[14] = 52;
  BOOST_TEST(throws_error_containing([&] { decode(v2, "v2.bmp"); },
                                     {"v2.bmp", "unsupported BMP (an info header of 52 bytes)"}));
  BOOST_TEST(
      throws_error_containing([&] { decode("GIF89a....", "anim.gif"); }, {"anim.gif", "not a JPEG, PNG or BMP image"}));
}

// ---- the shared line and CSV readers -------------------------------------------------

BOOST_AUTO_TEST_CASE(line_reader_and_csv_fields) {
  std::istringstream in("first\r\n\nthird line\nlast without newline");
  LineReader lines(in, "list.txt", 64, "not a list?");
  std::vector<std::string> read;
  std::string_view line;
  while (lines.next(line)) read.push_back(str_cat(lines.line_number(), ":", line));
  BOOST_TEST(read == std::vector<std::string>({"1:first", "2:", "3:third line", "4:last without newline"}),
             boost::test_tools::per_element());
  BOOST_TEST(!lines.next(line));
  // Lines longer than a read chunk (64 KiB) are joined, and one over the limit
  // is measured to its end without being kept.
  const std::string long_line(200'000, 'a');
  std::istringstream long_in("short\n" + long_line + "\n" + long_line + "b\nend");
  LineReader long_lines(long_in, "big.csv", 200'000, "hint");
  BOOST_TEST_REQUIRE(long_lines.next(line));
  BOOST_TEST_REQUIRE(long_lines.next(line));
  BOOST_TEST(line.size() == 200'000u);
  BOOST_TEST(
      throws_error_containing([&] { long_lines.next(line); },
                              {"big.csv:3: a line of 200001 bytes, more than the limit of 200000", "aaa...\"): hint"}));

  BOOST_TEST(csv_fields("a,\"b,c\",\"d\"\"e\",", "w: ") == std::vector<std::string>({"a", "b,c", "d\"e", ""}),
             boost::test_tools::per_element());
  BOOST_TEST(csv_fields("", "w: ") == std::vector<std::string>({""}), boost::test_tools::per_element());
  BOOST_TEST(csv_fields("1,\"2;3;4\",5", "w: ") == std::vector<std::string>({"1", "2;3;4", "5"}),
             boost::test_tools::per_element());
  BOOST_TEST(throws_error_containing([] { csv_fields("a,\"b", "f.csv:4: "); },
                                     {"f.csv:4: the quoted field at byte 3 has no closing quote"}));
  BOOST_TEST(throws_error_containing([] { csv_fields("\"a\"b,c", "f.csv:4: "); },
                                     {"f.csv:4: text after the closing quote of the field at byte 1"}));
}

// ---- the loader over in-memory pixels and face boxes ------------------------------------

BOOST_AUTO_TEST_CASE(loader_batches_fer2013_and_affectnet) {
  TemporaryDirectory directory;
  write_fer2013_csv(directory / "fer" / "fer2013.csv", 10, 3, 0);
  const Dataset fer = read_dataset((directory / "fer").string(), options_of(DataFormat::Fer2013));
  LoaderOptions options;
  options.batch_size = 4;
  options.image_size = 32;
  options.sampler = Sampler::Sequential;
  options.workers = 2;
  options.num_classes = fer.num_classes();
  {
    Loader loader(fer.train, options);
    loader.start_epoch(0);
    Batch batch;
    std::vector<std::int64_t> sizes;
    std::int64_t row = 0;
    while (loader.next(batch)) {
      sizes.push_back(batch.labels.numel());
      BOOST_TEST(batch.images.shape() == Shape({batch.labels.numel(), 3, 32, 32}));
      for (std::int64_t i = 0; i < batch.labels.numel(); ++i, ++row) {
        BOOST_TEST(batch.labels.at(i) == fer.train[row].label);
      }
      if (batch.index == 0) {  // row 0: the plain pipeline of the gray face made RGB
        std::vector<float> expected(3 * 32 * 32);
        to_normalized_chw(resize_bilinear(load_sample(fer.train[0]), 32, 32), expected.data());
        BOOST_TEST(std::equal(expected.begin(), expected.end(), batch.images.data<float>()));
      }
    }
    BOOST_TEST(sizes == std::vector<std::int64_t>({4, 4, 2}), boost::test_tools::per_element());
  }

  // AffectNet with Contempt: eight classes, MRR over all of them, faces cropped.
  write_affectnet_set(directory / "affectnet", 24, 8);
  DatasetOptions affectnet_options = options_of(DataFormat::AffectNet);
  affectnet_options.affectnet_classes = 8;
  const Dataset affectnet = read_dataset((directory / "affectnet").string(), affectnet_options);
  BOOST_TEST(affectnet.num_classes() == 8);
  const std::vector<std::int64_t> counts = count_per_class(affectnet.train, 8);
  BOOST_TEST(counts[7] > 0);  // Contempt
  options.num_classes = affectnet.num_classes();
  options.sampler = Sampler::MRR;
  options.augment = true;
  Loader loader(affectnet.train, options);
  BOOST_TEST(loader.epoch_length() == 8 * *std::max_element(counts.begin(), counts.end()));
  loader.start_epoch(0);
  Batch batch;
  std::vector<std::int64_t> per_class(8, 0);
  while (loader.next(batch)) {
    BOOST_TEST(batch.images.shape() == Shape({batch.labels.numel(), 3, 32, 32}));
    for (std::int64_t i = 0; i < batch.labels.numel(); ++i) {
      const std::int64_t label = static_cast<std::int64_t>(batch.labels.at(i));
      BOOST_TEST(label == affectnet.train[batch.sample_indices[i]].label);
      ++per_class[label];
    }
  }
  BOOST_TEST(per_class == std::vector<std::int64_t>(8, *std::max_element(counts.begin(), counts.end())),
             boost::test_tools::per_element());

  // A face box with no area fails its batch naming the file, or is skipped.
  std::vector<LabeledImage> samples(affectnet.test.begin(), affectnet.test.end());
  samples[1].box = CropBox{100, 100, 5, 5};
  options.sampler = Sampler::Sequential;
  options.augment = false;
  {
    Loader failing(samples, options);
    failing.start_epoch(0);
    BOOST_TEST(throws_error_containing([&] { failing.next(batch); }, {samples[1].path, "has no area"}));
  }
  options.skip_bad = true;
  Loader skipping(samples, options);
  skipping.start_epoch(0);
  std::int64_t rows = 0;
  while (skipping.next(batch)) rows += batch.labels.numel();
  BOOST_TEST(rows == static_cast<std::int64_t>(samples.size()) - 1);
  BOOST_TEST(skipping.skipped_in_epoch() == 1);
}
