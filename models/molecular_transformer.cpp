// SPDX-License-Identifier: Apache-2.0
#include "models/molecular_transformer.h"

#include <torch/torch.h>

#include <cmath>
#include <memory>

#include "common/check.h"
#include "geometry/periodic.h"
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
  TOPO_CHECK_ARG(o.density_channels() >= 0, "MolecularTransformer", "density_channels", ">= 0",
                 o.density_channels());
  if (o.density_channels() > 0) {
    const int64_t k = o.density_channels(), bins = std::max<int64_t>(8, 2 * k);
    density = register_module(
        "density",
        geometry::LocalRPE(
            geometry::LocalRPEOptions(k, o.cutoff()).num_bins(bins).smooth_cutoff(true)));
    // Gaussians of width cutoff/k centred at cutoff·(c + ½)/k: distinct radial channels (equal
    // starting profiles would get equal gradients and stay equal).
    torch::NoGradGuard guard;
    const auto knots = torch::linspace(0, o.cutoff(), bins + 1).unsqueeze(0);
    const auto centres = (torch::arange(k) + 0.5).unsqueeze(1) * (o.cutoff() / double(k));
    const double width = o.cutoff() / double(k);
    density->log_profile.copy_((-0.5 * ((knots - centres) / width).pow(2)).clamp_min(-8.0));
    density_projection = register_module("density_projection", torch::nn::Linear(k, e));
  }
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
  if (options.readout() == Readout::kAttention) {
    pool = register_module("pool", torch::nn::Linear(e, 1));
    // Uniform weights at the start: the mean, which the references are fitted for.
    torch::NoGradGuard no_grad;
    pool->weight.zero_();
    pool->bias.zero_();
  }
}

torch::Tensor MolecularTransformerImpl::forward(const torch::Tensor& z, const torch::Tensor& pos,
                                                const torch::Tensor& key_padding_mask,
                                                const torch::Tensor& cell,
                                                const torch::Tensor& pbc) {
  return atom_energies(z, pos, key_padding_mask, cell, pbc).sum(1);
}

torch::Tensor MolecularTransformerImpl::atom_energies(const torch::Tensor& z,
                                                      const torch::Tensor& pos,
                                                      const torch::Tensor& key_padding_mask,
                                                      const torch::Tensor& cell,
                                                      const torch::Tensor& pbc) {
  ShapeChecker check("MolecularTransformer");
  check(z, "z", {"B", "L"});
  check(pos, "pos", {"B", "L", 3});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "L"});
  check.optional(cell, "cell", {"B", 3, 3});
  check.optional(pbc, "pbc", {"B", 3});
  check.dtype(z, "z", torch::kLong);
  TOPO_CHECK_ARG(!pbc.defined() || (cell.defined() && pbc.scalar_type() == torch::kBool),
                 "MolecularTransformer", "pbc", "a bool tensor [B, 3] next to `cell`",
                 cell.defined() ? c10::toString(pbc.scalar_type()) : "pbc without a cell");
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
  if (cell.defined()) {
    context.cell = cell.to(pos.scalar_type());
    context.pbc = pbc.defined() ? pbc : torch::ones({z.size(0), 3}, torch::kBool);
  }
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
    torch::Tensor edges;
    if (cell.defined()) {
      // Atoms joined through any periodic image, each pair once (graph masks see connectivity,
      // not the images); an atom's own images are no edge.
      const auto periodic =
          geometry::periodic_radius_graph(flat, options.cutoff(), context.cell, context.pbc, batch);
      const auto pairs = periodic.edge_index.select(0, 0) * flat.size(0) + periodic.edge_index[1];
      const auto unique = std::get<0>(
          torch::_unique(pairs.masked_select(periodic.edge_index[0] != periodic.edge_index[1])));
      edges = torch::stack({unique.div(flat.size(0), "floor"), unique.remainder(flat.size(0))});
    } else {
      edges = geometry::radius_graph(flat, options.cutoff(), batch);
    }
    context.graph = std::make_shared<graph::Graph>(edges, torch::Tensor(), flat.size(0), batch);
  }
  if (density) {
    const auto local = density(pos, key_padding_mask, context.cell, context.pbc);
    const auto rho = torch::zeros({local.values.size(0), z.numel()}, local.values.options())
                         .index_add(1, local.edge_index[0], local.values);
    h = h + density_projection(torch::log1p(rho).t().reshape({z.size(0), z.size(1), -1}))
                .to(h.scalar_type());
  }
  for (const auto& block : *blocks)
    h = block->as<TransformerBlock>()->forward(h, key_padding_mask, &context);
  const auto features = norm(h);
  const auto per_atom = head->forward(features).squeeze(-1) + atom_reference(atoms).squeeze(-1);
  const auto weight = real.to(per_atom.scalar_type());
  switch (options.readout()) {
    case Readout::kSum:
      return per_atom * weight;
    case Readout::kMean:
      return per_atom * weight / weight.sum(1, true).clamp_min(1);
    case Readout::kAttention: {
      // Softmax over each molecule's atoms; an element without atoms gets weights 0 (not NaN).
      const auto logits = pool(features).squeeze(-1).masked_fill(~real, -INFINITY);
      const auto w = torch::softmax(logits, 1).masked_fill(~real.any(1, true), 0.0);
      return per_atom * w;
    }
  }
  TOPO_INTERNAL_ASSERT(false, "unhandled Readout");
  return {};
}

void MolecularTransformerImpl::set_atom_references(const torch::Tensor& references) {
  TOPO_CHECK_ARG(references.dim() == 1 && references.size(0) == options.max_atomic_number() + 1,
                 "MolecularTransformer::set_atom_references", "references",
                 c10::str("[", options.max_atomic_number() + 1, "]"), shape_string(references));
  torch::NoGradGuard guard;
  atom_reference->weight.copy_(references.view({-1, 1}));
}

std::string to_string(Readout readout) {
  switch (readout) {
    case Readout::kSum:
      return "sum";
    case Readout::kMean:
      return "mean";
    case Readout::kAttention:
      return "attention";
  }
  return "?";
}

Readout readout_from_string(const std::string& name) {
  for (auto r : {Readout::kSum, Readout::kMean, Readout::kAttention}) {
    if (to_string(r) == name) return r;
  }
  TOPO_CHECK_ARG(false, "readout_from_string", "name", "\"sum\", \"mean\" or \"attention\"",
                 "\"" + name + "\"");
  return Readout::kSum;
}

torch::Tensor fit_atom_references(const std::vector<datasets::Sample>& molecules,
                                  int64_t max_atomic_number, Readout readout) {
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
    if (readout != Readout::kSum && m.z.size(0) > 0) counts[i] /= static_cast<double>(m.z.size(0));
    targets[i][0] = m.y[0];
  }
  return torch::matmul(torch::linalg_pinv(counts), targets).squeeze(1);
}

MolecularTransformerImpl::Prediction MolecularTransformerImpl::predict(
    const torch::Tensor& z, const torch::Tensor& pos, const torch::Tensor& key_padding_mask,
    const torch::Tensor& cell, const torch::Tensor& pbc, bool stress, bool create_graph) {
  TOPO_CHECK_ARG(options.readout() == Readout::kSum, "MolecularTransformer::predict", "readout",
                 "sum (forces and stress are derivatives of an extensive energy)",
                 to_string(options.readout()));
  TOPO_CHECK_ARG(!stress || cell.defined(), "MolecularTransformer::predict", "cell",
                 "a cell [B, 3, 3] (the stress is defined for periodic systems)", "undefined");
  if (stress && pbc.defined()) {
    const auto open = (~pbc.any(1)).nonzero();
    TOPO_CHECK_ARG(
        open.size(0) == 0, "MolecularTransformer::predict", "pbc",
        "a periodic axis in every element (the stress of an open system is undefined)",
        c10::str("element ", open.size(0) ? open[0][0].item<int64_t>() : 0, " with none"));
  }
  torch::AutoGradMode enable(true);  // forces need gradients even under NoGradGuard
  const auto positions = pos.detach().requires_grad_(true);
  std::vector<torch::Tensor> inputs = {positions};
  torch::Tensor atom_energy;
  if (stress) {
    // E(r(1 + ε), cell(1 + ε)) at ε = 0: ∂E/∂ε is the virial, and ∂E/∂r is unchanged since the
    // map is the identity there. ε is symmetrised so that rotations carry no stress.
    const auto strain = torch::zeros({pos.size(0), 3, 3}, pos.options()).requires_grad_(true);
    inputs.push_back(strain);
    const auto deformation = torch::eye(3, pos.options()) + 0.5 * (strain + strain.transpose(1, 2));
    atom_energy = atom_energies(z, torch::bmm(positions, deformation), key_padding_mask,
                                torch::bmm(cell.to(pos.scalar_type()), deformation), pbc);
  } else {
    atom_energy = atom_energies(z, positions, key_padding_mask, cell, pbc);
  }
  const auto energy = atom_energy.sum(1);
  const auto gradients = torch::autograd::grad({energy.sum()}, inputs, {},
                                               /*retain_graph=*/create_graph,
                                               /*create_graph=*/create_graph);
  Prediction out;
  out.forces = -gradients[0];
  if (key_padding_mask.defined())
    out.forces = out.forces.masked_fill(key_padding_mask.unsqueeze(-1), 0);
  if (stress) {
    const auto volume = torch::linalg_det(cell.to(pos.scalar_type())).abs();
    out.stress = gradients[1] / volume.view({-1, 1, 1});
  }
  out.energy = energy;
  out.atom_energies = atom_energy.detach();
  if (!create_graph) {
    out.energy = out.energy.detach();
    out.forces = out.forces.detach();
    if (stress) out.stress = out.stress.detach();
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> MolecularTransformerImpl::energy_and_forces(
    const torch::Tensor& z, const torch::Tensor& pos, const torch::Tensor& key_padding_mask,
    bool create_graph) {
  auto out = predict(z, pos, key_padding_mask, {}, {}, false, create_graph);
  return {out.energy, out.forces};
}

}  // namespace topo::models
