// SPDX-License-Identifier: Apache-2.0
#include "lammps/pair_topoformer.h"

#include <lammps/atom.h>
#include <lammps/comm.h>
#include <lammps/domain.h>
#include <lammps/error.h>
#include <lammps/force.h>
#include <lammps/memory.h>
#include <lammps/pair.h>
#include <lammps/update.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "app/potential.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::lammps {
namespace {

using LAMMPS_NS::LAMMPS;

/// The model's energy is not a sum of pair or cutoff-local terms (attention normalises over all
/// of an atom's neighbours, stacked layers reach further than the cutoff, and global masks
/// couple every atom), so the whole system is handed to it on every step: local atoms only (no
/// neighbour list; the ghosts LAMMPS makes are unused), the box as the cell and LAMMPS's
/// periodic flags as pbc. The model finds every periodic image itself (geometry/periodic.h), so
/// atoms LAMMPS has not re-wrapped yet are fine.
/// Error::all is called with std::string messages only: its {fmt} overloads cannot be
/// instantiated against Debian's headers (compat/fmt/format.h).
class PairTopoformer : public LAMMPS_NS::Pair {
 public:
  explicit PairTopoformer(LAMMPS* lmp) : Pair(lmp) {
    single_enable = 0;
    restartinfo = 0;
    one_coeff = 1;
    manybody_flag = 1;
    // The virial comes from the model's stress (periodic) or Σ r ⊗ f (open), not from pairs.
    no_virial_fdotr_compute = 1;
  }

  ~PairTopoformer() override {
    if (allocated) {
      memory->destroy(setflag);
      memory->destroy(cutsq);
    }
  }

  /// pair_style topoformer RUN_DIR [float64|float32]
  void settings(int narg, char** arg) override {
    if (narg < 1 || narg > 2) {
      error->all(FLERR,
                 "pair_style topoformer: expected `pair_style topoformer RUN_DIR "
                 "[float64|float32]`, got " +
                     std::to_string(narg) + " arguments");
    }
    const std::string dtype = narg == 2 ? arg[1] : "float64";
    guarded("pair_style topoformer: ",
            [&] { potential_ = std::make_unique<app::Potential>(arg[0], dtype); });
    run_dir_ = arg[0];
    // A second pair_style command may load another model: its elements need a new pair_coeff.
    if (allocated) {
      for (int i = 0; i <= atom->ntypes; ++i) {
        for (int j = 0; j <= atom->ntypes; ++j) setflag[i][j] = 0;
      }
    }
  }

  /// pair_coeff * * SYMBOL… (one element symbol per atom type)
  void coeff(int narg, char** arg) override {
    if (!potential_)
      error->all(FLERR, std::string("pair_coeff: pair_style topoformer has no run folder"));
    const int ntypes = atom->ntypes;
    if (narg != 2 + ntypes || std::strcmp(arg[0], "*") != 0 || std::strcmp(arg[1], "*") != 0) {
      error->all(FLERR, "pair_coeff (pair_style topoformer): expected `pair_coeff * *` and " +
                            std::to_string(ntypes) + " element symbols (one per atom type), got " +
                            std::to_string(narg - 2) + " after `" + arg[0] + " " +
                            (narg > 1 ? arg[1] : "") + "`");
    }
    if (!allocated) allocate();
    const auto& elements = potential_->elements();
    type_to_z_.assign(ntypes + 1, 0);
    for (int t = 1; t <= ntypes; ++t) {
      const std::string symbol = arg[1 + t];
      const int64_t z = datasets::atomic_number(symbol);
      if (z == 0) {
        error->all(FLERR, "pair_coeff (pair_style topoformer): type " + std::to_string(t) +
                              ": expected an element symbol, got \"" + symbol + "\"");
      }
      if (std::find(elements.begin(), elements.end(), z) == elements.end()) {
        std::string trained;
        for (int64_t e : elements)
          trained += (trained.empty() ? "" : " ") + datasets::element_symbol(e);
        error->all(FLERR, "pair_coeff (pair_style topoformer): type " + std::to_string(t) + ": " +
                              symbol + " is not an element the model in " + run_dir_ +
                              " was trained on (" + trained + ")");
      }
      type_to_z_[t] = z;
      for (int u = 1; u <= ntypes; ++u) setflag[t][u] = 1;
    }
  }

  void init_style() override {
    if (comm->nprocs != 1) {
      error->all(FLERR, "pair_style topoformer runs on 1 MPI rank, got " +
                            std::to_string(comm->nprocs) +
                            ": the model's attention couples all atoms, which domain "
                            "decomposition cannot split (use threads: OMP_NUM_THREADS)");
    }
    if (std::strcmp(update->unit_style, "metal") != 0) {
      error->all(FLERR, std::string("pair_style topoformer needs `units metal` (eV, Å: the "
                                    "units of the extended XYZ training data), got `units ") +
                            update->unit_style + "`");
    }
    if (domain->dimension != 3) {
      error->all(FLERR, "pair_style topoformer needs `dimension 3`, got " +
                            std::to_string(domain->dimension));
    }
    if (tail_flag || offset_flag) {
      error->all(FLERR, std::string("pair_style topoformer: pair_modify tail and shift do not "
                                    "apply (the model has no pairwise tail or offset)"));
    }
    // No neighbour list is requested: the model searches neighbours (with images) itself.
  }

  double init_one(int, int) override { return potential_->cutoff(); }

  void compute(int eflag, int vflag) override {
    ev_init(eflag, vflag);
    if (vflag_atom || cvflag_atom) {
      error->all(FLERR, std::string("pair_style topoformer: per-atom virials (compute "
                                    "stress/atom, centroid/stress/atom) are not available: the "
                                    "model's energy has no pairwise decomposition"));
    }
    const int n = atom->nlocal;
    if (n == 0) return;
    const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
    // atom->x and atom->f are contiguous [nmax][3] blocks (LAMMPS's Memory::create). Positions
    // relative to the box's corner (E is translation invariant) keep float32 models precise in
    // boxes far from the origin.
    auto pos = torch::from_blob(atom->x[0], {n, 3}, f64) -
               torch::tensor({domain->boxlo[0], domain->boxlo[1], domain->boxlo[2]}, f64);
    auto z = torch::empty({n}, torch::kLong);
    auto z_a = z.accessor<int64_t, 1>();
    for (int i = 0; i < n; ++i) z_a[i] = type_to_z_[atom->type[i]];
    const bool periodic = domain->xperiodic || domain->yperiodic || domain->zperiodic;
    std::optional<torch::Tensor> cell, pbc;
    if (periodic) {
      // LAMMPS's (restricted triclinic) box: a = (lx, 0, 0), b = (xy, ly, 0), c = (xz, yz, lz);
      // the tilts are 0 for an orthogonal box.
      cell = torch::tensor({domain->xprd, 0.0, 0.0, domain->xy, domain->yprd, 0.0, domain->xz,
                            domain->yz, domain->zprd},
                           f64)
                 .view({3, 3});
      pbc = torch::tensor({domain->xperiodic != 0, domain->yperiodic != 0, domain->zperiodic != 0});
    }
    const bool stress = vflag_global && periodic;
    app::Potential::Result out;
    guarded("", [&] {
      out = potential_->compute(z, pos, cell, pbc, stress, "pair_style topoformer (compute)");
    });
    const auto forces = out.forces.to(torch::kDouble).contiguous();
    const auto f_a = forces.accessor<double, 2>();
    double** f = atom->f;
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < 3; ++k) f[i][k] += f_a[i][k];
    }
    if (eflag_global) eng_vdwl += out.energy;
    if (eflag_atom) {
      // Each atom's readout term (compute pe/atom); they sum to the energy.
      const auto e = out.atom_energies.to(torch::kDouble).contiguous();
      const auto e_a = e.accessor<double, 1>();
      for (int i = 0; i < n; ++i) eatom[i] += e_a[i];
    }
    if (vflag_global) {
      // LAMMPS's virial W (xx, yy, zz, xy, xz, yz; pressure = (N k T + tr W / 3) / V) is
      // −∂E/∂ε = −V σ for a periodic box, Σ_i r_i ⊗ f_i for an open one.
      const double volume = domain->xprd * domain->yprd * domain->zprd;
      const auto tensor =
          (stress ? -volume * out.stress.to(torch::kDouble) : pos.t().mm(forces)).contiguous();
      const auto w = tensor.accessor<double, 2>();
      virial[0] += w[0][0];
      virial[1] += w[1][1];
      virial[2] += w[2][2];
      virial[3] += w[0][1];
      virial[4] += w[0][2];
      virial[5] += w[1][2];
    }
  }

 private:
  void allocate() {
    allocated = 1;
    const int n = atom->ntypes + 1;
    memory->create(setflag, n, n, "pair:setflag");
    memory->create(cutsq, n, n, "pair:cutsq");
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) setflag[i][j] = 0;
    }
  }

  /// Runs `body`, turning our errors into LAMMPS errors (its log, its exit status), the message
  /// after `prefix`.
  template <class Body>
  void guarded(const std::string& prefix, Body&& body) {
    std::string message;
    try {
      body();
      return;
    } catch (const std::exception& e) {
      message = app::error_message(e);
    }
    error->all(FLERR, prefix + message);
  }

  std::unique_ptr<app::Potential> potential_;
  std::string run_dir_;
  std::vector<int64_t> type_to_z_;  ///< atomic number of each LAMMPS type (index 0 unused)
};

LAMMPS_NS::Pair* create(LAMMPS* lmp) { return new PairTopoformer(lmp); }

}  // namespace
}  // namespace topo::lammps

extern "C" void topoformer_lammps_register(void* handle) {
  auto* lmp = static_cast<LAMMPS_NS::LAMMPS*>(handle);
  (*lmp->force->pair_map)["topoformer"] = &topo::lammps::create;
}
