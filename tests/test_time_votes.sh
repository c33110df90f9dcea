#!/bin/sh
# Usage: test_time_votes.sh TOPOFORMER DIGITS OUT
# --votes (test-time augmentation) on a point-cloud run of 200 digits (DIGITS, an MNIST folder):
# it is recorded, changes the test line, is deterministic, does not depend on the batching
# (predict's per-cloud probabilities), the training run's test line is eval's with the same
# votes, predict uses the recorded votes unless told otherwise, and votes without augmentations
# are refused.
set -e
cli=$1 digits=$2 out=$3
rm -rf "$out"
mkdir -p "$out"
small="--task pointcloud --dataset mnist --embed-dim 16 --heads 2 --layers 1
  --features 8 --epochs 1 --threads 1 --workers 0 --no-progress"
test_line() { grep '^test accuracy' | sed 's/, [0-9]* s$//'; }
# shellcheck disable=SC2086
"$cli" train $small --data "$digits" --out "$out/run" --votes 3 | test_line >"$out/train_votes3"
grep -q '"votes": 3' "$out/run/config.json"
"$cli" eval --out "$out/run" >"$out/eval_recorded"
"$cli" eval --out "$out/run" --votes 1 >"$out/eval_votes1"
"$cli" eval --out "$out/run" --votes 3 >"$out/eval_votes3"
"$cli" eval --out "$out/run" --votes 3 --batch-size 7 >"$out/eval_votes3_b7"
cat "$out/train_votes3" "$out/eval_recorded" "$out/eval_votes1" "$out/eval_votes3" "$out/eval_votes3_b7"
cmp "$out/train_votes3" "$out/eval_votes3"   # the run's own test line used its votes
cmp "$out/eval_recorded" "$out/eval_votes3"  # eval defaults to the recorded votes
cmp "$out/eval_votes3" "$out/eval_votes3_b7" # per-cloud draws: batching does not matter
if cmp -s "$out/eval_votes1" "$out/eval_votes3"; then
  echo "--votes 3 gave the same test line as --votes 1" >&2
  exit 1
fi
predictions() {  # predict with extra flags "$@" → the probabilities file named by $1
  name=$1
  shift
  "$cli" predict --out "$out/run" --input "$digits" "$@" >/dev/null
  cp "$out/run/predictions.csv" "$out/$name.csv"
}
predictions votes1 --votes 1
predictions recorded
predictions votes3 --votes 3
predictions votes3_b7 --votes 3 --batch-size 7
cmp "$out/recorded.csv" "$out/votes3.csv"  # predict defaults to the recorded votes
cmp "$out/votes3.csv" "$out/votes3_b7.csv" # per-cloud draws, to 6 digits per cloud
if cmp -s "$out/votes3.csv" "$out/votes1.csv"; then
  echo "predict --votes 3 wrote the same probabilities as --votes 1" >&2
  exit 1
fi
# shellcheck disable=SC2086
if "$cli" train $small --data "$digits" --out "$out/none" --votes 2 --augment none 2>"$out/error"; then
  echo "--votes 2 --augment none was accepted" >&2
  exit 1
fi
cat "$out/error"
echo VOTES CHECKED
