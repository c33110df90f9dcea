// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/tree_function_mask.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <vector>

#include "attention/masks/mask.h"
#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/algorithms.h"
#include "graph/sparse_matmul.h"

namespace topo::attention {
namespace {

/// Pieces up to this padded length use a dense Hankel product instead of an FFT.
constexpr int64_t kDirectHankelLength = 32;

struct Piece {
  std::vector<int64_t> nodes, depths;
  int64_t sign;
};

/// Centroid decomposition of the forest: one +1 piece per centroid (its component, depths from
/// the centroid) and one −1 piece per child subtree of the centroid (same depths).
std::vector<Piece> decompose(const graph::RootedForest& forest,
                             const std::vector<int64_t>& weight) {
  const int64_t n = forest.num_nodes();
  const auto* parent = forest.parent.data_ptr<int64_t>();
  std::vector<std::vector<std::pair<int64_t, int64_t>>> adjacency(n);
  for (int64_t v = 0; v < n; ++v) {
    if (parent[v] >= 0) {
      adjacency[v].emplace_back(parent[v], weight[v]);
      adjacency[parent[v]].emplace_back(v, weight[v]);
    }
  }
  std::vector<char> removed(n, 0);
  std::vector<int64_t> size(n, 0), from(n, -1), queue;
  std::vector<Piece> pieces;
  // Nodes of the component of `start` (BFS order), with BFS parents in `from`.
  const auto component = [&](int64_t start) {
    queue.clear();
    queue.push_back(start);
    from[start] = -1;
    for (size_t head = 0; head < queue.size(); ++head) {
      const int64_t u = queue[head];
      for (const auto& [v, w] : adjacency[u]) {
        if (!removed[v] && v != from[u]) {
          from[v] = u;
          queue.push_back(v);
        }
      }
    }
    return queue;
  };
  std::vector<int64_t> pending;
  for (int64_t v = 0; v < n; ++v) {
    if (forest.parent.data_ptr<int64_t>()[v] < 0) pending.push_back(v);
  }
  while (!pending.empty()) {
    const int64_t start = pending.back();
    pending.pop_back();
    const auto nodes = component(start);
    const int64_t total = static_cast<int64_t>(nodes.size());
    // Subtree sizes in BFS order reversed; the centroid has no part larger than total/2.
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      size[*it] = 1;
      for (const auto& [v, w] : adjacency[*it]) {
        if (!removed[v] && v != from[*it]) size[*it] += size[v];
      }
    }
    int64_t centroid = start;
    for (const int64_t u : nodes) {
      int64_t largest = total - size[u];
      for (const auto& [v, w] : adjacency[u]) {
        if (!removed[v] && v != from[u]) largest = std::max(largest, size[v]);
      }
      if (2 * largest <= total) {
        centroid = u;
        break;
      }
    }
    // Depths from the centroid; each child subtree collected separately.
    Piece whole{{centroid}, {0}, +1};
    removed[centroid] = 1;
    for (const auto& [child, w0] : adjacency[centroid]) {
      if (removed[child]) continue;
      Piece sub{{}, {}, -1};
      std::vector<std::pair<int64_t, int64_t>> stack = {{child, w0}};
      from[child] = centroid;
      while (!stack.empty()) {
        const auto [u, d] = stack.back();
        stack.pop_back();
        sub.nodes.push_back(u);
        sub.depths.push_back(d);
        for (const auto& [v, w] : adjacency[u]) {
          if (!removed[v] && v != from[u]) {
            from[v] = u;
            stack.emplace_back(v, d + w);
          }
        }
      }
      whole.nodes.insert(whole.nodes.end(), sub.nodes.begin(), sub.nodes.end());
      whole.depths.insert(whole.depths.end(), sub.depths.begin(), sub.depths.end());
      pieces.push_back(std::move(sub));
      pending.push_back(child);
    }
    pieces.push_back(std::move(whole));
  }
  return pieces;
}

torch::Tensor to_tensor(const std::vector<int64_t>& values) {
  return torch::tensor(values, torch::kLong);
}

/// The centroid decomposition of one forest, grouped by padded piece length (a power of two)
/// for batched FFTs.
struct TreeFunctionStructure {
  struct Bucket {
    int64_t piece_length = 0, num_pieces = 0;
    torch::Tensor gather;   ///< [2, M] (slot, token): slot = piece·piece_length + depth
    torch::Tensor scatter;  ///< [2, M] (token, slot)
    torch::Tensor sign;     ///< [M] +1 (component) or −1 (child subtree)
  };
  std::vector<Bucket> buckets;
  graph::RootedForest forest;  ///< kept for dense()
};

TreeFunctionStructure decompose_forest(const graph::RootedForest& forest) {
  const char* fn = "TreeFunctionMask";
  TreeFunctionStructure structure;
  structure.forest = forest;
  auto& buckets = structure.buckets;
  const int64_t n = forest.num_nodes();
  std::vector<int64_t> weight(n, 0);
  const auto* pw = forest.parent_weight.data_ptr<double>();
  const auto* parent = forest.parent.data_ptr<int64_t>();
  for (int64_t v = 0; v < n; ++v) {
    if (parent[v] < 0) continue;
    TOPO_CHECK_ARG(pw[v] >= 1 && std::floor(pw[v]) == pw[v], fn, "forest",
                   "positive integer edge weights (integer distances)",
                   c10::str(pw[v], " on the edge above node ", v));
    weight[v] = static_cast<int64_t>(pw[v]);
  }
  // Group pieces by padded length so every group is one batched FFT.
  std::map<int64_t, std::vector<Piece>> groups;
  for (auto& piece : decompose(forest, weight)) {
    int64_t deepest = 0;
    for (const int64_t d : piece.depths) deepest = std::max(deepest, d);
    int64_t padded = 1;
    while (padded < deepest + 1) padded *= 2;
    groups[padded].push_back(std::move(piece));
  }
  for (auto& [padded, pieces] : groups) {
    std::vector<int64_t> node, slot, sign;
    for (size_t p = 0; p < pieces.size(); ++p) {
      for (size_t i = 0; i < pieces[p].nodes.size(); ++i) {
        node.push_back(pieces[p].nodes[i]);
        slot.push_back(static_cast<int64_t>(p) * padded + pieces[p].depths[i]);
        sign.push_back(pieces[p].sign);
      }
    }
    const auto node_t = to_tensor(node), slot_t = to_tensor(slot);
    buckets.push_back({padded, static_cast<int64_t>(pieces.size()), torch::stack({slot_t, node_t}),
                       torch::stack({node_t, slot_t}), to_tensor(sign)});
  }
  return structure;
}

class TreeFunctionOperator : public MaskOperator {
 public:
  TreeFunctionOperator(std::shared_ptr<const TreeFunctionStructure> structure, torch::Tensor values,
                       int64_t batch_size, int64_t length)
      : structure_(std::move(structure)),
        values_(std::move(values)),
        batch_size_(batch_size),
        length_(length) {}

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("TreeFunctionMask::apply");
    check.bind("B", batch_size_, "the mask")
        .bind("L", length_, "the mask")
        .bind("H", values_.size(0), "the mask");
    check(x, "x", {"B", "H", "L", "C"});
    const int64_t heads = x.size(1), channels = x.size(3), n = batch_size_ * length_;
    const auto nodes = detail::tokens_to_nodes(x);
    const auto f = values_.to(x.scalar_type());  // [H, D + 1]
    auto out = torch::zeros_like(nodes);
    for (const auto& bucket : structure_->buckets) {
      const int64_t p = bucket.piece_length, fft = 2 * p;
      // Depth buckets X [H, pieces, p, C] and the scatter back are sparse products (one entry
      // per (piece, member)), so no [H, members, C] intermediate is formed.
      const auto gather = bucket.gather.to(x.device()), scatter = bucket.scatter.to(x.device());
      const auto ones = torch::ones({1, gather.size(1)}, x.options());
      const auto buckets_x = graph::sparse_matmul(gather, ones, nodes, bucket.num_pieces * p)
                                 .view({heads, bucket.num_pieces, p, channels});
      // F[k] = f(k) for k < 2p (zero beyond the table): Y[t] = Σ_s F[s + t] X[s].
      const int64_t available = std::min<int64_t>(fft, f.size(1));
      const auto kernel = torch::constant_pad_nd(f.narrow(1, 0, available), {0, fft - available});
      torch::Tensor y;
      if (p <= kDirectHankelLength) {
        // Short pieces: the p×p Hankel matrix times X is one batched GEMM.
        const auto index =
            (torch::arange(p, torch::kLong).unsqueeze(1) + torch::arange(p, torch::kLong))
                .flatten();
        const auto hankel = kernel.index_select(1, index.to(x.device())).view({heads, 1, p, p});
        y = torch::matmul(hankel, buckets_x);
      } else {
        // Long pieces: correlation by FFT along a contiguous last axis.
        const auto xt = buckets_x.transpose(2, 3).contiguous();  // [H, P, C, p]
        const auto spectrum = torch::fft::rfft(kernel, fft, -1).view({heads, 1, 1, -1}) *
                              torch::conj(torch::fft::rfft(xt, fft, -1));
        y = torch::fft::irfft(spectrum, fft, -1).narrow(-1, 0, p).transpose(2, 3);
      }
      y = y.reshape({heads, bucket.num_pieces * p, channels});
      const auto sign = bucket.sign.to(x.device(), x.scalar_type()).unsqueeze(0);
      out = out + graph::sparse_matmul(scatter, sign, y, n);
    }
    return detail::nodes_to_tokens(out, batch_size_, length_);
  }

  torch::Tensor dense(const torch::TensorOptions& options) const override {
    auto distances = graph::forest_distances(structure_->forest);  // the O(N²) oracle path
    distances = torch::where(torch::isinf(distances), torch::full_like(distances, -1), distances)
                    .to(torch::kLong);
    const auto f = values_.detach().to(torch::kDouble).cpu();
    const int64_t far = f.size(1);
    const auto f_extended = torch::cat({f, torch::zeros({f.size(0), 1}, torch::kDouble)}, 1);
    const auto index = torch::where((distances < 0) | (distances >= far),
                                    torch::full_like(distances, far), distances);
    const auto m = f_extended.index_select(1, index.flatten())
                       .view({f.size(0), distances.size(0), distances.size(1)});
    return detail::diagonal_blocks(m, batch_size_, length_).to(options);
  }

 private:
  std::shared_ptr<const TreeFunctionStructure> structure_;
  torch::Tensor values_;
  int64_t batch_size_, length_;
};

void check_forest_size(const graph::RootedForest& forest, int64_t batch_size, int64_t length) {
  TOPO_CHECK_ARG(forest.num_nodes() == batch_size * length, "TreeFunctionMask", "forest",
                 c10::str("a forest over batch_size·length = ", batch_size * length, " tokens"),
                 c10::str(forest.num_nodes(), " nodes"));
}

}  // namespace

TreeFunctionMaskImpl::TreeFunctionMaskImpl(const TreeFunctionMaskOptions& options_)
    : options(options_) {
  const char* fn = "TreeFunctionMask";
  TOPO_CHECK_ARG(options.num_heads() >= 1, fn, "num_heads", ">= 1", options.num_heads());
  TOPO_CHECK_ARG(options.max_distance() >= 0, fn, "max_distance", ">= 0", options.max_distance());
  const auto initial = -0.5 * torch::arange(options.max_distance() + 1, torch::kFloat);
  table = register_parameter(
      "table", (options.semantics() == MaskSemantics::kLogitAdditive ? initial : initial.exp())
                   .unsqueeze(0)
                   .repeat({options.num_heads(), 1}));
}

torch::Tensor TreeFunctionMaskImpl::values() {
  return options.semantics() == MaskSemantics::kLogitAdditive ? table.exp() : table;
}

std::shared_ptr<const MaskOperator> TreeFunctionMaskImpl::build(const MaskContext& context) {
  const auto& g = detail::context_graph(context, "TreeFunctionMask");
  const auto& structure = context.cache->get<std::shared_ptr<const TreeFunctionStructure>>(
      "tree_function/minimum_spanning_forest", [&] {
        const auto edges = graph::minimum_spanning_tree(g).first;
        const auto forest = graph::root_forest_on_tokens(
            g, edges, torch::ones({edges.size(1)}, torch::kDouble), context.length);
        return std::make_shared<const TreeFunctionStructure>(decompose_forest(forest));
      });
  return std::make_shared<TreeFunctionOperator>(structure, values(), context.batch_size,
                                                context.length);
}

std::shared_ptr<const MaskOperator> tree_function_operator(const graph::RootedForest& forest,
                                                           torch::Tensor values, int64_t batch_size,
                                                           int64_t length) {
  check_forest_size(forest, batch_size, length);
  TOPO_CHECK_ARG(values.dim() == 2, "TreeFunctionMask", "values", "[H, D + 1]",
                 shape_string(values));
  return std::make_shared<TreeFunctionOperator>(
      std::make_shared<const TreeFunctionStructure>(decompose_forest(forest)), std::move(values),
      batch_size, length);
}

void TreeFunctionMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::TreeFunctionMask(heads=" << options.num_heads()
         << ", max_distance=" << options.max_distance() << ")";
}

}  // namespace topo::attention
