// SPDX-License-Identifier: Apache-2.0
// Run pictures: learning curves from metrics files (gaps, one epoch, extra columns, title and
// baseline, errors naming the file and line), the FLT RPE heat maps and the local RPE profile.
#include "training/plots.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "support/tensor_assertions.h"

namespace topo::training {
namespace {

namespace fs = std::filesystem;

fs::path fresh_folder(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("topo_plots_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

/// (width, height) of a PNG, after checking its signature; (0, 0) if it is not one.
std::pair<uint32_t, uint32_t> png_size(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[24] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!in || !std::equal(signature, signature + 8, header)) return {0, 0};
  const auto be32 = [&](int at) {
    return (uint32_t{header[at]} << 24) | (uint32_t{header[at + 1]} << 16) |
           (uint32_t{header[at + 2]} << 8) | uint32_t{header[at + 3]};
  };
  return {be32(16), be32(20)};
}

void expect_no_temporaries(const fs::path& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos)
        << "left over: " << entry.path();
  }
}

TEST(LearningCurves, TrainerCsvWithGapsExtraColumnsTitleAndBaseline) {
  const auto dir = fresh_folder("curves");
  std::string csv =
      "epoch,train_loss,train_force_mae,val_loss,val_force_mae,train_energy_rmse,learning_rate\n";
  for (int e = 1; e <= 30; ++e) {
    const double loss = 40 * std::exp(-0.2 * e), mae = 1.5 * std::exp(-0.05 * e);
    csv += std::to_string(e) + "," + std::to_string(loss) + "," + std::to_string(mae) + ",";
    // Validation every third epoch: empty cells or nan elsewhere.
    if (e % 3 == 0) {
      csv += std::to_string(1.2 * loss) + "," + std::to_string(1.1 * mae);
    } else {
      csv += e % 2 ? "," : "nan,-nan";
    }
    csv += ",0.5,0.001\r\n";
  }
  write(dir / "metrics.csv", csv);
  plot_learning_curves((dir / "metrics.csv").string(), (dir / "curves.png").string());
  EXPECT_EQ(png_size(dir / "curves.png"), std::make_pair(1200u, 500u));
  plot_learning_curves((dir / "metrics.csv").string(), (dir / "titled.png").string(),
                       "ethanol, local RPE", 0.2);
  EXPECT_EQ(png_size(dir / "titled.png"), std::make_pair(1200u, 540u));
  // Overwrites an existing picture.
  plot_learning_curves((dir / "metrics.csv").string(), (dir / "curves.png").string(), "again");
  EXPECT_EQ(png_size(dir / "curves.png"), std::make_pair(1200u, 540u));
  expect_no_temporaries(dir);
}

TEST(LearningCurves, OneEpochNoValidationAndNonPositiveValues) {
  const auto dir = fresh_folder("one_epoch");
  write(dir / "one.csv",
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy\n1,0.69,0.5,0.7,0.48\n");
  plot_learning_curves((dir / "one.csv").string(), (dir / "one.png").string());
  EXPECT_EQ(png_size(dir / "one.png").first, 1200u);
  write(
      dir / "train_only.csv",
      "epoch,train_loss,train_accuracy,val_loss,val_accuracy\n0,-1,nan,,\n1,0,nan,,\n2,5,nan,,\n");
  plot_learning_curves((dir / "train_only.csv").string(), (dir / "train_only.png").string(), "",
                       0.9);
  EXPECT_EQ(png_size(dir / "train_only.png").first, 1200u);
}

TEST(LearningCurves, ErrorsNameTheFileAndLine) {
  const auto dir = fresh_folder("errors");
  const auto png = (dir / "x.png").string();
  EXPECT_THROW_WITH(plot_learning_curves((dir / "missing.csv").string(), png), "missing.csv");
  write(dir / "row.csv",
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy\n1,1,0.5,1,0.5\n2,0.5,x,1,1\n");
  EXPECT_THROW_WITH(plot_learning_curves((dir / "row.csv").string(), png), "row.csv:3");
  write(dir / "short.csv", "epoch,train_loss,train_accuracy,val_loss,val_accuracy\n1,1,0.5\n");
  EXPECT_THROW_WITH(plot_learning_curves((dir / "short.csv").string(), png), "short.csv:2");
  write(dir / "epoch.csv", "epoch,train_loss,train_accuracy,val_loss,val_accuracy\nnan,1,1,1,1\n");
  EXPECT_THROW_WITH(plot_learning_curves((dir / "epoch.csv").string(), png), "epoch.csv:2");
  write(dir / "header.csv", "step,loss\n1,2\n");
  EXPECT_THROW_WITH(plot_learning_curves((dir / "header.csv").string(), png), "header.csv:1");
  write(dir / "empty.csv", "");
  EXPECT_THROW_WITH(plot_learning_curves((dir / "empty.csv").string(), png), "empty.csv");
  write(dir / "no_rows.csv", "epoch,train_loss,train_accuracy,val_loss,val_accuracy\n");
  EXPECT_THROW_WITH(plot_learning_curves((dir / "no_rows.csv").string(), png), "no_rows.csv");
  EXPECT_FALSE(fs::exists(png));
  // An unwritable destination names the picture's path.
  write(dir / "good.csv", "epoch,train_loss,train_accuracy,val_loss,val_accuracy\n1,1,0.5,1,0.5\n");
  const auto unwritable = (dir / "no_such_folder" / "curves.png").string();
  EXPECT_THROW_WITH(plot_learning_curves((dir / "good.csv").string(), unwritable), unwritable);
  expect_no_temporaries(dir);
}

TEST(RpePictures, SpectralHeatMapsInOneTwoAndThreeDimensions) {
  const auto dir = fresh_folder("spectral");
  torch::manual_seed(0);
  geometry::SpectralRPE plane(geometry::SpectralRPEOptions(2, 3));
  plot_spectral_rpe(*plane, (dir / "plane.png").string());
  const auto [width, height] = png_size(dir / "plane.png");
  EXPECT_GT(width, 3 * 280u);
  EXPECT_GT(height, 280u);
  // Five heads wrap onto a second row; signed values (mixture means away from 0).
  geometry::SpectralRPE space(geometry::SpectralRPEOptions(3, 5).num_components(2));
  {
    torch::NoGradGuard guard;
    space->means.copy_(torch::randn_like(space->means));
  }
  plot_spectral_rpe(*space, (dir / "space.png").string(), 2.0);
  EXPECT_GT(png_size(dir / "space.png").second, 2 * 280u);
  geometry::SpectralRPE line(
      geometry::SpectralRPEOptions(1, 2).family(geometry::SpectralFamily::kGaussian));
  plot_spectral_rpe(*line, (dir / "line.png").string(), 0.5);
  EXPECT_EQ(png_size(dir / "line.png"), std::make_pair(1000u, 620u));
  EXPECT_THROW_WITH(plot_spectral_rpe(*plane, (dir / "bad.png").string(), 0.0), "extent");
  expect_no_temporaries(dir);
}

TEST(RpePictures, LocalProfile) {
  const auto dir = fresh_folder("local");
  geometry::LocalRPE local(geometry::LocalRPEOptions(4, 3.0).num_bins(6).smooth_cutoff(true));
  {
    torch::NoGradGuard guard;
    local->log_profile.copy_(torch::randn_like(local->log_profile));
  }
  plot_local_rpe(*local, (dir / "local.png").string());
  EXPECT_EQ(png_size(dir / "local.png"), std::make_pair(1000u, 620u));
  EXPECT_THROW_WITH(plot_local_rpe(*local, (dir / "missing" / "local.png").string()), "local.png");
}

}  // namespace
}  // namespace topo::training
