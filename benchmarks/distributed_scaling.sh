#!/usr/bin/env bash
# Data-parallel scaling of the main job (MNIST point clouds, `topoformer train`) on this machine:
# the same run with 1 process × 2 compute threads, 1 process × 1 thread + 1 loader thread (the
# README's main command) and 2 processes × 1 thread (+ 1 loader thread each) with half the batch
# per process, so that all three take the same optimisation steps (global batch 32). Prints the
# mean epoch time (metrics.csv, training + validation), the throughput ratio against the best
# single-process setting, and the test accuracy. Usage: benchmarks/distributed_scaling.sh
# [EPOCHS] [extra train flags]; TOPO_BUILD_DIR selects the build (default build/), SETTINGS a
# subset of the settings (names as printed, space-separated).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${TOPO_BUILD_DIR:-$root/build}/bin/topoformer"
epochs="${1:-10}"
shift || true
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
declare -A flags=(
  [1p_2threads]="--threads 2 --workers 0 --batch-size 32"
  [1p_1thread_loader]="--threads 1 --workers 1 --batch-size 32"
  [2p_1thread_loader]="--nproc 2 --threads 1 --workers 1 --batch-size 16"
)
read -r -a order <<<"${SETTINGS:-1p_2threads 1p_1thread_loader 2p_1thread_loader}"
echo "date: $(date -u +%F), machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
declare -A epoch_s accuracy wall
for name in "${order[@]}"; do
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  result=$("$bin" train --task pointcloud --dataset mnist --data "$root/examples/data/mnist_10k" \
    --out "$out/$name" --epochs "$epochs" --no-progress ${flags[$name]} "$@" 2>/dev/null |
    grep '^test accuracy')
  wall[$name]=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.0f", a - b }')
  accuracy[$name]=$(echo "$result" | sed 's/test accuracy: \([0-9.]*\).*/\1/')
  epoch_s[$name]=$(awk -F, 'NR > 1 { s += $7; n++ } END { printf "%.1f", s / n }' "$out/$name/metrics.csv")
  echo "$name: ${epoch_s[$name]} s per epoch, test accuracy ${accuracy[$name]}, ${wall[$name]} s"
done
best=$(for n in "${order[@]}"; do if [[ $n == 1p* ]]; then echo "${epoch_s[$n]} $n"; fi; done | sort -n | head -1 | cut -d' ' -f2)
printf "| setting | flags | s per epoch | throughput vs %s | test accuracy | whole run s |\n|---|---|---|---|---|---|\n" "$best"
for name in "${order[@]}"; do
  printf "| %s | \`%s\` | %s | %sx | %s | %s |\n" "$name" "${flags[$name]}" "${epoch_s[$name]}" \
    "$(awk -v a="${epoch_s[$best]}" -v b="${epoch_s[$name]}" 'BEGIN { printf "%.2f", a / b }')" \
    "${accuracy[$name]}" "${wall[$name]}"
done
