// SPDX-License-Identifier: Apache-2.0
/// \file
/// Random projection matrices for random-feature attention (Choromanski et al., "Rethinking
/// Attention with Performers", ICLR 2021, section 4.2): i.i.d. Gaussian rows, or orthogonal
/// random features from the QR decomposition of Gaussian blocks.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace topo::attention {

/// Lengths of the projection rows.
enum class ProjectionNorm {
  kChi,      ///< χ_d-distributed lengths: every row is marginally N(0, I_d) (unbiased FAVOR+)
  kSqrtDim,  ///< every row has length √d (SMREG in the Performer paper)
};

/// Options for `random_projection`.
struct RandomProjectionOptions {
  RandomProjectionOptions(int64_t num_features, int64_t dim)
      : num_features_(num_features), dim_(dim) {}
  /// Rows m.
  TORCH_ARG(int64_t, num_features);
  /// Columns d (the head dimension).
  TORCH_ARG(int64_t, dim);
  /// Orthogonal rows within each block of d rows (true) or i.i.d. Gaussian rows. Default: true.
  TORCH_ARG(bool, orthogonal) = true;
  /// Row-length convention. Default: kChi.
  TORCH_ARG(ProjectionNorm, norm) = ProjectionNorm::kChi;
  /// Seed of the CPU generator the matrix is drawn from.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Result dtype (drawn in float64, then cast). Default: float32.
  TORCH_ARG(torch::Dtype, dtype) = torch::kFloat32;
};

/// Draws an [m, d] projection W. With `orthogonal`, rows come in blocks of d: each block is the
/// transpose of the Q factor of a d×d Gaussian matrix (signs fixed so Q is Haar-distributed);
/// a last partial block keeps its first m mod d rows. Rows are then scaled to χ_d-distributed
/// or √d lengths. Deterministic in `seed`; drawn on the CPU (QR of small matrices is faster
/// there), the caller moves it to its device.
torch::Tensor random_projection(const RandomProjectionOptions& options);

/// Mixes a base seed with (redraw count, layer, head) into a well-spread 64-bit seed, so every
/// process of a data-parallel job derives the same draw without communicating.
uint64_t projection_seed(uint64_t base_seed, int64_t redraw_count, int64_t layer, int64_t head);

}  // namespace topo::attention
