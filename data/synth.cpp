// The synthetic RAF-DB (data/synth.h): a small anti-aliased rasteriser
// (signed-distance shapes: ellipses, polygons, variable-width strokes along
// polylines and quadratic Bezier curves), a face drawn with it from an
// identity and an expression, and the writer of the data set.
#include "data/synth.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include "tensor/error.h"
#include "tensor/io/atomic_file.h"
#include "tensor/random.h"

namespace armnet {

namespace {

// ---- geometry ----------------------------------------------------------------

struct Point {
  float x = 0.0f;
  float y = 0.0f;
};

Point operator+(Point a, Point b) { return {a.x + b.x, a.y + b.y}; }
Point operator-(Point a, Point b) { return {a.x - b.x, a.y - b.y}; }
Point operator*(float scale, Point p) { return {scale * p.x, scale * p.y}; }
float dot(Point a, Point b) { return a.x * b.x + a.y * b.y; }
float length(Point p) { return std::sqrt(dot(p, p)); }
float lerp(float a, float b, float t) { return a + (b - a) * t; }

struct Rgb {
  float r = 0.0f;
  float g = 0.0f;
  float b = 0.0f;
};

Rgb operator*(float scale, Rgb c) { return {scale * c.r, scale * c.g, scale * c.b}; }
Rgb mix(Rgb a, Rgb b, float t) { return {lerp(a.r, b.r, t), lerp(a.g, b.g, t), lerp(a.b, b.b, t)}; }
float luminance(Rgb c) { return 0.299f * c.r + 0.587f * c.g + 0.114f * c.b; }

// A pixel-space rectangle (x0, y0) .. (x1, y1).
struct Box {
  float x0, y0, x1, y1;
};

// A filled region, as its signed distance in pixels (negative inside) and a
// box that holds it. Coverage of a pixel comes from the distance at its
// centre (analytic anti-aliasing).
class Shape {
 public:
  virtual ~Shape() = default;
  virtual float distance(Point p) const = 0;
  virtual Box bounds() const = 0;
};

class EllipseShape final : public Shape {
 public:
  EllipseShape(Point centre, Point radii, float angle)
      : centre_(centre), radii_(radii), cos_(std::cos(angle)), sin_(std::sin(angle)) {}

  // The usual first-order approximation of the distance to an ellipse:
  // exact on the outline and good near it, which is all anti-aliasing needs.
  float distance(Point p) const override {
    const Point d = p - centre_;
    const Point local{d.x * cos_ + d.y * sin_, -d.x * sin_ + d.y * cos_};
    const float k0 = length({local.x / radii_.x, local.y / radii_.y});
    const float k1 = length({local.x / (radii_.x * radii_.x), local.y / (radii_.y * radii_.y)});
    if (k1 < 1e-6f) return -std::min(radii_.x, radii_.y);
    return k0 * (k0 - 1.0f) / k1;
  }

  Box bounds() const override {
    const float half_x = std::hypot(radii_.x * cos_, radii_.y * sin_);
    const float half_y = std::hypot(radii_.x * sin_, radii_.y * cos_);
    return {centre_.x - half_x, centre_.y - half_y, centre_.x + half_x, centre_.y + half_y};
  }

 private:
  Point centre_, radii_;
  float cos_, sin_;
};

// A simple polygon (any winding), exact distance.
class PolygonShape final : public Shape {
 public:
  explicit PolygonShape(std::vector<Point> vertices) : vertices_(std::move(vertices)) {}

  float distance(Point p) const override {
    float nearest_squared = dot(p - vertices_[0], p - vertices_[0]);
    float sign = 1.0f;
    const std::size_t n = vertices_.size();
    for (std::size_t i = 0, j = n - 1; i < n; j = i++) {
      const Point edge = vertices_[j] - vertices_[i];
      const Point offset = p - vertices_[i];
      const float edge_squared = std::max(dot(edge, edge), 1e-12f);
      const float t = std::clamp(dot(offset, edge) / edge_squared, 0.0f, 1.0f);
      const Point away = offset - t * edge;
      nearest_squared = std::min(nearest_squared, dot(away, away));
      // Crossing count of a ray to +x flips the sign inside.
      const bool above_start = p.y >= vertices_[i].y;
      const bool below_end = p.y < vertices_[j].y;
      const bool left_of_edge = edge.x * offset.y > edge.y * offset.x;
      if ((above_start && below_end && left_of_edge) || (!above_start && !below_end && !left_of_edge)) sign = -sign;
    }
    return sign * std::sqrt(nearest_squared);
  }

  Box bounds() const override {
    Box box{vertices_[0].x, vertices_[0].y, vertices_[0].x, vertices_[0].y};
    for (const Point& v : vertices_) {
      box = {std::min(box.x0, v.x), std::min(box.y0, v.y), std::max(box.x1, v.x), std::max(box.y1, v.y)};
    }
    return box;
  }

 private:
  std::vector<Point> vertices_;
};

// A thick polyline with round ends whose half-width varies linearly between
// its points (tapered brows, lid lines).
class StrokeShape final : public Shape {
 public:
  StrokeShape(std::vector<Point> points, std::vector<float> half_widths)
      : points_(std::move(points)), half_widths_(std::move(half_widths)) {}

  float distance(Point p) const override {
    float nearest = 1e30f;
    for (std::size_t i = 0; i + 1 < points_.size(); ++i) {
      const Point segment = points_[i + 1] - points_[i];
      const Point offset = p - points_[i];
      const float t = std::clamp(dot(offset, segment) / std::max(dot(segment, segment), 1e-12f), 0.0f, 1.0f);
      const float half_width = lerp(half_widths_[i], half_widths_[i + 1], t);
      nearest = std::min(nearest, length(offset - t * segment) - half_width);
    }
    return nearest;
  }

  Box bounds() const override {
    const float margin = *std::max_element(half_widths_.begin(), half_widths_.end());
    Box box{points_[0].x, points_[0].y, points_[0].x, points_[0].y};
    for (const Point& v : points_) {
      box = {std::min(box.x0, v.x), std::min(box.y0, v.y), std::max(box.x1, v.x), std::max(box.y1, v.y)};
    }
    return {box.x0 - margin, box.y0 - margin, box.x1 + margin, box.y1 + margin};
  }

 private:
  std::vector<Point> points_;
  std::vector<float> half_widths_;
};

// The part of `shape` inside `clip` (an iris inside the eye opening).
class IntersectionShape final : public Shape {
 public:
  IntersectionShape(const Shape& shape, const Shape& clip) : shape_(shape), clip_(clip) {}
  float distance(Point p) const override { return std::max(shape_.distance(p), clip_.distance(p)); }
  Box bounds() const override {
    const Box a = shape_.bounds();
    const Box b = clip_.bounds();
    return {std::max(a.x0, b.x0), std::max(a.y0, b.y0), std::min(a.x1, b.x1), std::min(a.y1, b.y1)};
  }

 private:
  const Shape& shape_;
  const Shape& clip_;
};

// Both shapes (a face and its jaw).
class UnionShape final : public Shape {
 public:
  UnionShape(const Shape& a, const Shape& b) : a_(a), b_(b) {}
  float distance(Point p) const override { return std::min(a_.distance(p), b_.distance(p)); }
  Box bounds() const override {
    const Box a = a_.bounds();
    const Box b = b_.bounds();
    return {std::min(a.x0, b.x0), std::min(a.y0, b.y0), std::max(a.x1, b.x1), std::max(a.y1, b.y1)};
  }

 private:
  const Shape& a_;
  const Shape& b_;
};

// `shape` shrunk by `inset` pixels all round (negative: grown).
class InsetShape final : public Shape {
 public:
  InsetShape(const Shape& shape, float inset) : shape_(shape), inset_(inset) {}
  float distance(Point p) const override { return shape_.distance(p) + inset_; }
  Box bounds() const override {
    const Box box = shape_.bounds();
    return {box.x0 + inset_, box.y0 + inset_, box.x1 - inset_, box.y1 - inset_};
  }

 private:
  const Shape& shape_;
  float inset_;
};

// Points along the quadratic Bezier curve from `start` to `end` pulled
// towards `control`.
std::vector<Point> quadratic_bezier(Point start, Point control, Point end, int segments = 10) {
  std::vector<Point> points;
  points.reserve(segments + 1);
  for (int i = 0; i <= segments; ++i) {
    const float t = static_cast<float>(i) / segments;
    const float u = 1.0f - t;
    points.push_back(u * u * start + (2.0f * u * t) * control + t * t * end);
  }
  return points;
}

// The curves eyes and mouths are made of: for s from -1 (left corner) to 1
// (right corner), the point (centre.x + half_width * s,
// centre.y - corner_lift * s^2 + bulge * (1 - s^2)^exponent * (1 + skew * s)).
// A negative bulge bows upwards (image y grows downwards); exponent 0.5 is an
// ellipse arc, 1 a parabola; corner_lift > 0 raises both corners (a smile);
// skew makes one side bulge more (a sneer).
struct LidCurve {
  Point centre;
  float half_width = 0.0f;
  float bulge = 0.0f;
  float exponent = 1.0f;
  float corner_lift = 0.0f;
  float skew = 0.0f;

  std::vector<Point> points(int segments = 12) const {
    std::vector<Point> result;
    result.reserve(segments + 1);
    for (int i = 0; i <= segments; ++i) {
      const float s = -1.0f + 2.0f * static_cast<float>(i) / segments;
      const float profile = std::pow(std::max(0.0f, 1.0f - s * s), exponent);
      result.push_back({centre.x + half_width * s,
                        centre.y - corner_lift * s * s + bulge * profile * (1.0f + skew * s)});
    }
    return result;
  }
};

// The closed outline between an upper and a lower curve that share corners.
std::vector<Point> outline_between(const LidCurve& upper, const LidCurve& lower, int segments = 12) {
  std::vector<Point> outline = upper.points(segments);
  const std::vector<Point> bottom = lower.points(segments);
  for (int i = segments - 1; i >= 1; --i) outline.push_back(bottom[i]);
  return outline;
}

// ---- the canvas ----------------------------------------------------------------

// A square float RGB image (values 0..1) that shapes are blended onto.
class Canvas {
 public:
  explicit Canvas(int size) : size_(size), pixels_(static_cast<std::size_t>(size) * size * 3, 0.0f) {}
  int size() const { return size_; }

  // Blends `colour` over the shape. feather_px widens the anti-aliased edge
  // into a soft one (1 = crisp).
  //
  // The box is walked in tiles of kTile x kTile pixels: one distance at the
  // tile's centre settles a tile that lies wholly inside or outside the edge
  // (distances change by at most one pixel per pixel; the factor 1.5 covers
  // the approximate ellipse distance), so only tiles on the edge pay a
  // distance per pixel.
  void fill(const Shape& shape, Rgb colour, float opacity = 1.0f, float feather_px = 1.0f) {
    constexpr int kTile = 4;
    const Box box = shape.bounds();
    const float margin = feather_px + 1.0f;
    const int x0 = std::max(0, static_cast<int>(std::floor(box.x0 - margin)));
    const int y0 = std::max(0, static_cast<int>(std::floor(box.y0 - margin)));
    const int x1 = std::min(size_ - 1, static_cast<int>(std::ceil(box.x1 + margin)));
    const int y1 = std::min(size_ - 1, static_cast<int>(std::ceil(box.y1 + margin)));
    const float settled = 0.5f * feather_px + 1.5f * std::sqrt(0.5f) * kTile;
    for (int tile_y = y0; tile_y <= y1; tile_y += kTile) {
      for (int tile_x = x0; tile_x <= x1; tile_x += kTile) {
        const int tile_x1 = std::min(x1, tile_x + kTile - 1);
        const int tile_y1 = std::min(y1, tile_y + kTile - 1);
        const float centre_distance = shape.distance({0.5f * (tile_x + tile_x1 + 1), 0.5f * (tile_y + tile_y1 + 1)});
        if (centre_distance >= settled) continue;
        const bool inside = centre_distance <= -settled;
        for (int y = tile_y; y <= tile_y1; ++y) {
          for (int x = tile_x; x <= tile_x1; ++x) {
            const float distance = inside ? -feather_px : shape.distance({x + 0.5f, y + 0.5f});
            const float coverage = std::clamp(0.5f - distance / feather_px, 0.0f, 1.0f) * opacity;
            if (coverage <= 0.0f) continue;
            float* pixel = &pixels_[(static_cast<std::size_t>(y) * size_ + x) * 3];
            pixel[0] += (colour.r - pixel[0]) * coverage;
            pixel[1] += (colour.g - pixel[1]) * coverage;
            pixel[2] += (colour.b - pixel[2]) * coverage;
          }
        }
      }
    }
  }

  // The whole canvas: a linear gradient from `from` to `to` along the
  // direction `angle` (radians, through the centre).
  void fill_gradient(Rgb from, Rgb to, float angle) {
    const Point direction{std::cos(angle), std::sin(angle)};
    for (int y = 0; y < size_; ++y) {
      for (int x = 0; x < size_; ++x) {
        const Point p{(x + 0.5f) / size_ - 0.5f, (y + 0.5f) / size_ - 0.5f};
        const float t = std::clamp(dot(p, direction) + 0.5f, 0.0f, 1.0f);
        set(x, y, mix(from, to, t));
      }
    }
  }

  // Light from one side: a linear brightness ramp of relative `strength`
  // along `angle`, an overall `brightness`, per-channel gains (colour cast)
  // and a contrast around mid-grey.
  void apply_lighting(float angle, float strength, float brightness, Rgb gains, float contrast) {
    const Point direction{std::cos(angle), std::sin(angle)};
    for (int y = 0; y < size_; ++y) {
      for (int x = 0; x < size_; ++x) {
        const Point p{(x + 0.5f) / size_ - 0.5f, (y + 0.5f) / size_ - 0.5f};
        const float light = brightness * (1.0f + strength * dot(p, direction));
        float* pixel = &pixels_[(static_cast<std::size_t>(y) * size_ + x) * 3];
        const float gain[3] = {gains.r, gains.g, gains.b};
        for (int c = 0; c < 3; ++c) pixel[c] = 0.5f + (pixel[c] * light * gain[c] - 0.5f) * contrast;
      }
    }
  }

  // Separable Gaussian blur, edges clamped.
  void blur(float sigma) {
    if (sigma < 0.3f) return;
    const int radius = static_cast<int>(std::ceil(2.5f * sigma));
    std::vector<float> weights(2 * radius + 1);
    float total = 0.0f;
    for (int i = -radius; i <= radius; ++i) total += weights[i + radius] = std::exp(-0.5f * i * i / (sigma * sigma));
    for (float& weight : weights) weight /= total;
    std::vector<float> rows_blurred(pixels_.size());
    blur_pass(pixels_, rows_blurred, weights, 3, 3 * size_);
    blur_pass(rows_blurred, pixels_, weights, 3 * size_, 3);
  }

  // Sensor noise: Gaussian, the same on the three channels.
  void add_noise(float sigma, Generator& generator) {
    if (sigma <= 0.0f) return;
    for (std::size_t i = 0; i < pixels_.size(); i += 3) {
      const float grain = static_cast<float>(generator.normal(0.0, sigma));
      pixels_[i] += grain;
      pixels_[i + 1] += grain;
      pixels_[i + 2] += grain;
    }
  }

  void to_grayscale() {
    for (std::size_t i = 0; i < pixels_.size(); i += 3) {
      const float gray = luminance({pixels_[i], pixels_[i + 1], pixels_[i + 2]});
      pixels_[i] = pixels_[i + 1] = pixels_[i + 2] = gray;
    }
  }

  Image to_image() const {
    Image image(size_, size_);
    for (std::size_t i = 0; i < pixels_.size(); ++i) {
      image.pixels[i] = static_cast<std::uint8_t>(std::clamp(pixels_[i], 0.0f, 1.0f) * 255.0f + 0.5f);
    }
    return image;
  }

 private:
  // One direction of the blur: `step` floats between neighbours along it,
  // `line_step` between the starts of successive lines.
  void blur_pass(const std::vector<float>& source, std::vector<float>& target, const std::vector<float>& weights,
                 int step, int line_step) const {
    const int radius = static_cast<int>(weights.size() / 2);
    for (int line = 0; line < size_; ++line) {
      for (int i = 0; i < size_; ++i) {
        float sum[3] = {0.0f, 0.0f, 0.0f};
        for (int k = -radius; k <= radius; ++k) {
          const int j = std::clamp(i + k, 0, size_ - 1);
          const float* pixel = &source[static_cast<std::size_t>(line) * line_step + static_cast<std::size_t>(j) * step];
          for (int c = 0; c < 3; ++c) sum[c] += weights[k + radius] * pixel[c];
        }
        float* out = &target[static_cast<std::size_t>(line) * line_step + static_cast<std::size_t>(i) * step];
        for (int c = 0; c < 3; ++c) out[c] = sum[c];
      }
    }
  }

  void set(int x, int y, Rgb colour) {
    float* pixel = &pixels_[(static_cast<std::size_t>(y) * size_ + x) * 3];
    pixel[0] = colour.r;
    pixel[1] = colour.g;
    pixel[2] = colour.b;
  }

  int size_;
  std::vector<float> pixels_;
};

// Draws in face coordinates: the face centred at the origin, one unit = half
// the width of an average face, y downwards; a similarity transform (pose)
// maps them to pixels.
class FacePainter {
 public:
  FacePainter(Canvas& canvas, Point centre_px, float pixels_per_unit, float angle)
      : canvas_(canvas), centre_(centre_px), scale_(pixels_per_unit), angle_(angle),
        cos_(std::cos(angle)), sin_(std::sin(angle)) {}

  float pixels(float face_units) const { return scale_ * face_units; }
  Point to_pixel(Point p) const {
    return {centre_.x + scale_ * (cos_ * p.x - sin_ * p.y), centre_.y + scale_ * (sin_ * p.x + cos_ * p.y)};
  }

  EllipseShape ellipse_shape(Point centre, Point radii, float angle = 0.0f) const {
    return EllipseShape(to_pixel(centre), scale_ * radii, angle_ + angle);
  }
  PolygonShape polygon_shape(const std::vector<Point>& outline) const {
    std::vector<Point> pixels;
    pixels.reserve(outline.size());
    for (const Point& p : outline) pixels.push_back(to_pixel(p));
    return PolygonShape(std::move(pixels));
  }

  // feather is in face units (0: a crisp edge).
  void fill(const Shape& shape, Rgb colour, float opacity = 1.0f, float feather = 0.0f) {
    canvas_.fill(shape, colour, opacity, std::max(1.0f, feather * scale_));
  }
  void ellipse(Point centre, Point radii, Rgb colour, float opacity = 1.0f, float feather = 0.0f, float angle = 0.0f) {
    fill(ellipse_shape(centre, radii, angle), colour, opacity, feather);
  }
  void polygon(const std::vector<Point>& outline, Rgb colour, float opacity = 1.0f) {
    fill(polygon_shape(outline), colour, opacity);
  }
  // A stroke along `path` whose width goes from width_start to width_end.
  void stroke(const std::vector<Point>& path, float width_start, float width_end, Rgb colour, float opacity = 1.0f) {
    std::vector<Point> pixels;
    std::vector<float> half_widths;
    for (std::size_t i = 0; i < path.size(); ++i) {
      pixels.push_back(to_pixel(path[i]));
      const float t = path.size() > 1 ? static_cast<float>(i) / (path.size() - 1) : 0.0f;
      half_widths.push_back(0.5f * scale_ * lerp(width_start, width_end, t));
    }
    fill(StrokeShape(std::move(pixels), std::move(half_widths)), colour, opacity);
  }
  void stroke(const std::vector<Point>& path, float width, Rgb colour, float opacity = 1.0f) {
    stroke(path, width, width, colour, opacity);
  }

 private:
  Canvas& canvas_;
  Point centre_;
  float scale_, angle_, cos_, sin_;
};

// ---- faces ---------------------------------------------------------------------

// How far a face is from its resting pose; every field is 0 for neutral, so
// expressions blend and scale linearly. Lengths are in face units.
struct Expression {
  float brow_raise = 0.0f;        // whole brows up
  float brow_inner_raise = 0.0f;  // inner ends up (sadness, fear) or down (anger)
  float brow_inner_in = 0.0f;     // inner ends towards the midline (anger, fear)
  float brow_arch = 0.0f;         // brows curved higher in the middle (surprise)
  float eye_open = 0.0f;          // relative change of the upper lid opening (+ wide, - narrowed)
  float lower_lid_raise = 0.0f;   // fraction of the lower opening closed (smile, disgust)
  float mouth_width = 0.0f;       // relative change of the mouth width
  float mouth_corner_lift = 0.0f; // corners up (+, smile) or down (-)
  float mouth_open = 0.0f;        // gap between the lips
  float mouth_round = 0.0f;       // 0: lens-shaped opening, 1: round "O"
  float upper_lip_raise = 0.0f;   // upper lip pulled up, more on one side (disgust)
  float lip_press = 0.0f;         // 0..1 lips thinned and pressed together (anger)
  float teeth = 0.0f;             // 0..1 how much the upper teeth show in an open mouth
  float cheek_raise = 0.0f;       // cheeks up, nasolabial folds deepened (smile)
  float nose_wrinkle = 0.0f;      // wrinkles across the nose, nostrils up (disgust)
  float forehead_lines = 0.0f;    // horizontal forehead lines (surprise, fear)
  float frown_lines = 0.0f;       // vertical lines between the brows (anger)
  float chin_raise = 0.0f;        // chin boss pushed up under the lower lip (sadness, anger)

  Expression& add(const Expression& other, float weight) {
    brow_raise += weight * other.brow_raise;
    brow_inner_raise += weight * other.brow_inner_raise;
    brow_inner_in += weight * other.brow_inner_in;
    brow_arch += weight * other.brow_arch;
    eye_open += weight * other.eye_open;
    lower_lid_raise += weight * other.lower_lid_raise;
    mouth_width += weight * other.mouth_width;
    mouth_corner_lift += weight * other.mouth_corner_lift;
    mouth_open += weight * other.mouth_open;
    mouth_round += weight * other.mouth_round;
    upper_lip_raise += weight * other.upper_lip_raise;
    lip_press += weight * other.lip_press;
    teeth += weight * other.teeth;
    cheek_raise += weight * other.cheek_raise;
    nose_wrinkle += weight * other.nose_wrinkle;
    forehead_lines += weight * other.forehead_lines;
    frown_lines += weight * other.frown_lines;
    chin_raise += weight * other.chin_raise;
    return *this;
  }
};

// The strong form of each class (0 Surprise, 1 Fear, 2 Disgust, 3 Happiness,
// 4 Sadness, 5 Anger, 6 Neutral), after the facial action units that define
// them.
Expression strong_expression(int expression) {
  Expression e;
  switch (expression) {
    case 0:  // surprise: brows up and arched, eyes wide, jaw dropped into an "O"
      e.brow_raise = 0.15f;
      e.brow_arch = 0.05f;
      e.eye_open = 0.6f;
      e.mouth_open = 0.30f;
      e.mouth_round = 1.0f;
      e.mouth_width = -0.35f;
      e.forehead_lines = 1.0f;
      break;
    case 1:  // fear: brows up and together, eyes wide, lips stretched sideways
      e.brow_raise = 0.10f;
      e.brow_inner_raise = 0.07f;
      e.brow_inner_in = 0.05f;
      e.eye_open = 0.7f;
      e.mouth_width = 0.28f;
      e.mouth_open = 0.09f;
      e.mouth_corner_lift = -0.05f;
      e.teeth = 0.9f;
      e.forehead_lines = 0.7f;
      break;
    case 2:  // disgust: upper lip raised (one side more), nose wrinkled, brows and lids down
      e.brow_raise = -0.05f;
      e.brow_inner_raise = -0.04f;
      e.brow_inner_in = 0.03f;
      e.eye_open = -0.25f;
      e.lower_lid_raise = 0.45f;
      e.upper_lip_raise = 0.10f;
      e.mouth_corner_lift = -0.06f;
      e.teeth = 0.8f;
      e.cheek_raise = 0.35f;
      e.nose_wrinkle = 1.0f;
      break;
    case 3:  // happiness: corners up, lips parted on the teeth, cheeks up, lower lids up
      e.mouth_corner_lift = 0.16f;
      e.mouth_width = 0.25f;
      e.mouth_open = 0.08f;
      e.teeth = 1.0f;
      e.cheek_raise = 1.0f;
      e.lower_lid_raise = 0.5f;
      e.eye_open = -0.15f;
      break;
    case 4:  // sadness: inner brows up, upper lids drooping, corners down, chin up
      e.brow_inner_raise = 0.13f;
      e.brow_raise = -0.02f;
      e.brow_inner_in = 0.02f;
      e.eye_open = -0.3f;
      e.mouth_corner_lift = -0.13f;
      e.mouth_width = -0.05f;
      e.chin_raise = 0.8f;
      break;
    case 5:  // anger: brows down and drawn together, glaring lids, lips pressed
      e.brow_raise = -0.07f;
      e.brow_inner_raise = -0.12f;
      e.brow_inner_in = 0.08f;
      e.frown_lines = 1.0f;
      e.eye_open = -0.3f;
      e.lower_lid_raise = 0.2f;
      e.lip_press = 1.0f;
      e.mouth_width = -0.15f;
      e.mouth_corner_lift = -0.03f;
      e.chin_raise = 0.6f;
      break;
    default:  // neutral
      break;
  }
  return e;
}

// The person and the picture: everything but the expression.
struct Identity {
  Rgb skin, hair, brows, iris, lips, clothes;
  float face_width, face_height, jaw_width, jaw_drop;
  float eye_spacing, eye_y, eye_width, eye_height;
  float brow_y, brow_inner_x, brow_outer_x, brow_arch, brow_thickness;
  float nose_y, nose_width;
  float mouth_y, mouth_width, upper_lip, lower_lip;
  float hairline, hair_part;
  int hair_style;     // 0 bald, 1 short, 2 long
  bool glasses;
  float sneer_side;   // -1 or 1: the side a raised upper lip favours
  Point gaze;
};

Rgb palette_colour(const std::vector<Rgb>& palette, double position) {
  const double scaled = std::clamp(position, 0.0, 1.0) * (palette.size() - 1);
  const std::size_t index = std::min(static_cast<std::size_t>(scaled), palette.size() - 2);
  return mix(palette[index], palette[index + 1], static_cast<float>(scaled - index));
}

Rgb random_colour(Generator& generator, float low, float high) {
  return {static_cast<float>(generator.uniform(low, high)), static_cast<float>(generator.uniform(low, high)),
          static_cast<float>(generator.uniform(low, high))};
}

float uniform(Generator& generator, double low, double high) {
  return static_cast<float>(generator.uniform(low, high));
}

Identity random_identity(Generator& generator) {
  static const std::vector<Rgb> skin_tones = {{0.97f, 0.83f, 0.72f}, {0.91f, 0.72f, 0.58f}, {0.80f, 0.58f, 0.43f},
                                              {0.64f, 0.45f, 0.31f}, {0.46f, 0.31f, 0.21f}, {0.31f, 0.21f, 0.15f}};
  static const std::vector<Rgb> hair_colours = {{0.07f, 0.05f, 0.04f}, {0.20f, 0.13f, 0.08f}, {0.38f, 0.24f, 0.14f},
                                                {0.48f, 0.21f, 0.11f}, {0.76f, 0.62f, 0.38f}, {0.62f, 0.61f, 0.60f}};
  Identity id;
  const Rgb skin = palette_colour(skin_tones, generator.uniform());
  id.skin = mix(skin, random_colour(generator, 0.3f, 0.9f), uniform(generator, 0.0, 0.08));
  // Black and dark brown the most common, as in the world.
  static const std::vector<double> hair_frequencies = {0.30, 0.25, 0.15, 0.07, 0.13, 0.10};
  double hair_draw = generator.uniform();
  std::size_t hair_index = 0;
  while (hair_index + 1 < hair_colours.size() && hair_draw >= hair_frequencies[hair_index]) {
    hair_draw -= hair_frequencies[hair_index++];
  }
  id.hair = hair_colours[hair_index];
  id.hair = uniform(generator, 0.85, 1.15) * id.hair;
  id.brows = luminance(id.hair) < 0.3f ? 0.8f * id.hair : mix(id.hair, {0.25f, 0.17f, 0.11f}, 0.6f);
  id.brows = mix(id.brows, 0.35f * id.skin, 0.25f);
  static const std::vector<Rgb> iris_colours = {{0.18f, 0.10f, 0.06f}, {0.35f, 0.22f, 0.10f}, {0.25f, 0.38f, 0.50f},
                                                {0.28f, 0.40f, 0.26f}};
  id.iris = iris_colours[generator.integer(static_cast<std::int64_t>(iris_colours.size()))];
  id.lips = mix(0.8f * id.skin, {0.70f, 0.22f, 0.25f}, uniform(generator, 0.35, 0.55));
  id.clothes = random_colour(generator, 0.05f, 0.9f);

  id.face_width = uniform(generator, 0.90, 1.04);
  id.face_height = uniform(generator, 1.22, 1.38);
  id.jaw_width = uniform(generator, 0.72, 0.92);
  id.jaw_drop = uniform(generator, 0.0, 0.12);
  id.eye_spacing = uniform(generator, 0.34, 0.42);
  id.eye_y = uniform(generator, -0.22, -0.12);
  id.eye_width = uniform(generator, 0.18, 0.22);
  id.eye_height = uniform(generator, 0.07, 0.09);
  id.brow_y = id.eye_y - uniform(generator, 0.20, 0.27);
  id.brow_inner_x = uniform(generator, 0.12, 0.18);
  id.brow_outer_x = id.eye_spacing + id.eye_width + uniform(generator, 0.0, 0.06);
  id.brow_arch = uniform(generator, 0.02, 0.07);
  id.brow_thickness = uniform(generator, 0.06, 0.10);
  id.nose_y = uniform(generator, 0.22, 0.32);
  id.nose_width = uniform(generator, 0.10, 0.14);
  id.mouth_y = id.nose_y + uniform(generator, 0.26, 0.34);
  id.mouth_width = uniform(generator, 0.30, 0.37);
  id.upper_lip = uniform(generator, 0.045, 0.065);
  id.lower_lip = uniform(generator, 0.06, 0.09);
  id.hairline = uniform(generator, -1.0, -0.80);
  id.hair_part = uniform(generator, -0.3, 0.3);
  const double style = generator.uniform();
  id.hair_style = style < 0.08 ? 0 : (style < 0.6 ? 1 : 2);
  id.glasses = generator.uniform() < 0.1;
  id.sneer_side = generator.uniform() < 0.5 ? -1.0f : 1.0f;
  id.gaze = {uniform(generator, -0.03, 0.03), uniform(generator, -0.015, 0.015)};
  return id;
}

// A person's resting face is not perfectly neutral: small offsets of the
// expression parameters blur the border between a subtle expression and
// neutral, as in real data.
Expression resting_face(Generator& generator) {
  Expression e;
  e.brow_raise = static_cast<float>(generator.normal(0.0, 0.015));
  e.brow_inner_raise = static_cast<float>(generator.normal(0.0, 0.015));
  e.eye_open = static_cast<float>(generator.normal(0.0, 0.08));
  e.mouth_width = static_cast<float>(generator.normal(0.0, 0.05));
  e.mouth_corner_lift = static_cast<float>(generator.normal(0.0, 0.015));
  e.mouth_open = std::max(0.0f, static_cast<float>(generator.normal(0.0, 0.02)));
  return e;
}

Rgb shade(Rgb colour, float factor) { return factor * colour; }

// A colour of a room or a street: a grey level tinted towards a random hue.
Rgb background_colour(Generator& generator) {
  const float grey = uniform(generator, 0.12, 0.9);
  const Rgb hue = random_colour(generator, 0.0f, 1.0f);
  return mix({grey, grey, grey}, hue, uniform(generator, 0.1, 0.6));
}

void draw_background(Canvas& canvas, Generator& generator) {
  const Rgb from = background_colour(generator);
  const Rgb to = background_colour(generator);
  canvas.fill_gradient(from, to, uniform(generator, 0.0, 2.0 * M_PI));
  const int blobs = static_cast<int>(generator.integer(4));
  const float size = static_cast<float>(canvas.size());
  for (int i = 0; i < blobs; ++i) {
    const Point centre{uniform(generator, 0.0, size), uniform(generator, 0.0, size)};
    const Point radii{uniform(generator, 0.1, 0.45) * size, uniform(generator, 0.1, 0.45) * size};
    const EllipseShape blob(centre, radii, uniform(generator, 0.0, M_PI));
    canvas.fill(blob, background_colour(generator), uniform(generator, 0.3, 0.8),
                uniform(generator, 0.05, 0.3) * size);
  }
}

void draw_head(FacePainter& painter, const Identity& id) {
  // Clothes and neck.
  painter.ellipse({0.0f, 1.95f}, {1.9f, 0.75f}, id.clothes);
  painter.polygon({{-0.42f, 0.5f}, {0.42f, 0.5f}, {0.48f, 1.6f}, {-0.48f, 1.6f}}, shade(id.skin, 0.82f));
  // Hair behind the head.
  if (id.hair_style != 0) {
    painter.ellipse({0.0f, -0.25f}, {id.face_width * 1.12f, id.face_height * 1.06f}, id.hair);
    if (id.hair_style == 2) {
      painter.polygon({{-id.face_width * 1.12f, -0.3f}, {id.face_width * 1.12f, -0.3f},
                       {id.face_width * 1.2f, 1.25f}, {-id.face_width * 1.2f, 1.25f}},
                      id.hair);
    }
  }
  // Ears, then the face: an upper ellipse joined to a jaw ellipse, its edge
  // darker for a little roundness.
  for (float side : {-1.0f, 1.0f}) {
    painter.ellipse({side * id.face_width * 0.97f, id.eye_y + 0.12f}, {0.13f, 0.22f}, shade(id.skin, 0.9f));
  }
  const EllipseShape skull = painter.ellipse_shape({0.0f, -0.1f}, {id.face_width, id.face_height});
  const EllipseShape jaw = painter.ellipse_shape({0.0f, 0.3f + id.jaw_drop}, {id.face_width * id.jaw_width, 0.85f});
  const UnionShape face(skull, jaw);
  painter.fill(face, shade(id.skin, 0.84f));
  painter.fill(InsetShape(face, painter.pixels(0.12f)), id.skin, 1.0f, 0.25f);
}

void draw_hair_front(FacePainter& painter, const Identity& id) {
  if (id.hair_style == 0) return;
  // The fringe: a cap whose lower edge is the hairline, clipped to the head.
  const EllipseShape head = painter.ellipse_shape({0.0f, -0.25f}, {id.face_width * 1.12f, id.face_height * 1.06f});
  const EllipseShape cap = painter.ellipse_shape({id.hair_part * 0.3f, id.hairline - 0.62f},
                                                 {id.face_width * 1.25f, 0.62f}, id.hair_part * 0.15f);
  painter.fill(IntersectionShape(cap, head), id.hair);
}

void draw_forehead(FacePainter& painter, const Identity& id, const Expression& e) {
  const Rgb crease = shade(id.skin, 0.6f);
  const float forehead = std::clamp(e.forehead_lines, 0.0f, 1.0f);
  if (forehead > 0.02f) {
    for (int line = 0; line < 3; ++line) {
      const float y = id.brow_y - e.brow_raise - 0.14f - 0.08f * line;
      const LidCurve curve{{0.0f, y}, 0.38f - 0.05f * line, -0.03f, 1.0f, 0.0f, 0.0f};
      painter.stroke(curve.points(8), 0.022f, crease, 0.5f * forehead);
    }
  }
  const float frown = std::clamp(e.frown_lines, 0.0f, 1.0f);
  if (frown > 0.02f) {
    for (float side : {-1.0f, 1.0f}) {
      painter.stroke({{side * 0.06f, id.brow_y - 0.02f}, {side * 0.04f, id.brow_y + 0.13f}}, 0.025f, crease,
                     0.6f * frown);
    }
  }
}

void draw_brows(FacePainter& painter, const Identity& id, const Expression& e) {
  for (float side : {-1.0f, 1.0f}) {
    const Point inner{side * (id.brow_inner_x - e.brow_inner_in), id.brow_y - e.brow_raise - e.brow_inner_raise};
    const Point outer{side * id.brow_outer_x, id.brow_y + 0.03f - 0.8f * e.brow_raise};
    const Point middle{0.5f * (inner.x + outer.x), 0.5f * (inner.y + outer.y) - id.brow_arch - e.brow_arch};
    const Point control = 2.0f * middle - 0.5f * (inner + outer);  // the curve passes through `middle`
    painter.stroke(quadratic_bezier(inner, control, outer), id.brow_thickness, 0.4f * id.brow_thickness, id.brows);
  }
}

void draw_eyes(FacePainter& painter, const Identity& id, const Expression& e) {
  const Rgb lashes = {0.09f, 0.06f, 0.05f};
  const Rgb crease = shade(id.skin, 0.62f);
  const float upper_open = std::max(0.12f, 1.0f + e.eye_open);
  const float lower_open = std::max(0.1f, (1.0f + 0.6f * std::max(0.0f, e.eye_open)) *
                                              (1.0f - std::clamp(e.lower_lid_raise, 0.0f, 0.9f)));
  for (float side : {-1.0f, 1.0f}) {
    const Point centre{side * id.eye_spacing, id.eye_y};
    // The upper lid peaks towards the nose.
    const LidCurve upper{centre, id.eye_width, -id.eye_height * upper_open, 0.7f, 0.0f, -0.2f * side};
    const LidCurve lower{centre, id.eye_width, 0.75f * id.eye_height * lower_open, 0.8f, 0.0f, 0.0f};
    const std::vector<Point> opening = outline_between(upper, lower);
    const PolygonShape opening_shape = painter.polygon_shape(opening);
    painter.fill(opening_shape, {0.93f, 0.91f, 0.88f});
    const float iris_radius = id.eye_height * 1.1f;
    const Point iris_centre = centre + id.gaze;
    painter.fill(IntersectionShape(painter.ellipse_shape(iris_centre, {iris_radius, iris_radius}), opening_shape),
                 id.iris);
    painter.fill(IntersectionShape(painter.ellipse_shape(iris_centre, {0.45f * iris_radius, 0.45f * iris_radius}),
                                   opening_shape),
                 {0.03f, 0.03f, 0.03f});
    const Point glint = iris_centre + Point{-0.3f * iris_radius, -0.35f * iris_radius};
    painter.fill(IntersectionShape(painter.ellipse_shape(glint, {0.2f * iris_radius, 0.2f * iris_radius}),
                                   opening_shape),
                 {1.0f, 1.0f, 1.0f}, 0.9f);
    // Lid lines: the lashes on the upper lid, the crease above it, the lower lid.
    painter.stroke(upper.points(), 0.035f, lashes, 0.9f);
    LidCurve lid_crease = upper;
    lid_crease.centre.y -= 0.05f + 0.3f * id.eye_height * upper_open;
    lid_crease.half_width *= 0.9f;
    painter.stroke(lid_crease.points(8), 0.018f, crease, 0.45f);
    painter.stroke(lower.points(8), 0.016f, crease, 0.5f);
    const float raised = std::clamp(e.lower_lid_raise, 0.0f, 1.0f);
    if (raised > 0.02f) {  // the bulge under a raised lower lid
      LidCurve bulge = lower;
      bulge.centre.y += 0.05f;
      painter.stroke(bulge.points(8), 0.02f, crease, 0.6f * raised);
    }
  }
}

void draw_nose(FacePainter& painter, const Identity& id, const Expression& e) {
  const Rgb shadow = shade(id.skin, 0.62f);
  const float wrinkle = std::clamp(e.nose_wrinkle, 0.0f, 1.0f);
  const float lift = 0.03f * wrinkle;
  const float wing = id.nose_width * (1.0f + 0.15f * wrinkle);
  painter.stroke({{-0.06f, id.eye_y + 0.08f}, {-0.08f, id.nose_y - 0.1f}}, 0.03f, shade(id.skin, 0.8f), 0.35f);
  painter.ellipse({0.0f, id.nose_y - 0.02f - lift}, {0.08f, 0.065f}, mix(id.skin, {1.0f, 1.0f, 1.0f}, 0.12f), 0.6f,
                  0.05f);
  for (float side : {-1.0f, 1.0f}) {
    const Point top{side * (wing - 0.03f), id.nose_y - 0.09f - lift};
    const Point control{side * (wing + 0.04f), id.nose_y - lift};
    const Point bottom{side * (wing - 0.05f), id.nose_y + 0.05f - lift};
    painter.stroke(quadratic_bezier(top, control, bottom, 8), 0.028f, shadow, 0.7f);
    painter.ellipse({side * 0.055f, id.nose_y + 0.04f - lift}, {0.04f, 0.02f}, shade(id.skin, 0.35f), 0.85f, 0.0f,
                    side * 0.3f);
  }
  if (wrinkle > 0.02f) {  // wrinkles across the bridge
    for (int line = 0; line < 3; ++line) {
      const float y = id.eye_y + 0.06f + 0.055f * line;
      const LidCurve curve{{0.0f, y}, 0.08f - 0.01f * line, -0.015f, 1.0f, 0.0f, 0.0f};
      painter.stroke(curve.points(6), 0.02f, shadow, 0.7f * wrinkle);
    }
  }
}

void draw_cheeks(FacePainter& painter, const Identity& id, const Expression& e, float mouth_half_width) {
  const float raise = std::clamp(e.cheek_raise, 0.0f, 1.0f);
  const Rgb fold = shade(id.skin, 0.62f);
  const Rgb cheek_light = mix(id.skin, {1.0f, 0.75f, 0.7f}, 0.25f);
  for (float side : {-1.0f, 1.0f}) {
    painter.ellipse({side * 0.5f, id.nose_y - 0.05f - 0.08f * raise}, {0.22f, 0.15f}, cheek_light,
                    0.12f + 0.35f * raise, 0.15f);
    // The nasolabial fold from the nose wing past the mouth corner.
    const Point start{side * (id.nose_width + 0.04f), id.nose_y - 0.02f};
    const Point end{side * (mouth_half_width + 0.07f), id.mouth_y + 0.06f - 0.8f * e.mouth_corner_lift};
    const Point control{side * (mouth_half_width + 0.1f + 0.04f * raise), id.mouth_y - 0.12f};
    painter.stroke(quadratic_bezier(start, control, end, 10), 0.02f, 0.035f, fold, 0.12f + 0.5f * raise);
  }
}

void draw_mouth(FacePainter& painter, const Identity& id, const Expression& e, float half_width) {
  const Point centre{0.0f, id.mouth_y};
  const float lift = e.mouth_corner_lift;
  const float open = std::max(0.0f, e.mouth_open);
  const float round = std::clamp(e.mouth_round, 0.0f, 1.0f);
  const float press = std::clamp(e.lip_press, 0.0f, 1.0f);
  const float sneer = std::max(0.0f, e.upper_lip_raise);
  const float skew = std::min(0.8f, 6.0f * sneer) * id.sneer_side;
  const float open_top = 0.4f * open + sneer;
  const float open_bottom = 0.6f * open;
  const float opening_shape = lerp(0.9f, 0.5f, round);
  const float upper_lip = id.upper_lip * (1.0f - 0.75f * press);
  const float lower_lip = id.lower_lip * (1.0f - 0.7f * press);

  const Rgb lip_line = shade(id.lips, 0.45f);
  const LidCurve lips_top{centre, half_width * 1.04f, -(open_top + upper_lip), 0.7f, lift, skew};
  const LidCurve lips_bottom{centre, half_width * 1.04f, open_bottom + lower_lip, 0.7f, lift, 0.0f};
  painter.polygon(outline_between(lips_top, lips_bottom), id.lips);
  // The lower lip catches the light.
  const LidCurve highlight{centre + Point{0.0f, open_bottom + 0.5f * lower_lip}, 0.5f * half_width, 0.0f, 1.0f,
                           0.3f * lift, 0.0f};
  painter.stroke(highlight.points(8), 0.3f * lower_lip, mix(id.lips, {1.0f, 1.0f, 1.0f}, 0.3f), 0.35f);
  const LidCurve closed_line{centre, half_width, 0.0f, 1.0f, lift, 0.0f};
  painter.stroke(closed_line.points(), 0.02f + 0.012f * press, lip_line, 0.85f);

  if (open_top + open_bottom > 0.01f) {
    const LidCurve gap_top{centre, half_width, -open_top, opening_shape, lift, skew};
    const LidCurve gap_bottom{centre, half_width, open_bottom, opening_shape, lift, 0.0f};
    const PolygonShape gap = painter.polygon_shape(outline_between(gap_top, gap_bottom));
    painter.fill(gap, {0.22f, 0.06f, 0.07f});
    const float teeth = std::clamp(e.teeth, 0.0f, 1.0f);
    if (teeth > 0.02f) {
      const LidCurve teeth_top{centre, half_width * 0.85f, -open_top - 0.1f, opening_shape, lift, skew};
      const LidCurve teeth_bottom{centre, half_width * 0.85f, 0.3f * open_bottom, 1.0f, lift, 0.0f};
      const PolygonShape teeth_shape = painter.polygon_shape(outline_between(teeth_top, teeth_bottom));
      painter.fill(IntersectionShape(teeth_shape, gap), {0.94f, 0.92f, 0.86f}, teeth);
    }
  }
  // Corners pressed into small dimples; the chin boss pushed up.
  if (press > 0.02f) {
    for (float side : {-1.0f, 1.0f}) {
      const Point corner{side * half_width * 1.04f, centre.y - lift};
      painter.stroke({corner + Point{0.0f, -0.03f}, corner + Point{side * 0.02f, 0.03f}}, 0.018f, lip_line,
                     0.5f * press);
    }
  }
  const float chin = std::clamp(e.chin_raise, 0.0f, 1.0f);
  if (chin > 0.02f) {
    const LidCurve boss{centre + Point{0.0f, open_bottom + lower_lip + 0.1f}, 0.6f * half_width, -0.04f, 1.0f,
                        0.0f, 0.0f};
    painter.stroke(boss.points(8), 0.025f, shade(id.skin, 0.65f), 0.45f * chin);
  }
}

void draw_glasses(FacePainter& painter, const Identity& id) {
  const Rgb frame = {0.08f, 0.07f, 0.07f};
  for (float side : {-1.0f, 1.0f}) {
    const Point centre{side * id.eye_spacing, id.eye_y + 0.02f};
    std::vector<Point> ring;
    for (int i = 0; i <= 24; ++i) {
      const float angle = static_cast<float>(2.0 * M_PI * i / 24);
      ring.push_back(centre + Point{(id.eye_width + 0.09f) * std::cos(angle), 0.17f * std::sin(angle)});
    }
    painter.stroke(ring, 0.03f, frame);
  }
  const float inner = id.eye_spacing - id.eye_width - 0.09f;
  painter.stroke(quadratic_bezier({-inner, id.eye_y}, {0.0f, id.eye_y - 0.06f}, {inner, id.eye_y}, 6), 0.03f,
                 frame);
}

// Renders one face. Every draw from `generator` happens whatever the
// expression, so the same generator state gives the same person and picture.
Image render_face(int size, const Expression& expression, Generator& generator) {
  Canvas canvas(size);
  draw_background(canvas, generator);
  const Identity id = random_identity(generator);
  Expression e = resting_face(generator);
  e.add(expression, 1.0f);

  const float pixels_per_unit = uniform(generator, 0.32, 0.40) * size;
  const Point centre{size * (0.5f + uniform(generator, -0.05, 0.05)), size * (0.5f + uniform(generator, -0.04, 0.06))};
  const float angle = static_cast<float>(generator.normal(0.0, 0.07));
  FacePainter painter(canvas, centre, pixels_per_unit, angle);

  draw_head(painter, id);
  draw_forehead(painter, id, e);
  draw_hair_front(painter, id);
  const float mouth_half_width = id.mouth_width * std::max(0.3f, 1.0f + e.mouth_width);
  draw_cheeks(painter, id, e, mouth_half_width);
  draw_brows(painter, id, e);
  draw_eyes(painter, id, e);
  draw_nose(painter, id, e);
  draw_mouth(painter, id, e, mouth_half_width);
  if (id.glasses) draw_glasses(painter, id);

  const Rgb gains = {1.0f + static_cast<float>(generator.normal(0.0, 0.04)), 1.0f,
                     1.0f + static_cast<float>(generator.normal(0.0, 0.04))};
  canvas.apply_lighting(uniform(generator, 0.0, 2.0 * M_PI), uniform(generator, 0.0, 0.6),
                        uniform(generator, 0.8, 1.12), gains, uniform(generator, 0.85, 1.15));
  canvas.blur(uniform(generator, 0.0, 1.1) * size / 100.0f);
  canvas.add_noise(uniform(generator, 0.0, 0.025), generator);
  if (generator.uniform() < 0.06) canvas.to_grayscale();
  return canvas.to_image();
}

// ---- the data set ----------------------------------------------------------------

// splitmix64's finaliser: independent-looking seeds from neighbouring inputs.
std::uint64_t mix_bits(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The seeds of the random streams: the label order of each split and each
// image of each split.
enum class Stream : std::uint64_t { TrainLabels, TestLabels, TrainImage, TestImage };

std::uint64_t stream_seed(std::uint64_t seed, Stream stream, std::uint64_t index) {
  return mix_bits(mix_bits(mix_bits(seed) ^ static_cast<std::uint64_t>(stream)) ^ index);
}

// The expression of one data-set image: mostly clear at an intensity from
// subtle to strong; about 5% ambiguous, either barely expressed or blended
// with another class. The same number of draws whatever the branch.
Expression sample_expression(int label, Generator& generator) {
  const double ambiguity = generator.uniform();
  const double kind = generator.uniform();
  const float intensity = uniform(generator, 0.3, 1.0);
  const float faint = uniform(generator, 0.0, 0.15);
  const int other = static_cast<int>((label + 1 + generator.integer(kRafNumClasses - 1)) % kRafNumClasses);
  const float blend = uniform(generator, 0.35, 0.5);
  Expression e;
  if (ambiguity >= 0.05) return e.add(strong_expression(label), intensity);
  if (kind < 0.5 && label != 6) return e.add(strong_expression(label), faint);
  return e.add(strong_expression(label), 1.0f - blend).add(strong_expression(other), blend);
}

// The class of every image of a split, in a seeded random order.
std::vector<int> shuffled_labels(const SynthClassCounts& counts, std::uint64_t seed) {
  std::vector<int> labels;
  for (int c = 0; c < kRafNumClasses; ++c) labels.insert(labels.end(), static_cast<std::size_t>(counts[c]), c);
  Generator generator(seed);
  for (std::size_t i = labels.size(); i > 1; --i) {
    std::swap(labels[i - 1], labels[static_cast<std::size_t>(generator.integer(static_cast<std::int64_t>(i)))]);
  }
  return labels;
}

std::string numbered(const char* prefix, std::int64_t number, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%s_%0*lld", prefix, digits, static_cast<long long>(number));
  return text;
}

void create_directories_or_throw(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  check(!error, "armnet synth: cannot create directory ", path.string(), ": ", error.message());
}

struct ImageJob {
  std::string name;  // train_00001.jpg, as listed
  int label;         // 0..6
  std::uint64_t seed;
};

}  // namespace

SynthBalance parse_synth_balance(const std::string& name) {
  if (name == "raf") return SynthBalance::Raf;
  if (name == "uniform") return SynthBalance::Uniform;
  throw Error(str_cat("armnet synth: unknown balance '", name, "' (expected raf or uniform)"));
}

SynthClassCounts scale_class_counts(std::int64_t total, const SynthClassCounts& reference) {
  check(total >= 0, "scale_class_counts: total ", total, " is negative");
  const std::vector<std::int64_t> counts =
      proportional_counts(total, std::vector<std::int64_t>(reference.begin(), reference.end()));
  SynthClassCounts scaled{};
  std::copy(counts.begin(), counts.end(), scaled.begin());
  return scaled;
}

SynthClassCounts synthetic_class_counts(std::int64_t total, Split split, SynthBalance balance) {
  if (balance == SynthBalance::Uniform) return scale_class_counts(total, {1, 1, 1, 1, 1, 1, 1});
  return scale_class_counts(total, split == Split::Test ? kRafTestClassCounts : kRafTrainClassCounts);
}

Image render_synthetic_face(int size, int expression, double intensity, std::uint64_t seed) {
  check(size >= 16, "render_synthetic_face: size ", size, " is below 16");
  check(expression >= 0 && expression < kRafNumClasses, "render_synthetic_face: class ", expression,
        " is outside 0..6");
  Generator generator(seed);
  Expression e;
  e.add(strong_expression(expression), static_cast<float>(intensity));
  return render_face(size, e, generator);
}

void write_synthetic_examples(const std::string& png_path, int size, std::uint64_t seed, int rows) {
  check(rows >= 1, "write_synthetic_examples: rows ", rows, " must be at least 1");
  Image sheet(size * kRafNumClasses, size * rows);
  for (int row = 0; row < rows; ++row) {
    const double intensity = rows == 1 ? 1.0 : 0.4 + 0.6 * row / (rows - 1);
    for (int c = 0; c < kRafNumClasses; ++c) {
      const Image face = render_synthetic_face(size, c, intensity, mix_bits(seed + row));
      for (int y = 0; y < size; ++y) {
        std::copy(face.row(y), face.row(y) + size * 3, sheet.row(row * size + y) + c * size * 3);
      }
    }
  }
  write_png(png_path, sheet);
}

SynthSummary write_synthetic_raf_db(const SynthOptions& options) {
  check(options.train >= 0, "armnet synth: --train ", options.train, " is negative");
  check(options.test >= 0, "armnet synth: --test ", options.test, " is negative");
  check(options.size >= 16, "armnet synth: --size ", options.size, " is below 16");
  check(options.size <= 4096, "armnet synth: --size ", options.size, " is above 4096");
  check(!options.out_dir.empty(), "armnet synth: the output directory is empty");

  SynthSummary summary;
  summary.train_counts = synthetic_class_counts(options.train, Split::Train, options.balance);
  summary.test_counts = synthetic_class_counts(options.test, Split::Test, options.balance);
  summary.label_file = raf_label_list_path(options.out_dir);
  summary.image_dir = (std::filesystem::path(options.out_dir) / "Image" / "aligned").string();
  create_directories_or_throw(std::filesystem::path(summary.label_file).parent_path());
  create_directories_or_throw(summary.image_dir);

  std::vector<ImageJob> jobs;
  jobs.reserve(static_cast<std::size_t>(options.train + options.test));
  const std::vector<int> train_labels =
      shuffled_labels(summary.train_counts, stream_seed(options.seed, Stream::TrainLabels, 0));
  for (std::size_t i = 0; i < train_labels.size(); ++i) {
    jobs.push_back({numbered("train", static_cast<std::int64_t>(i) + 1, 5) + ".jpg", train_labels[i],
                    stream_seed(options.seed, Stream::TrainImage, i)});
  }
  const std::vector<int> test_labels =
      shuffled_labels(summary.test_counts, stream_seed(options.seed, Stream::TestLabels, 0));
  for (std::size_t i = 0; i < test_labels.size(); ++i) {
    jobs.push_back({numbered("test", static_cast<std::int64_t>(i) + 1, 4) + ".jpg", test_labels[i],
                    stream_seed(options.seed, Stream::TestImage, i)});
  }

  // Images in parallel; the first error stops the rest and is rethrown.
  std::exception_ptr first_error;
  std::mutex error_mutex;
  std::atomic<bool> failed{false};
  const std::int64_t job_count = static_cast<std::int64_t>(jobs.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (std::int64_t i = 0; i < job_count; ++i) {
    if (failed.load(std::memory_order_relaxed)) continue;
    try {
      const ImageJob& job = jobs[static_cast<std::size_t>(i)];
      Generator generator(job.seed);
      const Expression expression = sample_expression(job.label, generator);
      const Image image = render_face(options.size, expression, generator);
      write_jpeg(raf_image_path(options.out_dir, job.name), image, 90);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      failed = true;
    }
  }
  if (first_error) std::rethrow_exception(first_error);

  std::string labels;
  for (const ImageJob& job : jobs) labels += str_cat(job.name, " ", job.label + 1, "\n");
  write_file_atomically(summary.label_file, {{labels.data(), labels.size()}});
  return summary;
}

}  // namespace armnet
