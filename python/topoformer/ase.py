# SPDX-License-Identifier: Apache-2.0
"""A trained topoformer molecular model as an ASE calculator.

    from topoformer.ase import TopoformerCalculator
    atoms.calc = TopoformerCalculator("runs/cu")      # the folder of a `--task molecules` run
    atoms.get_potential_energy(); atoms.get_forces(); atoms.get_stress()
    atoms.get_potential_energies()   # per atom: each atom's readout term, summing to the energy

Units are ASE's (eV, Å, eV/Å, eV/Å³) when the model was trained on data in those units (the
extended XYZ files that ASE writes). Periodic boundary conditions come from ``atoms.pbc`` and
``atoms.cell``: every periodic image within the cutoff is seen, so wrapping atoms changes
nothing. The stress is (1/V) ∂E/∂ε in Voigt order (xx, yy, zz, yz, xz, xy), as ASE expects; it
is defined for systems with a periodic axis only. Every lattice vector must be non-zero, also
along open axes (give a slab its vacuum length). The model runs in float64 by default (energy
conservation in MD); ``dtype="float32"`` is faster.
"""
import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from . import _C

__all__ = ["TopoformerCalculator"]


class TopoformerCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, run_dir, dtype="float64", **kwargs):
        super().__init__(**kwargs)
        self.run_dir = str(run_dir)
        self.potential = _C.Potential(self.run_dir, dtype)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        periodic = bool(self.atoms.pbc.any())
        want_stress = "stress" in properties
        if want_stress and not periodic:
            raise PropertyNotImplementedError(
                "TopoformerCalculator: the stress needs a periodic system (atoms.pbc is all False)")
        z = torch.as_tensor(self.atoms.numbers, dtype=torch.long)
        pos = torch.as_tensor(self.atoms.positions, dtype=torch.float64)
        cell = pbc = None
        if periodic:
            cell = torch.as_tensor(self.atoms.cell.array, dtype=torch.float64)
            pbc = torch.as_tensor(self.atoms.pbc, dtype=torch.bool)
        energy, forces, stress, energies = self.potential.compute(z, pos, cell, pbc, want_stress)
        self.results = {
            "energy": energy,
            "free_energy": energy,
            # Each atom's readout term (atoms.get_potential_energies()); they sum to the energy.
            "energies": energies.detach().double().numpy().copy(),
            "forces": forces.detach().double().numpy().copy(),
        }
        if want_stress:
            s = stress.detach().double().numpy()
            self.results["stress"] = np.array(
                [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
