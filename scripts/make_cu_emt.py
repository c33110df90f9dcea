#!/usr/bin/python3
"""Makes examples/data/cu_emt/cu_emt.extxyz: periodic copper frames labelled with ASE's EMT.

Real physics, small enough to ship: fcc copper in three periodic cells (the cubic 2x2x2 cell of
32 atoms, a 3x2x2 cell of 48 atoms, and the triclinic primitive cell repeated 3x3x3, 27 atoms),
each strained at random (up to 3 % along the axes and 1.5 % shear, so the stress varies), then
Langevin molecular dynamics at a random temperature between 300 and 1200 K; frames are taken
every 25 steps after 200 steps of equilibration. Labels: EMT (Jacobsen, Stoltze, Norskov 1996, as
implemented in ASE 3.22, Debian python3-ase) energy (eV), forces (eV/A) and stress (eV/A^3, ASE's
sign: positive = tensile). The 27- and 32-atom cells are shorter than twice the 5 A cutoff used
by the models along every lattice vector (the 48-atom cell along two), so atoms see several images
of each other: the data exercises the periodic neighbour search.

Usage: /usr/bin/python3 scripts/make_cu_emt.py [output]   (deterministic: seeded)
"""
import os
import sys

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

TRAJECTORIES = 12
FRAMES_PER_TRAJECTORY = 30
EQUILIBRATION = 200
STRIDE = 25


def cell_of(kind):
    if kind == 0:
        return bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    if kind == 1:
        return bulk("Cu", "fcc", a=3.61, cubic=True).repeat((3, 2, 2))
    return bulk("Cu", "fcc", a=3.61).repeat((3, 3, 3))  # triclinic primitive cell


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "examples", "data", "cu_emt", "cu_emt.extxyz")
    rng = np.random.default_rng(2026)
    frames = []
    for t in range(TRAJECTORIES):
        atoms = cell_of(t % 3)
        strain = np.diag(rng.uniform(-0.03, 0.03, 3))
        shear = rng.uniform(-0.015, 0.015, 3)
        strain[0, 1] = strain[1, 0] = shear[0]
        strain[0, 2] = strain[2, 0] = shear[1]
        strain[1, 2] = strain[2, 1] = shear[2]
        atoms.set_cell(atoms.cell @ (np.eye(3) + strain), scale_atoms=True)
        atoms.calc = EMT()
        temperature = rng.uniform(300, 1200)
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dynamics = Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.02,
                            rng=rng)
        dynamics.run(EQUILIBRATION)
        for _ in range(FRAMES_PER_TRAJECTORY):
            dynamics.run(STRIDE)
            frame = atoms.copy()
            del frame.arrays["momenta"]  # velocities are not labels; keep the file small
            frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(),
                                               forces=atoms.get_forces(),
                                               stress=atoms.get_stress())
            frames.append(frame)
        print(f"trajectory {t}: {len(atoms)} atoms, {temperature:.0f} K", file=sys.stderr)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    write(tmp, frames, format="extxyz")
    os.replace(tmp, out)
    print(f"{len(frames)} frames -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
