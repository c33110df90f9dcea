#!/usr/bin/env python3
"""Writes the files of this folder: real inputs with one defect each (issue 19), derived from
the fixtures one folder up. Run from this folder; the output is deterministic."""
import gzip
import os

ethanol = open("../ethanol_head.extxyz").read().splitlines(True)
frames = [ethanol[i:i + 11] for i in range(0, len(ethanol), 11)]  # 20 frames of 9 atoms


def write(name, lines):
    open(name, "w").writelines(lines)


def without_forces(frame):
    head = frame[1].replace("Properties=species:S:1:pos:R:3:forces:R:3",
                            "Properties=species:S:1:pos:R:3")
    return [frame[0], head] + [" ".join(line.split()[:4]) + "\n" for line in frame[2:]]


# Declared counts the file cannot hold (must fail before allocating).
open("huge_vertex_count.off", "w").write("OFF\n1073741824 1 0\n0 0 0\n")  # 25 bytes, 2^30 vertices
open("count_1e12.off", "w").write("OFF\n1000000000000 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
open("huge_atom_count.extxyz", "w").write(
    "999999\nProperties=species:S:1:pos:R:3:forces:R:64 energy=-1.0\nH 0 0 0\n")
# A mesh whose triangles all have zero area (collinear vertices).
open("zero_area.off", "w").write("OFF\n4 2 0\n0 0 0\n1 1 1\n2 2 2\n3 3 3\n3 0 1 2\n3 1 2 3\n")
# Extended XYZ: a single frame (no validation or test split), energy=nan in frame 2, frame 3
# without forces, an oganesson atom (Z = 118) in frame 2.
write("one_frame.extxyz", frames[0])
nan = list(frames[1])
nan[1] = nan[1].replace("energy=-", "energy=nan energy_was=-", 1)
write("nan_energy.extxyz", frames[0] + nan + frames[2])
write("mixed_forces.extxyz", frames[0] + frames[1] + without_forces(frames[2]) + frames[3])
heavy = list(frames[1])
heavy[2] = "Og" + heavy[2][1:]
write("oganesson.extxyz", frames[0] + heavy + frames[2])
# Legal input: a gzip file of two members (`cat a.gz b.gz`), frames 1-10 and 11-20.
first = "".join("".join(f) for f in frames[:10]).encode()
second = "".join("".join(f) for f in frames[10:]).encode()
open("two_members.extxyz.gz", "wb").write(gzip.compress(first, mtime=0) +
                                          gzip.compress(second, mtime=0))
# A TU set whose 12 graphs (MUTAG's first 12) all carry the label 1.
mutag = "../MUTAG/MUTAG_"
indicator = open(mutag + "graph_indicator.txt").read().split()
nodes = sum(1 for g in indicator if int(g) <= 12)
os.makedirs("ONELABEL", exist_ok=True)
open("ONELABEL/ONELABEL_graph_indicator.txt", "w").write("\n".join(indicator[:nodes]) + "\n")
open("ONELABEL/ONELABEL_graph_labels.txt", "w").write("1\n" * 12)
edges = [line for line in open(mutag + "A.txt")
         if all(int(x) <= nodes for x in line.replace(",", " ").split())]
open("ONELABEL/ONELABEL_A.txt", "w").writelines(edges)
labels = open(mutag + "node_labels.txt").read().split()
open("ONELABEL/ONELABEL_node_labels.txt", "w").write("\n".join(labels[:nodes]) + "\n")
