// SPDX-License-Identifier: Apache-2.0
/// \file
/// Binary array formats (pure C++): MNIST/Fashion-MNIST IDX and NumPy .npy (as stored inside
/// .npz archives), and OFF meshes (text).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace topo::datasets {

/// A dense array as doubles (exact for the integer and float types these formats use).
struct ParsedArray {
  std::vector<int64_t> shape;
  std::vector<double> values;
  std::string dtype;  ///< "u8", "i32", "f4", "f8", "<U…" (strings are not loaded), …
  int64_t numel() const;
};

/// IDX (big-endian, magic 0x00 0x00 type ndim, then ndim uint32 sizes, then data). Types
/// 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64. Byte count must match exactly.
ParsedArray parse_idx(std::string_view bytes, const std::string& file);

/// NumPy .npy v1/v2/v3 with a little- or big-endian numeric dtype (b1, i1…i8, u1…u8, f4, f8),
/// C or Fortran order (Fortran is transposed to C order). String and object arrays are refused.
ParsedArray parse_npy(std::string_view bytes, const std::string& file);

struct ParsedMesh {
  std::vector<double> vertices;                   ///< V × 3
  std::vector<std::array<int64_t, 3>> triangles;  ///< faces fan-triangulated
};

/// OFF meshes, including ModelNet's files whose first line fuses the header with the counts
/// (`OFF490 518 0`); comments (#) and blank lines are skipped; polygons are fan-triangulated.
ParsedMesh parse_off(std::string_view text, const std::string& file);

}  // namespace topo::datasets
