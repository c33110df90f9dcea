// SPDX-License-Identifier: Apache-2.0
/// \file
/// `pair_style topoformer`: a trained `--task molecules` run folder as a LAMMPS pair style.
///
/// Debian's LAMMPS (liblammps-dev 20220106) is built without plugin support, so the style is
/// registered into a LAMMPS instance through its library interface: `topoformer-lammps` (a
/// drop-in for `lmp`) does it for every input script, and programs that create their own
/// instance with `lammps_open*` call `topoformer_lammps_register(handle)`.
///
///     units metal
///     pair_style topoformer runs/cu_emt [float64|float32]
///     pair_coeff * * Cu               # one element symbol per atom type
///
/// This header is free of LAMMPS headers (Debian's do not compile without a shim, see
/// lammps/compat/fmt/format.h).
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/// Adds `pair_style topoformer` to the LAMMPS instance `handle` (what lammps_open*() returns,
/// a LAMMPS_NS::LAMMPS*).
void topoformer_lammps_register(void* handle);

#ifdef __cplusplus
}
#endif
