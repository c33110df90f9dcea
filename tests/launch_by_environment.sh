#!/bin/sh
# Two `topoformer train` processes started by hand with torchrun's environment (as a launcher on
# several machines would start them): they train as one job, rank 0 alone prints and writes,
# and config.json records nproc = WORLD_SIZE.
# usage: launch_by_environment.sh TOPOFORMER CONFIG DATA OUT
topoformer=$1 config=$2 data=$3 out=$4
rm -rf "$out" "$out.0.log" "$out.1.log"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for rank in 0 1; do
  RANK=$rank LOCAL_RANK=$rank WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 \
    MASTER_PORT=$port "$topoformer" train --config "$config" --data "$data" --out "$out" \
    --no-progress --dist-timeout 60 >"$out.$rank.log" 2>&1 &
  eval "pid$rank=\$!"
done
wait "$pid0"; status0=$?
wait "$pid1"; status1=$?
echo "rank 0 (status $status0):"; cat "$out.0.log"
echo "rank 1 (status $status1):"; cat "$out.1.log"
[ "$status0" -eq 0 ] && [ "$status1" -eq 0 ] && ! grep -q "epoch\|test\|outputs" "$out.1.log" &&
  grep -q '"nproc": 2' "$out/config.json" && echo "ONE JOB, RANK 0 WROTE"
