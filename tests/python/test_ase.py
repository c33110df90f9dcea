# SPDX-License-Identifier: Apache-2.0
"""topoformer.ase.TopoformerCalculator on a run trained by the `topoformer` command (the ctest
fixture topoformer_cli_train_periodic, on EMT copper): properties against the command's own
predictions, forces and stress against ASE's finite differences, invariance to wrapping, open
systems, errors, and a short NVE run that conserves energy."""
import os
import pathlib
import subprocess

import numpy as np
import pytest

ase = pytest.importorskip("ase")
from ase.calculators.calculator import PropertyNotImplementedError  # noqa: E402
from ase.io import read  # noqa: E402
from ase.md.verlet import VelocityVerlet  # noqa: E402
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution  # noqa: E402
from ase import units  # noqa: E402

from topoformer.ase import TopoformerCalculator  # noqa: E402

RUN = os.environ.get("TOPO_PERIODIC_RUN")
CLI = os.environ.get("TOPO_CLI")
pytestmark = pytest.mark.skipif(not RUN or not pathlib.Path(RUN, "checkpoint.pt").exists(),
                                reason="needs the trained periodic run of the ctest fixture")


@pytest.fixture
def copper(data_dir):
    return read(str(data_dir / "cu_emt_head.extxyz"), index=":")


def test_properties_match_the_commands_predictions(copper, data_dir, tmp_path):
    # `topoformer predict` (C++, float32, batched) on the same frames.
    subprocess.run([CLI, "predict", "--out", RUN, "--input", str(data_dir / "cu_emt_head.extxyz"),
                    "--threads", "1"], check=True, capture_output=True)
    predicted = read(str(pathlib.Path(RUN, "predictions.extxyz")), index=":")
    calc = TopoformerCalculator(RUN)
    for i in (0, 7, 15):
        atoms = copper[i].copy()
        atoms.calc = calc
        reference = predicted[i]
        assert np.allclose(atoms.cell.array, reference.cell.array)
        assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy(),
                                                             rel=1e-5, abs=1e-4)
        assert np.allclose(atoms.get_forces(), reference.get_forces(), atol=1e-4)
        assert np.allclose(atoms.get_stress(), reference.get_stress(), atol=1e-5)


def test_forces_and_stress_are_derivatives_of_the_energy(copper):
    atoms = copper[3].copy()
    atoms.calc = TopoformerCalculator(RUN)
    numerical_forces = atoms.calc.calculate_numerical_forces(atoms, d=1e-5)
    assert np.allclose(atoms.get_forces(), numerical_forces, atol=1e-6)
    numerical_stress = atoms.calc.calculate_numerical_stress(atoms, d=1e-6)
    assert np.allclose(atoms.get_stress(), numerical_stress, atol=1e-7)
    assert np.abs(atoms.get_stress()).max() > 1e-5


def test_wrapping_and_translation_change_nothing(copper):
    atoms = copper[16].copy()  # the triclinic cell
    atoms.calc = TopoformerCalculator(RUN)
    energy, forces, stress = (atoms.get_potential_energy(), atoms.get_forces(),
                              atoms.get_stress())
    energies = atoms.get_potential_energies()
    assert energies.sum() == pytest.approx(energy, abs=1e-9)
    assert energies.std() > 1e-6  # a thermal frame: atoms differ
    moved = atoms.copy()
    moved.positions += [[0.3, -7.9, 12.5]]
    moved.positions[::3] += atoms.cell.array[0] * 2 - atoms.cell.array[2]
    moved.calc = atoms.calc
    assert moved.get_potential_energy() == pytest.approx(energy, abs=1e-9)
    assert np.allclose(moved.get_forces(), forces, atol=1e-9)
    assert np.allclose(moved.get_stress(), stress, atol=1e-10)
    assert np.allclose(moved.get_potential_energies(), energies, atol=1e-9)


def test_open_systems_and_errors(copper):
    cluster = copper[0][:8].copy()
    cluster.pbc = False
    cluster.calc = TopoformerCalculator(RUN)
    assert np.isfinite(cluster.get_potential_energy())
    assert cluster.get_forces().shape == (8, 3)
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        cluster.get_stress()
    foreign = copper[0].copy()
    foreign.numbers[2] = 8
    foreign.calc = TopoformerCalculator(RUN)
    with pytest.raises(ValueError, match=r"z\[2\].*trained on.*got 8"):
        foreign.get_potential_energy()
    with pytest.raises(RuntimeError, match="config.json: no such file"):
        TopoformerCalculator("/nonexistent/run")


def test_nve_conserves_energy(copper):
    atoms = copper[0].copy()
    atoms.calc = TopoformerCalculator(RUN)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, 0.5 * units.fs)
    start = atoms.get_total_energy()
    energies = []
    dynamics.attach(lambda: energies.append(atoms.get_total_energy()), interval=5)
    dynamics.run(100)
    kinetic = atoms.get_kinetic_energy()
    assert kinetic > 0.1 * len(atoms) * units.kB * 300  # the atoms moved
    assert max(abs(e - start) for e in energies) / len(atoms) < 1e-4  # eV/atom over 50 fs
