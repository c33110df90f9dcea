// SPDX-License-Identifier: Apache-2.0
#include "models/plots.h"

#include <open3d/geometry/Image.h>
#include <open3d/io/ImageIO.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <torch/torch.h>

#include "datasets/file_io.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::models {
namespace {

using Color = std::array<uint8_t, 3>;

struct Canvas {
  int width, height;
  std::vector<uint8_t> pixels;
  Canvas(int w, int h) : width(w), height(h), pixels(static_cast<size_t>(w) * h * 3, 255) {}
  void set(int x, int y, Color c) {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    std::copy(c.begin(), c.end(), pixels.begin() + (static_cast<size_t>(y) * width + x) * 3);
  }
  void line(double x0, double y0, double x1, double y1, Color c, int thickness = 1) {
    const int steps = static_cast<int>(std::max(std::abs(x1 - x0), std::abs(y1 - y0))) + 1;
    for (int i = 0; i <= steps; ++i) {
      const double t = static_cast<double>(i) / steps;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))), y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      for (int dx = -thickness / 2; dx <= thickness / 2; ++dx) {
        for (int dy = -thickness / 2; dy <= thickness / 2; ++dy) set(x + dx, y + dy, c);
      }
    }
  }
};

/// Line plot of `series` over `epochs` (the x values). `per_point`: a grid line and a marker
/// at every x (epochs); otherwise grid lines at tenths of the x range (dense curves).
void panel(Canvas& canvas, int left, int top, int size_x, int size_y, const std::vector<double>& epochs,
           const std::vector<std::vector<double>>& series, const std::vector<Color>& colors, bool per_point = true) {
  double low = 1e300, high = -1e300;
  for (const auto& s : series) {
    for (const double v : s) {
      if (std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
    }
  }
  if (!(high > low)) high = low + 1;
  const double first = epochs.front(), last = std::max(epochs.back(), first + 1);
  const auto px = [&](double e) { return left + (e - first) / (last - first) * size_x; };
  const auto py = [&](double v) { return top + size_y - (v - low) / (high - low) * size_y; };
  const Color grid = {225, 225, 225}, axis = {60, 60, 60};
  for (int i = 0; i <= 10; ++i) canvas.line(left, top + size_y * i / 10.0, left + size_x, top + size_y * i / 10.0, grid);
  if (per_point) {
    for (const double e : epochs) canvas.line(px(e), top, px(e), top + size_y, grid);
  } else {
    for (int i = 0; i <= 10; ++i) canvas.line(left + size_x * i / 10.0, top, left + size_x * i / 10.0, top + size_y, grid);
  }
  canvas.line(left, top, left, top + size_y, axis, 2);
  canvas.line(left, top + size_y, left + size_x, top + size_y, axis, 2);
  for (size_t s = 0; s < series.size(); ++s) {
    for (size_t i = 0; i + 1 < epochs.size(); ++i) {
      canvas.line(px(epochs[i]), py(series[s][i]), px(epochs[i + 1]), py(series[s][i + 1]), colors[s], 3);
    }
    for (size_t i = 0; per_point && i < epochs.size(); ++i) {
      for (int d = -3; d <= 3; ++d) canvas.line(px(epochs[i]) - 3, py(series[s][i]) + d, px(epochs[i]) + 3, py(series[s][i]) + d, colors[s]);
    }
  }
}

void write_png(const Canvas& canvas, const std::string& png_path) {
  open3d::geometry::Image image;
  image.Prepare(canvas.width, canvas.height, 3, 1);
  std::copy(canvas.pixels.begin(), canvas.pixels.end(), image.data_.begin());
  if (!open3d::io::WriteImage(png_path, image)) throw std::runtime_error(png_path + ": could not write the PNG");
}

}  // namespace

void plot_learning_curves(const std::string& metrics_csv, const std::string& png_path) {
  const std::string text = datasets::read_file(metrics_csv);
  datasets::LineReader reader(text, metrics_csv);
  std::string_view line = reader.require("the CSV header");
  std::vector<double> epochs;
  std::vector<std::vector<double>> columns(4);
  while (reader.next(line)) {
    const auto fields = datasets::split_fields(line, true);
    if (fields.size() < 5) reader.fail("epoch,train_loss,train_metric,val_loss,val_metric,…", line);
    epochs.push_back(datasets::field_double(reader, fields, 0, "the epoch"));
    for (size_t c = 0; c < 4; ++c) columns[c].push_back(datasets::field_double(reader, fields, c + 1, "a metric"));
  }
  if (epochs.empty()) throw datasets::ParseError(metrics_csv, "expected at least one epoch row");
  Canvas canvas(960, 400);
  const Color train = {31, 119, 180}, validation = {255, 127, 14};
  panel(canvas, 50, 30, 400, 330, epochs, {columns[0], columns[2]}, {train, validation});
  panel(canvas, 530, 30, 400, 330, epochs, {columns[1], columns[3]}, {train, validation});
  write_png(canvas, png_path);
}

void plot_spectral_rpe(geometry::SpectralRPEImpl& rpe, const std::string& png_path, double extent) {
  const int64_t side = 120, heads = rpe.options.num_heads(), d = rpe.options.dim();
  const auto axis = torch::linspace(-extent, extent, side, torch::kDouble);
  auto delta = torch::zeros({side, side, d}, torch::kDouble);
  delta.select(2, 0).copy_(axis.unsqueeze(0).expand({side, side}));
  if (d > 1) delta.select(2, 1).copy_(axis.flip(0).unsqueeze(1).expand({side, side}));
  torch::Tensor values;
  {
    torch::NoGradGuard guard;
    const auto copy = std::dynamic_pointer_cast<geometry::SpectralRPEImpl>(rpe.clone());
    copy->to(torch::kDouble);
    values = copy->exact(delta);  // [H, side, side]
  }
  const double low = values.min().item<double>(), high = std::max(values.max().item<double>(), low + 1e-12);
  const int gap = 10;
  Canvas canvas(static_cast<int>(heads * (side + gap) + gap), static_cast<int>(side + 2 * gap));
  const auto v = values.accessor<double, 3>();
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t y = 0; y < side; ++y) {
      for (int64_t x = 0; x < side; ++x) {
        const double t = (v[h][y][x] - low) / (high - low);
        const Color c = {static_cast<uint8_t>(255 - 100 * t), static_cast<uint8_t>(255 - 255 * t), static_cast<uint8_t>(255 - 255 * t)};
        canvas.set(static_cast<int>(gap + h * (side + gap) + x), static_cast<int>(gap + y), c);
      }
    }
  }
  write_png(canvas, png_path);
}

void plot_local_rpe(geometry::LocalRPEImpl& rpe, const std::string& png_path) {
  const int64_t samples = 200;
  const auto distance = torch::linspace(0, rpe.options.radius(), samples, torch::kDouble);
  torch::Tensor values;
  {
    torch::NoGradGuard guard;
    const auto copy = std::dynamic_pointer_cast<geometry::LocalRPEImpl>(rpe.clone());
    copy->to(torch::kDouble);
    values = copy->profile(distance).contiguous();  // [H, samples]
  }
  const std::vector<Color> palette = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                      {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127}};
  std::vector<std::vector<double>> series;
  std::vector<Color> colors;
  for (int64_t h = 0; h < values.size(0); ++h) {
    const double* row = values[h].data_ptr<double>();
    series.emplace_back(row, row + samples);
    colors.push_back(palette[static_cast<size_t>(h) % palette.size()]);
  }
  const double* x = distance.data_ptr<double>();
  Canvas canvas(560, 400);
  panel(canvas, 50, 30, 480, 330, std::vector<double>(x, x + samples), series, colors, /*per_point=*/false);
  write_png(canvas, png_path);
}

}  // namespace topo::models
