// SPDX-License-Identifier: Apache-2.0
// topoformer-lammps: Debian's LAMMPS (liblammps) with `pair_style topoformer` added; takes the
// command line of LAMMPS's own `lmp` (-in, -var, -log, -screen, …).
#include <lammps/input.h>
#include <lammps/lammps.h>
#include <mpi.h>

#include <exception>

#include "common/allocator.h"
#include "common/threads.h"
#include "lammps/pair_topoformer.h"

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  topo::reuse_freed_memory();  // common/allocator.h
  // LibTorch's default is half the hardware threads (1 on 2 vCPUs); TOPO_NUM_THREADS or
  // OMP_NUM_THREADS choose, else all of them (common/threads.h).
  topo::set_num_threads();
  int status = 0;
  try {
    auto* lmp = new LAMMPS_NS::LAMMPS(argc, argv, MPI_COMM_WORLD);
    topoformer_lammps_register(lmp);
    lmp->input->file();
    delete lmp;
  } catch (const std::exception&) {
    // LAMMPS has printed "ERROR: …" (screen and log) before throwing.
    status = 1;
  }
  MPI_Finalize();
  return status;
}
