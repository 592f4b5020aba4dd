// The pictures of apps/plots.h (training curves, confusion matrix, and those
// of `armnet explain`), drawn with Cairo's image surface and toy text API,
// encoded to PNG in memory and written with write_file_atomically.
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

// The diverging map of `armnet explain`: ColorBrewer's eleven RdBu colours,
// reversed so that the most negative value is dark blue, 0 is white (the
// middle colour) and the most positive dark red.
constexpr std::array<Rgb, 11> kBlueWhiteRed = {{{5 / 255.0, 48 / 255.0, 97 / 255.0},
                                                {33 / 255.0, 102 / 255.0, 172 / 255.0},
                                                {67 / 255.0, 147 / 255.0, 195 / 255.0},
                                                {146 / 255.0, 197 / 255.0, 222 / 255.0},
                                                {209 / 255.0, 229 / 255.0, 240 / 255.0},
                                                {247 / 255.0, 247 / 255.0, 247 / 255.0},
                                                {253 / 255.0, 219 / 255.0, 199 / 255.0},
                                                {244 / 255.0, 165 / 255.0, 130 / 255.0},
                                                {214 / 255.0, 96 / 255.0, 77 / 255.0},
                                                {178 / 255.0, 24 / 255.0, 43 / 255.0},
                                                {103 / 255.0, 0 / 255.0, 31 / 255.0}}};

// The sequential map of `armnet explain` (values >= 0, the Grad-CAM):
// viridis, dark purple to yellow, at nine equally spaced points.
constexpr std::array<Rgb, 9> kViridis = {{{68 / 255.0, 1 / 255.0, 84 / 255.0},
                                          {71 / 255.0, 45 / 255.0, 123 / 255.0},
                                          {59 / 255.0, 82 / 255.0, 139 / 255.0},
                                          {44 / 255.0, 114 / 255.0, 142 / 255.0},
                                          {33 / 255.0, 144 / 255.0, 140 / 255.0},
                                          {39 / 255.0, 173 / 255.0, 129 / 255.0},
                                          {93 / 255.0, 200 / 255.0, 99 / 255.0},
                                          {170 / 255.0, 220 / 255.0, 50 / 255.0},
                                          {253 / 255.0, 231 / 255.0, 37 / 255.0}}};

// The colour at `position` in [0, 1] of a map whose `colours` sit at equal
// spacing, linearly interpolated; positions outside [0, 1] are clamped and a
// NaN takes the first colour.
template <std::size_t N>
Rgb colour_map(const std::array<Rgb, N>& colours, double position) {
  const double scaled = (std::isnan(position) ? 0.0 : std::clamp(position, 0.0, 1.0)) * (N - 1);
  const int i = std::min(static_cast<int>(scaled), static_cast<int>(N) - 2);
  const double f = scaled - i;
  const Rgb& a = colours[i];
  const Rgb& b = colours[i + 1];
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

Rgb blues(double value) { return colour_map(kBlues, value); }

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

std::string format_number(double value, int decimals) { return format("%.*f", decimals, value); }

// A vertical axis name: `text` centred on (x, y), read from bottom to top.
void draw_upward_text(cairo_t* cr, const std::string& text, double x, double y) {
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, -kPi / 2);
  draw_text(cr, text, 0, 0, Align::Centre);
  cairo_restore(cr);
}

// A 1-pixel line between two points, placed on pixel centres so it stays sharp.
void hairline(cairo_t* cr, double x0, double y0, double x1, double y1) {
  cairo_move_to(cr, std::floor(x0) + 0.5, std::floor(y0) + 0.5);
  cairo_line_to(cr, std::floor(x1) + 0.5, std::floor(y1) + 0.5);
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);
}

// A 1-pixel frame just inside the whole-pixel rectangle `box`.
void frame(cairo_t* cr, const PixelRect& box) {
  set_colour(cr, kFrameColour);
  cairo_rectangle(cr, box.x + 0.5, box.y + 0.5, box.width - 1, box.height - 1);
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);
}

// A tick of a colour bar: where it sits along the bar (0 .. 1) and its label.
struct Tick {
  double position;
  std::string label;
};

// A colour bar filling `box` with `colours` (at equal spacing, as
// colour_map), framed, with a 4-pixel mark and a label (12 px) per tick. A
// vertical bar runs from the bottom (0) to the top (1) with its labels on the
// right; a horizontal one from left (0) to right (1) with its labels below,
// the end ones inside its span.
template <std::size_t N>
void draw_colour_bar(cairo_t* cr, const std::array<Rgb, N>& colours, const PixelRect& box, bool vertical,
                     const std::vector<Tick>& ticks) {
  const double bottom = box.y + box.height, right = box.x + box.width;
  std::unique_ptr<cairo_pattern_t, decltype(&cairo_pattern_destroy)> gradient(
      vertical ? cairo_pattern_create_linear(0, bottom, 0, box.y) : cairo_pattern_create_linear(box.x, 0, right, 0),
      cairo_pattern_destroy);
  for (std::size_t i = 0; i < N; ++i)
    cairo_pattern_add_color_stop_rgb(gradient.get(), static_cast<double>(i) / (N - 1), colours[i].r, colours[i].g,
                                     colours[i].b);
  cairo_rectangle(cr, box.x, box.y, box.width, box.height);
  cairo_set_source(cr, gradient.get());
  cairo_fill(cr);
  frame(cr, box);
  set_font(cr, 12);
  for (const Tick& tick : ticks) {
    if (vertical) {
      const double y = bottom - tick.position * box.height;
      set_colour(cr, kFrameColour);
      hairline(cr, right, std::min(y, bottom - 1), right + 4, std::min(y, bottom - 1));
      set_colour(cr, kTextColour);
      draw_text(cr, tick.label, right + 8, y, Align::Left);
    } else {
      const double x = box.x + tick.position * box.width;
      set_colour(cr, kFrameColour);
      hairline(cr, std::min(x, right - 1), bottom, std::min(x, right - 1), bottom + 4);
      set_colour(cr, kTextColour);
      // The end labels sit inside the bar's span, so that two bars side by
      // side do not run their labels into each other.
      const Align align = tick.position <= 0 ? Align::Left : tick.position >= 1 ? Align::Right : Align::Centre;
      draw_text(cr, tick.label, x, bottom + 13, align);
    }
  }
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
    draw_upward_text(cr, "True", 24, kMatrixTop + kMatrixSide / 2);
    set_font(cr, 16, true);
    draw_text(cr, title, kMatrixLeft + kMatrixSide / 2, kMatrixTop / 2, Align::Centre);

    // The colour bar: 0 at the bottom, 1 at the top, ticks every 0.2.
    std::vector<Tick> ticks;
    for (int i = 0; i <= 5; ++i) ticks.push_back({i * 0.2, format_number(i * 0.2, 1)});
    draw_colour_bar(cr, kBlues, {matrix_right + 24, kMatrixTop, 18, kMatrixSide}, /*vertical=*/true, ticks);
  });
}

// ---- the pictures of `armnet explain` ------------------------------------------

namespace {

// A tick label: three significant digits ("0.0312", "-1.25", "0").
std::string format_value(double value) { return format("%.3g", value); }

// The colour scale that a group of maps shares (apps/plots.h): viridis over
// [0, largest] when no finite value is negative, else blue-white-red over
// [-m, m], m the largest magnitude. `diverging` forces the second (the
// kernel's weights are drawn around 0 whatever their signs).
class ColourScale {
 public:
  ColourScale(const std::vector<const Heatmap*>& maps, bool diverging) {
    double low = 0, high = 0;
    for (const Heatmap* map : maps)
      for (double value : map->values)
        if (std::isfinite(value)) {
          low = std::min(low, value);
          high = std::max(high, value);
        }
    diverging_ = diverging || low < 0;
    limit_ = diverging_ ? std::max(-low, high) : high;
    if (limit_ == 0) limit_ = 1;  // maps of zeros: any scale shows them as its 0
  }

  Rgb colour(double value) const {
    return diverging_ ? colour_map(kBlueWhiteRed, 0.5 + 0.5 * value / limit_) : colour_map(kViridis, value / limit_);
  }

  // The colour bar of the scale in `box`, `intervals` + 1 evenly spaced ticks.
  void draw_bar(cairo_t* cr, const PixelRect& box, bool vertical, int intervals) const {
    const double low = diverging_ ? -limit_ : 0.0;
    std::vector<Tick> ticks;
    for (int i = 0; i <= intervals; ++i) {
      const double position = static_cast<double>(i) / intervals;
      const double value = low + position * (limit_ - low);
      ticks.push_back({position, format_value(std::abs(value) < 1e-12 * limit_ ? 0.0 : value)});
    }
    if (diverging_)
      draw_colour_bar(cr, kBlueWhiteRed, box, vertical, ticks);
    else
      draw_colour_bar(cr, kViridis, box, vertical, ticks);
  }

 private:
  bool diverging_ = false;
  double limit_ = 1;
};

void check_map(const std::string& path, const Heatmap& map, const char* name) {
  check(map.width > 0 && map.height > 0 && map.values.size() == static_cast<std::size_t>(map.width) * map.height,
        path, ": the ", name, " map is empty or its ", map.values.size(), " values are not ", map.width, " x ",
        map.height);
}

void check_face(const std::string& path, const Image& face) {
  check(face.width > 0 && face.height > 0 && face.channels == 3, path, ": the face must be a non-empty RGB image");
}

using SurfacePtr = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;

// A width x height RGB surface whose pixel (x, y) is colour_at(x, y). A
// surface that Cairo cannot make comes back in its error state: painting it
// puts the context in error, which write_png_picture reports with the path.
SurfacePtr pixel_surface(int width, int height, const std::function<Rgb(int, int)>& colour_at) {
  SurfacePtr surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height), cairo_surface_destroy);
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS) return surface;
  cairo_surface_flush(surface.get());
  unsigned char* data = cairo_image_surface_get_data(surface.get());
  const int stride = cairo_image_surface_get_stride(surface.get());
  auto byte = [](double v) { return static_cast<std::uint32_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255)); };
  for (int y = 0; y < height; ++y) {
    auto* row = reinterpret_cast<std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride);
    for (int x = 0; x < width; ++x) {
      const Rgb c = colour_at(x, y);
      row[x] = byte(c.r) << 16 | byte(c.g) << 8 | byte(c.b);  // CAIRO_FORMAT_RGB24: 0x00RRGGBB
    }
  }
  cairo_surface_mark_dirty(surface.get());
  return surface;
}

// Paints a width x height `surface` scaled to fill `box`, then frames it.
// `sharp`: each source pixel stays a sharp rectangle (nearest neighbour, for
// maps of numbers); otherwise bilinear (for photographs).
void paint_scaled(cairo_t* cr, cairo_surface_t* surface, int width, int height, const PixelRect& box, bool sharp) {
  cairo_save(cr);
  cairo_rectangle(cr, box.x, box.y, box.width, box.height);
  cairo_clip(cr);
  cairo_translate(cr, box.x, box.y);
  cairo_scale(cr, box.width / width, box.height / height);
  cairo_set_source_surface(cr, surface, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), sharp ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_BILINEAR);
  cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);  // no dark seam along the edges
  cairo_paint(cr);
  cairo_restore(cr);
  frame(cr, box);
}

void draw_map(cairo_t* cr, const Heatmap& map, const ColourScale& scale, const PixelRect& box) {
  const SurfacePtr surface =
      pixel_surface(map.width, map.height, [&](int x, int y) { return scale.colour(map.at(x, y)); });
  paint_scaled(cr, surface.get(), map.width, map.height, box, /*sharp=*/true);
}

Rgb pixel_colour(const Image& image, int x, int y) {
  const std::uint8_t* p = image.row(y) + 3 * x;
  return {p[0] / 255.0, p[1] / 255.0, p[2] / 255.0};
}

void draw_face(cairo_t* cr, const Image& face, const PixelRect& box) {
  const SurfacePtr surface =
      pixel_surface(face.width, face.height, [&](int x, int y) { return pixel_colour(face, x, y); });
  paint_scaled(cr, surface.get(), face.width, face.height, box, /*sharp=*/false);
}

// A panel's two label lines above its box: the name (bold) and a detail.
void draw_panel_label(cairo_t* cr, const PixelRect& box, const std::string& name, const std::string& detail) {
  set_colour(cr, kTextColour);
  set_font(cr, 12, true);
  draw_text(cr, name, box.x + box.width / 2, box.y - 24, Align::Centre);
  set_font(cr, 11);
  draw_text(cr, detail, box.x + box.width / 2, box.y - 9, Align::Centre);
}

// The title (bold, centred at y 26) and the caption lines (centred, 20
// pixels apart from `caption_top`) of a picture `width` wide.
void draw_title_and_caption(cairo_t* cr, double width, const std::string& title,
                            const std::vector<std::string>& caption, double caption_top) {
  set_colour(cr, kTextColour);
  set_font(cr, 16, true);
  draw_text(cr, title, width / 2, 26, Align::Centre);
  set_font(cr, 12);
  for (std::size_t i = 0; i < caption.size(); ++i)
    draw_text(cr, caption[i], width / 2, caption_top + 20 * i, Align::Centre);
}

std::string size_text(int width, int height) { return str_cat(width, " x ", height); }

// The class probabilities as horizontal bars in `box`, one row per class,
// the most probable in blue.
void draw_probabilities(cairo_t* cr, const PixelRect& box, const std::vector<std::string>& names,
                        const std::vector<double>& probabilities) {
  const std::size_t classes = names.size();
  const std::size_t best = std::max_element(probabilities.begin(), probabilities.end()) - probabilities.begin();
  const double row_height = std::min(20.0, box.height / classes);
  const double bar_left = box.x + 60, bar_width = box.width - 60 - 50;
  set_font(cr, 12);
  for (std::size_t c = 0; c < classes; ++c) {
    const double y = box.y + (c + 0.5) * row_height;
    set_colour(cr, kTextColour);
    draw_text(cr, names[c], bar_left - 8, y, Align::Right);
    set_colour(cr, c == best ? kTrainColour : Rgb{0.72, 0.76, 0.80});
    cairo_rectangle(cr, bar_left, y - row_height * 0.35, std::max(1.0, probabilities[c] * bar_width), row_height * 0.7);
    cairo_fill(cr);
    set_colour(cr, kTextColour);
    draw_text(cr, format_number(probabilities[c], 3), bar_left + probabilities[c] * bar_width + 6, y, Align::Left);
  }
}

}  // namespace

void write_kernel_png(const std::string& path, const Heatmap& kernel, int tick_step, const std::string& title,
                      const std::vector<std::string>& caption) {
  check_map(path, kernel, "kernel");
  check(tick_step > 0, path, ": the kernel's tick step must be positive");
  write_png_picture(path, kKernelPictureWidth, kKernelPictureHeight, [&](cairo_t* cr) {
    // One square cell per weight, the grid at most 448 pixels on a side.
    const double cell = std::max(1.0, std::floor(448.0 / std::max(kernel.width, kernel.height)));
    const PixelRect grid{80, 60, cell * kernel.width, cell * kernel.height};
    const ColourScale scale({&kernel}, /*diverging=*/true);
    draw_map(cr, kernel, scale, grid);

    // Ticks at every tick_step-th cell boundary (the stride: where the
    // windows of neighbouring outputs start), on the left and below.
    set_font(cr, 12);
    const double bottom = grid.y + grid.height;
    for (int i = 0; i <= kernel.width; i += tick_step) {
      const double x = std::min(grid.x + i * cell, grid.x + grid.width - 1);
      set_colour(cr, kFrameColour);
      hairline(cr, x, bottom, x, bottom + 4);
      set_colour(cr, kTextColour);
      draw_text(cr, std::to_string(i), x, bottom + 14, Align::Centre);
    }
    for (int i = 0; i <= kernel.height; i += tick_step) {
      const double y = std::min(grid.y + i * cell, bottom - 1);
      set_colour(cr, kFrameColour);
      hairline(cr, grid.x - 4, y, grid.x, y);
      set_colour(cr, kTextColour);
      draw_text(cr, std::to_string(i), grid.x - 8, y, Align::Right);
    }
    set_font(cr, 13);
    draw_text(cr, "column", grid.x + grid.width / 2, bottom + 36, Align::Centre);
    draw_upward_text(cr, "row", 30, grid.y + grid.height / 2);

    scale.draw_bar(cr, {grid.x + grid.width + 24, grid.y, 18, grid.height}, /*vertical=*/true, 4);
    draw_title_and_caption(cr, 2 * grid.x + grid.width, title, caption, bottom + 66);
  });
}

void write_arm_png(const std::string& path, const ArmPicture& picture) {
  check_face(path, picture.face);
  for (const Heatmap* map : {&picture.shuffled[0], &picture.shuffled[1]}) check_map(path, *map, "pixel-shuffled");
  for (const Heatmap* map : {&picture.de_albino[0], &picture.de_albino[1]}) check_map(path, *map, "de-albino");
  check_map(path, picture.channel_mean, "channel-mean");
  check_map(path, picture.global_term, "global-term");
  check_map(path, picture.amended, "amended");
  check(!picture.class_names.empty() && picture.class_names.size() == picture.probabilities.size(), path, ": ",
        picture.class_names.size(), " class names for ", picture.probabilities.size(), " probabilities");
  write_png_picture(path, kArmPictureWidth, kArmPictureHeight, [&](cairo_t* cr) {
    // Five columns of 160-pixel panels, 190 pixels apart; two rows.
    constexpr double kLeft = 40, kPitch = 190, kSide = 160, kRow1 = 90, kRow2 = 350;
    auto panel = [&](int column, double top) { return PixelRect{kLeft + column * kPitch, top, kSide, kSide}; };
    // A colour bar under the panels of columns first..last of a row.
    auto bar_under = [&](int first, int last, double top) {
      return PixelRect{kLeft + first * kPitch, top + kSide + 12, (last - first) * kPitch + kSide, 10};
    };
    const Heatmap& shuffled = picture.shuffled[0];
    const Heatmap& amended_bn = picture.de_albino[0];

    // Row 1: the input, the two shuffled planes, the two de-albino channels.
    draw_face(cr, picture.face, panel(0, kRow1));
    draw_panel_label(cr, panel(0, kRow1), "input", size_text(picture.face.width, picture.face.height));
    const ColourScale shuffled_scale({&picture.shuffled[0], &picture.shuffled[1]}, false);
    const ColourScale de_albino_scale({&picture.de_albino[0], &picture.de_albino[1]}, false);
    for (int c = 0; c < 2; ++c) {
      draw_map(cr, picture.shuffled[c], shuffled_scale, panel(1 + c, kRow1));
      draw_panel_label(cr, panel(1 + c, kRow1), str_cat("pixel shuffle, channel ", c),
                       str_cat(size_text(shuffled.width, shuffled.height), ", from features.7"));
      draw_map(cr, picture.de_albino[c], de_albino_scale, panel(3 + c, kRow1));
      draw_panel_label(cr, panel(3 + c, kRow1), str_cat("de-albino + arm.bn, ch. ", c),
                       size_text(amended_bn.width, amended_bn.height));
    }
    shuffled_scale.draw_bar(cr, bar_under(1, 2, kRow1), /*vertical=*/false, 2);
    de_albino_scale.draw_bar(cr, bar_under(3, 4, kRow1), /*vertical=*/false, 2);

    // Row 2: channel mean + alpha x global = amended, on one scale.
    const ColourScale sum_scale({&picture.channel_mean, &picture.global_term, &picture.amended}, false);
    draw_map(cr, picture.channel_mean, sum_scale, panel(0, kRow2));
    draw_panel_label(cr, panel(0, kRow2), "channel mean", "of the 2 channels above");
    draw_map(cr, picture.global_term, sum_scale, panel(1, kRow2));
    draw_panel_label(cr, panel(1, kRow2), "alpha x global", str_cat("alpha = ", format_number(picture.alpha, 4)));
    draw_map(cr, picture.amended, sum_scale, panel(2, kRow2));
    draw_panel_label(cr, panel(2, kRow2), "amended (fc reads it)",
                     str_cat(size_text(picture.amended.width, picture.amended.height), " = ",
                             picture.amended.width * picture.amended.height, " features"));
    sum_scale.draw_bar(cr, bar_under(0, 2, kRow2), /*vertical=*/false, 2);
    set_colour(cr, kTextColour);
    set_font(cr, 24, true);
    draw_text(cr, "+", kLeft + kSide + (kPitch - kSide) / 2, kRow2 + kSide / 2, Align::Centre);
    draw_text(cr, "=", kLeft + kPitch + kSide + (kPitch - kSide) / 2, kRow2 + kSide / 2, Align::Centre);

    // The classifier's answer beside it.
    const PixelRect answer{kLeft + 3 * kPitch + 10, kRow2, kPitch + kSide - 10, kSide};
    draw_panel_label(cr, {answer.x, answer.y, answer.width, 0}, "fc, softmax", "class probabilities");
    draw_probabilities(cr, answer, picture.class_names, picture.probabilities);

    draw_title_and_caption(cr, kArmPictureWidth, picture.title, picture.caption, kRow2 + kSide + 60);
  });
}

void write_grad_cam_png(const std::string& path, const GradCamPicture& picture) {
  check_face(path, picture.face);
  check_map(path, picture.cam, "class-activation");
  check_map(path, picture.cam_on_image, "upsampled class-activation");
  check(picture.cam_on_image.width == picture.face.width && picture.cam_on_image.height == picture.face.height, path,
        ": the upsampled map is ", size_text(picture.cam_on_image.width, picture.cam_on_image.height),
        ", the face ", size_text(picture.face.width, picture.face.height));
  write_png_picture(path, kGradCamPictureWidth, kGradCamPictureHeight, [&](cairo_t* cr) {
    constexpr double kLeft = 32, kPitch = 256, kSide = 224, kTop = 90;
    auto panel = [&](int column) { return PixelRect{kLeft + column * kPitch, kTop, kSide, kSide}; };
    const ColourScale scale({&picture.cam}, false);

    draw_face(cr, picture.face, panel(0));
    draw_panel_label(cr, panel(0), "input", size_text(picture.face.width, picture.face.height));
    draw_map(cr, picture.cam, scale, panel(1));
    draw_panel_label(cr, panel(1), "Grad-CAM", str_cat(size_text(picture.cam.width, picture.cam.height),
                                                        ", the resolution of features.7"));
    const Image& face = picture.face;
    const SurfacePtr overlay = pixel_surface(face.width, face.height, [&](int x, int y) {
      const Rgb under = pixel_colour(face, x, y);
      const Rgb over = scale.colour(picture.cam_on_image.at(x, y));
      const double a = kGradCamOverlayAlpha;
      return Rgb{(1 - a) * under.r + a * over.r, (1 - a) * under.g + a * over.g, (1 - a) * under.b + a * over.b};
    });
    paint_scaled(cr, overlay.get(), face.width, face.height, panel(2), /*sharp=*/false);
    draw_panel_label(cr, panel(2), "overlay",
                     str_cat("upsampled bilinearly, alpha ", format_number(kGradCamOverlayAlpha, 1)));
    scale.draw_bar(cr, PixelRect{kLeft + kPitch, kTop + kSide + 12, kPitch + kSide, 10}, /*vertical=*/false, 4);

    draw_title_and_caption(cr, kGradCamPictureWidth, picture.title, picture.caption, kTop + kSide + 70);
  });
}

// ---- annotated photographs (predict --annotate) ----------------------------------------

void write_annotated_photo_png(const std::string& path, const Image& photo, const std::vector<LabelledBox>& boxes) {
  check_face(path, photo);
  write_png_picture(path, photo.width, photo.height, [&](cairo_t* cr) {
    const SurfacePtr surface =
        pixel_surface(photo.width, photo.height, [&](int x, int y) { return pixel_colour(photo, x, y); });
    cairo_set_source_surface(cr, surface.get(), 0, 0);
    cairo_paint(cr);
    const double line = std::max(2.0, photo.width / 300.0);
    const Rgb green{0.1, 0.85, 0.2};
    set_font(cr, std::max(12.0, photo.width / 40.0), true);
    for (const LabelledBox& box : boxes) {
      set_colour(cr, green);
      cairo_set_line_width(cr, line);
      cairo_rectangle(cr, box.x, box.y, box.width, box.height);
      cairo_stroke(cr);
      cairo_text_extents_t extents;
      cairo_text_extents(cr, box.label.c_str(), &extents);
      const double top = std::max(0.0, box.y - extents.height - 2 * line);
      cairo_rectangle(cr, box.x, top, extents.x_advance + 2 * line, extents.height + 2 * line);
      cairo_fill(cr);
      set_colour(cr, {0, 0, 0});
      cairo_move_to(cr, box.x + line, top + extents.height + line / 2);
      cairo_show_text(cr, box.label.c_str());
    }
  });
}

}  // namespace armnet::apps
