#!/usr/bin/env bash
# NVE copper in LAMMPS with a trained topoformer model, in one command from the repository root:
#   examples/lammps/cu_nve.sh [RUN_DIR] [extra topoformer-lammps arguments, e.g. -var cells 4]
# Trains the model on examples/data/cu_emt first when RUN_DIR (default runs/cu_emt) holds no
# checkpoint (60 epochs, about 7 minutes on 2 cores). Needs a build (scripts/build.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="${TOPO_BUILD_DIR:-$root/build}/bin"
run="${1:-runs/cu_emt}"
shift || true
if [ ! -x "$bin/topoformer-lammps" ]; then
  echo "cu_nve.sh: $bin/topoformer-lammps not found; build first: scripts/build.sh" >&2
  exit 1
fi
if [ ! -f "$run/checkpoint.pt" ]; then
  "$bin/topoformer" train --task molecules --data "$root/examples/data/cu_emt/cu_emt.extxyz" \
    --epochs 60 --stress-weight 1000 --out "$run"
fi
exec "$bin/topoformer-lammps" -in "$root/examples/lammps/in.cu_nve" -var run "$run" "$@"
