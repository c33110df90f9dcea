// SPDX-License-Identifier: Apache-2.0
#include "attention/combiner_attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "common/check.h"

namespace topo::attention {
namespace {

using torch::indexing::Slice;

/// A finite "minus infinity" for masked logits: exp underflows to exactly 0, and rows with
/// nothing allowed stay finite (their weights are zeroed afterwards) so gradients stay finite.
constexpr double kMaskedLogit = -1e30;
const double kInf = std::numeric_limits<double>::infinity();

/// Softmax over the last axis restricted to `allowed`; all-masked rows give zeros.
torch::Tensor masked_softmax(const torch::Tensor& logits, const torch::Tensor& allowed) {
  return torch::softmax(logits.masked_fill(~allowed, kMaskedLogit), -1) *
         allowed.to(logits.scalar_type());
}

/// Pads token validity [B, T] to `length` with invalid (padding) tokens.
torch::Tensor pad_valid(const torch::Tensor& valid, int64_t length) {
  if (valid.size(1) == length) return valid;
  return torch::cat({valid, torch::zeros({valid.size(0), length - valid.size(1)}, valid.options())},
                    1);
}

/// Pads the token axis (2) of [B, H, T, D] to `length` with zeros.
torch::Tensor pad_tokens(const torch::Tensor& x, int64_t length) {
  if (x.size(2) == length) return x;
  return torch::constant_pad_nd(x, {0, 0, 0, length - x.size(2)});
}

enum class RegionShape { kWholeGroup, kExcludeSelf, kStrictPrefix };

struct Summaries {
  torch::Tensor keys;    // [B, H, G, P, D]: k̄ of the region belonging to slot (g, p)
  torch::Tensor values;  // [B, H, G, P, Dv]: v̄
  torch::Tensor valid;   // [B, G, P]: the region has at least one real key
};

/// Exclusive running max along axis 3 of x (entries of invalid tokens at −inf): the max over
/// positions < t (prefix) or > t (suffix) for every t.
torch::Tensor exclusive_prefix_max(const torch::Tensor& x) {
  const auto running = std::get<0>(torch::cummax(x, 3));
  return torch::constant_pad_nd(running.slice(3, 0, -1), {0, 0, 1, 0}, -kInf);
}
torch::Tensor exclusive_suffix_max(const torch::Tensor& x) {
  return exclusive_prefix_max(x.flip(3)).flip(3);
}

/// Region summaries for groups of tokens [B, H, G, P, D] (blocks, rows or columns); `valid`
/// [B, G, P]. kWholeGroup: one region per group (P = 1 in the result); kExcludeSelf: slot p
/// summarises the group without position p; kStrictPrefix: positions before p.
Summaries summarise(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                    const torch::Tensor& valid, RegionShape shape) {
  const auto invalid = (~valid).unsqueeze(1).unsqueeze(-1);  // [B, 1, G, P, 1]
  const auto q_masked = q.masked_fill(invalid, -kInf);
  const auto k_masked = k.masked_fill(invalid, -kInf);
  const int64_t positions = k.size(3);
  torch::Tensor q_bar, k_bar, region_valid, member;  // member [B?, 1, G?, P, P']
  const auto valid_count = valid.to(torch::kLong);
  switch (shape) {
    case RegionShape::kWholeGroup:
      q_bar = std::get<0>(q_masked.max(3, true));
      k_bar = std::get<0>(k_masked.max(3, true));
      region_valid = valid.any(2, true);
      member = valid.unsqueeze(1).unsqueeze(3);  // [B, 1, G, 1, P']
      break;
    case RegionShape::kExcludeSelf: {
      q_bar = torch::maximum(exclusive_prefix_max(q_masked), exclusive_suffix_max(q_masked));
      k_bar = torch::maximum(exclusive_prefix_max(k_masked), exclusive_suffix_max(k_masked));
      region_valid = (valid_count.sum(2, true) - valid_count) > 0;
      const auto not_self = ~torch::eye(positions, valid.options());
      member = valid.unsqueeze(1).unsqueeze(3) & not_self;
      break;
    }
    case RegionShape::kStrictPrefix: {
      q_bar = exclusive_prefix_max(q_masked);
      k_bar = exclusive_prefix_max(k_masked);
      region_valid = (valid_count.cumsum(2) - valid_count) > 0;
      const auto before = torch::ones({positions, positions}, valid.options()).tril(-1);
      member = valid.unsqueeze(1).unsqueeze(3) & before;
      break;
    }
  }
  const auto keep = region_valid.unsqueeze(1).unsqueeze(-1);
  q_bar = torch::where(keep, q_bar, torch::zeros_like(q_bar));
  k_bar = torch::where(keep, k_bar, torch::zeros_like(k_bar));
  // v̄ = softmax over the region of q̄·k (q is pre-scaled by 1/√d).
  const auto inner = masked_softmax(torch::matmul(q_bar, k.transpose(-1, -2)), member);
  return {k_bar, torch::matmul(inner, v), region_valid};
}

torch::Tensor fixed(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                    const torch::Tensor& valid_tokens, bool causal, int64_t block) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2);
  const int64_t blocks = (t + block - 1) / block, padded = blocks * block;
  const auto view = [&](const torch::Tensor& x) {
    return pad_tokens(x, padded).view({b, h, blocks, block, x.size(3)});
  };
  const auto qb = view(q), kb = view(k), vb = view(v);
  const auto valid = pad_valid(valid_tokens, padded).view({b, blocks, block});
  // Direct part: own block (causal: up to the query).
  auto local_allowed = valid.unsqueeze(1).unsqueeze(3);  // [B, 1, n, 1(query), s(key)]
  if (causal) local_allowed = local_allowed & torch::ones({block, block}, valid.options()).tril();
  const auto local = torch::matmul(qb, kb.transpose(-1, -2));
  // Regions: the other blocks (causal: earlier ones).
  const auto summary = summarise(qb, kb, vb, valid, RegionShape::kWholeGroup);
  const auto k_bar = summary.keys.squeeze(3);    // [B, H, n, D]
  const auto v_bar = summary.values.squeeze(3);  // [B, H, n, Dv]
  const auto summary_logits = torch::matmul(qb.reshape({b, h, padded, -1}), k_bar.transpose(-1, -2))
                                  .view({b, h, blocks, block, blocks});
  const auto own = torch::arange(blocks, valid.options().dtype(torch::kLong));
  auto other = own.unsqueeze(1) != own.unsqueeze(0);  // [n(query block), n(region)]
  if (causal) other = own.unsqueeze(1) > own.unsqueeze(0);
  const auto summary_allowed =
      summary.valid.squeeze(2).view({b, 1, 1, 1, blocks}) & other.view({1, 1, blocks, 1, blocks});
  const auto weights =
      masked_softmax(torch::cat({local, summary_logits}, -1),
                     torch::cat({local_allowed.expand({b, 1, blocks, block, block}),
                                 summary_allowed.expand({b, 1, blocks, block, blocks})},
                                -1));
  const auto out = torch::matmul(weights.slice(-1, 0, block), vb) +
                   torch::matmul(weights.slice(-1, block), v_bar.unsqueeze(2));
  return out.reshape({b, h, padded, -1}).slice(2, 0, t);
}

torch::Tensor logsparse(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& valid_tokens, bool causal) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2);
  int64_t padded = 1, levels = 0;
  while (padded < t) {
    padded *= 2;
    ++levels;
  }
  const auto qp = pad_tokens(q, padded), kp = pad_tokens(k, padded), vp = pad_tokens(v, padded);
  const auto valid = pad_valid(valid_tokens, padded);  // [B, Tp]
  const auto index_options = valid.options().dtype(torch::kLong);
  const auto i = torch::arange(padded, index_options);
  const auto mirrored = padded - 1 - i;
  std::vector<torch::Tensor> logits = {(qp * kp).sum(-1)};  // Ω⁰ = {i}
  std::vector<torch::Tensor> allowed = {valid.unsqueeze(1)};
  std::vector<std::pair<torch::Tensor, torch::Tensor>> sources;  // (v̄ of a level, block index)
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t size = int64_t{1} << level, blocks = padded / size;
    const auto view = [&](const torch::Tensor& x) {
      return x.view({b, h, blocks, size, x.size(3)});
    };
    const auto summary = summarise(view(qp), view(kp), view(vp), valid.view({b, blocks, size}),
                                   RegionShape::kWholeGroup);
    const auto k_bar = summary.keys.squeeze(3), v_bar = summary.values.squeeze(3);
    const auto region_valid = summary.valid.squeeze(2);  // [B, blocks]
    // The block of this level in the dyadic tiling of [0, i): present iff bit `level` of i.
    std::vector<std::pair<torch::Tensor, torch::Tensor>> sides;
    sides.emplace_back(torch::bitwise_and(i.bitwise_right_shift(level), 1).to(torch::kBool),
                       i.bitwise_right_shift(level + 1) * 2);
    if (!causal) {  // mirrored: the tiling of (i, Tp)
      sides.emplace_back(
          torch::bitwise_and(mirrored.bitwise_right_shift(level), 1).to(torch::kBool),
          blocks - 1 - mirrored.bitwise_right_shift(level + 1) * 2);
    }
    for (const auto& [present, block] : sides) {
      const auto safe = block.clamp(0, blocks - 1);
      logits.push_back((qp * k_bar.index_select(2, safe)).sum(-1));
      allowed.push_back((present.unsqueeze(0) & region_valid.index_select(1, safe)).unsqueeze(1));
      sources.emplace_back(v_bar, safe);
    }
  }
  const auto weights = masked_softmax(torch::stack(logits, -1), torch::stack(allowed, -1));
  auto out = weights.select(-1, 0).unsqueeze(-1) * vp;
  for (size_t s = 0; s < sources.size(); ++s) {
    out = out + weights.select(-1, static_cast<int64_t>(s) + 1).unsqueeze(-1) *
                    sources[s].first.index_select(2, sources[s].second);
  }
  return out.slice(2, 0, t);
}

torch::Tensor axial(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                    const torch::Tensor& valid_tokens, bool causal, int64_t rows, int64_t cols,
                    bool vertical) {
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2);
  const int64_t padded = rows * cols;
  const auto view = [&](const torch::Tensor& x) {
    return pad_tokens(x, padded).view({b, h, rows, cols, x.size(3)});
  };
  const auto qr = view(q), kr = view(k), vr = view(v);  // row layout [B, H, n, m, ·]
  const auto qc = qr.transpose(2, 3), kc = kr.transpose(2, 3), vc = vr.transpose(2, 3);
  const auto valid = pad_valid(valid_tokens, padded).view({b, rows, cols});
  const auto valid_c = valid.transpose(1, 2);
  const auto bool_options = valid.options();
  // Ω⁰: own row (causal: columns ≤ c) and own column (other rows; causal: rows above).
  auto row_allowed = valid.unsqueeze(1).unsqueeze(3);  // [B, 1, n, 1, m(c')]
  if (causal) row_allowed = row_allowed & torch::ones({cols, cols}, bool_options).tril();
  const auto above =
      causal ? torch::ones({rows, rows}, bool_options).tril(-1) : ~torch::eye(rows, bool_options);
  const auto col_allowed = valid_c.unsqueeze(1).unsqueeze(3) & above;  // [B, 1, m, n(r), n(r')]
  const auto row_logits = torch::matmul(qr, kr.transpose(-1, -2));     // [B, H, n, m, m]
  const auto col_logits = torch::matmul(qc, kc.transpose(-1, -2));     // [B, H, m, n, n]

  torch::Tensor summary_logits, summary_allowed, summary_values;  // token layout where possible
  if (vertical) {
    // Regions: other columns, rows above (causal) or rows ≠ row(i).
    const auto s = summarise(qc, kc, vc, valid_c,
                             causal ? RegionShape::kStrictPrefix : RegionShape::kExcludeSelf);
    const auto k_bar = s.keys.transpose(2, 3);                    // [B, H, n(r), m(c'), D]
    summary_values = s.values.transpose(2, 3);                    // [B, H, n(r), m(c'), Dv]
    summary_logits = torch::matmul(qr, k_bar.transpose(-1, -2));  // [B, H, n, m(c), m(c')]
    summary_allowed = s.valid.transpose(1, 2).unsqueeze(1).unsqueeze(3) &
                      ~torch::eye(cols, bool_options);  // [B, 1, n, m(c), m(c')]
  } else {
    // Regions: other rows (causal: above) without column(i).
    const auto s = summarise(qr, kr, vr, valid, RegionShape::kExcludeSelf);
    const auto k_bar = s.keys.transpose(2, 3);                         // [B, H, m(c), n(r'), D]
    summary_values = s.values.transpose(2, 3);                         // [B, H, m(c), n(r'), Dv]
    const auto logits_c = torch::matmul(qc, k_bar.transpose(-1, -2));  // [B, H, m, n(r), n(r')]
    const auto allowed_c = s.valid.transpose(1, 2).unsqueeze(1).unsqueeze(3) & above;
    summary_logits = logits_c.transpose(2, 3);  // [B, H, n, m, n(r')]
    summary_allowed = allowed_c.transpose(2, 3);
  }
  const auto weights = masked_softmax(
      torch::cat({row_logits, col_logits.transpose(2, 3), summary_logits}, -1),
      torch::cat({row_allowed.expand({b, 1, rows, cols, cols}),
                  col_allowed.expand({b, 1, cols, rows, rows}).transpose(2, 3),
                  summary_allowed.expand({b, 1, rows, cols, summary_logits.size(-1)})},
                 -1));
  const auto w_row = weights.slice(-1, 0, cols);
  const auto w_col = weights.slice(-1, cols, cols + rows);
  const auto w_summary = weights.slice(-1, cols + rows);
  auto out = torch::matmul(w_row, vr) + torch::matmul(w_col.transpose(2, 3), vc).transpose(2, 3);
  if (vertical) {
    out = out + torch::matmul(w_summary, summary_values);
  } else {
    out = out + torch::matmul(w_summary.transpose(2, 3), summary_values).transpose(2, 3);
  }
  return out.reshape({b, h, padded, -1}).slice(2, 0, t);
}

}  // namespace

torch::Tensor combiner_attention(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const CombinerFuncOptions& options) {
  ShapeChecker check("combiner_attention");
  check(q, "q", {"B", "H", "T", "D"});
  check(k, "k", {"B", "H", "T", "D"});
  check(v, "v", {"B", "H", "T", "*"});
  check.optional(options.key_padding_mask(), "key_padding_mask", {"B", "T"});
  check.floating(q, "q").same_dtype({{q, "q"}, {k, "k"}, {v, "v"}});
  check.same_device(
      {{q, "q"}, {k, "k"}, {v, "v"}, {options.key_padding_mask(), "key_padding_mask"}});
  const int64_t t = q.size(2);
  TOPO_CHECK_ARG(t >= 1, "combiner_attention", "q", "at least one token", shape_string(q));
  torch::Tensor valid;
  if (options.key_padding_mask().defined()) {
    check.dtype(options.key_padding_mask(), "key_padding_mask", torch::kBool);
    valid = ~options.key_padding_mask();
  } else {
    valid = torch::ones({q.size(0), t}, torch::dtype(torch::kBool).device(q.device()));
  }
  const auto qs = q / std::sqrt(static_cast<double>(q.size(3)));
  switch (options.variant()) {
    case CombinerVariant::kFixed: {
      const int64_t block =
          options.block_size() > 0
              ? options.block_size()
              : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(t))));
      TOPO_CHECK_ARG(options.block_size() >= 0, "combiner_attention", "block_size",
                     ">= 0 (0: ceil(sqrt(T)))", options.block_size());
      return fixed(qs, k, v, valid, options.causal(), block);
    }
    case CombinerVariant::kLogsparse:
      return logsparse(qs, k, v, valid, options.causal());
    default: {
      int64_t rows, cols;
      if (options.grid_shape().empty()) {
        cols = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(t))));
        rows = (t + cols - 1) / cols;
      } else {
        TOPO_CHECK_ARG(options.grid_shape().size() == 2 && options.grid_shape()[0] >= 1 &&
                           options.grid_shape()[1] >= 1 &&
                           options.grid_shape()[0] * options.grid_shape()[1] >= t,
                       "combiner_attention", "grid_shape",
                       c10::str("{rows, cols} with rows·cols >= T = ", t),
                       c10::str(c10::ArrayRef<int64_t>(options.grid_shape())));
        rows = options.grid_shape()[0];
        cols = options.grid_shape()[1];
      }
      const bool causal = options.causal();
      if (options.variant() == CombinerVariant::kAxialVertical) {
        return axial(qs, k, v, valid, causal, rows, cols, true);
      }
      if (options.variant() == CombinerVariant::kAxialHorizontal) {
        return axial(qs, k, v, valid, causal, rows, cols, false);
      }
      return 0.5 * (axial(qs, k, v, valid, causal, rows, cols, true) +
                    axial(qs, k, v, valid, causal, rows, cols, false));
    }
  }
}

CombinerAttentionImpl::CombinerAttentionImpl(const CombinerAttentionOptions& options_)
    : options(options_) {
  reset();
}

void CombinerAttentionImpl::reset() {
  TOPO_CHECK_ARG(options.num_heads() >= 1 && options.embed_dim() % options.num_heads() == 0,
                 "CombinerAttention", "embed_dim",
                 c10::str("a multiple of num_heads = ", options.num_heads()), options.embed_dim());
  qkv_proj = register_module(
      "qkv_proj",
      torch::nn::Linear(torch::nn::LinearOptions(options.embed_dim(), 3 * options.embed_dim())
                            .bias(options.bias())));
  out_proj = register_module(
      "out_proj",
      torch::nn::Linear(
          torch::nn::LinearOptions(options.embed_dim(), options.embed_dim()).bias(options.bias())));
}

torch::Tensor CombinerAttentionImpl::forward(const torch::Tensor& x,
                                             const torch::Tensor& key_padding_mask) {
  ShapeChecker check("CombinerAttention");
  check.bind("E", options.embed_dim(), "the module");
  check(x, "x", {"B", "T", "E"});
  const int64_t b = x.size(0), t = x.size(1), heads = options.num_heads();
  const auto qkv = qkv_proj(x).view({b, t, 3, heads, -1}).permute({2, 0, 3, 1, 4});
  const auto out = combiner_attention(qkv[0], qkv[1], qkv[2],
                                      CombinerFuncOptions()
                                          .variant(options.variant())
                                          .causal(options.causal())
                                          .key_padding_mask(key_padding_mask)
                                          .block_size(options.block_size())
                                          .grid_shape(options.grid_shape()));
  return out_proj(out.transpose(1, 2).reshape({b, t, options.embed_dim()}));
}

void CombinerAttentionImpl::pretty_print(std::ostream& stream) const {
  static const char* names[] = {"fixed", "logsparse", "axial_vertical", "axial_horizontal",
                                "axial_mixture"};
  stream << "topo::attention::CombinerAttention(embed_dim=" << options.embed_dim()
         << ", heads=" << options.num_heads()
         << ", variant=" << names[static_cast<int>(options.variant())]
         << ", causal=" << options.causal() << ")";
}

}  // namespace topo::attention
