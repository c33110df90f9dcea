#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What the Python path adds to the C++ time of one masked-attention forward + backward at
L = 16,384 ([1, L, 256] tokens, 4 heads, causal mask, m = 128 FAVOR+ features, 1 thread):
the C++ module through topo_bench_attention (BM_MaskedAttentionModule) and the same module
through topoformer.nn.MaskedLinearAttention, alternated so both see the same machine load.

    PYTHONPATH=build/python /usr/bin/python3 benchmarks/python_overhead.py [build] [rounds]
"""
import json
import os
import statistics
import subprocess
import sys
import time

import torch

import topoformer

LENGTH, HEADS, HEAD_DIM, FEATURES = 16384, 4, 64, 128


def cpp_seconds(build):
    out = subprocess.run(
        [os.path.join(build, "benchmarks", "topo_bench_attention"),
         "--benchmark_filter=BM_MaskedAttentionModule/16384", "--benchmark_format=json",
         "--benchmark_min_time=1"],
        env=dict(os.environ, TOPO_NUM_THREADS="1"), check=True, capture_output=True, text=True)
    run = json.loads(out.stdout)["benchmarks"][0]
    return run["real_time"] / 1000.0  # milliseconds per iteration


def python_seconds(module, x, iterations=3):
    module(x).sum().backward()  # warm-up, as Google Benchmark's first iterations
    start = time.perf_counter()
    for _ in range(iterations):
        module(x).sum().backward()
    return (time.perf_counter() - start) / iterations


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    torch.set_num_threads(1)
    torch.manual_seed(0)
    module = topoformer.nn.MaskedLinearAttention(HEADS * HEAD_DIM, HEADS, mask="causal",
                                                 num_features=FEATURES)
    x = torch.randn(1, LENGTH, HEADS * HEAD_DIM)
    cpp, python = [], []
    for r in range(rounds):
        cpp.append(cpp_seconds(build))
        python.append(python_seconds(module, x))
        print(f"round {r + 1}: C++ {cpp[-1]:.3f} s, Python {python[-1]:.3f} s", file=sys.stderr,
              flush=True)
    c, p = statistics.median(cpp), statistics.median(python)
    print(f"L = {LENGTH}, forward + backward, 1 thread, {rounds} alternating rounds (medians)")
    print(f"  C++    {c * 1000:8.1f} ms   (rounds: {', '.join(f'{t * 1000:.0f}' for t in cpp)})")
    print(f"  Python {p * 1000:8.1f} ms   (rounds: {', '.join(f'{t * 1000:.0f}' for t in python)})")
    print(f"  Python / C++ = {p / c:.3f}")


if __name__ == "__main__":
    main()
