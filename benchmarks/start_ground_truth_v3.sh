#!/bin/sh
# (Re)start the ft-v3 ground-truth sweep (docs/benchmark_v3.md) as two background workers, one shard each,
# that outlive the shell which starts them. A restarted worker skips every finished run (its record exists).
# Run from the repository root:  sh benchmarks/start_ground_truth_v3.sh   [PYTHON]   (default: .venv/bin/python)
# Stop them with: kill $(cat benchmarks/ground_truth_v3/shard0.pid) $(cat benchmarks/ground_truth_v3/shard1.pid)
set -e
PYTHON=${1:-.venv/bin/python}
OUT=benchmarks/ground_truth_v3
mkdir -p "$OUT/runs/finetune"
for i in 0 1; do
  if [ -f "$OUT/shard$i.pid" ] && kill -0 "$(cat "$OUT/shard$i.pid")" 2>/dev/null; then
    echo "shard $i/2 is running already (pid $(cat "$OUT/shard$i.pid"))"; continue
  fi
  # setsid gives the worker its own session; with the kernel's autogroup scheduling (the Linux default) nice
  # then only ranks it within that session, so the new session's group is niced too (from inside it), and
  # other work comes first
  PYTHONPATH="$PWD" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 \
    OMP_NUM_THREADS=1 setsid nohup sh -c '(echo 19 > /proc/self/autogroup) 2>/dev/null; exec nice -n 19 "$@"' \
    sweep "$PYTHON" benchmarks/run_ground_truth.py --protocol ft-v3 --shard "$i/2" --num-threads 1 \
    >> "$OUT/sweep_shard$i.log" 2>&1 < /dev/null &
  echo $! > "$OUT/shard$i.pid"
  echo "started shard $i/2 (pid $!), log $OUT/sweep_shard$i.log"
done
