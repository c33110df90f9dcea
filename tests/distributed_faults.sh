#!/bin/sh
# A data-parallel job (`topoformer train --nproc 2`) facing a fault must end, naming the rank,
# within a bounded time, and leave no worker behind:
#   kill  - one worker is killed (SIGKILL): the launcher names its rank and stops the other;
#   hang  - one worker stops answering (SIGSTOP): the other's collective times out after
#           --dist-timeout, and the job ends;
#   int   - Ctrl-C (SIGINT) to the launcher stops every worker; the status is 130.
# usage: distributed_faults.sh MODE TOPOFORMER CONFIG DATA OUT
mode=$1 topoformer=$2 config=$3 data=$4 out=$5
rm -rf "$out"
log="$out.log"
"$topoformer" train --config "$config" --data "$data" --out "$out" --epochs 100000 --nproc 2 \
  --dist-timeout 5 --no-progress >"$log" 2>&1 &
launcher=$!
# Wait until both workers train (the first epoch's metrics are written).
waited=0
while [ ! -f "$out/metrics.csv" ]; do
  sleep 0.2
  waited=$((waited + 1))
  if [ $waited -gt 900 ] || ! kill -0 $launcher 2>/dev/null; then
    cat "$log"; echo "FAULT TEST: training did not start"; kill -9 $launcher 2>/dev/null; exit 1
  fi
done
workers=$(pgrep -P $launcher)
rank1=""
for pid in $workers; do
  if tr '\0' '\n' <"/proc/$pid/environ" | grep -qx 'RANK=1'; then rank1=$pid; fi
done
[ -n "$rank1" ] || { echo "FAULT TEST: no worker with RANK=1 among: $workers"; exit 1; }
start=$(date +%s)
case $mode in
  kill) kill -9 "$rank1" ;;
  hang) kill -STOP "$rank1" ;;
  int) kill -INT $launcher ;;
esac
# The job must end within the timeout (5 s) plus the launcher's grace period (5 s) and slack.
ended=""
i=0
while [ $i -lt 150 ]; do
  if ! kill -0 $launcher 2>/dev/null; then ended=1; break; fi
  sleep 0.2
  i=$((i + 1))
done
if [ -z "$ended" ]; then
  kill -9 $launcher $workers 2>/dev/null
  cat "$log"; echo "FAULT TEST: the job still runs 30 s after the fault"; exit 1
fi
wait $launcher
status=$?
seconds=$(($(date +%s) - start))
cat "$log"
for pid in $workers; do
  if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; then
    kill -9 "$pid"; echo "FAULT TEST: worker $pid outlived the job"; exit 1
  fi
done
echo "job ended with status $status after ${seconds} s"
case $mode in
  int) [ $status -eq 130 ] && echo "FAULT HANDLED" ;;
  *) [ $status -ne 0 ] && echo "FAULT HANDLED" ;;
esac
rm -rf "$out" "$log"
