// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/sparse_mask.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <limits>
#include <mutex>

#include "attention/attention_utils.h"
#include "common/check.h"
#include "graph/sparse_matmul.h"

namespace topo::attention {
namespace {

#if TORCH_VERSION_MAJOR < 2
/// LibTorch 1.13 prints a one-time notice that scatter_reduce is "beta", meant for its
/// developers, not our users: spend it once, on a tiny call, with warnings dropped.
void silence_scatter_reduce_notice() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct Quiet : c10::WarningHandler {
      void process(const c10::SourceLocation&, const std::string&, const bool) override {}
    };
    Quiet quiet;  // the handler is this thread's (thread-local in LibTorch 1.13)
    const c10::Warning::WarningHandlerGuard guard(&quiet);
    torch::zeros({1}).scatter_reduce(0, torch::zeros({1}, torch::kLong), torch::ones({1}), "amax");
  });
}
#endif

}  // namespace

SparseMaskOperator::SparseMaskOperator(torch::Tensor edge_index, torch::Tensor values,
                                       int64_t batch_size, int64_t length, int64_t key_length)
    : edge_index_(std::move(edge_index)),
      values_(std::move(values)),
      batch_size_(batch_size),
      length_(length),
      key_length_(key_length < 0 ? length : key_length) {
  TOPO_CHECK_ARG(batch_size_ >= 1 && length_ >= 1, "SparseMask", "batch_size and length", ">= 1",
                 c10::str(batch_size_, " and ", length_));
  TOPO_CHECK_ARG(edge_index_.dim() == 2 && edge_index_.size(0) == 2 &&
                     edge_index_.scalar_type() == torch::kLong,
                 "SparseMask", "edge_index", "an int64 tensor [2, E]", shape_string(edge_index_));
  TOPO_CHECK_ARG(values_.dim() == 2 && values_.size(1) == edge_index_.size(1), "SparseMask",
                 "values",
                 c10::str("[H, ", edge_index_.size(1), "] or [1, ", edge_index_.size(1), "]"),
                 shape_string(values_));
  if (edge_index_.size(1) > 0) {
    const auto query_batch = edge_index_[0].div(length_, "floor");
    const auto key_batch = edge_index_[1].div(key_length_, "floor");
    TOPO_CHECK_ARG(edge_index_[0].min().item<int64_t>() >= 0 &&
                       edge_index_[0].max().item<int64_t>() < batch_size_ * length_,
                   "SparseMask", "edge_index[0]",
                   c10::str("in [0, batch_size·length = ", batch_size_ * length_, ")"),
                   value_range(edge_index_[0]));
    TOPO_CHECK_ARG(edge_index_[1].min().item<int64_t>() >= 0 &&
                       edge_index_[1].max().item<int64_t>() < batch_size_ * key_length_,
                   "SparseMask", "edge_index[1]",
                   c10::str("in [0, batch_size·key_length = ", batch_size_ * key_length_, ")"),
                   value_range(edge_index_[1]));
    if (!query_batch.equal(key_batch)) {
      const int64_t e = (query_batch != key_batch).nonzero()[0][0].item<int64_t>();
      TOPO_CHECK_ARG(false, "SparseMask", "edge_index", "edges inside one batch element",
                     c10::str("edge ", e, " from batch element ", query_batch[e].item<int64_t>(),
                              " to ", key_batch[e].item<int64_t>()));
    }
  }
}

torch::Tensor SparseMaskOperator::apply(const torch::Tensor& x) const {
  ShapeChecker check("SparseMask::apply");
  check.bind("B", batch_size_, "the mask").bind("S", key_length_, "the mask");
  check(x, "x", {"B", "H", "S", "C"});
  TOPO_CHECK_ARG(values_.size(0) == 1 || values_.size(0) == x.size(1), "SparseMask::apply", "x",
                 c10::str(values_.size(0), " heads (rows of `values`)"), shape_string(x));
  const int64_t heads = x.size(1), channels = x.size(3);
  // [B, H, S, C] → [H, B·S, C]: one sparse product per head over the flattened tokens.
  const auto flat = x.transpose(0, 1).reshape({heads, batch_size_ * key_length_, channels});
  const auto out =
      graph::sparse_matmul(edge_index_.to(x.device()), values_.to(x.device(), x.scalar_type()),
                           flat, batch_size_ * length_);
  return out.view({heads, batch_size_, length_, channels}).transpose(0, 1);
}

std::optional<torch::Tensor> SparseMaskOperator::attend(
    const torch::Tensor& phi_q, const torch::Tensor& phi_k, const torch::Tensor& v,
    const torch::Tensor& key_padding_mask) const {
  return along_edges(phi_q, phi_k, v, key_padding_mask, false);
}

torch::Tensor SparseMaskOperator::softmax_attend(const torch::Tensor& q, const torch::Tensor& k,
                                                 const torch::Tensor& v,
                                                 const torch::Tensor& key_padding_mask) const {
  return along_edges(q, k, v, key_padding_mask, true);
}

torch::Tensor SparseMaskOperator::along_edges(const torch::Tensor& phi_q,
                                              const torch::Tensor& phi_k, const torch::Tensor& v,
                                              const torch::Tensor& key_padding_mask,
                                              bool exponentiate) const {
  const char* name = exponentiate ? "SparseMask::softmax_attend" : "SparseMask::attend";
  ShapeChecker check(name);
  check.bind("B", batch_size_, "the mask")
      .bind("L", length_, "the mask")
      .bind("S", key_length_, "the mask");
  check(phi_q, exponentiate ? "q" : "phi_q", {"B", "H", "L", "M"});
  check(phi_k, exponentiate ? "k" : "phi_k", {"B", "H", "S", "M"});
  check(v, "v", {"B", "H", "S", "D"});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "S"});
  const int64_t heads = phi_q.size(1), d = v.size(3);
  TOPO_CHECK_ARG(values_.size(0) == 1 || values_.size(0) == heads, name,
                 exponentiate ? "q" : "phi_q",
                 c10::str(values_.size(0), " heads (rows of `values`)"), shape_string(phi_q));
  auto keys = phi_k;
  auto vals = v;
  detail::drop_padded_keys(keys, vals, key_padding_mask);
  vals = detail::append_ones(vals);  // numerator and normaliser in one product
  // [B, H, N, C] → [H, B·N, C] over the flattened tokens the edges index.
  const auto flat = [&](const torch::Tensor& x, int64_t n) {
    return x.transpose(0, 1).reshape({heads, batch_size_ * n, x.size(3)});
  };
  const auto edges = edge_index_.to(phi_q.device());
  auto scores = graph::sampled_dot(edges, flat(phi_q, length_), flat(keys, key_length_));
  if (exponentiate) {
    // exp(q_i·k_j − c_i) with c_i the largest score of query i (it cancels in the
    // normalisation, so no gradient flows through it); edges to padded keys weigh nothing.
    if (key_padding_mask.defined()) {
      const auto padded =
          key_padding_mask.reshape({-1}).to(edges.device()).index_select(0, edges[1]);
      scores = scores.masked_fill(padded.unsqueeze(0), -std::numeric_limits<double>::infinity());
    }
    const auto rows = edges[0].unsqueeze(0).expand_as(scores);
#if TORCH_VERSION_MAJOR < 2
    silence_scatter_reduce_notice();
#endif
    const auto row_max = torch::full({heads, batch_size_ * length_},
                                     -std::numeric_limits<double>::infinity(), scores.options())
                             .scatter_reduce(1, rows, scores.detach(), "amax");
    // Rows with no (unpadded) edge: any finite shift (−inf − −inf would be NaN in any dtype).
    const auto largest =
        row_max.masked_fill(row_max == -std::numeric_limits<double>::infinity(), 0);
    scores = torch::exp(scores - largest.gather(1, rows));
  }
  const auto weights = scores * values_.to(phi_q.device(), phi_q.scalar_type());  // [H, E]
  const auto raw = graph::sparse_matmul(edges, weights, flat(vals, key_length_),
                                        batch_size_ * length_);  // [H, B·L, D + 1]
  return detail::normalise(raw).view({heads, batch_size_, length_, d}).transpose(0, 1);
}

torch::Tensor SparseMaskOperator::dense(const torch::TensorOptions& options) const {
  const int64_t heads = values_.size(0);
  const auto query_batch = edge_index_[0].div(length_, "floor");
  const auto flat = (query_batch * heads * length_ + edge_index_[0] % length_) * key_length_ +
                    edge_index_[1] % key_length_;  // index of [b, 0, i, j]
  auto out = torch::zeros({batch_size_ * heads * length_ * key_length_}, options);
  for (int64_t h = 0; h < heads; ++h) {
    out.index_put_({flat + h * length_ * key_length_}, values_[h].to(options), /*accumulate=*/true);
  }
  return out.view({batch_size_, heads, length_, key_length_});
}

}  // namespace topo::attention
