// SPDX-License-Identifier: Apache-2.0
#include "support/reference_combiner.h"

#include <torch/torch.h>

#include <cmath>
#include <functional>

namespace topo::test {
namespace {

using attention::CombinerVariant;
using Set = std::vector<int64_t>;

struct Partition {
  Set direct;
  std::vector<Set> regions;
};

/// Aligned dyadic blocks tiling [begin, end), greedily from the left.
std::vector<Set> dyadic_tiling(int64_t begin, int64_t end) {
  std::vector<Set> blocks;
  int64_t p = begin;
  while (p < end) {
    int64_t size = 1;
    while (p % (2 * size) == 0 && p + 2 * size <= end) size *= 2;
    Set block;
    for (int64_t j = p; j < p + size; ++j) block.push_back(j);
    blocks.push_back(block);
    p += size;
  }
  return blocks;
}

Partition partition(int64_t i, int64_t t, CombinerVariant variant, bool causal, int64_t block,
                    int64_t cols, int64_t power_of_two) {
  Partition out;
  const auto add_region = [&](const std::function<bool(int64_t)>& member) {
    Set region;
    for (int64_t j = 0; j < t; ++j) {
      if (member(j)) region.push_back(j);
    }
    out.regions.push_back(region);
  };
  const auto allowed = [&](int64_t j) { return !causal || j <= i; };
  switch (variant) {
    case CombinerVariant::kFixed: {
      const int64_t own = i / block, blocks = (t + block - 1) / block;
      for (int64_t j = 0; j < t; ++j) {
        if (j / block == own && allowed(j)) out.direct.push_back(j);
      }
      for (int64_t r = 0; r < blocks; ++r) {
        if (r == own || (causal && r > own)) continue;
        add_region([&](int64_t j) { return j / block == r; });
      }
      break;
    }
    case CombinerVariant::kLogsparse: {
      out.direct.push_back(i);
      for (const auto& b : dyadic_tiling(0, i)) out.regions.push_back(b);
      if (!causal) {
        for (auto b : dyadic_tiling(i + 1, power_of_two)) {
          Set inside;
          for (int64_t j : b) {
            if (j < t) inside.push_back(j);
          }
          out.regions.push_back(inside);
        }
      }
      break;
    }
    default: {
      const bool vertical = variant == CombinerVariant::kAxialVertical;
      const int64_t r = i / cols, c = i % cols, rows = (t + cols - 1) / cols;
      for (int64_t j = 0; j < t; ++j) {
        const bool same_row = j / cols == r, same_col = j % cols == c;
        if ((same_row || same_col) && allowed(j)) out.direct.push_back(j);
      }
      if (vertical) {
        for (int64_t c2 = 0; c2 < cols; ++c2) {
          if (c2 == c) continue;
          add_region(
              [&](int64_t j) { return j % cols == c2 && (causal ? j / cols < r : j / cols != r); });
        }
      } else {
        for (int64_t r2 = 0; r2 < rows; ++r2) {
          if (r2 == r || (causal && r2 > r)) continue;
          add_region([&](int64_t j) { return j / cols == r2 && j % cols != c; });
        }
      }
    }
  }
  return out;
}

torch::Tensor single_variant(const torch::Tensor& q_in, const torch::Tensor& k_in,
                             const attention::CombinerFuncOptions& options,
                             CombinerVariant variant) {
  const auto q = q_in.to(torch::kDouble) / std::sqrt(static_cast<double>(q_in.size(3)));
  const auto k = k_in.to(torch::kDouble);
  const int64_t batch = q.size(0), heads = q.size(1), t = q.size(2);
  const auto pad = options.key_padding_mask().defined() ? options.key_padding_mask().cpu()
                                                        : torch::zeros({batch, t}, torch::kBool);
  const int64_t block = options.block_size() > 0
                            ? options.block_size()
                            : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(t))));
  const int64_t cols = options.grid_shape().empty()
                           ? static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(t))))
                           : options.grid_shape()[1];
  int64_t power_of_two = 1;
  while (power_of_two < t) power_of_two *= 2;
  auto matrix = torch::zeros({batch, heads, t, t}, torch::kDouble);
  for (int64_t b = 0; b < batch; ++b) {
    const auto valid = [&](int64_t j) { return !pad[b][j].item<bool>(); };
    for (int64_t i = 0; i < t; ++i) {
      if (!valid(i)) continue;
      auto part = partition(i, t, variant, options.causal(), block, cols, power_of_two);
      // Drop padded keys everywhere, and regions left empty.
      Set direct;
      for (int64_t j : part.direct) {
        if (valid(j)) direct.push_back(j);
      }
      std::vector<Set> regions;
      for (const auto& region : part.regions) {
        Set kept;
        for (int64_t j : region) {
          if (valid(j)) kept.push_back(j);
        }
        if (!kept.empty()) regions.push_back(kept);
      }
      // The parts must cover each allowed key exactly once.
      std::vector<int> seen(t, 0);
      for (int64_t j : direct) ++seen[j];
      for (const auto& region : regions) {
        for (int64_t j : region) ++seen[j];
      }
      for (int64_t j = 0; j < t; ++j) {
        const int expected = valid(j) && (!options.causal() || j <= i) ? 1 : 0;
        TORCH_CHECK(seen[j] == expected, "combiner oracle: key ", j, " of query ", i, " covered ",
                    seen[j], " times, expected ", expected);
      }
      for (int64_t h = 0; h < heads; ++h) {
        const auto qi = q[b][h][i];
        std::vector<double> direct_terms;
        std::vector<double> region_terms;
        std::vector<torch::Tensor> region_weights;
        double z = 0;
        for (int64_t j : direct) {
          direct_terms.push_back(std::exp(qi.dot(k[b][h][j]).item<double>()));
          z += direct_terms.back();
        }
        for (const auto& region : regions) {
          const auto index = torch::tensor(region, torch::kLong);
          const auto keys = k[b][h].index_select(0, index);
          const auto k_bar = std::get<0>(keys.max(0));
          const auto q_bar = std::get<0>(q[b][h].index_select(0, index).max(0));
          region_terms.push_back(std::exp(qi.dot(k_bar).item<double>()));
          region_weights.push_back(torch::softmax(torch::mv(keys, q_bar), 0));
          z += region_terms.back();
        }
        auto row = matrix[b][h][i];
        for (size_t n = 0; n < direct.size(); ++n) row[direct[n]] += direct_terms[n] / z;
        for (size_t r = 0; r < regions.size(); ++r) {
          row.index_add_(0, torch::tensor(regions[r], torch::kLong),
                         region_weights[r] * (region_terms[r] / z));
        }
      }
    }
  }
  return matrix;
}

}  // namespace

torch::Tensor combiner_attention_matrix(const torch::Tensor& q, const torch::Tensor& k,
                                        const attention::CombinerFuncOptions& options) {
  if (options.variant() == CombinerVariant::kAxialMixture) {
    return 0.5 * (single_variant(q, k, options, CombinerVariant::kAxialVertical) +
                  single_variant(q, k, options, CombinerVariant::kAxialHorizontal));
  }
  return single_variant(q, k, options, options.variant());
}

}  // namespace topo::test
