// `armnet predict`: the class of each face image, or of each face found in a
// photograph (--detect_faces), with every class's probability (softmax of the
// logits), as text or JSON on stdout or as a CSV or JSON file (--output).
//
// Inputs are files, folders (searched recursively for .jpg, .jpeg, .png and
// .bmp files) and glob patterns. A file that cannot be read is reported on
// stderr with its reason and skipped; the others go on, and the exit status
// is 1 when some failed. Results go to stdout (or the --output file);
// warnings and notes to stderr.
#include <glob.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "apps/checkpoint.h"
#include "apps/commands.h"
#include "apps/evaluation.h"
#include "apps/faces.h"
#include "apps/images.h"
#include "apps/plots.h"
#include "autograd/engine.h"
#include "data/dataset.h"
#include "data/image.h"
#include "tensor/io/atomic_file.h"

namespace armnet::apps {

namespace fs = std::filesystem;

namespace {

struct PredictArguments {
  std::string checkpoint;
  std::vector<std::string> inputs;  // files, folders, glob patterns
  bool json = false;
  std::string output;    // FILE.csv or FILE.json; "": stdout
  bool as_batch = false;
  bool detect_faces = false;
  std::string annotate;  // a folder for copies of the photos with their faces drawn
  int image_size = 0;
  std::int64_t max_image_pixels = limits::kDefaultImagePixels;
  std::string device = "cpu";
  std::string amp = "off", amp_dtype = "fp16";  // 16-bit inference
};

// ---- inputs ---------------------------------------------------------------------

bool is_glob_pattern(const std::string& text) { return text.find_first_of("*?[") != std::string::npos; }

// The image files the inputs name, in order (each folder's and pattern's
// sorted), each once. What names no image is reported in `failures`.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs,
                                       std::vector<std::pair<std::string, std::string>>& failures) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  auto add = [&](const std::string& file) {
    if (seen.insert(file).second) files.push_back(file);
  };
  for (const std::string& input : inputs) {
    std::error_code error;
    if (fs::is_directory(input, error)) {
      std::vector<std::string> found;
      for (fs::recursive_directory_iterator it(input, fs::directory_options::skip_permission_denied, error), end;
           !error && it != end; it.increment(error))
        if (it->is_regular_file(error) && has_image_extension(it->path().string()))
          found.push_back(it->path().string());
      if (error) failures.emplace_back(input, "cannot list the folder: " + error.message());
      if (found.empty() && !error) failures.emplace_back(input, "a folder without .jpg, .jpeg, .png or .bmp files");
      std::sort(found.begin(), found.end());
      for (const std::string& file : found) add(file);
    } else if (!fs::exists(input, error) && is_glob_pattern(input)) {
      glob_t matches{};
      const int status = ::glob(input.c_str(), 0, nullptr, &matches);  // sorted by glob itself
      std::size_t images = 0;
      for (std::size_t i = 0; status == 0 && i < matches.gl_pathc; ++i)
        if (has_image_extension(matches.gl_pathv[i]) && fs::is_regular_file(matches.gl_pathv[i], error)) {
          add(matches.gl_pathv[i]);
          ++images;
        }
      globfree(&matches);
      if (images == 0) failures.emplace_back(input, "no image file matches the pattern");
    } else {
      add(input);  // read (and its errors reported) with the others
    }
  }
  return files;
}

// ---- what is classified ------------------------------------------------------------

// One thing classified: a whole image, or one face found in a photo.
struct Subject {
  std::string file;
  int face = 0;  // 1-based among the photo's faces; 0: the whole image
  CropBox box;   // the detector's box (faces only)
  Image image;
  std::vector<double> probabilities;
};

// The images of subjects [begin, end), moved out: each is classified once.
std::vector<Image> images_of(std::vector<Subject>& subjects, std::size_t begin, std::size_t end) {
  std::vector<Image> images;
  for (std::size_t i = begin; i < end; ++i) images.push_back(std::move(subjects[i].image));
  return images;
}

// ---- outputs -----------------------------------------------------------------------

// One row per image or face; a photo without a face found has face 0 and
// the other fields empty.
std::string csv_text(const std::vector<Subject>& subjects, const std::vector<std::string>& class_names,
                     const std::vector<std::string>& faceless) {
  std::string text = "file,face,x,y,width,height,predicted";
  for (const std::string& name : class_names) text += "," + csv_field("p_" + name);
  text += "\n";
  for (const Subject& s : subjects) {
    text += csv_field(s.file) + ",";
    text += s.face > 0 ? str_cat(s.face, ",", s.box.x, ",", s.box.y, ",", s.box.width, ",", s.box.height) : ",,,,";
    text += "," + csv_field(class_names[best_class(s.probabilities)]);
    for (double p : s.probabilities) text += "," + csv_probability(p);
    text += "\n";
  }
  for (const std::string& file : faceless)
    text += csv_field(file) + ",0,,,,," + std::string(class_names.size(), ',') + "\n";
  return text;
}

nlohmann::ordered_json json_of(const std::vector<Subject>& subjects, const std::vector<std::string>& class_names,
                               const std::vector<std::string>& faceless) {
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  for (const Subject& s : subjects) {
    const int best = best_class(s.probabilities);
    nlohmann::ordered_json entry = {{"image", s.file}};
    if (s.face > 0) {
      entry["face"] = s.face;
      entry["box"] = {s.box.x, s.box.y, s.box.width, s.box.height};
    }
    entry["expression"] = class_names[best];
    entry["label"] = best;
    for (std::size_t c = 0; c < class_names.size(); ++c) entry["probabilities"][class_names[c]] = s.probabilities[c];
    json.push_back(entry);
  }
  for (const std::string& file : faceless) json.push_back({{"image", file}, {"faces", 0}});
  return json;
}

void print_text(const std::vector<Subject>& subjects, const std::vector<std::string>& class_names,
                const std::vector<std::string>& faceless) {
  for (const Subject& s : subjects) {
    const int best = best_class(s.probabilities);
    const std::string where =
        s.face > 0 ? str_cat(" face ", s.face, " at ", s.box.x, ",", s.box.y, " ", s.box.width, "x", s.box.height) : "";
    std::printf("%s%s: %s (%.4f)\n", s.file.c_str(), where.c_str(), printable(class_names[best]).c_str(),
                s.probabilities[best]);
    for (std::size_t c = 0; c < class_names.size(); ++c)
      std::printf("  %-10s %.4f\n", printable(class_names[c]).c_str(), s.probabilities[c]);
  }
  for (const std::string& file : faceless) std::printf("%s: no face found\n", file.c_str());
}

// A copy of `photo` with each of its faces' boxes and predicted classes
// drawn, as DIR/<stem>.png.
void write_annotated(const std::string& file, const Image& photo, const std::vector<const Subject*>& faces,
                     const std::vector<std::string>& class_names, const fs::path& folder) {
  std::vector<LabelledBox> boxes;
  for (const Subject* face : faces) {
    const int best = best_class(face->probabilities);
    boxes.push_back({static_cast<double>(face->box.x), static_cast<double>(face->box.y),
                     static_cast<double>(face->box.width), static_cast<double>(face->box.height),
                     str_cat(printable(class_names[best]), " ", std::lround(100 * face->probabilities[best]), "%")});
  }
  write_annotated_photo_png((folder / (fs::path(file).stem().string() + ".png")).string(), photo, boxes);
}

// ---- the command -------------------------------------------------------------------

int run_predict(const PredictArguments& arguments) {
  const std::string output_type = fs::path(arguments.output).extension().string();
  if (!arguments.output.empty() && output_type != ".csv" && output_type != ".json")
    throw UsageError(str_cat("--output ", arguments.output, ": expected a .csv or .json file"));
  if (!arguments.annotate.empty() && !arguments.detect_faces)
    throw UsageError("--annotate draws the faces --detect_faces finds: give both");
  if (arguments.detect_faces) check(face_detection_built(), "--detect_faces: this armnet was built without OpenCV");
  const Checkpoint checkpoint = read_checkpoint(arguments.checkpoint);
  const Device device = device_from_flag(arguments.device);
  std::shared_ptr<Classifier> model = model_from_checkpoint(checkpoint, arguments.image_size);
  model->to(device);
  const std::vector<std::string> class_names = class_names_of(checkpoint, model->options().num_classes);
  model->eval();
  autograd::NoGradGuard no_grad;
  const std::unique_ptr<Autocast> autocast = autocast_from_flags(arguments.amp, arguments.amp_dtype);
  const int size = model->options().image_size;

  std::vector<std::pair<std::string, std::string>> failures;  // (input, reason), reported as they happen
  auto report = [](const std::string& input, const std::string& reason) {
    std::fprintf(stderr, "armnet: %s: %s\n", printable(input).c_str(), printable(reason).c_str());
  };
  const std::vector<std::string> files = expand_inputs(arguments.inputs, failures);
  for (const auto& [input, reason] : failures) report(input, reason);
  const std::size_t inputs = files.size() + failures.size();
  std::vector<Subject> subjects;
  std::vector<std::string> faceless;  // photos without a face found
  std::vector<std::pair<std::string, Image>> photos;  // kept for --annotate
  for (const std::string& file : files) {
    try {
      Image image = decode_image(file, arguments.max_image_pixels);
      if (!arguments.detect_faces) {
        subjects.push_back({file, 0, {}, std::move(image), {}});
        continue;
      }
      const std::vector<CropBox> boxes = detect_faces(image);
      if (boxes.empty()) faceless.push_back(file);
      for (std::size_t i = 0; i < boxes.size(); ++i)
        subjects.push_back(
            {file, static_cast<int>(i + 1), boxes[i], crop(image, with_alignment_margin(boxes[i]), file), {}});
      if (!arguments.annotate.empty()) photos.emplace_back(file, std::move(image));
    } catch (const Error& error) {  // its message names the file
      failures.emplace_back(file, error.what());
      std::fprintf(stderr, "armnet: %s\n", printable(error.what()).c_str());
    }
  }

  // The reference's ARM adds alpha times a mean over the batch: alone, an
  // image is its own batch.
  const ModelOptions& options = model->options();
  if (options.architecture == "arm" && !options.batch_independent_eval && !arguments.as_batch && subjects.size() > 1)
    std::fprintf(
        stderr,
        "warning: this model's prediction depends on the batch (its ARM adds alpha times a mean over "
        "the batch); each image is classified alone here: --as_batch classifies them together (as armnet test does), "
        "and a model trained with --batch_independent_eval does not depend on it\n");
  const std::size_t step = arguments.as_batch ? std::max<std::size_t>(subjects.size(), 1) : 1;
  for (std::size_t begin = 0; begin < subjects.size(); begin += step) {
    const std::size_t end = std::min(subjects.size(), begin + step);
    const std::vector<std::vector<double>> p = softmax_rows(
        autocast_forward(*model, normalised_batch(images_of(subjects, begin, end), size).to(device), autocast.get()));
    for (std::size_t i = begin; i < end; ++i) subjects[i].probabilities = p[i - begin];
  }

  if (!arguments.annotate.empty()) {
    std::error_code error;
    fs::create_directories(arguments.annotate, error);
    check(!error, "--annotate ", arguments.annotate, ": cannot create the folder: ", error.message());
    for (const auto& [file, photo] : photos) {
      std::vector<const Subject*> faces;
      for (const Subject& s : subjects)
        if (s.file == file) faces.push_back(&s);
      write_annotated(file, photo, faces, class_names, arguments.annotate);
    }
  }
  if (!arguments.output.empty()) {
    const std::string text = fs::path(arguments.output).extension() == ".csv"
                                 ? csv_text(subjects, class_names, faceless)
                                 : json_of(subjects, class_names, faceless).dump(2) + "\n";
    write_file_atomically(arguments.output, {{text.data(), text.size()}});
    std::fprintf(stderr, "wrote %zu predictions to %s\n", subjects.size(), arguments.output.c_str());
    for (const std::string& file : faceless) std::fprintf(stderr, "%s: no face found\n", file.c_str());
  } else if (arguments.json) {
    std::printf("%s\n", json_of(subjects, class_names, faceless).dump(2).c_str());
  } else {
    print_text(subjects, class_names, faceless);
  }
  if (failures.empty()) return 0;
  std::fprintf(stderr, "armnet: %zu of %zu inputs could not be read%s\n", failures.size(), inputs,
               failures.size() < inputs ? " (the others were classified)" : "");
  return 1;
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto arguments = std::make_shared<PredictArguments>();
  CLI::App* command = app.add_subcommand("predict", "Predict the expression of faces: images, folders, globs, photos");
  command->add_option("-c,--checkpoint", arguments->checkpoint,
                      "armnet checkpoint, run directory (its best), reference .pth or safetensors weights")
      ->required();
  command->add_option("inputs", arguments->inputs, "Image files, folders (searched recursively) or glob patterns")
      ->required();
  command->add_flag("--json", arguments->json, "Print JSON instead of text");
  command->add_option("--output", arguments->output, "Write the predictions to FILE.csv or FILE.json instead");
  command->add_flag("--as_batch", arguments->as_batch,
                    "Classify the images as one batch (the ARM's batch-global mean then spans them)");
  command->add_flag("--detect_faces", arguments->detect_faces,
                    "Find the faces in photographs (OpenCV's Haar cascade) and classify each");
  command->add_option("--annotate", arguments->annotate,
                      "With --detect_faces: write a copy of each photo with its faces drawn into this folder");
  command->add_option("--image_size", arguments->image_size,
                      "Input size for checkpoints that do not record it (default 224)")
      ->check(CLI::Range(1, limits::kModelImageSize));
  add_max_image_pixels_option(*command, arguments->max_image_pixels);
  add_device_option(*command, arguments->device);
  add_amp_options(*command, arguments->amp, arguments->amp_dtype);
  command->callback([arguments] {
    const int status = run_predict(*arguments);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace armnet::apps
