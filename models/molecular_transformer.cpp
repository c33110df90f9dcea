// SPDX-License-Identifier: Apache-2.0
#include "models/molecular_transformer.h"

#include <torch/torch.h>

#include <optional>

#include "attention/masks/sparse_mask.h"
#include "common/check.h"
#include "geometry/radius.h"
#include "graph/graph.h"

namespace topo::models {

MolecularTransformerImpl::MolecularTransformerImpl(const MolecularTransformerOptions& options_) : options(options_) {
  reset();
}

void MolecularTransformerImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.cutoff() > 0, "MolecularTransformer", "cutoff", "> 0", o.cutoff());
  TOPO_CHECK_ARG(!(o.local_rpe() && o.graph_mask() != GraphMaskKind::kNone), "MolecularTransformer", "graph_mask",
                 "kNone while local_rpe is on (one mask over the radius graph)", "a graph mask");
  TOPO_CHECK_ARG(o.flt_features() >= 0, "MolecularTransformer", "flt_features", ">= 0", o.flt_features());
  const int64_t e = o.embed_dim();
  embedding = register_module("embedding", torch::nn::Embedding(o.max_atomic_number() + 1, e));
  atom_reference = register_module("atom_reference", torch::nn::Embedding(o.max_atomic_number() + 1, 1));
  torch::nn::init::zeros_(atom_reference->weight);
  blocks = register_module("blocks", torch::nn::ModuleList());
  rpes = register_module("rpes", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    blocks->push_back(TransformerBlock(TransformerBlockOptions(e, o.num_heads())
                                           .feature_map(o.feature_map())
                                           .num_features(o.num_features())
                                           .dropout(o.dropout())
                                           .layer_id(i)
                                           .rpe_dim(o.flt_features() > 0 ? 3 : 0)
                                           .rpe_features(std::max<int64_t>(o.flt_features(), 1))
                                           .rpe_length_scale(o.flt_length_scale())));
    if (o.local_rpe()) {
      rpes->push_back(geometry::LocalRPE(
          geometry::LocalRPEOptions(o.num_heads(), o.cutoff()).num_bins(o.rpe_bins()).smooth_cutoff(true)));
    }
  }
  graph_mask_parameters = register_graph_mask_parameters(*this, o.graph_mask(), {o.num_heads()}, o.num_layers());
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({e})));
  head = register_module("head", torch::nn::Sequential(torch::nn::Linear(e, e), torch::nn::SiLU(), torch::nn::Linear(e, 1)));
}

torch::Tensor MolecularTransformerImpl::forward(const torch::Tensor& z, const torch::Tensor& pos,
                                                const torch::Tensor& key_padding_mask) {
  ShapeChecker check("MolecularTransformer");
  check(z, "z", {"B", "L"});
  check(pos, "pos", {"B", "L", 3});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "L"});
  check.dtype(z, "z", torch::kLong);
  const auto real = key_padding_mask.defined() ? ~key_padding_mask : torch::ones_like(z, torch::kBool);
  const auto atoms = z.masked_fill(~real, 0);
  if (atoms.numel() > 0) {
    const int64_t largest = atoms.max().item<int64_t>(), smallest = z.masked_select(real).numel() ? z.masked_select(real).min().item<int64_t>() : 1;
    TOPO_CHECK_ARG(smallest >= 1 && largest <= options.max_atomic_number(), "MolecularTransformer", "z",
                   c10::str("atomic numbers in [1, ", options.max_atomic_number(), "]"),
                   c10::str("values in [", smallest, ", ", largest, "]"));
  }
  auto h = embedding(atoms);
  std::optional<graph::Graph> radius_graph;
  if (options.graph_mask() != GraphMaskKind::kNone) {
    // Graph masks put molecule b on its first n_b tokens: padding must trail.
    const auto counts = real.sum(1, true);
    TOPO_CHECK_ARG(real.equal(torch::arange(z.size(1), z.options()).unsqueeze(0) < counts), "MolecularTransformer",
                   "key_padding_mask", "padding after each molecule's atoms (graph masks)", "padding between atoms");
    const auto batch = torch::repeat_interleave(counts.squeeze(1).cpu());
    const auto flat = pos.detach().cpu().reshape({-1, 3}).index_select(0, real.flatten().nonzero().squeeze(1).cpu());
    radius_graph.emplace(geometry::radius_graph(flat, options.cutoff(), batch), torch::Tensor(), flat.size(0), batch);
  }
  for (size_t i = 0; i < blocks->size(); ++i) {
    std::shared_ptr<attention::Mask> mask;
    if (options.local_rpe()) {
      const auto local = rpes[i]->as<geometry::LocalRPE>()->forward(pos, key_padding_mask);
      mask = std::make_shared<attention::SparseMaskImpl>(local.edge_index, local.values, local.batch_size, local.length);
    } else if (radius_graph) {
      mask = make_graph_mask(options.graph_mask(), GraphMaskSettings{options.num_heads()}, *radius_graph, z.size(1),
                             graph_mask_parameters[i], pos.device(),
                             pos.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
    }
    h = blocks[i]->as<TransformerBlock>()->forward(h, key_padding_mask, options.flt_features() > 0 ? pos : torch::Tensor(),
                                                   mask.get());
  }
  const auto per_atom = head->forward(norm(h)).squeeze(-1) + atom_reference(atoms).squeeze(-1);
  return (per_atom * real.to(per_atom.scalar_type())).sum(1);
}

std::pair<torch::Tensor, torch::Tensor> MolecularTransformerImpl::energy_and_forces(const torch::Tensor& z,
                                                                                    const torch::Tensor& pos,
                                                                                    const torch::Tensor& key_padding_mask,
                                                                                    bool create_graph) {
  torch::AutoGradMode enable(true);  // forces need gradients even under NoGradGuard
  const auto positions = pos.detach().requires_grad_(true);
  const auto energy = forward(z, positions, key_padding_mask);
  const auto gradient = torch::autograd::grad({energy.sum()}, {positions}, {}, /*retain_graph=*/create_graph,
                                              /*create_graph=*/create_graph)[0];
  auto forces = -gradient;
  if (key_padding_mask.defined()) forces = forces.masked_fill(key_padding_mask.unsqueeze(-1), 0);
  return {create_graph ? energy : energy.detach(), create_graph ? forces : forces.detach()};
}

}  // namespace topo::models
