// SPDX-License-Identifier: Apache-2.0
// The smallest tour of topoformer: threads, then topologically masked linear attention on a
// sequence (learnable Toeplitz RPE) and on an image-like grid (2-D block-Toeplitz RPE with a
// CLS token), each checked against the dense L×L computation it avoids.
#include <torch/torch.h>

#include <iostream>

#include "attention/feature_map.h"
#include "attention/linear_attention.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/block_toeplitz_mask.h"
#include "attention/masks/registry.h"
#include "common/allocator.h"
#include "common/threads.h"

using namespace topo::attention;

int main() {
  topo::reuse_freed_memory();  // common/allocator.h
  topo::set_num_threads();  // all hardware threads unless TOPO_NUM_THREADS/OMP_NUM_THREADS say so
  std::cout << topo::parallel_info() << "\n";
  torch::manual_seed(0);

  // A multi-head Performer layer whose attention is modulated by a learnable 1-D RPE mask.
  const int64_t batch = 2, length = 300, embed = 64, heads = 4;
  // Masks come from the registry by name (`topoformer masks` lists them with their settings).
  LinearAttention layer(
      LinearAttentionOptions(embed, heads)
          .feature_map(FeatureMapOptions(1).num_features(64))
          .masks({make_mask("toeplitz", heads, {{"max_length", int64_t{1024}}})}));
  const auto x = torch::randn({batch, length, embed});
  const auto y = layer(x, x, x);
  std::cout << "Toeplitz-masked Performer layer: " << x.sizes() << " -> " << y.sizes() << "\n";

  // The same algorithm on a 12×16 grid with a CLS token, checked against the dense mask.
  BlockToeplitzMask grid(BlockToeplitzMaskOptions(heads, {12, 16}).cls_token(true));
  {
    torch::NoGradGuard no_grad;
    grid->table.uniform_(0.5, 1.5);
  }
  FeatureMap phi(FeatureMapOptions(/*head_dim=*/16, heads).num_features(32));
  const int64_t tokens = grid->length();
  const auto q = torch::randn({1, heads, tokens, 16}), k = torch::randn({1, heads, tokens, 16});
  const auto v = torch::randn({1, heads, tokens, 16});
  const auto phi_q = phi(q, FeatureRole::kQuery), phi_k = phi(k, FeatureRole::kKey);
  // A mask module builds one operator per batch from what the batch is (here: its length).
  MaskContext context;
  context.batch_size = 1;
  context.length = tokens;
  const auto op = grid->build(context);
  const auto fast = masked_linear_attention(phi_q, phi_k, v, *op);
  const auto weights = op->dense(torch::kFloat32) * torch::matmul(phi_q, phi_k.transpose(-1, -2));
  const auto dense = torch::matmul(weights, v) / weights.sum(-1, true);
  std::cout << "Block-Toeplitz grid attention over " << tokens
            << " tokens: max |fast - dense| = " << (fast - dense).abs().max().item<double>()
            << "\n";
  return (fast - dense).abs().max().item<double>() < 1e-4 ? 0 : 1;
}
