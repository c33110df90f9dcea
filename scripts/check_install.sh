#!/usr/bin/env bash
# Installs topoformer from an existing build into a temporary prefix and builds the quickstart
# example as an outside project against it (find_package(topoformer) + topo::topoformer).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${TOPO_BUILD_DIR:-$root/build}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix"
# The consumer must not see the source tree: configure it from a copy.
cp -r "$root/examples/quickstart" "$work/consumer"
cmake -S "$work/consumer" -B "$work/consumer-build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release
cmake --build "$work/consumer-build" --parallel "$(nproc)"
# Installed headers must not leak third-party headers (nanoflann, Boost, Open3D, CUDA stay private).
if grep -rlE '#include *[<"](nanoflann|boost/|open3d/|cuda)' "$work/prefix/include"; then
  echo "check_install: installed headers include private third-party headers (listed above)" >&2
  exit 1
fi
# No LD_LIBRARY_PATH: the installed libraries and the command must find each other (RUNPATH).
env -u LD_LIBRARY_PATH "$work/consumer-build/quickstart"
env -u LD_LIBRARY_PATH "$work/prefix/bin/topoformer" masks > /dev/null
# LAMMPS with pair_style topoformer (when built): the style is among the registered ones.
if [ -x "$work/prefix/bin/topoformer-lammps" ]; then
  echo "info styles pair" | env -u LD_LIBRARY_PATH "$work/prefix/bin/topoformer-lammps" -log none -nocite \
    | grep -w topoformer > /dev/null  # not -q: LAMMPS would die of SIGPIPE (pipefail)
  echo "check_install: the installed topoformer-lammps has pair_style topoformer"
fi
# The Python package, from the prefix (another prefix than the interpreter's needs PYTHONPATH).
python_dir="$(sed -n 's/^TOPO_PYTHON_INSTALL_DIR:[A-Z]*=//p' "$build_dir/CMakeCache.txt")"
if [ -n "$python_dir" ]; then
  (cd "$work" && env -u LD_LIBRARY_PATH PYTHONPATH="$work/prefix/$python_dir" /usr/bin/python3 -c "
import torch, topoformer
layer = topoformer.nn.GraphAttentionLayer(8, 2, mask='diffusion')
edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
assert layer(torch.randn(3, 8), edge_index).shape == (3, 8)
assert topoformer.__file__.startswith('$work/prefix'), topoformer.__file__
")
  echo "check_install: the installed Python package imports and runs"
fi
echo "check_install: find_package(topoformer) consumer built and ran; the installed command runs"
