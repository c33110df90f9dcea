// SPDX-License-Identifier: Apache-2.0
// The molecular transformer on periodic systems: stress against finite differences of the
// energy under strain, forces against finite differences, invariance to translations, rotations
// (with the cell) and the choice of periodic image, extensivity over supercells, agreement with
// the open system in a large cell, batches of different cells, and masks that cannot see images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/molecular_transformer.h"
#include "support/tensor_assertions.h"
#include "training/steps.h"

namespace topo::models {
namespace {

MolecularTransformer small_model(std::vector<attention::MaskSpec> masks = {{"local-rpe", {}}},
                                 int64_t density_channels = 16) {
  torch::manual_seed(20);
  MolecularTransformer model(MolecularTransformerOptions()
                                 .embed_dim(16)
                                 .num_heads(2)
                                 .num_layers(2)
                                 .num_features(8)
                                 .cutoff(3.0)
                                 .density_channels(density_channels)
                                 .masks(std::move(masks)));
  // Non-trivial distance profiles, so that the images' distances matter.
  torch::NoGradGuard guard;
  for (auto& p : model->named_parameters()) {
    if (p.key().find("log_profile") != std::string::npos) p.value().uniform_(-1, 1);
  }
  model->to(torch::kDouble);
  model->eval();
  return model;
}

/// A distorted 4-atom fcc cell (2.6 Å cube, skewed), smaller than twice the 3 Å cutoff: every
/// atom sees several images of every atom, itself included.
struct Crystal {
  torch::Tensor z, pos, cell;
};
Crystal crystal() {
  torch::manual_seed(21);
  const auto cell =
      torch::tensor({{2.6, 0.0, 0.0}, {0.3, 2.5, 0.0}, {-0.2, 0.25, 2.7}}, torch::kDouble);
  const auto frac = torch::tensor(
      {{0.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {0.5, 0.0, 0.5}, {0.0, 0.5, 0.5}}, torch::kDouble);
  const auto pos = torch::matmul(frac + 0.04 * torch::randn({4, 3}, torch::kDouble), cell);
  return {torch::tensor({{29, 29, 79, 29}}), pos.unsqueeze(0), cell.unsqueeze(0)};
}

TEST(MolecularTransformerPeriodic, StressAndForcesAreDerivativesOfTheEnergy) {
  auto model = small_model();
  const auto c = crystal();
  const auto out = model->predict(c.z, c.pos, {}, c.cell, {}, /*stress=*/true);
  ASSERT_TRUE(out.stress.defined());
  const double volume = torch::linalg_det(c.cell[0]).abs().item<double>();
  const auto energy_under = [&](const torch::Tensor& strain) {
    const auto deformation = torch::eye(3, torch::kDouble) + strain;
    return model
        ->forward(c.z, torch::matmul(c.pos, deformation), {}, torch::matmul(c.cell, deformation))
        .item<double>();
  };
  const double h = 1e-6;
  for (int64_t a = 0; a < 3; ++a) {
    for (int64_t b = a; b < 3; ++b) {
      // A symmetric strain with ε_ab = ε_ba = h/2 (off-diagonal) or ε_aa = h changes the energy
      // by V·σ_ab·h.
      auto step = torch::zeros({3, 3}, torch::kDouble);
      step[a][b] += a == b ? h : h / 2;
      if (a != b) step[b][a] += h / 2;
      const double numeric = (energy_under(step) - energy_under(-step)) / (2 * h) / volume;
      EXPECT_NEAR(out.stress[0][a][b].item<double>(), numeric, 1e-7) << a << b;
      EXPECT_NEAR(out.stress[0][b][a].item<double>(), numeric, 1e-7) << b << a;
    }
  }
  EXPECT_GT(out.stress.abs().max().item<double>(), 1e-4);  // not trivially zero
  for (int64_t atom : {0, 2}) {
    auto plus = c.pos.clone(), minus = c.pos.clone();
    plus[0][atom][1] += h;
    minus[0][atom][1] -= h;
    const double numeric =
        -(model->forward(c.z, plus, {}, c.cell) - model->forward(c.z, minus, {}, c.cell))
             .item<double>() /
        (2 * h);
    EXPECT_NEAR(out.forces[0][atom][1].item<double>(), numeric, 1e-7);
  }
  // The forces of a periodic system sum to zero (translation invariance).
  EXPECT_NEAR(out.forces.sum(0).sum(0).abs().max().item<double>(), 0.0, 1e-10);
}

TEST(MolecularTransformerPeriodic, InvariantToTranslationRotationAndTheImageOfEachAtom) {
  auto model = small_model();
  const auto c = crystal();
  const auto reference = model->predict(c.z, c.pos, {}, c.cell, {}, true);
  // Translation.
  const auto moved = model->predict(c.z, c.pos + torch::tensor({0.7, -1.9, 3.1}, torch::kDouble),
                                    {}, c.cell, {}, true);
  EXPECT_TENSOR_CLOSE(moved.energy, reference.energy, {1e-10, 1e-10});
  EXPECT_TENSOR_CLOSE(moved.forces, reference.forces, {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(moved.stress, reference.stress, {1e-8, 1e-10});
  // Rotation of atoms and cell together: E unchanged, F → F Rᵀ, σ → R σ Rᵀ.
  torch::manual_seed(22);
  const auto q = std::get<0>(torch::linalg_qr(torch::randn({3, 3}, torch::kDouble)));
  const auto rotated =
      model->predict(c.z, torch::matmul(c.pos, q.t()), {}, torch::matmul(c.cell, q.t()), {}, true);
  EXPECT_TENSOR_CLOSE(rotated.energy, reference.energy, {1e-10, 1e-10});
  EXPECT_TENSOR_CLOSE(rotated.forces, torch::matmul(reference.forces, q.t()), {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(rotated.stress, torch::matmul(torch::matmul(q, reference.stress), q.t()),
                      {1e-8, 1e-10});
  // Another image of every atom (as MD leaves them, unwrapped).
  const auto images =
      torch::tensor({{1, 0, -2}, {-3, 1, 0}, {0, 0, 0}, {2, -1, 1}}, torch::kDouble);
  const auto unwrapped = model->predict(c.z, c.pos + torch::matmul(images, c.cell[0]).unsqueeze(0),
                                        {}, c.cell, {}, true);
  EXPECT_TENSOR_CLOSE(unwrapped.energy, reference.energy, {1e-10, 1e-10});
  EXPECT_TENSOR_CLOSE(unwrapped.forces, reference.forces, {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(unwrapped.stress, reference.stress, {1e-8, 1e-10});
}

TEST(MolecularTransformerPeriodic, SupercellIsExtensive) {
  auto model = small_model();
  const auto c = crystal();
  const auto single = model->predict(c.z, c.pos, {}, c.cell, {}, true);
  // The same crystal described by a 2×1×1 supercell: twice the energy, the same forces per atom
  // and the same stress.
  const auto a1 = c.cell[0][0];
  const auto pos2 = torch::cat({c.pos, c.pos + a1}, 1);
  auto cell2 = c.cell.clone();
  cell2[0][0] *= 2;
  const auto twice = model->predict(torch::cat({c.z, c.z}, 1), pos2, {}, cell2, {}, true);
  EXPECT_NEAR(twice.energy.item<double>(), 2 * single.energy.item<double>(), 1e-9);
  EXPECT_TENSOR_CLOSE(twice.forces.narrow(1, 0, 4), single.forces, {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(twice.forces.narrow(1, 4, 4), single.forces, {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(twice.stress, single.stress, {1e-8, 1e-10});
}

TEST(MolecularTransformerPeriodic, LargeCellsAndOpenAxesAgreeWithTheOpenSystem) {
  auto model = small_model();
  torch::manual_seed(23);
  const auto z = torch::tensor({{6, 1, 1, 8, 1}});
  const auto pos = torch::randn({1, 5, 3}, torch::kDouble) * 1.2 + 20.0;
  const auto open = model->energy_and_forces(z, pos);
  // A 40 Å cell: no image within the cutoff.
  const auto big = model->predict(z, pos, {}, torch::eye(3, torch::kDouble).unsqueeze(0) * 40.0);
  EXPECT_TENSOR_CLOSE(big.energy, open.first, {1e-10, 1e-10});
  EXPECT_TENSOR_CLOSE(big.forces, open.second, {1e-8, 1e-10});
  // No periodic axis: any cell, even a singular one, is the open system.
  const auto none = model->predict(z, pos, {}, torch::zeros({1, 3, 3}, torch::kDouble),
                                   torch::zeros({1, 3}, torch::kBool));
  EXPECT_TENSOR_CLOSE(none.energy, open.first, {1e-10, 1e-10});
}

TEST(MolecularTransformerPeriodic, BatchesOfCellsEqualEachSystemAlone) {
  auto model = small_model();
  const auto c = crystal();
  // System 2: a slab, periodic in x and y only, with 3 atoms (padded).
  const auto cell_b =
      torch::tensor({{3.1, 0.0, 0.0}, {0.0, 2.9, 0.0}, {0.0, 0.0, 10.0}}, torch::kDouble);
  const auto pos_b =
      torch::tensor({{0.1, 0.2, 0.0}, {1.5, 1.4, 0.3}, {0.8, 2.0, 1.9}}, torch::kDouble);
  const auto pbc_b = torch::tensor({true, true, false});
  const auto alone_a = model->predict(c.z, c.pos, {}, c.cell, {}, true);
  const auto alone_b = model->predict(torch::tensor({{29, 29, 79}}), pos_b.unsqueeze(0), {},
                                      cell_b.unsqueeze(0), pbc_b.unsqueeze(0), true);
  auto z = torch::tensor({{29, 29, 79, 29}, {29, 29, 79, 0}});
  auto pos = torch::zeros({2, 4, 3}, torch::kDouble);
  pos[0] = c.pos[0];
  pos[1].narrow(0, 0, 3).copy_(pos_b);
  auto pad = torch::zeros({2, 4}, torch::kBool);
  pad[1][3] = true;
  const auto pbc = torch::stack({torch::tensor({true, true, true}), pbc_b});
  const auto both = model->predict(z, pos, pad, torch::stack({c.cell[0], cell_b}), pbc, true);
  EXPECT_NEAR(both.energy[0].item<double>(), alone_a.energy.item<double>(), 1e-10);
  EXPECT_NEAR(both.energy[1].item<double>(), alone_b.energy.item<double>(), 1e-10);
  EXPECT_TENSOR_CLOSE(both.forces[0], alone_a.forces[0], {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(both.forces[1].narrow(0, 0, 3), alone_b.forces[0], {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(both.stress[0], alone_a.stress[0], {1e-8, 1e-10});
  EXPECT_TENSOR_CLOSE(both.stress[1], alone_b.stress[0], {1e-8, 1e-10});
  // The slab is open along z: moving an atom by 10 Å in z changes the energy; along x by a
  // lattice vector it does not.
  auto up = pos_b.clone();
  up[2][2] += 10.0;
  auto along = pos_b.clone();
  along[2][0] += 3.1;
  const auto energy_of = [&](const torch::Tensor& p) {
    return model
        ->forward(torch::tensor({{29, 29, 79}}), p.unsqueeze(0), {}, cell_b.unsqueeze(0),
                  pbc_b.unsqueeze(0))
        .item<double>();
  };
  EXPECT_NEAR(energy_of(along), alone_b.energy.item<double>(), 1e-10);
  EXPECT_GT(std::abs(energy_of(up) - alone_b.energy.item<double>()), 1e-6);
}

TEST(MolecularTransformerPeriodic, GraphMasksSeeImagesAndFltIsRefused) {
  const auto c = crystal();
  auto adjacency = small_model({{"adjacency", {}}});
  const auto images = torch::tensor({{1, 0, -2}, {0, 0, 0}, {0, 1, 0}, {2, -1, 1}}, torch::kDouble);
  EXPECT_NEAR(
      adjacency->forward(c.z, c.pos, {}, c.cell).item<double>(),
      adjacency->forward(c.z, c.pos + torch::matmul(images, c.cell[0]).unsqueeze(0), {}, c.cell)
          .item<double>(),
      1e-10);
  auto flt = small_model({{"local-rpe", {}}, {"flt", {{"features", int64_t{8}}}}});
  EXPECT_THROW_WITH(flt->forward(c.z, c.pos, {}, c.cell), "context.cell");
  auto model = small_model();
  EXPECT_THROW_WITH(model->predict(c.z, c.pos, {}, {}, {}, true), "`cell`");
  EXPECT_THROW_WITH(
      model->predict(c.z, c.pos, {}, c.cell, torch::zeros({1, 3}, torch::kBool), true),
      "element 0 with none");
}

TEST(MolecularTransformerPeriodic, OneElementSolidsNeedTheDensityChannels) {
  // Pure copper: every atom's attention values are equal, so without the density channels the
  // normalised attention returns them unchanged and the energy ignores the geometry.
  const auto c = crystal();
  const auto copper = torch::full_like(c.z, 29);
  for (const int64_t channels : {0, 8}) {
    auto model = small_model({{"local-rpe", {}}}, channels);
    const auto out = model->predict(copper, c.pos, {}, c.cell, {}, true);
    if (channels == 0) {
      EXPECT_LT(out.forces.abs().max().item<double>(), 1e-12);
      EXPECT_LT(out.stress.abs().max().item<double>(), 1e-12);
      continue;
    }
    EXPECT_GT(out.forces.abs().max().item<double>(), 1e-4);
    EXPECT_GT(out.stress.abs().max().item<double>(), 1e-4);
    const double h = 1e-6;
    auto plus = c.pos.clone(), minus = c.pos.clone();
    plus[0][1][2] += h;
    minus[0][1][2] -= h;
    EXPECT_NEAR(
        out.forces[0][1][2].item<double>(),
        -(model->forward(copper, plus, {}, c.cell) - model->forward(copper, minus, {}, c.cell))
                .item<double>() /
            (2 * h),
        1e-7);
    // Its profiles train (through the double backward of a force loss, too).
    model->train();
    const auto trained = model->predict(copper, c.pos, {}, c.cell, {}, true, true);
    (trained.forces.pow(2).sum() + trained.stress.pow(2).sum()).backward();
    EXPECT_GT(model->density->log_profile.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(MolecularTransformerPeriodic, StressWeightEntersTheLoss) {
  const auto f64 = torch::kDouble;
  const auto energy = torch::tensor({1.0}, f64), forces = torch::zeros({1, 2, 3}, f64);
  const auto stress = torch::full({1, 3, 3}, 0.01, f64), target = torch::zeros({1, 3, 3}, f64);
  const auto loss = [&](double weight) {
    return training::energy_force_output(energy, energy, forces, forces, {}, 10.0, "energy", stress,
                                         target, weight)
        .loss.item<double>();
  };
  EXPECT_DOUBLE_EQ(loss(0.0), 0.0);
  EXPECT_NEAR(loss(1000.0), 1000.0 * 1e-4, 1e-9);
  const auto out = training::energy_force_output(energy, energy, forces, forces, {}, 10.0, "energy",
                                                 stress, target, 1.0);
  ASSERT_EQ(out.extra.back().name, "stress_mae");
  EXPECT_NEAR(out.extra.back().sum / out.extra.back().count, 0.01, 1e-9);
}

TEST(MolecularTransformerPeriodic, TrainsOnStress) {
  auto model = small_model();
  model->train();
  const auto c = crystal();
  const auto out = model->predict(c.z, c.pos, {}, c.cell, {}, true, /*create_graph=*/true);
  out.stress.pow(2).sum().backward();
  double total = 0;
  for (const auto& p : model->parameters()) {
    if (p.grad().defined()) total += p.grad().abs().sum().item<double>();
  }
  EXPECT_GT(total, 0.0);
  EXPECT_GT(model->named_parameters()["blocks.0.self_attn.mask_0.rpe.log_profile"]
                .grad()
                .abs()
                .sum()
                .item<double>(),
            0.0);
}

}  // namespace
}  // namespace topo::models
