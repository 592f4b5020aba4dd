// The training curves and the confusion-matrix picture (apps/plots.h), drawn
// with Cairo's image surface and toy text API, encoded to PNG in memory and
// written with write_file_atomically.
#include "apps/plots.h"

#include <cairo.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>

#include "tensor/error.h"
#include "tensor/io/atomic_file.h"

#if defined(__SANITIZE_ADDRESS__)
// Fontconfig, which Cairo's toy text API uses to find the font, keeps caches
// for the life of the process and never frees them, so LeakSanitizer would
// fail every sanitized program that draws a picture (tools/test.sh --sanitize).
// Only allocations made inside fontconfig are exempt.
extern "C" const char* __lsan_default_suppressions() { return "leak:libfontconfig.so\n"; }
#endif

namespace armnet::apps {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct Rgb {
  double r, g, b;
};

constexpr Rgb kWhite{1.0, 1.0, 1.0};
constexpr Rgb kTextColour{0.15, 0.15, 0.15};
constexpr Rgb kFrameColour{0.35, 0.35, 0.35};
constexpr Rgb kGridColour{0.88, 0.88, 0.88};
constexpr Rgb kTrainColour{31 / 255.0, 119 / 255.0, 180 / 255.0};       // blue
constexpr Rgb kValidationColour{255 / 255.0, 127 / 255.0, 14 / 255.0};  // orange

// The colour map of the confusion matrix, light to dark blue: the nine
// ColorBrewer "Blues" colours at equal spacing, linearly interpolated
// (matplotlib's "Blues" is built from the same colours).
constexpr std::array<Rgb, 9> kBlues = {{{247 / 255.0, 251 / 255.0, 255 / 255.0},
                                        {222 / 255.0, 235 / 255.0, 247 / 255.0},
                                        {198 / 255.0, 219 / 255.0, 239 / 255.0},
                                        {158 / 255.0, 202 / 255.0, 225 / 255.0},
                                        {107 / 255.0, 174 / 255.0, 214 / 255.0},
                                        {66 / 255.0, 146 / 255.0, 198 / 255.0},
                                        {33 / 255.0, 113 / 255.0, 181 / 255.0},
                                        {8 / 255.0, 81 / 255.0, 156 / 255.0},
                                        {8 / 255.0, 48 / 255.0, 107 / 255.0}}};

Rgb blues(double value) {
  const double position = std::clamp(value, 0.0, 1.0) * (kBlues.size() - 1);
  const int i = std::min(static_cast<int>(position), static_cast<int>(kBlues.size()) - 2);
  const double f = position - i;
  const Rgb& a = kBlues[i];
  const Rgb& b = kBlues[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

double luminance(const Rgb& c) { return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b; }

void set_colour(cairo_t* cr, const Rgb& c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

enum class Align { Left, Centre, Right };

// Draws `text` with its ink's left edge, centre or right edge at x and its
// ink's vertical middle at y.
void draw_text(cairo_t* cr, const std::string& text, double x, double y, Align align) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  double left = x - extents.x_bearing;
  if (align == Align::Centre) left -= extents.width / 2;
  if (align == Align::Right) left -= extents.width;
  cairo_move_to(cr, left, y - extents.y_bearing - extents.height / 2);
  cairo_show_text(cr, text.c_str());
}

double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.width;
}

std::string format_number(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// A 1-pixel line between two points, placed on pixel centres so it stays sharp.
void hairline(cairo_t* cr, double x0, double y0, double x1, double y1) {
  cairo_move_to(cr, std::floor(x0) + 0.5, std::floor(y0) + 0.5);
  cairo_line_to(cr, std::floor(x1) + 0.5, std::floor(y1) + 0.5);
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);
}

cairo_status_t append_png_bytes(void* closure, const unsigned char* data, unsigned int length) {
  try {
    auto* bytes = static_cast<std::vector<unsigned char>*>(closure);
    bytes->insert(bytes->end(), data, data + length);
    return CAIRO_STATUS_SUCCESS;
  } catch (...) {
    return CAIRO_STATUS_NO_MEMORY;
  }
}

// Paints a white width x height picture, lets `draw` draw on it, encodes it
// as PNG and writes it to `path` atomically.
void write_png_picture(const std::string& path, int width, int height, const std::function<void(cairo_t*)>& draw) {
  auto check_cairo = [&path](cairo_status_t status, const char* step) {
    check(status == CAIRO_STATUS_SUCCESS, path, ": cannot draw the picture (", step,
          "): cairo: ", cairo_status_to_string(status));
  };
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height), cairo_surface_destroy);
  check_cairo(cairo_surface_status(surface.get()), "surface");
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> context(cairo_create(surface.get()), cairo_destroy);
  cairo_t* cr = context.get();
  check_cairo(cairo_status(cr), "context");
  set_colour(cr, kWhite);
  cairo_paint(cr);
  draw(cr);
  check_cairo(cairo_status(cr), "drawing");
  cairo_surface_flush(surface.get());
  check_cairo(cairo_surface_status(surface.get()), "surface");
  std::vector<unsigned char> png;
  check_cairo(cairo_surface_write_to_png_stream(surface.get(), append_png_bytes, &png), "PNG encoding");
  write_file_atomically(path, {{png.data(), png.size()}});
}

// ---- training curves ---------------------------------------------------------

// An axis range [low, high] with ticks at the multiples of `step` inside it,
// labelled with `decimals` decimals.
struct Axis {
  double low = 0, high = 1, step = 0.2;
  int decimals = 1;
};

// The smallest of 1, 2, (2.5,) 5 times a power of ten that is at least
// `rough` (> 0); 2.5 only when `quarters` (not for epochs, which are whole).
double nice_step(double rough, bool quarters) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  for (double multiple : {1.0, 2.0, 2.5, 5.0})
    if ((quarters || multiple != 2.5) && multiple * magnitude >= rough * (1 - 1e-9)) return multiple * magnitude;
  return 10 * magnitude;
}

// The decimals that print every multiple of `step` exactly (0.25 -> 2, 5 -> 0).
int decimals_of(double step) {
  int decimals = 0;
  for (double scaled = step; decimals < 12 && std::abs(scaled - std::round(scaled)) > 1e-6 * scaled; scaled *= 10)
    ++decimals;
  return decimals;
}

// The finite values [low, high] with a 5% margin on each side (so no marker
// sits on the frame) and 3 to 7 ticks at round values.
Axis value_axis(double low, double high) {
  const double margin = high - low > 1e-12 ? (high - low) * 0.05 : std::max(std::abs(low) * 0.05, 0.05);
  Axis axis;
  axis.low = low - margin;
  axis.high = high + margin;
  axis.step = nice_step((axis.high - axis.low) / 6, true);
  axis.decimals = decimals_of(axis.step);
  return axis;
}

struct Series {
  const char* name;
  Rgb colour;
  std::vector<double> values;  // one per epoch; non-finite values are gaps
};

void draw_marker(cairo_t* cr, double x, double y) {
  cairo_new_sub_path(cr);
  cairo_arc(cr, x, y, 3.5, 0, 2 * kPi);
  cairo_fill(cr);
}

// One panel: `series` against `epochs` in the box (left, top, width, height).
void draw_curves_panel(cairo_t* cr, double left, double top, double width, double height, const std::string& title,
                       const std::vector<double>& epochs, const std::array<Series, 2>& series, bool legend_at_top) {
  const double plot_left = left + 70, plot_top = top + 45;
  const double plot_width = width - 90, plot_height = height - 45 - 60;
  const std::size_t points = epochs.size();

  // The value axis covers the finite values; [0, 1] when there are none.
  double low = INFINITY, high = -INFINITY;
  for (const Series& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) {
        low = std::min(low, v);
        high = std::max(high, v);
      }
  const Axis y_axis = std::isfinite(low) ? value_axis(low, high) : value_axis(0.0, 1.0);

  // The epoch axis: integer ticks, a margin so that no point sits on the frame.
  const double first_epoch = *std::min_element(epochs.begin(), epochs.end());
  const double last_epoch = *std::max_element(epochs.begin(), epochs.end());
  const double epoch_range = last_epoch - first_epoch;
  const double epoch_step = epoch_range > 0 ? std::max(1.0, nice_step(epoch_range / 8, false)) : 1.0;
  const double epoch_pad = epoch_range > 0 ? epoch_range * 0.03 : 0.5;
  const double x_low = first_epoch - epoch_pad, x_high = last_epoch + epoch_pad;

  auto x_of = [&](double epoch) { return plot_left + (epoch - x_low) / (x_high - x_low) * plot_width; };
  auto y_of = [&](double value) {
    return plot_top + plot_height - (value - y_axis.low) / (y_axis.high - y_axis.low) * plot_height;
  };

  // Grid and tick labels.
  set_font(cr, 12);
  const long first_tick = std::lround(std::ceil(y_axis.low / y_axis.step - 1e-9));
  const long last_tick = std::lround(std::floor(y_axis.high / y_axis.step + 1e-9));
  for (long i = first_tick; i <= last_tick; ++i) {
    const double value = i * y_axis.step;
    const double y = y_of(value);
    set_colour(cr, kGridColour);
    hairline(cr, plot_left, y, plot_left + plot_width, y);
    set_colour(cr, kTextColour);
    draw_text(cr, format_number(value, y_axis.decimals), plot_left - 8, y, Align::Right);
  }
  for (double epoch = std::ceil(first_epoch / epoch_step) * epoch_step; epoch <= last_epoch; epoch += epoch_step) {
    const double x = x_of(epoch);
    set_colour(cr, kGridColour);
    hairline(cr, x, plot_top, x, plot_top + plot_height);
    set_colour(cr, kTextColour);
    draw_text(cr, format_number(epoch, 0), x, plot_top + plot_height + 15, Align::Centre);
  }
  set_colour(cr, kFrameColour);
  cairo_rectangle(cr, std::floor(plot_left) + 0.5, std::floor(plot_top) + 0.5, std::floor(plot_width),
                  std::floor(plot_height));
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);

  // The series: lines between consecutive finite points; markers when there
  // are few points, and on every point without a finite neighbour.
  cairo_save(cr);
  cairo_rectangle(cr, plot_left, plot_top, plot_width, plot_height);
  cairo_clip(cr);
  auto finite_at = [&](const Series& s, std::size_t i) { return i < points && std::isfinite(s.values[i]); };
  for (const Series& s : series) {
    set_colour(cr, s.colour);
    cairo_set_line_width(cr, 2.0);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (std::size_t i = 0; i < points; ++i) {
      if (!finite_at(s, i)) continue;
      if (i > 0 && finite_at(s, i - 1))
        cairo_line_to(cr, x_of(epochs[i]), y_of(s.values[i]));
      else
        cairo_move_to(cr, x_of(epochs[i]), y_of(s.values[i]));
    }
    cairo_stroke(cr);
    for (std::size_t i = 0; i < points; ++i) {
      const bool isolated = !(i > 0 && finite_at(s, i - 1)) && !finite_at(s, i + 1);
      if (finite_at(s, i) && (points <= 40 || isolated)) draw_marker(cr, x_of(epochs[i]), y_of(s.values[i]));
    }
  }
  cairo_restore(cr);

  // Legend, in the top-right or bottom-right corner of the plot.
  set_font(cr, 12);
  double label_width = 0;
  for (const Series& s : series) label_width = std::max(label_width, text_width(cr, s.name));
  const double box_width = 52 + label_width, box_height = 2 * 20 + 8;
  const double box_left = plot_left + plot_width - box_width - 10;
  const double box_top = legend_at_top ? plot_top + 10 : plot_top + plot_height - box_height - 10;
  cairo_rectangle(cr, std::floor(box_left) + 0.5, std::floor(box_top) + 0.5, std::floor(box_width),
                  std::floor(box_height));
  set_colour(cr, kWhite);
  cairo_fill_preserve(cr);
  set_colour(cr, kGridColour);
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);
  for (std::size_t k = 0; k < series.size(); ++k) {
    const double y = box_top + 14 + 20 * k;
    set_colour(cr, series[k].colour);
    cairo_set_line_width(cr, 2.0);
    cairo_move_to(cr, box_left + 8, y);
    cairo_line_to(cr, box_left + 36, y);
    cairo_stroke(cr);
    draw_marker(cr, box_left + 22, y);
    set_colour(cr, kTextColour);
    draw_text(cr, series[k].name, box_left + 44, y, Align::Left);
  }

  // Title and axis label.
  set_colour(cr, kTextColour);
  set_font(cr, 15, true);
  draw_text(cr, title, plot_left + plot_width / 2, top + 22, Align::Centre);
  set_font(cr, 13);
  draw_text(cr, "epoch", plot_left + plot_width / 2, plot_top + plot_height + 40, Align::Centre);
}

// ---- confusion matrix ----------------------------------------------------------

constexpr double kMatrixLeft = 90, kMatrixTop = 60, kMatrixSide = 440;

}  // namespace

PixelRect confusion_matrix_cell(int num_classes, int row, int column) {
  check(num_classes >= 1 && row >= 0 && row < num_classes && column >= 0 && column < num_classes,
        "confusion_matrix_cell: cell (", row, ", ", column, ") of ", num_classes, " classes");
  // Whole pixels, so that neighbouring cells meet without a seam.
  const double side = kMatrixSide / num_classes;
  PixelRect cell;
  cell.x = std::round(kMatrixLeft + column * side);
  cell.y = std::round(kMatrixTop + row * side);
  cell.width = std::round(kMatrixLeft + (column + 1) * side) - cell.x;
  cell.height = std::round(kMatrixTop + (row + 1) * side) - cell.y;
  return cell;
}

void write_training_curves_png(const std::string& path, const std::vector<EpochMetrics>& history) {
  check(!history.empty(), path, ": no epochs to draw training curves of");
  std::vector<double> epochs;
  std::array<Series, 2> loss = {{{"train", kTrainColour, {}}, {"validation", kValidationColour, {}}}};
  std::array<Series, 2> accuracy = loss;
  for (const EpochMetrics& m : history) {
    epochs.push_back(m.epoch);
    loss[0].values.push_back(m.train_loss);
    loss[1].values.push_back(m.val_loss);
    accuracy[0].values.push_back(m.train_accuracy);
    accuracy[1].values.push_back(m.val_accuracy);
  }
  write_png_picture(path, kCurvesWidth, kCurvesHeight, [&](cairo_t* cr) {
    const double panel_width = kCurvesWidth / 2.0;
    // Loss falls and accuracy rises: the top-right and the bottom-right corner stay clear.
    draw_curves_panel(cr, 0, 0, panel_width, kCurvesHeight, "Loss", epochs, loss, true);
    draw_curves_panel(cr, panel_width, 0, panel_width, kCurvesHeight, "Accuracy", epochs, accuracy, false);
  });
}

void write_confusion_matrix_png(const std::string& path, const ConfusionMatrix& matrix,
                                const std::vector<std::string>& labels, const std::string& title) {
  const int n = matrix.num_classes();
  check(static_cast<int>(labels.size()) == n, path, ": ", labels.size(), " labels for a confusion matrix of ", n,
        " classes");
  write_png_picture(path, kConfusionWidth, kConfusionHeight, [&](cairo_t* cr) {
    const double matrix_bottom = kMatrixTop + kMatrixSide, matrix_right = kMatrixLeft + kMatrixSide;

    // The cells: each row divided by its sum, the value written in the middle.
    const PixelRect first_cell = confusion_matrix_cell(n, 0, 0);
    set_font(cr, std::clamp(first_cell.width * 0.24, 8.0, 16.0));
    for (int t = 0; t < n; ++t) {
      const std::int64_t row_sum = matrix.support(t);
      for (int p = 0; p < n; ++p) {
        const double value = row_sum == 0 ? 0.0 : static_cast<double>(matrix.count(t, p)) / row_sum;
        const PixelRect cell = confusion_matrix_cell(n, t, p);
        const Rgb colour = blues(value);
        set_colour(cr, colour);
        cairo_rectangle(cr, cell.x, cell.y, cell.width, cell.height);
        cairo_fill(cr);
        set_colour(cr, luminance(colour) < 0.5 ? kWhite : kTextColour);
        draw_text(cr, format_number(value, 2), cell.x + cell.width / 2, cell.y + cell.height / 2, Align::Centre);
      }
    }

    // Tick labels and axis names.
    set_colour(cr, kTextColour);
    set_font(cr, 13);
    for (int c = 0; c < n; ++c) {
      const PixelRect cell = confusion_matrix_cell(n, c, c);
      draw_text(cr, labels[c], cell.x + cell.width / 2, matrix_bottom + 16, Align::Centre);
      draw_text(cr, labels[c], kMatrixLeft - 10, cell.y + cell.height / 2, Align::Right);
    }
    set_font(cr, 14);
    draw_text(cr, "Predicted", kMatrixLeft + kMatrixSide / 2, matrix_bottom + 46, Align::Centre);
    cairo_save(cr);
    cairo_translate(cr, 24, kMatrixTop + kMatrixSide / 2);
    cairo_rotate(cr, -kPi / 2);
    draw_text(cr, "True", 0, 0, Align::Centre);
    cairo_restore(cr);
    set_font(cr, 16, true);
    draw_text(cr, title, kMatrixLeft + kMatrixSide / 2, kMatrixTop / 2, Align::Centre);

    // The colour bar: 0 at the bottom, 1 at the top, ticks every 0.2.
    const double bar_left = matrix_right + 24, bar_width = 18;
    std::unique_ptr<cairo_pattern_t, decltype(&cairo_pattern_destroy)> gradient(
        cairo_pattern_create_linear(0, matrix_bottom, 0, kMatrixTop), cairo_pattern_destroy);
    for (std::size_t i = 0; i < kBlues.size(); ++i)
      cairo_pattern_add_color_stop_rgb(gradient.get(), static_cast<double>(i) / (kBlues.size() - 1), kBlues[i].r,
                                       kBlues[i].g, kBlues[i].b);
    cairo_rectangle(cr, bar_left, kMatrixTop, bar_width, kMatrixSide);
    cairo_set_source(cr, gradient.get());
    cairo_fill(cr);
    set_colour(cr, kFrameColour);
    cairo_rectangle(cr, bar_left + 0.5, kMatrixTop + 0.5, bar_width - 1, kMatrixSide - 1);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    set_font(cr, 12);
    for (int i = 0; i <= 5; ++i) {
      const double y = matrix_bottom - i * kMatrixSide / 5;
      set_colour(cr, kFrameColour);
      hairline(cr, bar_left + bar_width, std::min(y, matrix_bottom - 1), bar_left + bar_width + 4,
               std::min(y, matrix_bottom - 1));
      set_colour(cr, kTextColour);
      draw_text(cr, format_number(i * 0.2, 1), bar_left + bar_width + 8, y, Align::Left);
    }
  });
}

}  // namespace armnet::apps
