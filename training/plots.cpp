// SPDX-License-Identifier: Apache-2.0
#include "training/plots.h"

#include <cairo.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "datasets/file_io.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::training {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------------------------------------
// Colours and fonts

struct Rgb {
  double r, g, b;
};

constexpr Rgb hex(uint32_t rgb) {
  return {((rgb >> 16) & 255) / 255.0, ((rgb >> 8) & 255) / 255.0, (rgb & 255) / 255.0};
}

// matplotlib's "tab10" cycle.
constexpr std::array<uint32_t, 10> kPalette = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                               0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};
constexpr Rgb kTraining = hex(0x1f77b4), kValidation = hex(0xff7f0e);
constexpr Rgb kText = hex(0x222222), kMutedText = hex(0x777777), kSpine = hex(0x444444),
              kGrid = hex(0xe4e4e4), kReference = hex(0x444444);

// Colour maps sampled at t = 0, 0.1, …, 1 and interpolated linearly: viridis, and ColorBrewer's
// RdBu reversed (negative blue, 0 near-white, positive red).
using ColorMap = std::array<uint32_t, 11>;
constexpr ColorMap kViridis = {0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                               0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725};
constexpr ColorMap kBlueWhiteRed = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                                    0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};

Rgb sample(const ColorMap& map, double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 10;
  const int i = std::min(9, static_cast<int>(t));
  const double f = t - i;
  const Rgb a = hex(map[i]), b = hex(map[i + 1]);
  return {a.r + f * (b.r - a.r), a.g + f * (b.g - a.g), a.b + f * (b.b - a.b)};
}

struct Font {
  double size;
  bool bold = false;
};
constexpr Font kTickFont{15}, kAxisFont{17}, kTitleFont{18, true}, kLegendFont{15},
    kFigureTitleFont{21, true};

void set_color(cairo_t* cr, Rgb c, double alpha = 1.0) {
  cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

void use_font(cairo_t* cr, Font font) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         font.bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, font.size);
}

double text_width(cairo_t* cr, const std::string& text, Font font) {
  use_font(cr, font);
  cairo_text_extents_t extents;
  cairo_text_extents(cr, text.c_str(), &extents);
  return extents.x_advance;
}

enum class Anchor { kStart, kMiddle, kEnd };

/// Draws `text` with its anchor at (x, y), in the text's own frame turned by `angle` (radians,
/// clockwise on screen as in cairo). Horizontally the anchor is the start, middle or end of the
/// advance; vertically it is the top of the capitals and digits (kStart), their middle (kMiddle)
/// or the bottom of the descenders (kEnd), the same for every string of a font size, so that
/// labels of one row share a baseline.
void draw_text(cairo_t* cr, const std::string& text, Font font, double x, double y, Anchor h,
               Anchor v, Rgb color = kText, double angle = 0) {
  const double width = text_width(cr, text, font);
  const double dx = h == Anchor::kStart ? 0 : h == Anchor::kMiddle ? -width / 2 : -width;
  const double dy = v == Anchor::kStart    ? 0.73 * font.size
                    : v == Anchor::kMiddle ? 0.365 * font.size
                                           : -0.24 * font.size;
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, dx, dy);
  set_color(cr, color);
  cairo_show_text(cr, text.c_str());
  cairo_new_path(cr);
  cairo_restore(cr);
}

/// A tick label: `text`, then `superscript` raised (powers of ten, "10" + "−5").
struct Label {
  std::string text, superscript;
};

constexpr double kSuperscriptScale = 0.72;

double label_width(cairo_t* cr, const Label& label, Font font) {
  double width = text_width(cr, label.text, font);
  if (!label.superscript.empty()) {
    width += 1 + text_width(cr, label.superscript, {font.size * kSuperscriptScale, font.bold});
  }
  return width;
}

void draw_label(cairo_t* cr, const Label& label, Font font, double x, double y, Anchor h, Anchor v,
                Rgb color = kText) {
  if (label.superscript.empty()) return draw_text(cr, label.text, font, x, y, h, v, color);
  const double width = label_width(cr, label, font);
  const double start = h == Anchor::kStart ? x : h == Anchor::kMiddle ? x - width / 2 : x - width;
  draw_text(cr, label.text, font, start, y, Anchor::kStart, v, color);
  draw_text(cr, label.superscript, {font.size * kSuperscriptScale, font.bold},
            start + text_width(cr, label.text, font) + 1, y - 0.42 * font.size, Anchor::kStart, v,
            color);
}

// ---------------------------------------------------------------------------------------------
// Figures: a white image surface, written as PNG through a temporary file

struct SurfaceDeleter {
  void operator()(cairo_surface_t* surface) const { cairo_surface_destroy(surface); }
};
struct ContextDeleter {
  void operator()(cairo_t* cr) const { cairo_destroy(cr); }
};

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

class Figure {
 public:
  Figure(int width, int height, std::string png_path)
      : path_(std::move(png_path)),
        surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height)),
        cr_(cairo_create(surface_.get())) {
    check(cairo_surface_status(surface_.get()),
          "cannot create a " + std::to_string(width) + "×" + std::to_string(height) + " image");
    check(cairo_status(cr_.get()), "cannot draw on the image");
    cairo_set_source_rgb(cr_.get(), 1, 1, 1);
    cairo_paint(cr_.get());
  }

  cairo_t* cr() const { return cr_.get(); }

  /// Encodes the picture and writes it to the path atomically.
  void save() {
    check(cairo_status(cr_.get()), "drawing the picture failed");
    cairo_surface_flush(surface_.get());
    std::string bytes;
    check(cairo_surface_write_to_png_stream(surface_.get(), append_to_string, &bytes),
          "cannot encode the PNG");
    try {
      datasets::write_file_atomically(path_, bytes);
    } catch (const std::exception& error) {
      throw std::runtime_error(path_ + ": cannot write the PNG: " + error.what());
    }
  }

 private:
  void check(cairo_status_t status, const std::string& what) const {
    if (status != CAIRO_STATUS_SUCCESS) {
      throw std::runtime_error(path_ + ": " + what + " (cairo: " + cairo_status_to_string(status) +
                               ")");
    }
  }

  std::string path_;
  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface_;
  std::unique_ptr<cairo_t, ContextDeleter> cr_;
};

/// A context on a 1×1 surface, to measure text before a figure's size is known.
class Scratch {
 public:
  Scratch()
      : surface_(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1)),
        cr_(cairo_create(surface_.get())) {}
  cairo_t* cr() const { return cr_.get(); }

 private:
  std::unique_ptr<cairo_surface_t, SurfaceDeleter> surface_;
  std::unique_ptr<cairo_t, ContextDeleter> cr_;
};

// ---------------------------------------------------------------------------------------------
// Scales and ticks

struct Scale {
  double low = 0, high = 1;
  bool log = false;
  /// Position of `value` in [0, 1] over the scale.
  double unit(double value) const {
    if (log) return (std::log10(value) - std::log10(low)) / (std::log10(high) - std::log10(low));
    return (value - low) / (high - low);
  }
  bool contains(double value) const {
    const double u = unit(value);
    return u > -1e-9 && u < 1 + 1e-9;
  }
};

/// The scale over the finite `values` (positive ones only when `log`), widened by `pad` of its
/// span on both sides (in decades when `log`), and to 0 when `include_zero`.
Scale fit_scale(const std::vector<double>& values, bool log, double pad, bool include_zero) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const double v : values) {
    if (std::isfinite(v) && (!log || v > 0)) low = std::min(low, v), high = std::max(high, v);
  }
  if (!(high >= low)) return log ? Scale{1, 10, true} : Scale{0, 1, false};
  if (log) {
    double a = std::log10(low), b = std::log10(high);
    if (b - a < 1e-9) a -= 0.5, b += 0.5;
    const double p = (b - a) * pad;
    return {std::pow(10.0, a - p), std::pow(10.0, b + p), true};
  }
  if (include_zero) low = std::min(low, 0.0), high = std::max(high, 0.0);
  if (high - low <= 1e-12 * std::max(1.0, std::abs(high))) {
    const double half = low == 0 ? 1.0 : 0.1 * std::abs(low);
    low -= half, high += half;
  }
  const double p = (high - low) * pad;
  return {low - p, high + p, false};
}

struct Tick {
  double value;
  Label label;
  bool major = true;  ///< labelled, with a grid line; minor ticks are short and bare
};

/// `value` with `decimals` decimals and a true minus sign; −0 prints as 0.
std::string format_fixed(double value, int decimals) {
  if (std::abs(value) < 0.5 * std::pow(10.0, -decimals)) value = 0;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", std::clamp(decimals, 0, 12), value);
  std::string text = buffer;
  if (!text.empty() && text[0] == '-') text = "\u2212" + text.substr(1);
  return text;
}

std::string format_integer(int64_t value) {
  return value < 0 ? "\u2212" + std::to_string(-value) : std::to_string(value);
}

/// The 1-2-5 step giving about `target` intervals over `span`.
double nice_step(double span, int target) {
  const double raw = span / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double n = raw / magnitude;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * magnitude;
}

/// The ticks of an axis. Labels of very small or very large linear values are mantissas, and
/// the axis shows the common factor ×10^exponent once.
struct Ticks {
  std::vector<Tick> ticks;
  int exponent = 0;
};

int floor_log10(double value) { return static_cast<int>(std::floor(std::log10(value) + 1e-9)); }

Ticks linear_ticks(const Scale& scale, int target, bool integer) {
  double step = nice_step(scale.high - scale.low, target);
  if (integer) step = std::max(step, 1.0);
  if (!(step > 0) || !std::isfinite(step) || !std::isfinite(scale.low)) return {};
  const double first = std::ceil(scale.low / step - 1e-9);
  const double last = std::floor(scale.high / step + 1e-9);
  const double largest = std::max(std::abs(first), std::abs(last)) * step;
  const int step_exponent = floor_log10(step);
  const int top_exponent = largest > 0 ? floor_log10(largest) : 0;
  Ticks result;
  if (step_exponent < -4 || top_exponent >= 6) result.exponent = top_exponent;
  const double factor = std::pow(10.0, -result.exponent);
  const int decimals = std::max(0, result.exponent - step_exponent);
  for (double k = first; k <= last && result.ticks.size() < 200; ++k) {
    const double value = std::abs(k) < 0.5 ? 0.0 : k * step;
    result.ticks.push_back({value, {format_fixed(value * factor, decimals), ""}});
  }
  return result;
}

/// Decades (every `every`-th labelled, to have about `target` labels), with 2 and 5 labelled
/// too over short ranges, and bare minor ticks at 2…9 × 10ⁿ.
Ticks log_ticks(const Scale& scale, int target) {
  const double a = std::log10(scale.low), b = std::log10(scale.high);
  const int first = floor_log10(scale.low), last = static_cast<int>(std::ceil(b - 1e-9));
  const int decades = std::max(1, last - first);
  const int every = std::max(1, (decades + target - 1) / std::max(1, target));
  const bool label_2_5 = b - a < 2.3;
  Ticks result;
  for (int k = first; k <= last; ++k) {
    for (int m = 1; m <= 9; ++m) {
      const double value = m * std::pow(10.0, k);
      if (!scale.contains(value)) continue;
      const bool decade = m == 1 && ((k % every) + every) % every == 0;
      const bool major = decade || (label_2_5 && (m == 2 || m == 5));
      if (!major && (m == 1 || decades > 6)) continue;
      Label label;
      if (major && k >= -4 && k <= 5) {
        label = {format_fixed(value, std::max(0, -k)), ""};
      } else if (major) {
        label = {m == 1 ? "10" : std::to_string(m) + "×10", format_integer(k)};
      }
      result.ticks.push_back({value, label, major});
    }
  }
  return result;
}

double widest_label(cairo_t* cr, const Ticks& ticks, Font font) {
  double width = 0;
  for (const auto& tick : ticks.ticks) {
    if (tick.major) width = std::max(width, label_width(cr, tick.label, font));
  }
  return width;
}

/// Linear ticks for an axis `length` pixels long whose labels do not touch.
Ticks horizontal_ticks(cairo_t* cr, const Scale& scale, double length, bool integer) {
  int target = std::max(2, static_cast<int>(length / 85));
  auto ticks = linear_ticks(scale, target, integer);
  while (target > 1 && ticks.ticks.size() > 1 &&
         ticks.ticks.size() * (widest_label(cr, ticks, kTickFont) + 18) > length) {
    ticks = linear_ticks(scale, --target, integer);
  }
  return ticks;
}

Ticks vertical_ticks(const Scale& scale, double length) {
  const int target = std::max(2, static_cast<int>(length / 65));
  return scale.log ? log_ticks(scale, target) : linear_ticks(scale, target, false);
}

// ---------------------------------------------------------------------------------------------
// Panels

struct Rect {
  double x, y, width, height;
  double right() const { return x + width; }
  double bottom() const { return y + height; }
};

/// Crisp one-pixel lines: device coordinates on pixel centres.
double pixel(double coordinate) { return std::floor(coordinate) + 0.5; }

constexpr double kTickLength = 6, kTickGap = 5;

Label multiplier(int exponent) { return {"×10", format_integer(exponent)}; }

/// Ticks and labels below a horizontal axis at `y` (bottom edge of a plot), outwards; the
/// common factor, if any, right-aligned under the labels.
void draw_bottom_ticks(cairo_t* cr, const Ticks& ticks, const Scale& scale, double x0, double width,
                       double y) {
  set_color(cr, kSpine);
  cairo_set_line_width(cr, 1);
  for (const auto& tick : ticks.ticks) {
    const double x = pixel(x0 + scale.unit(tick.value) * width);
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x, y + (tick.major ? kTickLength : kTickLength * 0.6));
  }
  cairo_stroke(cr);
  const double labels = y + kTickLength + kTickGap;
  for (const auto& tick : ticks.ticks) {
    if (!tick.major) continue;
    draw_label(cr, tick.label, kTickFont, x0 + scale.unit(tick.value) * width, labels,
               Anchor::kMiddle, Anchor::kStart);
  }
  if (ticks.exponent != 0) {
    draw_label(cr, multiplier(ticks.exponent), kTickFont, x0 + width, labels + kTickFont.size + 8,
               Anchor::kEnd, Anchor::kStart);
  }
}

/// Ticks and labels beside a vertical axis at `x`, outwards: to the left when `left`; the
/// common factor, if any, above the axis.
void draw_side_ticks(cairo_t* cr, const Ticks& ticks, const Scale& scale, double y0, double height,
                     double x, bool left) {
  const double direction = left ? -1 : 1;
  set_color(cr, kSpine);
  cairo_set_line_width(cr, 1);
  for (const auto& tick : ticks.ticks) {
    const double y = pixel(y0 + height - scale.unit(tick.value) * height);
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x + direction * (tick.major ? kTickLength : kTickLength * 0.6), y);
  }
  cairo_stroke(cr);
  for (const auto& tick : ticks.ticks) {
    if (!tick.major) continue;
    draw_label(cr, tick.label, kTickFont, x + direction * (kTickLength + kTickGap),
               y0 + height - scale.unit(tick.value) * height, left ? Anchor::kEnd : Anchor::kStart,
               Anchor::kMiddle);
  }
  if (ticks.exponent != 0) {
    draw_label(cr, multiplier(ticks.exponent), kTickFont, x, y0 - 7,
               left ? Anchor::kStart : Anchor::kEnd, Anchor::kEnd);
  }
}

void draw_frame(cairo_t* cr, const Rect& r) {
  set_color(cr, kSpine);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, pixel(r.x), pixel(r.y), std::round(r.width), std::round(r.height));
  cairo_stroke(cr);
}

struct Series {
  std::vector<double> x, y;
  Rgb color;
  std::string label;
  bool markers = false;  ///< a dot at every point (always for a single point)
};

struct LinePanel {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  std::optional<double> reference;  ///< dashed horizontal line
  std::string reference_label;
  bool log_y = false;
  bool integer_x = false;                            ///< x ticks on integers (epochs)
  std::optional<std::pair<double, double>> x_range;  ///< default: the data's, padded
  bool zero_y = false;                               ///< the y range includes 0
};

struct LegendEntry {
  std::string label;
  Rgb color;
  bool marker, dashed;
};

using Polyline = std::vector<std::pair<double, double>>;

void dashed(cairo_t* cr) {
  const double dashes[] = {9, 5};
  cairo_set_dash(cr, dashes, 2, 0);
}

void draw_marker(cairo_t* cr, double x, double y, Rgb color) {
  cairo_new_sub_path(cr);
  cairo_arc(cr, x, y, 4.5, 0, 2 * kPi);
  set_color(cr, color);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_set_line_width(cr, 1.2);
  cairo_stroke(cr);
}

/// The legend in the corner of `plot` that hides the fewest points of `lines`.
void draw_legend(cairo_t* cr, const Rect& plot, const std::vector<LegendEntry>& entries,
                 const std::vector<Polyline>& lines) {
  if (entries.empty()) return;
  const double pad = 10, sample = 30, row = kLegendFont.size + 9, margin = 10;
  double text = 0;
  for (const auto& e : entries) text = std::max(text, text_width(cr, e.label, kLegendFont));
  const double width = pad + sample + 8 + text + pad, height = 2 * pad - 4 + entries.size() * row;
  const double left = plot.x + margin, right = plot.right() - margin - width;
  const double top = plot.y + margin, bottom = plot.bottom() - margin - height;
  const double centre = plot.x + (plot.width - width) / 2,
               middle = plot.y + (plot.height - height) / 2;
  const std::array<std::pair<double, double>, 8> corners = {{{right, top},
                                                             {left, top},
                                                             {right, bottom},
                                                             {left, bottom},
                                                             {right, middle},
                                                             {left, middle},
                                                             {centre, top},
                                                             {centre, bottom}}};
  // Points along the lines, every few pixels, count against a corner they fall in.
  std::vector<std::pair<double, double>> points;
  for (const auto& line : lines) {
    for (size_t i = 0; i < line.size(); ++i) {
      points.push_back(line[i]);
      if (i + 1 == line.size()) break;
      const double dx = line[i + 1].first - line[i].first, dy = line[i + 1].second - line[i].second;
      const int steps = std::min(2000, static_cast<int>(std::hypot(dx, dy) / 4));
      for (int s = 1; s < steps; ++s) {
        points.emplace_back(line[i].first + dx * s / steps, line[i].second + dy * s / steps);
      }
    }
  }
  size_t best = 0, best_count = std::numeric_limits<size_t>::max();
  for (size_t c = 0; c < corners.size(); ++c) {
    const auto [x, y] = corners[c];
    size_t count = 0;
    for (const auto& [px, py] : points) {
      count += px > x - 6 && px < x + width + 6 && py > y - 6 && py < y + height + 6;
    }
    if (count < best_count) best = c, best_count = count;
  }
  const auto [x, y] = corners[best];
  cairo_new_path(cr);
  const double radius = 4;
  cairo_new_sub_path(cr);
  cairo_arc(cr, x + width - radius, y + radius, radius, -kPi / 2, 0);
  cairo_arc(cr, x + width - radius, y + height - radius, radius, 0, kPi / 2);
  cairo_arc(cr, x + radius, y + height - radius, radius, kPi / 2, kPi);
  cairo_arc(cr, x + radius, y + radius, radius, kPi, 3 * kPi / 2);
  cairo_close_path(cr);
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_fill_preserve(cr);
  set_color(cr, hex(0xcccccc));
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const double cy = y + pad - 2 + (i + 0.5) * row;
    cairo_save(cr);
    if (e.dashed) dashed(cr);
    set_color(cr, e.color);
    cairo_set_line_width(cr, e.dashed ? 1.8 : 2.4);
    cairo_move_to(cr, x + pad, cy);
    cairo_line_to(cr, x + pad + sample, cy);
    cairo_stroke(cr);
    cairo_restore(cr);
    if (e.marker) draw_marker(cr, x + pad + sample / 2, cy, e.color);
    draw_text(cr, e.label, kLegendFont, x + pad + sample + 8, cy, Anchor::kStart, Anchor::kMiddle);
  }
}

/// A line chart filling `frame`: title, ticks, axis names, grid, curves and legend.
void draw_line_panel(cairo_t* cr, const Rect& frame, const LinePanel& panel) {
  const auto usable = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!panel.log_y || y > 0);
  };
  // The x range covers every x (epochs without data included), the y range the usable points.
  std::vector<double> xs, ys;
  for (const auto& s : panel.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (usable(s.x[i], s.y[i])) ys.push_back(s.y[i]);
    }
  }
  const bool no_data = ys.empty();
  xs.erase(std::remove_if(xs.begin(), xs.end(), [](double x) { return !std::isfinite(x); }),
           xs.end());
  if (panel.reference && usable(0, *panel.reference)) ys.push_back(*panel.reference);
  Scale sx = fit_scale(xs, false, 0.03, false);
  if (panel.x_range) sx = {panel.x_range->first, panel.x_range->second, false};
  if (!panel.x_range && panel.integer_x && !xs.empty() &&
      *std::min_element(xs.begin(), xs.end()) == *std::max_element(xs.begin(), xs.end())) {
    sx = {xs[0] - 0.5, xs[0] + 0.5, false};  // one epoch: one tick, centred
  }
  const Scale sy = fit_scale(ys, panel.log_y, 0.05, panel.zero_y);

  // Layout: the y tick labels' width decides the left margin.
  const double title_height = panel.title.empty() ? 8 : kTitleFont.size + 16;
  const double bottom_margin = kTickLength + kTickGap + kTickFont.size + 12 + kAxisFont.size + 6;
  const auto y_ticks = vertical_ticks(sy, frame.height - title_height - bottom_margin);
  const double left_margin =
      6 + kAxisFont.size + 12 + widest_label(cr, y_ticks, kTickFont) + kTickGap + kTickLength;
  const Rect plot{frame.x + left_margin, frame.y + title_height, frame.width - left_margin - 14,
                  frame.height - title_height - bottom_margin};
  const auto x_ticks = horizontal_ticks(cr, sx, plot.width, panel.integer_x);
  const auto px = [&](double x) { return plot.x + sx.unit(x) * plot.width; };
  const auto py = [&](double y) { return plot.bottom() - sy.unit(y) * plot.height; };

  // Grid at the labelled ticks.
  set_color(cr, kGrid);
  cairo_set_line_width(cr, 1);
  for (const auto& t : x_ticks.ticks) {
    if (!t.major) continue;
    cairo_move_to(cr, pixel(px(t.value)), plot.y);
    cairo_line_to(cr, pixel(px(t.value)), plot.bottom());
  }
  for (const auto& t : y_ticks.ticks) {
    if (!t.major) continue;
    cairo_move_to(cr, plot.x, pixel(py(t.value)));
    cairo_line_to(cr, plot.right(), pixel(py(t.value)));
  }
  cairo_stroke(cr);

  // Curves, clipped to the plot.
  std::vector<Polyline> lines;
  std::vector<LegendEntry> entries;
  cairo_save(cr);
  cairo_rectangle(cr, plot.x, plot.y, plot.width, plot.height);
  cairo_clip(cr);
  if (panel.reference && usable(0, *panel.reference)) {
    const double y = py(*panel.reference);
    cairo_save(cr);
    dashed(cr);
    set_color(cr, kReference);
    cairo_set_line_width(cr, 1.8);
    cairo_move_to(cr, plot.x, y);
    cairo_line_to(cr, plot.right(), y);
    cairo_stroke(cr);
    cairo_restore(cr);
    lines.push_back({{plot.x, y}, {plot.right(), y}});
  }
  for (const auto& s : panel.series) {
    Polyline line;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (usable(s.x[i], s.y[i])) line.emplace_back(px(s.x[i]), py(s.y[i]));
    }
    if (line.empty()) continue;
    set_color(cr, s.color);
    cairo_set_line_width(cr, 2.4);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    for (const auto& [x, y] : line) cairo_line_to(cr, x, y);
    cairo_stroke(cr);
    const bool markers = s.markers || line.size() == 1;
    if (markers) {
      for (const auto& [x, y] : line) draw_marker(cr, x, y, s.color);
    }
    lines.push_back(std::move(line));
    if (!s.label.empty()) entries.push_back({s.label, s.color, markers, false});
  }
  cairo_restore(cr);
  if (panel.reference && usable(0, *panel.reference) && !panel.reference_label.empty()) {
    entries.push_back({panel.reference_label, kReference, false, true});
  }
  if (no_data) {
    const double half_width = text_width(cr, "no data", kAxisFont) / 2 + 8;
    const double x = plot.x + plot.width / 2, y = plot.y + plot.height / 2;
    cairo_rectangle(cr, x - half_width, y - kAxisFont.size, 2 * half_width, 2 * kAxisFont.size);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_fill(cr);
    draw_text(cr, "no data", kAxisFont, x, y, Anchor::kMiddle, Anchor::kMiddle, kMutedText);
  }

  draw_frame(cr, plot);
  draw_bottom_ticks(cr, x_ticks, sx, plot.x, plot.width, pixel(plot.bottom()));
  draw_side_ticks(cr, y_ticks, sy, plot.y, plot.height, pixel(plot.x), true);
  draw_text(cr, panel.x_label, kAxisFont, plot.x + plot.width / 2, frame.bottom() - 6,
            Anchor::kMiddle, Anchor::kEnd);
  draw_text(cr, panel.y_label, kAxisFont, frame.x + 6, plot.y + plot.height / 2, Anchor::kMiddle,
            Anchor::kStart, kText, -kPi / 2);
  if (!panel.title.empty()) {
    draw_text(cr, panel.title, kTitleFont, plot.x + plot.width / 2, frame.y + 6, Anchor::kMiddle,
              Anchor::kStart);
  }
  draw_legend(cr, plot, entries, lines);
}

// ---------------------------------------------------------------------------------------------
// The metrics file

struct Curves {
  std::string metric;
  std::vector<double> epochs;
  std::array<std::vector<double>, 4> columns;  // train_loss, train_metric, val_loss, val_metric
};

/// Comma-separated fields, trimmed, empty ones kept.
std::vector<std::string_view> csv_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    fields.push_back(datasets::trim(line.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return fields;
    start = comma + 1;
  }
}

Curves read_curves(const std::string& path) {
  const std::string text = datasets::read_file(path);
  datasets::LineReader reader(text, path);
  const std::string layout = "epoch,train_loss,train_<metric>,val_loss,val_<metric>,…";
  std::string_view line = reader.require("the header " + layout);
  const auto header = csv_fields(line);
  const auto starts = [](std::string_view s, std::string_view prefix) {
    return s.size() > prefix.size() && s.substr(0, prefix.size()) == prefix;
  };
  if (header.size() < 5 || header[0] != "epoch" || header[1] != "train_loss" ||
      header[3] != "val_loss" || !starts(header[2], "train_") || !starts(header[4], "val_") ||
      header[2].substr(6) != header[4].substr(4)) {
    reader.fail("the header " + layout, line);
  }
  Curves curves;
  curves.metric = std::string(header[2].substr(6));
  while (reader.next(line)) {
    if (datasets::trim(line).empty()) continue;
    const auto fields = csv_fields(line);
    if (fields.size() < 5) reader.fail("a row of at least 5 fields (" + layout + ")", line);
    double epoch;
    if (!datasets::parse_double(fields[0], epoch)) reader.fail("an epoch number first", line);
    curves.epochs.push_back(epoch);
    for (size_t c = 0; c < 4; ++c) {
      double value = kNaN;
      if (!fields[c + 1].empty() && !datasets::parse_double(fields[c + 1], value, true)) {
        reader.fail("a number, nan or nothing for " + std::string(header[c + 1]), line);
      }
      curves.columns[c].push_back(std::isfinite(value) ? value : kNaN);
    }
  }
  if (curves.epochs.empty()) {
    throw datasets::ParseError(path, "expected at least one epoch row after the header");
  }
  return curves;
}

/// Whether `values` (and `extra`) are all positive and span more than a factor of 20.
bool spans_decades(const std::vector<const std::vector<double>*>& values,
                   std::optional<double> extra) {
  double low = std::numeric_limits<double>::infinity(), high = 0;
  for (const auto* column : values) {
    for (const double v : *column) {
      if (!std::isfinite(v)) continue;
      if (v <= 0) return false;
      low = std::min(low, v), high = std::max(high, v);
    }
  }
  if (extra) {
    if (!(*extra > 0)) return false;
    low = std::min(low, *extra), high = std::max(high, *extra);
  }
  return high > 20 * low;
}

size_t count_finite(const std::vector<double>& values) {
  return static_cast<size_t>(
      std::count_if(values.begin(), values.end(), [](double v) { return std::isfinite(v); }));
}

/// One curve per row of `values` [H, n] over `x`, labelled "head h", in palette order.
std::vector<Series> head_series(const std::vector<double>& x, const torch::Tensor& values) {
  const auto rows = values.to(torch::kDouble).contiguous();
  std::vector<Series> series;
  for (int64_t h = 0; h < rows.size(0); ++h) {
    const double* row = rows[h].data_ptr<double>();
    series.push_back({x, std::vector<double>(row, row + rows.size(1)),
                      hex(kPalette[static_cast<size_t>(h) % kPalette.size()]),
                      "head " + std::to_string(h)});
  }
  return series;
}

}  // namespace

void plot_learning_curves(const std::string& metrics_csv, const std::string& png_path,
                          const std::string& title, std::optional<double> baseline) {
  const Curves curves = read_curves(metrics_csv);
  const auto& [train_loss, train_metric, val_loss, val_metric] = curves.columns;
  const auto series = [&](const std::vector<double>& values, Rgb color, const std::string& label) {
    return Series{curves.epochs, values, color, label, count_finite(values) <= 25};
  };

  LinePanel loss;
  loss.title = count_finite(val_loss) > 0 ? "training and validation loss" : "training loss";
  loss.x_label = "epoch";
  loss.log_y = spans_decades({&train_loss, &val_loss}, std::nullopt);
  loss.y_label = loss.log_y ? "loss (log scale)" : "loss";
  loss.integer_x = true;
  loss.series = {series(train_loss, kTraining, "training"),
                 series(val_loss, kValidation, "validation")};

  LinePanel metric;
  metric.title =
      (count_finite(val_metric) > 0 ? "training and validation " : "training ") + curves.metric;
  metric.x_label = "epoch";
  const bool error_like = curves.metric.find("mae") != std::string::npos ||
                          curves.metric.find("mse") != std::string::npos ||
                          curves.metric.find("error") != std::string::npos;
  metric.log_y = error_like && spans_decades({&train_metric, &val_metric}, baseline);
  metric.y_label = curves.metric + (metric.log_y ? " (log scale)" : "");
  metric.integer_x = true;
  metric.series = {series(train_metric, kTraining, "training"),
                   series(val_metric, kValidation, "validation")};
  metric.reference = baseline;
  metric.reference_label = "baseline";

  const int width = 1200, top = title.empty() ? 0 : 40, height = 500 + top;
  Figure figure(width, height, png_path);
  cairo_t* cr = figure.cr();
  if (!title.empty()) {
    draw_text(cr, title, kFigureTitleFont, width / 2.0, 14, Anchor::kMiddle, Anchor::kStart);
  }
  draw_line_panel(cr, {8, top + 6.0, width / 2.0 - 16, height - top - 12.0}, loss);
  draw_line_panel(cr, {width / 2.0 + 8, top + 6.0, width / 2.0 - 16, height - top - 12.0}, metric);
  figure.save();
}

void plot_spectral_rpe(geometry::SpectralRPEImpl& rpe, const std::string& png_path, double extent) {
  if (!(extent > 0) || !std::isfinite(extent)) {
    throw std::invalid_argument(png_path +
                                ": the extent of the RPE picture must be positive, got " +
                                std::to_string(extent));
  }
  const int64_t side = 160, heads = rpe.options.num_heads(), d = rpe.options.dim();
  // Cell centres, so that the picture covers exactly [−extent, extent]².
  const double half_cell = extent / side;
  const auto axis = torch::linspace(-extent + half_cell, extent - half_cell, side, torch::kDouble);
  auto delta = torch::zeros({d > 1 ? side : 1, side, d}, torch::kDouble);
  delta.select(2, 0).copy_(axis.unsqueeze(0).expand({delta.size(0), side}));
  if (d > 1) delta.select(2, 1).copy_(axis.flip(0).unsqueeze(1).expand({side, side}));  // Δy up
  torch::Tensor values;
  {
    torch::NoGradGuard guard;
    const auto copy = std::dynamic_pointer_cast<geometry::SpectralRPEImpl>(rpe.clone());
    copy->to(torch::kDouble);
    values = copy->exact(delta).contiguous();  // [H, side or 1, side]
  }

  if (d == 1) {
    const double* x = axis.data_ptr<double>();
    LinePanel panel;
    panel.title = "learned FLT RPE";
    panel.x_label = "Δx";
    panel.y_label = "f_h(Δx)";
    panel.x_range = {{-extent, extent}};
    panel.series = head_series(std::vector<double>(x, x + side), values.select(1, 0));
    Figure figure(1000, 620, png_path);
    draw_line_panel(figure.cr(), {10, 10, 980, 600}, panel);
    figure.save();
    return;
  }

  // Colours: viridis over [low, high], or blue-white-red symmetric about 0 when both signs
  // matter.
  double low = values.min().item<double>(), high = values.max().item<double>();
  const bool diverging = low < 0 && high > 0 && std::min(-low, high) > 0.1 * std::max(-low, high);
  if (diverging) low = -std::max(-low, high), high = -low;
  const Scale colour_scale = fit_scale({low, high}, false, 0, false);
  const ColorMap& map = diverging ? kBlueWhiteRed : kViridis;

  Scratch scratch;
  const Scale position{-extent, extent, false};
  const double map_side = 280;
  const auto position_ticks = linear_ticks(position, 4, false);
  const double cell_left = 6 + kAxisFont.size + 12 +
                           widest_label(scratch.cr(), position_ticks, kTickFont) + kTickGap +
                           kTickLength;
  const double cell_top = kTitleFont.size + 16;
  const double cell_bottom = kTickLength + kTickGap + kTickFont.size + 12 + kAxisFont.size + 10;
  const double cell_width = cell_left + map_side + 22;
  const double cell_height = cell_top + map_side + cell_bottom;
  const int64_t columns = std::min<int64_t>(heads, 4), rows = (heads + columns - 1) / columns;
  // The colour bar is as tall as the maps' rows.
  const double bar_width = 22, bar_height = std::round((rows - 1) * cell_height + map_side);
  const auto colour_ticks = vertical_ticks(colour_scale, bar_height);
  const double bar_area = 20 + bar_width + kTickLength + kTickGap +
                          widest_label(scratch.cr(), colour_ticks, kTickFont) + 14 +
                          kAxisFont.size + 14;
  const double figure_top = kFigureTitleFont.size + 26;
  const int width = static_cast<int>(std::ceil(10 + columns * cell_width + bar_area));
  const int height = static_cast<int>(std::ceil(figure_top + rows * cell_height));

  Figure figure(width, height, png_path);
  cairo_t* cr = figure.cr();
  std::string title = "learned FLT RPE f_h(Δ)";
  if (d > 2) title += " on the plane Δ = (Δx, Δy, 0, …)";
  draw_text(cr, title, kFigureTitleFont, width / 2.0, 12, Anchor::kMiddle, Anchor::kStart);

  // The heat maps: one image per head, scaled up with bilinear filtering.
  std::unique_ptr<cairo_surface_t, SurfaceDeleter> image(cairo_image_surface_create(
      CAIRO_FORMAT_RGB24, static_cast<int>(side), static_cast<int>(side)));
  if (cairo_surface_status(image.get()) != CAIRO_STATUS_SUCCESS) {
    throw std::runtime_error(png_path + ": cannot create the heat map image");
  }
  const auto v = values.accessor<double, 3>();
  for (int64_t h = 0; h < heads; ++h) {
    cairo_surface_flush(image.get());
    unsigned char* data = cairo_image_surface_get_data(image.get());
    const int stride = cairo_image_surface_get_stride(image.get());
    for (int64_t y = 0; y < side; ++y) {
      auto* row = reinterpret_cast<uint32_t*>(data + y * stride);
      for (int64_t x = 0; x < side; ++x) {
        const Rgb c = sample(map, colour_scale.unit(v[h][y][x]));
        row[x] = (static_cast<uint32_t>(std::lround(c.r * 255)) << 16) |
                 (static_cast<uint32_t>(std::lround(c.g * 255)) << 8) |
                 static_cast<uint32_t>(std::lround(c.b * 255));
      }
    }
    cairo_surface_mark_dirty(image.get());
    const Rect cell{10 + (h % columns) * cell_width, figure_top + (h / columns) * cell_height,
                    cell_width, cell_height};
    const Rect plot{std::round(cell.x + cell_left), std::round(cell.y + cell_top), map_side,
                    map_side};
    cairo_save(cr);
    cairo_rectangle(cr, plot.x, plot.y, plot.width, plot.height);
    cairo_clip(cr);
    cairo_translate(cr, plot.x, plot.y);
    cairo_scale(cr, map_side / side, map_side / side);
    cairo_set_source_surface(cr, image.get(), 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_paint(cr);
    cairo_restore(cr);
    draw_frame(cr, plot);
    draw_bottom_ticks(cr, position_ticks, position, plot.x, plot.width, pixel(plot.bottom()));
    draw_side_ticks(cr, position_ticks, position, plot.y, plot.height, pixel(plot.x), true);
    draw_text(cr, "Δx", kAxisFont, plot.x + plot.width / 2, cell.bottom() - 10, Anchor::kMiddle,
              Anchor::kEnd);
    draw_text(cr, "Δy", kAxisFont, cell.x + 6, plot.y + plot.height / 2, Anchor::kMiddle,
              Anchor::kStart, kText, -kPi / 2);
    draw_text(cr, "head " + std::to_string(h), kTitleFont, plot.x + plot.width / 2, cell.y + 6,
              Anchor::kMiddle, Anchor::kStart);
  }

  // The colour bar.
  const Rect bar{std::round(10 + columns * cell_width + 20), std::round(figure_top + cell_top),
                 bar_width, bar_height};
  cairo_pattern_t* gradient = cairo_pattern_create_linear(0, bar.bottom(), 0, bar.y);
  for (size_t i = 0; i < map.size(); ++i) {
    const Rgb c = hex(map[i]);
    cairo_pattern_add_color_stop_rgb(gradient, i / 10.0, c.r, c.g, c.b);
  }
  cairo_rectangle(cr, bar.x, bar.y, bar.width, bar.height);
  cairo_set_source(cr, gradient);
  cairo_fill(cr);
  cairo_pattern_destroy(gradient);
  draw_frame(cr, bar);
  draw_side_ticks(cr, colour_ticks, colour_scale, bar.y, bar.height, pixel(bar.right()), false);
  draw_text(cr, "f_h(Δ)", kAxisFont, width - 8.0, bar.y + bar.height / 2, Anchor::kMiddle,
            Anchor::kEnd, kText, -kPi / 2);
  figure.save();
}

void plot_local_rpe(geometry::LocalRPEImpl& rpe, const std::string& png_path) {
  const int64_t samples = 401;
  const auto distance = torch::linspace(0, rpe.options.radius(), samples, torch::kDouble);
  torch::Tensor values;
  {
    torch::NoGradGuard guard;
    const auto copy = std::dynamic_pointer_cast<geometry::LocalRPEImpl>(rpe.clone());
    copy->to(torch::kDouble);
    values = copy->profile(distance).contiguous();  // [H, samples]
  }
  const double* x = distance.data_ptr<double>();
  LinePanel panel;
  panel.title = "learned local RPE profile";
  panel.x_label = "distance r";
  panel.y_label = "f_h(r)";
  panel.x_range = {{0.0, rpe.options.radius()}};
  panel.zero_y = true;
  panel.series = head_series(std::vector<double>(x, x + samples), values);
  Figure figure(1000, 620, png_path);
  draw_line_panel(figure.cr(), {10, 10, 980, 600}, panel);
  figure.save();
}

}  // namespace topo::training
