// SPDX-License-Identifier: Apache-2.0
/// \file
/// The mask interface of masked linear attention (Alg. 1 of Choromanski et al., "From
/// block-Toeplitz matrices to differential equations on graphs", ICML 2022): a mask is anything
/// that multiplies a [batch, heads, tokens, channels] tensor by M along the token axis fast.
///
/// A mask has two lives. Its learnable parameters belong to a persistent module (`MaskImpl`)
/// that registers them once, as LibTorch's `LinearImpl::reset()` does. Its structure (the
/// batch's length, padding, positions and graph, and what is derived from them: token
/// operators, rooted forests, random walks) belongs to one batch: `MaskImpl::build` turns a
/// `MaskContext` into a `MaskOperator` that holds views of the live parameters, so gradients
/// reach them. Derived structure is computed once per batch in the context's `StructureCache`
/// and shared by every layer.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace topo::graph {
class Graph;
}

namespace topo::attention {

/// How a mask enters attention.
enum class MaskSemantics {
  /// out ∝ Σ_j M_ij K(q_i, k_j) v_j with M given directly (any feature map).
  kMultiplicative,
  /// the mask is a bias B added to the softmax logits: softmax(q·k/√d + B_ij), i.e. the
  /// multiplicative mask M = exp(B) for the softmax kernel.
  kLogitAdditive,
};

/// "multiplicative" / "logit-additive", and back (throws naming the accepted values).
std::string to_string(MaskSemantics semantics);
MaskSemantics mask_semantics_from_string(const std::string& name);

/// Structure derived from one batch (token operators, forests, walks), computed on first use
/// and shared by every layer that builds a mask from the same context.
class StructureCache {
 public:
  /// The entry stored under `key`, made by `make` the first time.
  template <typename T>
  const T& get(const std::string& key, const std::function<T()>& make) {
    auto& entry = entries_[key];
    if (!entry) entry = std::make_shared<T>(make());
    return *std::static_pointer_cast<T>(entry);
  }
  /// Entries made so far (for tests: structure is built once per batch).
  size_t size() const { return entries_.size(); }
  /// Whether `key` has been made.
  bool contains(const std::string& key) const { return entries_.count(key) > 0; }

 private:
  std::unordered_map<std::string, std::shared_ptr<void>> entries_;
};

/// What a mask may be built from: one batch (or one stage of a hierarchical model) of
/// B elements padded to L tokens. Built once per batch by the model and shared by its layers.
struct MaskContext {
  int64_t batch_size = 0;
  int64_t length = 0;
  /// [B, L] bool, true = padding; undefined when nothing is padded.
  torch::Tensor key_padding_mask;
  /// [B, L, d] token positions (point clouds, atoms); undefined when the tokens have none.
  torch::Tensor pos;
  /// Periodic systems (crystals, liquids): element b's cell [B, 3, 3] (rows = lattice vectors,
  /// as in ASE) and periodic axes `pbc` [B, 3] bool; undefined for open systems. Position masks
  /// then see every periodic image (geometry/periodic.h); those that cannot refuse the context.
  torch::Tensor cell;
  torch::Tensor pbc;
  /// The batch's graph(s): graph b on the first n_b tokens of element b (PyG's `batch`
  /// layout); null when the tokens have none.
  std::shared_ptr<const graph::Graph> graph;
  /// Dtype and device of the activations the operators will multiply.
  torch::TensorOptions options = torch::TensorOptions().dtype(torch::kFloat32);
  std::shared_ptr<StructureCache> cache = std::make_shared<StructureCache>();
};

/// The product by M for one batch. Owns no parameters: it holds views of its module's.
class MaskOperator {
 public:
  virtual ~MaskOperator() = default;

  /// Y = M·X along the token axis: `x` [B, H, S, C] (S keys) → [B, H, L, C] (L queries).
  /// Differentiable in `x` and in the mask's parameters. Never forms M.
  virtual torch::Tensor apply(const torch::Tensor& x) const = 0;

  /// The dense M, [B or 1, H or 1, L, S], for tests and tiny inputs.
  virtual torch::Tensor dense(const torch::TensorOptions& options) const = 0;

  /// True when M_ij = 0 for every j > i (the feature map then uses the causal key stabiliser).
  virtual bool is_causal() const { return false; }

  /// A cheaper exact algorithm for the whole masked attention than Alg. 1 (e.g. the causal
  /// scan), or nullopt. Same arguments and result as masked_linear_attention.
  virtual std::optional<torch::Tensor> attend(const torch::Tensor& phi_q,
                                              const torch::Tensor& phi_k, const torch::Tensor& v,
                                              const torch::Tensor& key_padding_mask) const {
    (void)phi_q, (void)phi_k, (void)v, (void)key_padding_mask;
    return std::nullopt;
  }

  /// Low-rank masks M = Φ_Q Φ_Kᵀ can be folded into the features by the row-wise Kronecker
  /// product (so another mask can be applied on top): returns the folded (φ(Q), φ(K)), or
  /// nullopt for masks that cannot.
  virtual std::optional<std::pair<torch::Tensor, torch::Tensor>> fold_into_features(
      const torch::Tensor& phi_q, const torch::Tensor& phi_k) const {
    (void)phi_q, (void)phi_k;
    return std::nullopt;
  }

  /// Logit-additive low-rank masks act on queries and keys before the feature map (FLT's
  /// concatenated form): q [B, H, L, D], k [B, H, S, D] → widened inputs. Identity otherwise.
  virtual std::pair<torch::Tensor, torch::Tensor> transform_inputs(const torch::Tensor& q,
                                                                   const torch::Tensor& k) const {
    return {q, k};
  }
};

/// The persistent part of a mask: a module that registers its learnable parameters once and
/// builds one operator per batch.
class MaskImpl : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  /// The operator over `context`'s batch. Throws naming the mask when the context lacks what
  /// the mask needs (positions, a graph) or has the wrong size.
  virtual std::shared_ptr<const MaskOperator> build(const MaskContext& context) = 0;

  /// Extra query/key input dimensions the mask's `transform_inputs` appends (logit-additive
  /// low-rank masks); the feature map then sees head_dim + this many inputs, already scaled.
  virtual int64_t extra_input_dims() const { return 0; }

  /// Low-rank masks (FLT) fold into the features, so they combine with any other mask; of the
  /// others, an attention layer can apply one.
  virtual bool low_rank() const { return false; }

  /// Masks given edge by edge (build() returns a SparseMaskOperator: adjacency, local-rpe); the
  /// softmax-exact feature map exponentiates along their edges and needs one.
  virtual bool sparse() const { return false; }
};

/// Checks `context` against what a mask needs: throws naming `mask` and the missing input, or
/// the periodic cell when a position mask is not `periodic` (it would ignore the images).
void check_context(const MaskContext& context, const char* mask, bool needs_pos, bool needs_graph,
                   bool periodic = false);

}  // namespace topo::attention
