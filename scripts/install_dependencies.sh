#!/usr/bin/env bash
# Installs topoformer's build and test dependencies from Debian 12 (bookworm) packages.
# Idempotent: packages already installed are skipped; needs root or sudo only when something
# is missing. Usage: scripts/install_dependencies.sh
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache git pkg-config
  libtorch-dev libopenblas0-pthread libgloo-dev
  libboost-graph-dev libnanoflann-dev libopen3d-dev libeigen3-dev
  libgtest-dev libbenchmark-dev libfftw3-dev
  zlib1g-dev libzip-dev libhdf5-dev libarchive-dev libcairo2-dev
  clang libclang-rt-14-dev clang-format
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev
  python3-dev pybind11-dev python3-torch python3-pytest python3-ase
  liblammps-dev
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_dependencies: all ${#packages[@]} packages present"
  exit 0
fi

echo "install_dependencies: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "install_dependencies: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
