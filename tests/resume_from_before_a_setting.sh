#!/bin/sh
# Usage: resume_from_before_a_setting.sh TOPOFORMER CONFIG DATA OUT
# Trains 1 epoch, removes model.readout from config.json (as a run written before the setting
# existed), then resumes to epoch 2: the run must continue with the setting's default and
# record it.
set -e
cli=$1 config=$2 data=$3 out=$4
rm -rf "$out"
"$cli" train --config "$config" --data "$data" --out "$out" --epochs 1 --no-progress --threads 1
/usr/bin/python3 - "$out/config.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    saved = json.load(f)
del saved["model"]["readout"]
with open(path, "w") as f:
    json.dump(saved, f, indent=2)
PY
"$cli" train --config "$config" --data "$data" --out "$out" --epochs 2 --resume --no-progress --threads 1
grep -q '"readout": "sum"' "$out/config.json"
echo RESUMED WITH THE DEFAULT
