// SPDX-License-Identifier: Apache-2.0
#include "models/molecular_transformer.h"

#include <torch/torch.h>

#include <memory>

#include "common/check.h"
#include "geometry/radius.h"
#include "graph/graph.h"

namespace topo::models {

MolecularTransformerImpl::MolecularTransformerImpl(const MolecularTransformerOptions& options_)
    : options(options_) {
  reset();
}

void MolecularTransformerImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.cutoff() > 0, "MolecularTransformer", "cutoff", "> 0", o.cutoff());
  auto specs = o.masks();
  for (auto& spec : specs) {
    if (spec.name == "local-rpe" && !spec.settings.contains("radius"))
      spec.settings.set("radius", o.cutoff());
  }
  const auto masks = model_masks(specs, "MolecularTransformer",
                                 {attention::MaskInput::kPositions, attention::MaskInput::kGraph},
                                 3, o.feature_map());
  const int64_t e = o.embed_dim();
  embedding = register_module("embedding", torch::nn::Embedding(o.max_atomic_number() + 1, e));
  atom_reference =
      register_module("atom_reference", torch::nn::Embedding(o.max_atomic_number() + 1, 1));
  torch::nn::init::zeros_(atom_reference->weight);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    blocks->push_back(TransformerBlock(TransformerBlockOptions(e, o.num_heads())
                                           .feature_map(o.feature_map())
                                           .num_features(o.num_features())
                                           .dropout(o.dropout())
                                           .layer_id(i)
                                           .masks(masks)));
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({e})));
  head = register_module("head", torch::nn::Sequential(torch::nn::Linear(e, e), torch::nn::SiLU(),
                                                       torch::nn::Linear(e, 1)));
}

torch::Tensor MolecularTransformerImpl::forward(const torch::Tensor& z, const torch::Tensor& pos,
                                                const torch::Tensor& key_padding_mask) {
  ShapeChecker check("MolecularTransformer");
  check(z, "z", {"B", "L"});
  check(pos, "pos", {"B", "L", 3});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "L"});
  check.dtype(z, "z", torch::kLong);
  const auto real =
      key_padding_mask.defined() ? ~key_padding_mask : torch::ones_like(z, torch::kBool);
  const auto atoms = z.masked_fill(~real, 0);
  if (atoms.numel() > 0) {
    const int64_t largest = atoms.max().item<int64_t>(),
                  smallest = z.masked_select(real).numel()
                                 ? z.masked_select(real).min().item<int64_t>()
                                 : 1;
    TOPO_CHECK_ARG(smallest >= 1 && largest <= options.max_atomic_number(), "MolecularTransformer",
                   "z", c10::str("atomic numbers in [1, ", options.max_atomic_number(), "]"),
                   c10::str("values in [", smallest, ", ", largest, "]"));
  }
  auto h = embedding(atoms);
  // One context per batch: the radius graph (and what graph masks derive from it) is built once
  // and shared by every block.
  attention::MaskContext context;
  context.batch_size = z.size(0);
  context.length = z.size(1);
  context.key_padding_mask = key_padding_mask;
  context.pos = pos;
  context.options = h.options();
  if (needs_graph(options.masks())) {
    // Graph masks put molecule b on its first n_b tokens: padding must trail.
    const auto counts = real.sum(1, true);
    TOPO_CHECK_ARG(real.equal(torch::arange(z.size(1), z.options()).unsqueeze(0) < counts),
                   "MolecularTransformer", "key_padding_mask",
                   "padding after each molecule's atoms (graph masks)", "padding between atoms");
    const auto batch = torch::repeat_interleave(counts.squeeze(1).cpu());
    const auto flat = pos.detach().cpu().reshape({-1, 3}).index_select(
        0, real.flatten().nonzero().squeeze(1).cpu());
    context.graph =
        std::make_shared<graph::Graph>(geometry::radius_graph(flat, options.cutoff(), batch),
                                       torch::Tensor(), flat.size(0), batch);
  }
  for (const auto& block : *blocks)
    h = block->as<TransformerBlock>()->forward(h, key_padding_mask, &context);
  const auto per_atom = head->forward(norm(h)).squeeze(-1) + atom_reference(atoms).squeeze(-1);
  return (per_atom * real.to(per_atom.scalar_type())).sum(1);
}

void MolecularTransformerImpl::set_atom_references(const torch::Tensor& references) {
  TOPO_CHECK_ARG(references.dim() == 1 && references.size(0) == options.max_atomic_number() + 1,
                 "MolecularTransformer::set_atom_references", "references",
                 c10::str("[", options.max_atomic_number() + 1, "]"), shape_string(references));
  torch::NoGradGuard guard;
  atom_reference->weight.copy_(references.view({-1, 1}));
}

torch::Tensor fit_atom_references(const std::vector<datasets::Sample>& molecules,
                                  int64_t max_atomic_number) {
  const int64_t n = static_cast<int64_t>(molecules.size());
  TOPO_CHECK_ARG(n > 0, "fit_atom_references", "molecules", "at least one molecule", "none");
  auto counts = torch::zeros({n, max_atomic_number + 1}, torch::kDouble);
  auto targets = torch::zeros({n, 1}, torch::kDouble);
  for (int64_t i = 0; i < n; ++i) {
    const auto& m = molecules[static_cast<size_t>(i)];
    TOPO_CHECK_ARG(m.z.numel() == 0 || m.z.max().item<int64_t>() <= max_atomic_number,
                   "fit_atom_references", "molecules",
                   c10::str("atomic numbers <= ", max_atomic_number),
                   c10::str("molecule ", i, " (", m.name, ") with ", m.z.max().item<int64_t>()));
    counts[i].index_add_(0, m.z, torch::ones({m.z.size(0)}, torch::kDouble));
    targets[i][0] = m.y[0];
  }
  return torch::matmul(torch::linalg_pinv(counts), targets).squeeze(1);
}

std::pair<torch::Tensor, torch::Tensor> MolecularTransformerImpl::energy_and_forces(
    const torch::Tensor& z, const torch::Tensor& pos, const torch::Tensor& key_padding_mask,
    bool create_graph) {
  torch::AutoGradMode enable(true);  // forces need gradients even under NoGradGuard
  const auto positions = pos.detach().requires_grad_(true);
  const auto energy = forward(z, positions, key_padding_mask);
  const auto gradient =
      torch::autograd::grad({energy.sum()}, {positions}, {}, /*retain_graph=*/create_graph,
                            /*create_graph=*/create_graph)[0];
  auto forces = -gradient;
  if (key_padding_mask.defined()) forces = forces.masked_fill(key_padding_mask.unsqueeze(-1), 0);
  return {create_graph ? energy : energy.detach(), create_graph ? forces : forces.detach()};
}

}  // namespace topo::models
