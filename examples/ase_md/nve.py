#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""NVE molecular dynamics with a trained topoformer model through ASE; reports energy drift.

    PYTHONPATH=build/python /usr/bin/python3 examples/ase_md/nve.py RUN_DIR STRUCTURE \\
        [--frame 0] [--steps 10000] [--dt 0.5] [--temperature 300] [--seed 0] [--json OUT]

Starts from frame FRAME of STRUCTURE (any file ASE reads; extended XYZ keeps the cell and pbc),
draws Maxwell-Boltzmann velocities at TEMPERATURE (seeded, zero total momentum) and integrates
with velocity Verlet (time step DT fs) for STEPS steps. Reported: the drift of the total energy
per atom (slope of a least-squares line through E_total/N sampled every 10 steps, eV/atom/ps),
the largest deviation from the start (eV/atom), the mean temperature, and the speed in
atom-steps per second (model evaluations dominate).
"""
import argparse
import json
import sys
import time

import numpy as np
from ase import units
from ase.io import read
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.md.verlet import VelocityVerlet

from topoformer.ase import TopoformerCalculator


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("structure")
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--dt", type=float, default=0.5, help="time step, fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="K")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args()
    if args.steps < 10 or args.dt <= 0 or args.temperature < 0:
        sys.exit("nve.py: --steps must be >= 10, --dt > 0 and --temperature >= 0; got "
                 f"{args.steps}, {args.dt}, {args.temperature}")

    atoms = read(args.structure, index=args.frame)
    atoms.calc = TopoformerCalculator(args.run_dir, dtype=args.dtype)
    MaxwellBoltzmannDistribution(atoms, temperature_K=args.temperature,
                                 rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    dynamics = VelocityVerlet(atoms, args.dt * units.fs)
    n = len(atoms)
    times, energies, temperatures = [], [], []

    def sample():
        times.append(dynamics.get_number_of_steps() * args.dt / 1000.0)  # ps
        energies.append(atoms.get_total_energy() / n)
        temperatures.append(atoms.get_temperature())

    dynamics.attach(sample, interval=10)
    start = time.perf_counter()
    dynamics.run(args.steps)
    seconds = time.perf_counter() - start
    times, energies = np.array(times), np.array(energies)
    slope = float(np.polyfit(times, energies, 1)[0])
    report = {
        "run_dir": args.run_dir,
        "structure": args.structure,
        "atoms": n,
        "periodic": bool(atoms.pbc.any()),
        "steps": args.steps,
        "dt_fs": args.dt,
        "simulated_ps": float(times[-1]),
        "start_temperature_K": args.temperature,
        "mean_temperature_K": float(np.mean(temperatures)),
        "drift_eV_per_atom_per_ps": slope,
        "max_deviation_eV_per_atom": float(np.max(np.abs(energies - energies[0]))),
        "seconds": seconds,
        "atom_steps_per_second": n * args.steps / seconds,
        "dtype": args.dtype,
    }
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(report, f, indent=1)
        import os
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
