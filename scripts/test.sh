#!/usr/bin/env bash
# The README's test command: installs missing dependencies, configures, builds (libraries,
# tests, benchmarks, examples and the CUDA compile check) and runs the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${TOPO_BUILD_DIR:-$root/build}"
export TOPO_BUILD_DIR="$build_dir"

"$root/scripts/build.sh" -DTOPO_BUILD_TESTS=ON "$@"
# One process per GoogleTest binary (each torch process costs ~0.45 s to start).
ctest --test-dir "$build_dir" --output-on-failure --timeout 1800 --parallel 2
