#!/usr/bin/env python3
"""Regenerates the dataset test fixtures from the real data in ../shared/data (and Debian's
rdkit-data). Python standard library only. Run from this folder:
    python3 make_fixtures.py /work/shared/data
Every fixture is a subset of a real file, re-encoded in the published format it tests."""
import gzip, io, os, shutil, struct, sys, tarfile, zipfile

data = sys.argv[1] if len(sys.argv) > 1 else "../../../../shared/data"

# QM9: four original files, plus the same files as a .tar.bz2 archive (QM9's distribution form).
os.makedirs("qm9", exist_ok=True)
names = ["dsgdb9nsd_000001.xyz", "dsgdb9nsd_000004.xyz", "dsgdb9nsd_005000.xyz", "dsgdb9nsd_100001.xyz"]
for n in names:
    shutil.copy(os.path.join(data, "qm9_sample", n), os.path.join("qm9", n))
with tarfile.open("qm9.tar.bz2", "w:bz2") as tar:
    for n in names:
        tar.add(os.path.join("qm9", n), arcname=n)

def frames(path, count):
    lines = open(path).read().splitlines()
    out, i = [], 0
    while i < len(lines) and len(out) < count:
        n = int(lines[i]); out.append(lines[i:i + n + 2]); i += n + 2
    return out

# Extended XYZ: the first 30 QM7b molecules and the first 20 ethanol MD frames.
with open("qm7b_head.xyz", "w") as f:
    for fr in frames(os.path.join(data, "qm7b", "small_molecules-1000_QM7b.xyz"), 30):
        f.write("\n".join(fr) + "\n")
ethanol = frames(os.path.join(data, "md_ethanol_gfn2xtb", "ethanol_gfn2xtb_md500K.extxyz"), 20)
with open("ethanol_head.extxyz", "w") as f:
    for fr in ethanol:
        f.write("\n".join(fr) + "\n")

# The same 20 ethanol frames as an MD17-layout .npz (R, z, E, F; float64 / int64 arrays).
def npy(shape, fmt, values):
    descr = {"d": "<f8", "q": "<i8"}[fmt]
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<%d%s" % (len(values), fmt), *values)
symbols = {"H": 1, "C": 6, "O": 8}
R, F, E = [], [], []
z = [symbols[l.split()[0]] for l in ethanol[0][2:]]
for fr in ethanol:
    E.append(float(fr[1].split("energy=")[1].split()[0]))
    for l in fr[2:]:
        p = l.split(); R += [float(v) for v in p[1:4]]; F += [float(v) for v in p[4:7]]
with zipfile.ZipFile("ethanol_md17.npz", "w") as zf:
    zf.writestr("R.npy", npy((20, len(z), 3), "d", R))
    zf.writestr("z.npy", npy((len(z),), "q", z))
    zf.writestr("E.npy", npy((20,), "d", E))
    zf.writestr("F.npy", npy((20, len(z), 3), "d", F))

# SDF: the first 5 molecules of RDKit's cdk2.sdf (3-D V2000).
text = open("/usr/share/RDKit/Contrib/Fastcluster/testdata/cdk2.sdf").read()
records = text.split("$$$$\n")[:5]
open("cdk2_head.sdf", "w").write("$$$$\n".join(records) + "$$$$\n")

# A malformed SDF for the bond-count check: the first cdk2 record with its last bond line
# ("17 30") removed, so the bond block holds 30 of the 31 bonds its counts line declares.
record = records[0].split("\n")
assert record[64].split() == ["17", "30", "1", "0", "0", "0"] and record[65] == "M  END"
del record[64]
open("truncated_bonds.sdf", "w").write("\n".join(record) + "$$$$\n")

# Malformed clouds for the finiteness check: the first 5 vertices of meshes/eight.off as an
# ASCII PLY with point 3's y set to nan, and as XYZ with point 2's z set to inf.
def first_vertices():
    return [l.split() for l in open(os.path.join(data, "meshes", "eight.off")).read().splitlines()[2:7]]
v = first_vertices(); v[3][1] = "nan"
with open("nan_point.ply", "w") as f:
    f.write("ply\nformat ascii 1.0\nelement vertex %d\nproperty float x\nproperty float y\nproperty float z\nend_header\n" % len(v))
    for p in v: f.write(" ".join(p) + "\n")
v = first_vertices(); v[2][2] = "inf"
with open("inf_point.xyz", "w") as f:
    for p in v: f.write(" ".join(p) + "\n")

# MNIST: the first 200 digits, re-encoded as gzip IDX with the counts adjusted.
images = gzip.open(os.path.join(data, "mnist_10k", "images-idx3-ubyte.gz")).read()
labels = gzip.open(os.path.join(data, "mnist_10k", "labels-idx1-ubyte.gz")).read()
n = 200
with gzip.open("mnist_200-images-idx3-ubyte.gz", "wb") as f:
    f.write(images[:4] + struct.pack(">III", n, 28, 28) + images[16:16 + n * 784])
with gzip.open("mnist_200-labels-idx1-ubyte.gz", "wb") as f:
    f.write(labels[:4] + struct.pack(">I", n) + labels[8:8 + n])
# ... and 20 digits of each class (the first of each; the file is sorted by digit), a folder as
# `topoformer train --dataset mnist --data` reads it.
os.makedirs("mnist_mixed_200", exist_ok=True)
rows = [i for c in range(10) for i in [j for j in range(len(labels) - 8) if labels[8 + j] == c][:20]]
with gzip.GzipFile(os.path.join("mnist_mixed_200", "images-idx3-ubyte.gz"), "wb", mtime=0) as f:
    f.write(images[:4] + struct.pack(">III", len(rows), 28, 28) +
            b"".join(images[16 + i * 784:16 + (i + 1) * 784] for i in rows))
with gzip.GzipFile(os.path.join("mnist_mixed_200", "labels-idx1-ubyte.gz"), "wb", mtime=0) as f:
    f.write(labels[:4] + struct.pack(">I", len(rows)) + bytes(labels[8 + i] for i in rows))

# Meshes (OFF) and the MUTAG TU dataset, unchanged; Cora unchanged.
os.makedirs("meshes", exist_ok=True)
for m in ["cube-meshed.off", "sphere966.off", "eight.off"]:
    shutil.copy(os.path.join(data, "meshes", m), os.path.join("meshes", m))
shutil.copytree(os.path.join(data, "tu", "MUTAG"), "MUTAG", dirs_exist_ok=True)
shutil.copytree(os.path.join(data, "graphs", "cora"), "cora", dirs_exist_ok=True)
