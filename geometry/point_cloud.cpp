// SPDX-License-Identifier: Apache-2.0
#include "geometry/point_cloud.h"

#include <torch/torch.h>

#include "common/check.h"

namespace topo::geometry {

void check_points(const char* function, const torch::Tensor& pos, const char* pos_name,
                  const torch::Tensor& batch, const char* batch_name) {
  TOPO_CHECK_ARG(pos.defined(), function, pos_name, "a tensor", "an undefined tensor");
  TOPO_CHECK_ARG(pos.dim() == 2 && pos.size(1) >= 1, function, pos_name,
                 "of shape [N, d] with d >= 1", shape_string(pos));
  ShapeChecker(function).floating(pos, pos_name);
  if (pos.numel() > 0) {
    const auto bad_rows = (~torch::isfinite(pos)).any(1).nonzero();
    if (bad_rows.size(0) > 0) {
      const int64_t row = bad_rows[0][0].item<int64_t>();
      TOPO_CHECK_ARG(false, function, pos_name, "finite (no NaN or infinite coordinates)",
                     "row " + std::to_string(row) + " = " + c10::str(pos[row].cpu()));
    }
  }
  if (!batch.defined()) return;
  TOPO_CHECK_ARG(batch.dim() == 1 && batch.size(0) == pos.size(0), function, batch_name,
                 "of shape [" + std::to_string(pos.size(0)) + "] (one entry per point)",
                 shape_string(batch));
  TOPO_CHECK_ARG(batch.scalar_type() == torch::kLong, function, batch_name, "int64",
                 c10::toString(batch.scalar_type()));
  TOPO_CHECK_ARG(batch.device() == pos.device(), function, batch_name,
                 "on the device of `" + std::string(pos_name) + "`", batch.device().str());
  if (batch.numel() == 0) return;
  const int64_t min_id = batch.min().item<int64_t>();
  TOPO_CHECK_ARG(min_id >= 0, function, batch_name, "non-negative", min_id);
  if (batch.numel() > 1) {
    const auto descents = (batch.slice(0, 1) < batch.slice(0, 0, -1)).nonzero();
    if (descents.size(0) > 0) {
      const int64_t i = descents[0][0].item<int64_t>();
      TOPO_CHECK_ARG(false, function, batch_name, "sorted (points of each cloud contiguous)",
                     c10::str("batch[", i, "] = ", batch[i].item<int64_t>(), " > batch[", i + 1,
                              "] = ", batch[i + 1].item<int64_t>()));
    }
  }
}

int64_t PointCloud::num_clouds() const {
  if (!batch.defined()) return 1;
  return batch.numel() == 0 ? 0 : batch.max().item<int64_t>() + 1;
}

void PointCloud::validate(const char* function) const {
  check_points(function, pos, "pos", batch, "batch");
  if (features.defined()) {
    TOPO_CHECK_ARG(features.dim() == 2 && features.size(0) == pos.size(0), function, "features",
                   "of shape [" + std::to_string(pos.size(0)) + ", C]", shape_string(features));
  }
  if (normals.defined()) {
    TOPO_CHECK_ARG(normals.sizes() == pos.sizes(), function, "normals",
                   "of the shape of `pos` " + shape_string(pos), shape_string(normals));
  }
}

torch::Tensor PointCloud::batch_vector() const {
  if (batch.defined()) return batch;
  return torch::zeros({pos.size(0)}, torch::dtype(torch::kLong).device(pos.device()));
}

torch::Tensor PointCloud::row_splits() const {
  return batch_to_row_splits(batch_vector(), batch.defined() ? -1 : 1);
}

PointCloud PointCloud::to(const torch::Device& device) const {
  const auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {move(pos), move(features), move(normals), move(batch)};
}

PointCloud PointCloud::to(torch::Dtype dtype) const {
  const auto cast = [&](const torch::Tensor& t) { return t.defined() ? t.to(dtype) : t; };
  return {cast(pos), cast(features), cast(normals), batch};
}

torch::Tensor batch_to_row_splits(const torch::Tensor& batch, int64_t num_clouds) {
  TOPO_CHECK_ARG(batch.dim() == 1 && batch.scalar_type() == torch::kLong, "batch_to_row_splits",
                 "batch", "a 1-D int64 tensor", shape_string(batch));
  const int64_t seen = batch.numel() == 0 ? 0 : batch.max().item<int64_t>() + 1;
  if (num_clouds < 0) num_clouds = seen;
  TOPO_CHECK_ARG(num_clouds >= seen, "batch_to_row_splits", "num_clouds",
                 ">= max(batch) + 1 = " + std::to_string(seen), num_clouds);
  const auto counts = torch::bincount(batch.cpu(), /*weights=*/{}, num_clouds);
  auto splits = torch::zeros({num_clouds + 1}, torch::kLong);
  splits.slice(0, 1).copy_(counts.cumsum(0));
  return splits.to(batch.device());
}

torch::Tensor row_splits_to_batch(const torch::Tensor& row_splits) {
  TOPO_CHECK_ARG(
      row_splits.dim() == 1 && row_splits.size(0) >= 1 && row_splits.scalar_type() == torch::kLong,
      "row_splits_to_batch", "row_splits", "a 1-D int64 tensor [B + 1]", shape_string(row_splits));
  const auto counts = row_splits.slice(0, 1) - row_splits.slice(0, 0, -1);
  TOPO_CHECK_ARG(counts.numel() == 0 || counts.min().item<int64_t>() >= 0, "row_splits_to_batch",
                 "row_splits", "non-decreasing", row_splits);
  return torch::repeat_interleave(
      torch::arange(counts.size(0), torch::dtype(torch::kLong).device(row_splits.device())),
      counts);
}

std::pair<torch::Tensor, torch::Tensor> to_padded(const torch::Tensor& values,
                                                  const torch::Tensor& batch, int64_t num_clouds) {
  TOPO_CHECK_ARG(values.dim() >= 1, "to_padded", "values", "of shape [N, ...]",
                 shape_string(values));
  const auto splits = batch_to_row_splits(batch, num_clouds).cpu();
  const int64_t clouds = splits.size(0) - 1;
  TOPO_CHECK_ARG(splits[clouds].item<int64_t>() == values.size(0), "to_padded", "batch",
                 "one entry per row of `values` (" + std::to_string(values.size(0)) + ")",
                 shape_string(batch));
  const auto counts = splits.slice(0, 1) - splits.slice(0, 0, -1);
  const int64_t max_length = clouds == 0 ? 0 : counts.max().item<int64_t>();
  // Position of every point inside its cloud: i − row_splits[batch_i].
  const auto local = torch::arange(values.size(0), batch.options()) -
                     splits.to(batch.device()).index_select(0, batch);
  std::vector<int64_t> shape = {clouds, max_length};
  for (int64_t d = 1; d < values.dim(); ++d) shape.push_back(values.size(d));
  const auto flat = batch * max_length + local;
  int64_t row_width = 1;
  for (int64_t d = 1; d < values.dim(); ++d) row_width *= values.size(d);
  // index_put (out of place) keeps the scatter differentiable.
  const auto padded = torch::zeros({clouds * max_length, row_width}, values.options())
                          .index_put({flat}, values.reshape({values.size(0), row_width}))
                          .view(shape);
  auto mask = torch::ones({clouds * max_length}, batch.options().dtype(torch::kBool))
                  .index_fill_(0, flat, false)
                  .view({clouds, max_length});
  return {padded, mask};
}

torch::Tensor from_padded(const torch::Tensor& padded, const torch::Tensor& key_padding_mask) {
  TOPO_CHECK_ARG(padded.dim() >= 2, "from_padded", "padded", "of shape [B, L, ...]",
                 shape_string(padded));
  TOPO_CHECK_ARG(key_padding_mask.dim() == 2 && key_padding_mask.size(0) == padded.size(0) &&
                     key_padding_mask.size(1) == padded.size(1) &&
                     key_padding_mask.scalar_type() == torch::kBool,
                 "from_padded", "key_padding_mask",
                 "a bool tensor of shape [" + std::to_string(padded.size(0)) + ", " +
                     std::to_string(padded.size(1)) + "]",
                 shape_string(key_padding_mask));
  return padded.flatten(0, 1).index({(~key_padding_mask).flatten().nonzero().squeeze(1)});
}

}  // namespace topo::geometry
