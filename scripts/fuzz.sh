#!/usr/bin/env bash
# Builds the dataset parsers with clang, runs their unit tests under AddressSanitizer +
# UndefinedBehaviorSanitizer, then fuzzes every parser with libFuzzer for TOPO_FUZZ_SECONDS
# (default 15) each, seeded from the real fixtures in tests/data/datasets. Any sanitizer
# report, crash, unexpected exception or allocation above 256 MiB (a declared count trusted
# before it was checked against the input) fails the script. Usage: scripts/fuzz.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${TOPO_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${TOPO_FUZZ_SECONDS:-15}"

"$root/scripts/install_dependencies.sh"
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S "$root/fuzz" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}"
cmake --build "$build_dir" --parallel "$(nproc)"

echo "== parser tests under ASan/UBSan"
"$build_dir/parser_tests_sanitized" --gtest_brief=1

data="$root/tests/data/datasets"
corpus="$build_dir/corpus"
rm -rf "$corpus"
mkdir -p "$corpus"/{qm9,extxyz,sdf,off,idx,npy,tu,cora}
cp "$data"/qm9/*.xyz "$corpus/qm9/"
cp "$data/qm7b_head.xyz" "$data/ethanol_head.extxyz" "$corpus/extxyz/"
cp "$data/cdk2_head.sdf" "$corpus/sdf/"
cp "$data"/meshes/*.off "$data"/defects/*.off "$corpus/off/"
# Inputs with one defect each, among them counts declaring far more than the file holds.
cp "$data"/defects/*.extxyz "$corpus/extxyz/"
gzip -dc "$data/mnist_200-labels-idx1-ubyte.gz" > "$corpus/idx/labels.idx"
(cd "$corpus/npy" && python3 -c "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); [open(n,'wb').write(z.read(n)) for n in z.namelist()]" "$data/ethanol_md17.npz")
# Multi-file formats: sections separated by NUL bytes (see fuzz/fuzz_parsers.cpp).
python3 - "$data" "$corpus" <<'PY'
import sys, gzip
data, corpus = sys.argv[1], sys.argv[2]
def head(path, n):
    return b"".join(open(path, "rb").readlines()[:n])
m = data + "/MUTAG/MUTAG_"
graphs = [l for l in open(m + "graph_indicator.txt").read().split() if l in ("1", "2")]
nodes = len(graphs)
edges = [l for l in open(m + "A.txt", "rb").readlines() if all(int(x) <= nodes for x in l.decode().split(","))]
parts = [b"".join(edges), head(m + "graph_indicator.txt", nodes), head(m + "graph_labels.txt", 2),
         head(m + "node_labels.txt", nodes), head(m + "edge_labels.txt", len(edges))]
open(corpus + "/tu/mutag_2_graphs", "wb").write(b"\0".join(parts))
content = gzip.open(data + "/cora/cora.content.regenerated_from_npz.gz").readlines()[:20]
open(corpus + "/cora/cora_20", "wb").write(b"".join(content) + b"\0" + head(data + "/cora/cora.cites", 20))
PY

for parser in qm9 extxyz sdf off idx npy tu cora; do
  echo "== fuzzing $parser for ${seconds}s"
  (cd "$build_dir" && ./"fuzz_$parser" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
      -print_final_stats=1 "$corpus/$parser" 2>&1 | tail -n 4)
  # libFuzzer exits non-zero on a finding; `set -o pipefail` propagates it.
done
echo "fuzzing: no findings"
