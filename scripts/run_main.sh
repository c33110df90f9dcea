#!/usr/bin/env bash
# The README's main command: installs missing dependencies, builds, runs the main example.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${TOPO_BUILD_DIR:-$root/build}"
export TOPO_BUILD_DIR="$build_dir"

"$root/scripts/build.sh" "$@"
"$build_dir/examples/quickstart/quickstart"
