// SPDX-License-Identifier: Apache-2.0
// Molecular energies, and forces (and, for periodic systems, the stress) when the data has them:
// extended XYZ, SDF or QM9; MolecularTransformer with masks over positions or the radius graph
// (over periodic images for frames with a Lattice); per-element reference energies fitted on
// the training split; energy (+ weighted force and stress) MSE.
#include <torch/torch.h>

#include <filesystem>
#include <set>

#include "app/task.h"
#include "attention/masks/local_rpe_mask.h"
#include "datasets/batching.h"
#include "datasets/molecules.h"
#include "datasets/parsers/text_parsing.h"
#include "models/molecular_transformer.h"
#include "training/plots.h"
#include "training/steps.h"

namespace topo::app {
namespace {

namespace fs = std::filesystem;

datasets::MoleculeSet read_molecules(const RunConfig& c) {
  const auto dataset = c.text("dataset"), path = c.text("data"), target = c.text("target");
  if (dataset == "qm9") {
    auto set = datasets::read_qm9(path);
    const auto& names = set.target_names;
    const auto it = std::find(names.begin(), names.end(), target);
    if (it == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw std::runtime_error("--target must be a QM9 property (" + list + "), got \"" + target +
                               "\"");
    }
    const int64_t column = it - names.begin();
    for (auto& s : set.samples) s.y = s.y.narrow(0, column, 1);
    return set;
  }
  if (dataset == "sdf") return datasets::read_sdf(path, {target});
  return datasets::read_extended_xyz(path, {target}, "", "", c.text("forces_key"),
                                     c.text("stress_key"));
}

class MoleculeTask : public Task {
 public:
  TaskRun prepare(const RunConfig& c) const override {
    TaskRun run;
    const auto set = read_molecules(c);
    // The model's element table ends at max_atomic_number (Fm, 100): name the molecule and the
    // atom of a heavier element here rather than fail inside the embedding.
    const int64_t table = models::MolecularTransformerOptions().max_atomic_number();
    for (const auto& s : set.samples) {
      const auto heavy = (s.z > table).nonzero();
      if (heavy.size(0) > 0) {
        const int64_t atom = heavy[0][0].item<int64_t>(), z = s.z[atom].item<int64_t>();
        throw std::runtime_error(s.name + ": atom " + std::to_string(atom) + " (0-based) is " +
                                 datasets::element_symbol(z) + " (Z = " + std::to_string(z) +
                                 "); the molecular model covers Z = 1 (H) to " +
                                 std::to_string(table) + " (" + datasets::element_symbol(table) +
                                 ")");
      }
    }
    const int64_t n = static_cast<int64_t>(set.samples.size());
    const auto parts = datasets::random_split(n, {0.8, 0.1, 0.1}, 0);
    run.train = datasets::select(set.samples, parts[0]);
    run.validation = datasets::select(set.samples, parts[1]);
    run.test = datasets::select(set.samples, parts[2]);
    check_splits(run, c.text("data"));
    // A key named explicitly must be in the data (a misspelt one would silently train on less).
    if (c.given("forces_key") && !set.samples[0].forces.defined()) {
      throw std::runtime_error(c.text("data") + ": --forces-key " + c.text("forces_key") +
                               ": frame 1 has no per-atom column `" + c.text("forces_key") +
                               "` (Properties=)");
    }
    if (c.given("stress_key") && !set.samples[0].stress.defined()) {
      throw std::runtime_error(c.text("data") + ": --stress-key " + c.text("stress_key") +
                               ": frame 1 has no header key `" + c.text("stress_key") +
                               "` (nor virial=)");
    }
    if (c.given("force_weight") && !set.samples[0].forces.defined()) {
      throw std::runtime_error(c.text("data") +
                               ": --force-weight has no effect: the data has no forces (no "
                               "per-atom column `" +
                               c.text("forces_key") + "`; see --forces-key)");
    }
    const bool with_forces = set.samples[0].forces.defined() && c.real("force_weight") > 0;
    if (c.given("stress_weight") && !set.samples[0].stress.defined()) {
      throw std::runtime_error(c.text("data") +
                               ": --stress-weight has no effect: the data has no stress (a "
                               "periodic extended XYZ with " +
                               c.text("stress_key") + "= or virial=)");
    }
    const bool periodic = set.samples[0].cell.defined();
    const bool with_stress = set.samples[0].stress.defined() && c.real("stress_weight") > 0;
    if (c.text("readout") != "sum" && (with_forces || with_stress)) {
      throw std::runtime_error(
          "--readout " + c.text("readout") + ": " + c.text("data") + " has " +
          (with_forces ? "forces" : "stress") +
          ", derivatives of an extensive energy (--readout sum); for an intensive target give "
          "--force-weight 0 (and --stress-weight 0)");
    }
    std::set<int64_t> elements;
    for (const auto& s : run.train) {
      for (int64_t z :
           std::vector<int64_t>(s.z.data_ptr<int64_t>(), s.z.data_ptr<int64_t>() + s.z.numel())) {
        elements.insert(z);
      }
    }
    run.recorded = {{"with_forces", with_forces},
                    {"periodic", periodic},
                    {"with_stress", with_stress},
                    {"elements", std::vector<int64_t>(elements.begin(), elements.end())}};
    auto model =
        std::dynamic_pointer_cast<models::MolecularTransformerImpl>(build_model(c, run.recorded));
    // Per-element reference energies from a least-squares fit on the training split.
    const auto readout = model->options.readout();
    const auto references =
        models::fit_atom_references(run.train, model->options.max_atomic_number(), readout);
    model->set_atom_references(references);
    const auto target = c.text("target");
    run.metric = with_forces ? "force_mae" : target + "_mae";
    run.higher_is_better = false;
    const double energy_baseline =
        training::reference_energy_mae(run.test, references, readout != models::Readout::kSum);
    run.baseline = with_forces ? training::zero_force_mae(run.test) : energy_baseline;
    if (with_forces) run.extra_baselines[target + "_mae"] = energy_baseline;
    if (with_stress)
      run.extra_baselines["stress_mae"] = training::mean_stress_mae(run.train, run.test);
    run.model = model;
    const double force_weight = c.real("force_weight"), stress_weight = c.real("stress_weight");
    run.step = [model, with_forces, with_stress, force_weight, stress_weight,
                target](const std::vector<datasets::Sample>& batch) {
      const auto p = datasets::collate_padded(batch);
      models::MolecularTransformerImpl::Prediction out;
      if (with_forces || with_stress) {
        out = model->predict(p.z, p.pos, p.key_padding_mask, p.cell, p.pbc, with_stress,
                             model->is_training());
      } else {
        out.energy = model->forward(p.z, p.pos, p.key_padding_mask, p.cell, p.pbc);
      }
      return training::energy_force_output(out.energy, p.y.squeeze(-1), out.forces,
                                           with_forces ? p.forces : torch::Tensor(),
                                           p.key_padding_mask, force_weight, target, out.stress,
                                           with_stress ? p.stress : torch::Tensor(), stress_weight);
    };
    run.draw = [model](const std::string& out) -> bool {
      // What the first block learned as a function of interatomic distance, per head.
      for (const auto& mask : model->blocks[0]->as<models::TransformerBlock>()->self_attn->masks) {
        if (auto* local = mask->as<attention::LocalRPEMask>()) {
          training::plot_local_rpe(*local->rpe, (fs::path(out) / "rpe_layer1.png").string());
          return true;
        }
      }
      return false;
    };
    return run;
  }

  std::shared_ptr<torch::nn::Module> build_model(const RunConfig& c,
                                                 const nlohmann::json&) const override {
    torch::manual_seed(static_cast<uint64_t>(c.integer("seed")));
    return models::MolecularTransformer(
               models::MolecularTransformerOptions()
                   .embed_dim(c.integer("embed_dim"))
                   .num_heads(c.integer("heads"))
                   .num_layers(c.integer("layers"))
                   .num_features(c.integer("features"))
                   .feature_map(models::feature_map_kind_from_string(c.text("feature_map")))
                   .dropout(c.real("dropout"))
                   .cutoff(c.real("cutoff"))
                   .density_channels(c.integer("density_channels"))
                   .masks(c.masks())
                   .readout(models::readout_from_string(c.text("readout"))))
        .ptr();
  }

  /// Energies (and forces) of every molecule of an extended XYZ or SDF file, printed and written
  /// to <out>/predictions.extxyz. Elements the model never saw in training are an error.
  void predict(const RunConfig& c, const nlohmann::json& recorded, torch::nn::Module& module,
               const std::string& input) const override {
    auto& model = dynamic_cast<models::MolecularTransformerImpl&>(module);
    const bool with_forces = recorded.value("with_forces", false);
    const bool with_stress = recorded.value("with_stress", false);
    const auto ext = fs::path(input).extension().string();
    const auto set = ext == ".sdf" || ext == ".mol" ? datasets::read_sdf(input)
                                                    : datasets::read_extended_xyz(input, {});
    if (set.samples.empty()) throw std::runtime_error(input + ": no molecules");
    // The stress is defined for systems with a periodic axis.
    const bool periodic = std::all_of(set.samples.begin(), set.samples.end(), [](const auto& s) {
      return s.cell.defined() && s.pbc.any().template item<bool>();
    });
    const auto known = recorded.at("elements").get<std::vector<int64_t>>();
    for (size_t m = 0; m < set.samples.size(); ++m) {
      const auto& z = set.samples[m].z;
      for (int64_t a = 0; a < z.size(0); ++a) {
        const int64_t element = z[a].item<int64_t>();
        if (std::find(known.begin(), known.end(), element) == known.end()) {
          std::string list;
          for (int64_t k : known) list += (list.empty() ? "" : ", ") + datasets::element_symbol(k);
          throw std::runtime_error(input + ": molecule " + std::to_string(m) + " (" +
                                   set.samples[m].name + "), atom " + std::to_string(a) +
                                   ": element " + datasets::element_symbol(element) +
                                   " never occurred in training (the model knows " + list + ")");
        }
      }
    }
    const int64_t n = static_cast<int64_t>(set.samples.size());
    auto energies = torch::zeros({n}, torch::kDouble);
    torch::Tensor forces;
    if (with_forces) {
      int64_t atoms = 0;
      for (const auto& s : set.samples) atoms = std::max(atoms, s.z.size(0));
      forces = torch::zeros({n, atoms, 3}, torch::kDouble);
    }
    // Stresses of periodic inputs from a model trained on them (a model trained without stress
    // has never been asked for one; its forces are still what it learned).
    const bool stresses_out = with_stress && periodic;
    torch::Tensor stresses =
        stresses_out ? torch::zeros({n, 3, 3}, torch::kDouble) : torch::Tensor();
    const auto target = c.text("target");
    for_each_batch(set.samples, c.integer("batch_size"),
                   [&](const std::vector<datasets::Sample>& batch, int64_t first) {
                     const auto p = datasets::collate_padded(batch);
                     torch::Tensor e;
                     if (with_forces || stresses_out) {
                       const auto out = model.predict(p.z, p.pos, p.key_padding_mask, p.cell, p.pbc,
                                                      stresses_out);
                       e = out.energy;
                       const auto& f = out.forces;
                       if (with_forces)
                         forces.narrow(0, first, f.size(0)).narrow(1, 0, f.size(1)).copy_(f);
                       if (stresses_out) stresses.narrow(0, first, f.size(0)).copy_(out.stress);
                     } else {
                       torch::NoGradGuard guard;
                       e = model.forward(p.z, p.pos, p.key_padding_mask, p.cell, p.pbc);
                     }
                     energies.narrow(0, first, e.size(0)).copy_(e);
                     for (size_t i = 0; i < batch.size(); ++i) {
                       std::printf("%s: %s = %.6f\n", batch[i].name.c_str(), target.c_str(),
                                   e[static_cast<int64_t>(i)].item<double>());
                     }
                   });
    const auto written = (fs::path(c.text("out")) / "predictions.extxyz").string();
    datasets::write_extended_xyz(written, set.samples, energies, forces, target, stresses);
    std::printf("predictions for %lld molecules in %s\n", (long long)n, written.c_str());
  }
};

}  // namespace

const Task& molecule_task() {
  static const MoleculeTask task;
  return task;
}

}  // namespace topo::app
