// The pictures of armnet, drawn with Cairo and written as PNG: those of
// `armnet train` / `armnet test` (the training curves, loss and accuracy per
// epoch, and the row-normalised confusion matrix of the reference's
// --plot_cm; docs/plots.md) and those of `armnet explain` (the de-albino
// kernel, the ARM's steps for one image, a Grad-CAM map; docs/explain.md),
// and the photographs of `armnet predict --annotate` with their faces boxed.
// Each file appears atomically (tensor/io/atomic_file.h); every failure
// throws armnet::Error naming the path.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "apps/report.h"
#include "data/image.h"

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

// ---- the pictures of `armnet explain` ------------------------------------------
//
// Maps of numbers are drawn cell by cell (nearest-neighbour enlargement, so
// that an 11 x 11 map shows its 121 cells). A group of maps drawn side by
// side shares one colour scale with its colour bar: viridis from 0 to the
// largest value when no value is negative (a ReLU's output), otherwise a
// diverging blue-white-red map symmetric around 0 (ColorBrewer's RdBu:
// negative blue, 0 white, positive red).

// A 2-D array of numbers, row-major: values[y * width + x].
struct Heatmap {
  int width = 0;
  int height = 0;
  std::vector<double> values;
  double at(int x, int y) const { return values[static_cast<std::size_t>(y) * width + x]; }
};

constexpr int kKernelPictureWidth = 640;
constexpr int kKernelPictureHeight = 620;

// A convolution kernel (the ARM's 32x32 de-albino kernel), one cell per
// weight, diverging colours symmetric around 0 with a colour bar of values,
// ticks every `tick_step` cells on both axes (the kernel's stride), `title`
// above and `caption` (a line or two) below.
void write_kernel_png(const std::string& path, const Heatmap& kernel, int tick_step, const std::string& title,
                      const std::vector<std::string>& caption);

constexpr int kArmPictureWidth = 1000;
constexpr int kArmPictureHeight = 640;

// What the ARM computes for one image (layers/resnet_arm.h, ForwardTrace).
struct ArmPicture {
  Image face;                        // the S x S input as the model sees it
  std::array<Heatmap, 2> shuffled;   // the two planes of the pixel-shuffled last stage (16s x 16s)
  std::array<Heatmap, 2> de_albino;  // the de-albino output after arm.bn, both channels (h x w)
  Heatmap channel_mean;              // their mean (h x w)
  Heatmap global_term;               // alpha x the batch-global mean (h x w)
  Heatmap amended;                   // channel_mean + global_term: what fc reads (h x w)
  double alpha = 1.0;
  std::vector<std::string> class_names;
  std::vector<double> probabilities;  // one per class
  std::string title;
  std::vector<std::string> caption;   // a line or two below the panels
};

// Two rows of labelled panels: the face, the two shuffled planes, the two
// de-albino channels; then channel mean + alpha x global = amended (one
// shared colour scale, so that the sum reads), and the class probabilities.
void write_arm_png(const std::string& path, const ArmPicture& picture);

constexpr int kGradCamPictureWidth = 800;
constexpr int kGradCamPictureHeight = 440;
constexpr double kGradCamOverlayAlpha = 0.5;  // the colour's weight over the face

struct GradCamPicture {
  Image face;             // the S x S input as the model sees it
  Heatmap cam;            // the class-activation map at the last stage's resolution (s x s), >= 0
  Heatmap cam_on_image;   // the same upsampled to S x S
  std::string title;
  std::vector<std::string> caption;
};

// Three panels: the face, the CAM (viridis from 0 to its largest value, with
// a colour bar) and the face with the upsampled CAM laid over it (colour
// weight kGradCamOverlayAlpha; a CAM that is 0 everywhere shows as viridis's
// darkest colour).
void write_grad_cam_png(const std::string& path, const GradCamPicture& picture);

// A box in a photograph and its label (a face `armnet predict --detect_faces`
// found, and its predicted class).
struct LabelledBox {
  double x = 0, y = 0, width = 0, height = 0;  // pixels, top-left origin
  std::string label;
};

// The photograph at its own size with each box framed in green and its label
// on a green band above it (inside the picture when the box touches the top),
// lines and text scaled with the photo's width (`armnet predict --annotate`).
void write_annotated_photo_png(const std::string& path, const Image& photo, const std::vector<LabelledBox>& boxes);

}  // namespace armnet::apps
