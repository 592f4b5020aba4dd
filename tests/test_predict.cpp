// `armnet predict` on what people have: folders (recursively), glob
// patterns, a bad file among good ones (reported, skipped, exit status 1),
// CSV and JSON outputs, the batch-dependence warning, and photographs with
// faces found by the detector (--detect_faces, --annotate).
#define BOOST_TEST_MODULE predict
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/checkpoint.h"
#include "apps/faces.h"
#include "data/synth.h"
#include "tests/bounded_run.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

using namespace armnet;
using namespace armnet::apps;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

// A checkpoint of a fresh ARM model at 64x64 (no training needed to predict).
const std::string& checkpoint() {
  static TemporaryDirectory directory;
  static const std::string path = [] {
    TrainingState state;
    state.options.model = "arm";
    state.options.image_size = 64;
    state.options.epochs = 1;
    auto model = make_model(model_options(state.options, 7));
    Optimizer optimizer(model->named_parameters(), default_optimizer_options("adam"));
    const std::string file = directory.file("model.safetensors");
    write_checkpoint(file, *model, optimizer, state);
    return file;
  }();
  return path;
}

// A face image of the synthetic generator, as a JPEG file.
void write_face(const fs::path& path, int expression, std::uint64_t seed) {
  fs::create_directories(path.parent_path());
  write_file(path, jpeg_bytes(render_synthetic_face(100, expression, 1.0, seed)));
}

// A 400 x 300 photograph: a plain background with two synthetic faces of
// 100 x 100 at (50, 100) and (200, 50) (expression 5, Anger, which OpenCV's
// frontal-face cascade finds in the generator's drawing).
Image photo_with_two_faces() {
  Image photo(400, 300);
  for (int y = 0; y < photo.height; ++y)
    for (int x = 0; x < photo.width; ++x) {
      std::uint8_t* rgb = photo.row(y) + 3 * x;
      rgb[0] = 200, rgb[1] = 190, rgb[2] = 180;
    }
  const int corners[2][2] = {{50, 100}, {200, 50}};
  for (int f = 0; f < 2; ++f) {
    const Image face = render_synthetic_face(100, 5, 1.0, 47);
    for (int y = 0; y < 100; ++y)
      std::copy(face.row(y), face.row(y) + 300, photo.row(corners[f][1] + y) + 3 * corners[f][0]);
  }
  return photo;
}

}  // namespace

BOOST_AUTO_TEST_CASE(folders_globs_and_a_bad_file_among_good_ones) {
  TemporaryDirectory directory;
  write_face(directory / "faces" / "a.jpg", 3, 1);
  write_face(directory / "faces" / "deeper" / "b.jpg", 4, 2);
  write_file(directory / "faces" / "notes.txt", "not an image, not listed");
  write_file(directory / "faces" / "broken.jpg", "GIF89a, not what the name says");
  write_face(directory / "more" / "c.jpg", 6, 3);
  write_face(directory / "more" / "d.jpg", 0, 4);
  const std::string csv = directory.file("out.csv");
  const RunResult result = run_armnet({"predict", "-c", checkpoint(), (directory / "faces").string(),
                                       (directory / "more" / "*.jpg").string(), "--output", csv, "--as_batch"});
  BOOST_TEST(result.status == 1);  // one input failed
  BOOST_TEST(contains(result.err, "broken.jpg"));
  BOOST_TEST(contains(result.err, "1 of 5 inputs could not be read"));
  BOOST_TEST(result.out.empty());  // the results went to the file
  std::istringstream lines(read_file(csv));
  std::string header, line;
  std::getline(lines, header);
  BOOST_TEST(header == "file,face,x,y,width,height,predicted,p_Surprise,p_Fear,p_Disgust,p_Happiness,p_Sadness,"
                       "p_Anger,p_Neutral");
  std::vector<std::string> files;
  while (std::getline(lines, line)) {
    files.push_back(line.substr(0, line.find(',')));
    // Seven probabilities that sum to one.
    std::istringstream fields(line);
    std::string field;
    double total = 0.0;
    for (int column = 0; std::getline(fields, field, ','); ++column)
      if (column >= 7) total += std::stod(field);
    BOOST_TEST(total == 1.0, boost::test_tools::tolerance(1e-5));
  }
  // The folder's images sorted (recursively), then the pattern's, sorted.
  BOOST_TEST(files == std::vector<std::string>({(directory / "faces" / "a.jpg").string(),
                                                (directory / "faces" / "deeper" / "b.jpg").string(),
                                                (directory / "more" / "c.jpg").string(),
                                                (directory / "more" / "d.jpg").string()}),
             boost::test_tools::per_element());
  // JSON: the same predictions.
  const std::string json_file = directory.file("out.json");
  BOOST_TEST(run_armnet({"predict", "-c", checkpoint(), (directory / "more").string(), "--output", json_file,
                         "--as_batch"})
                 .status == 0);
  const nlohmann::json json = nlohmann::json::parse(read_file(json_file));
  BOOST_TEST_REQUIRE(json.size() == 2u);
  BOOST_TEST(json[0]["image"] == (directory / "more" / "c.jpg").string());
  BOOST_TEST(json[0]["probabilities"].size() == 7u);
  // A pattern or folder that names no image is reported too.
  const RunResult nothing = run_armnet({"predict", "-c", checkpoint(), directory.file("no/*.png")});
  BOOST_TEST(nothing.status == 1);
  BOOST_TEST(contains(nothing.err, "no image file matches the pattern"));
}

BOOST_AUTO_TEST_CASE(an_arm_model_classifying_images_alone_warns_once) {
  TemporaryDirectory directory;
  write_face(directory / "a.jpg", 3, 1);
  write_face(directory / "b.jpg", 4, 2);
  const RunResult alone = run_armnet({"predict", "-c", checkpoint(), directory.file("a.jpg"), directory.file("b.jpg")});
  BOOST_TEST_REQUIRE(alone.status == 0, alone.err);
  BOOST_TEST(contains(alone.err, "warning: this model's prediction depends on the batch"));
  BOOST_TEST(alone.err.find("warning") == alone.err.rfind("warning"));  // once
  BOOST_TEST(contains(alone.out, directory.file("a.jpg") + ": "));
  const RunResult together =
      run_armnet({"predict", "-c", checkpoint(), directory.file("a.jpg"), directory.file("b.jpg"), "--as_batch"});
  BOOST_TEST(!contains(together.err, "warning"));
}

BOOST_AUTO_TEST_CASE(faces_in_a_photograph_are_found_classified_and_drawn) {
  if (!face_detection_built()) {
    BOOST_TEST_MESSAGE("this build has no OpenCV: --detect_faces refuses (checked below)");
    BOOST_TEST(contains(run_armnet({"predict", "-c", checkpoint(), "x.jpg", "--detect_faces"}).err, "without OpenCV"));
    return;
  }
  // The detector on the photograph: both faces, near where they were put.
  const std::vector<CropBox> boxes = detect_faces(photo_with_two_faces());
  BOOST_TEST_REQUIRE(boxes.size() == 2u);
  BOOST_TEST(std::abs(boxes[0].x + boxes[0].width / 2 - 250) < 15);  // the face at (200, 50) is higher: first
  BOOST_TEST(std::abs(boxes[0].y + boxes[0].height / 2 - 100) < 15);
  BOOST_TEST(std::abs(boxes[1].x + boxes[1].width / 2 - 100) < 15);
  BOOST_TEST(std::abs(boxes[1].y + boxes[1].height / 2 - 150) < 15);
  // The margin: square, 1.25 x the detector's box, around its centre.
  const CropBox framed = with_alignment_margin({10, 20, 80, 80});
  BOOST_TEST(framed.width == 100);
  BOOST_TEST(framed.x == 0);
  BOOST_TEST(framed.y == 10);

  TemporaryDirectory directory;
  write_file(directory / "party.png", png_bytes(photo_with_two_faces()));
  Image empty_room(200, 150);
  write_file(directory / "room.png", png_bytes(empty_room));
  const RunResult result = run_armnet({"predict", "-c", checkpoint(), directory.file("party.png"),
                                       directory.file("room.png"), "--detect_faces", "--json", "--annotate",
                                       directory.file("drawn")});
  BOOST_TEST_REQUIRE(result.status == 0, result.err);
  const nlohmann::json json = nlohmann::json::parse(result.out);
  BOOST_TEST_REQUIRE(json.size() == 3u);  // two faces, and the room without one
  BOOST_TEST(json[0]["face"] == 1);
  BOOST_TEST(json[1]["face"] == 2);
  BOOST_TEST(json[0]["box"].size() == 4u);
  BOOST_TEST(json[2]["image"] == directory.file("room.png"));
  BOOST_TEST(json[2]["faces"] == 0);
  const Image drawn = decode_image(directory.file("drawn/party.png"));
  BOOST_TEST(drawn.width == 400);
  BOOST_TEST(drawn.height == 300);
  // The box is drawn: the pixel on the first face's top edge is the box's green.
  const std::uint8_t* edge = drawn.row(boxes[0].y) + 3 * (boxes[0].x + boxes[0].width / 2);
  BOOST_TEST((edge[1] > 150 && edge[0] < 100));
  // Text: one line per face, and what was not found.
  const RunResult text =
      run_armnet({"predict", "-c", checkpoint(), directory.file("room.png"), directory.file("party.png"),
                  "--detect_faces"});
  BOOST_TEST(contains(text.out, directory.file("party.png") + " face 1 at "));
  BOOST_TEST(contains(text.out, directory.file("room.png") + ": no face found"));
  // CSV: a row per face with its box, and the room's row with face 0.
  const std::string csv = directory.file("faces.csv");
  BOOST_TEST_REQUIRE(run_armnet({"predict", "-c", checkpoint(), directory.file("party.png"), directory.file("room.png"),
                                 "--detect_faces", "--output", csv})
                         .status == 0);
  std::istringstream rows(read_file(csv));
  std::vector<std::string> lines;
  for (std::string line; std::getline(rows, line);) lines.push_back(line);
  BOOST_TEST_REQUIRE(lines.size() == 4u);
  BOOST_TEST(lines[1].rfind(directory.file("party.png") + ",1," + std::to_string(boxes[0].x) + "," +
                                std::to_string(boxes[0].y) + "," + std::to_string(boxes[0].width) + ",",
                            0) == 0u,
             lines[1]);
  BOOST_TEST(lines[2].rfind(directory.file("party.png") + ",2,", 0) == 0u, lines[2]);
  BOOST_TEST(lines[3] == directory.file("room.png") + ",0,,,,,,,,,,,,", lines[3]);
}
