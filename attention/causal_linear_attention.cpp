// SPDX-License-Identifier: Apache-2.0
#include "attention/causal_linear_attention.h"

#include <torch/autograd.h>

#include "common/check.h"

namespace topo::attention {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// [B, H, L, X] -> [B, H, N, chunk, X], zero-padding L up to N·chunk.
torch::Tensor to_chunks(const torch::Tensor& x, int64_t chunk) {
  const int64_t length = x.size(2);
  const int64_t padded = (length + chunk - 1) / chunk * chunk;
  auto y = padded == length ? x : torch::constant_pad_nd(x, {0, 0, 0, padded - length});
  return y.view({x.size(0), x.size(1), padded / chunk, chunk, x.size(3)});
}

torch::Tensor from_chunks(const torch::Tensor& x, int64_t length) {
  return x.flatten(2, 3).narrow(2, 0, length);
}

// States before each chunk: exclusive prefix sum over the chunk axis (no subtraction, so no
// cancellation): [B, H, N, M, C].
torch::Tensor exclusive_cumsum(const torch::Tensor& per_chunk, bool reverse) {
  const int64_t n = per_chunk.size(2);
  if (n == 1) return torch::zeros_like(per_chunk);
  auto zeros = torch::zeros_like(per_chunk.narrow(2, 0, 1));
  if (!reverse) {
    return torch::cat({zeros, per_chunk.narrow(2, 0, n - 1).cumsum(2)}, 2);
  }
  auto tail = per_chunk.narrow(2, 1, n - 1).flip(2).cumsum(2).flip(2);
  return torch::cat({tail, zeros}, 2);
}

class CausalLinearAttentionFunction
    : public torch::autograd::Function<CausalLinearAttentionFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& phi_q,
                               const torch::Tensor& phi_k, const torch::Tensor& v, int64_t chunk) {
    ctx->save_for_backward({phi_q, phi_k, v});
    ctx->saved_data["chunk"] = chunk;
    const int64_t length = phi_q.size(2);
    const auto q = to_chunks(phi_q, chunk), k = to_chunks(phi_k, chunk), vc = to_chunks(v, chunk);
    const auto causal = torch::ones({chunk, chunk}, phi_q.options().dtype(torch::kBool)).tril();
    const auto states = exclusive_cumsum(torch::matmul(k.transpose(-1, -2), vc), false);
    const auto scores = torch::matmul(q, k.transpose(-1, -2)).masked_fill(~causal, 0);
    const auto out = torch::matmul(scores, vc) + torch::matmul(q, states);
    return from_chunks(out, length);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const int64_t length = saved[0].size(2);
    const auto q = to_chunks(saved[0], chunk), k = to_chunks(saved[1], chunk);
    const auto vc = to_chunks(saved[2], chunk);
    const auto g = to_chunks(grad_outputs[0].contiguous(), chunk);
    const auto causal = torch::ones({chunk, chunk}, q.options().dtype(torch::kBool)).tril();

    // dQ_i = Σ_{j≤i} (g_i·v_j) k_j: a forward scan over states S = Σ k vᵀ.
    const auto states = exclusive_cumsum(torch::matmul(k.transpose(-1, -2), vc), false);
    const auto g_v = torch::matmul(g, vc.transpose(-1, -2)).masked_fill(~causal, 0);
    const auto grad_q = torch::matmul(g_v, k) + torch::matmul(g, states.transpose(-1, -2));
    // dK_j = Σ_{i≥j} (g_i·v_j) q_i and dV_j = Σ_{i≥j} (q_i·k_j) g_i: a backward scan over
    // R = Σ q gᵀ (recomputed, not subtracted from a total, to avoid cancellation).
    const auto reverse = exclusive_cumsum(torch::matmul(q.transpose(-1, -2), g), true);
    const auto grad_k =
        torch::matmul(g_v.transpose(-1, -2), q) + torch::matmul(vc, reverse.transpose(-1, -2));
    const auto q_k = torch::matmul(q, k.transpose(-1, -2)).masked_fill(~causal, 0);
    const auto grad_v = torch::matmul(q_k.transpose(-1, -2), g) + torch::matmul(k, reverse);
    return {from_chunks(grad_q, length), from_chunks(grad_k, length), from_chunks(grad_v, length),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor causal_linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v, int64_t chunk_size) {
  ShapeChecker check("causal_linear_attention");
  check(phi_q, "phi_q", {"B", "H", "L", "M"});
  check(phi_k, "phi_k", {"B", "H", "L", "M"});
  check(v, "v", {"B", "H", "L", "C"});
  check.floating(phi_q, "phi_q", /*allow_reduced=*/true)
      .same_dtype({{phi_q, "phi_q"}, {phi_k, "phi_k"}, {v, "v"}})
      .same_device({{phi_q, "phi_q"}, {phi_k, "phi_k"}, {v, "v"}});
  TOPO_CHECK_ARG(chunk_size > 0, "causal_linear_attention", "chunk_size", "positive", chunk_size);
  if (phi_q.size(2) == 0) return torch::zeros_like(v);
  const int64_t chunk = std::min(chunk_size, phi_q.size(2));
  return CausalLinearAttentionFunction::apply(phi_q, phi_k, v, chunk);
}

}  // namespace topo::attention
