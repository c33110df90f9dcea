#!/usr/bin/env bash
# The README's main command: installs missing dependencies, builds everything, then trains a
# point-cloud classifier on the bundled MNIST digits (2-D point clouds, fixed 8,000/2,000
# split) with `topoformer train` and prints the test accuracy. Extra arguments go to
# `topoformer train` (e.g. --epochs 4). Outputs land in runs/mnist.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${TOPO_BUILD_DIR:-$root/build}"
export TOPO_BUILD_DIR="$build_dir"

"$root/scripts/build.sh"
cd "$root"
# One compute thread: these tensors are small, and the second core prepares batches.
"$build_dir/bin/topoformer" train --task pointcloud --dataset mnist --data examples/data/mnist_10k \
  --out runs/mnist --threads 1 --workers 1 "$@"
