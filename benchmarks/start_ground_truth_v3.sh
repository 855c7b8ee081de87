#!/bin/sh
# (Re)start the ft-v3 ground-truth sweep (docs/benchmark_v3.md) as background workers that outlive the shell
# which starts them and share the pairs (--claim: each takes the next pair no other worker holds). A restarted
# worker skips every finished run (its record exists).
# Run from the repository root:  sh benchmarks/start_ground_truth_v3.sh [PYTHON] [WORKERS] [SWEEP ARGS...]
#   (defaults: .venv/bin/python, 2 workers, each on one thread; SWEEP ARGS go to every worker, e.g.
#   --datasets clipart_25pc mnist to run those rows first, in that order, and only them)
# Stop them with: kill $(cat benchmarks/ground_truth_v3/worker*.pid)
set -e
PYTHON=${1:-.venv/bin/python}
WORKERS=${2:-2}
if [ $# -ge 2 ]; then shift 2; else shift $#; fi
OUT=benchmarks/ground_truth_v3
mkdir -p "$OUT/runs/finetune"
i=0
while [ "$i" -lt "$WORKERS" ]; do
  if [ -f "$OUT/worker$i.pid" ] && kill -0 "$(cat "$OUT/worker$i.pid")" 2>/dev/null; then
    echo "worker $i is running already (pid $(cat "$OUT/worker$i.pid"))"; i=$((i + 1)); continue
  fi
  # setsid gives the worker its own session; with the kernel's autogroup scheduling (the Linux default) nice
  # then only ranks it within that session, so the new session's group is niced too (from inside it), and
  # other work comes first
  PYTHONPATH="$PWD" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 \
    OMP_NUM_THREADS=1 setsid nohup sh -c '(echo 19 > /proc/self/autogroup) 2>/dev/null; exec nice -n 19 "$@"' \
    sweep "$PYTHON" benchmarks/run_ground_truth.py --protocol ft-v3 --claim --num-threads 1 "$@" \
    >> "$OUT/sweep_worker$i.log" 2>&1 < /dev/null &
  echo $! > "$OUT/worker$i.pid"
  echo "started worker $i (pid $!), log $OUT/sweep_worker$i.log"
  i=$((i + 1))
done
