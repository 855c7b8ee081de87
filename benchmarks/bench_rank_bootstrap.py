"""What the ranking bootstrap costs: `lead-hf rank`'s demo (the embedded zoo on embedded:digits, default
scores) with --bootstrap 0 and with B draws, on features already cached (the first, untimed run fills the
cache). Prints the wall time of each and the bootstrap seconds per score, summed over the models.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bench_rank_bootstrap.py --draws 20
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import tempfile
import time

from lead_hf.rank import RankOptions, rank_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--dataset", default="embedded:digits")
    args = parser.parse_args()
    quiet = lambda msg: None  # noqa: E731
    with tempfile.TemporaryDirectory() as out:
        base = dict(dataset=args.dataset, output_dir=out, progress=False)
        rank_models(RankOptions(**base, bootstrap=0), log=quiet)  # fills the feature cache
        times = {}
        for draws in (0, args.draws):
            start = time.perf_counter()
            res = rank_models(RankOptions(**base, bootstrap=draws), log=quiet)
            times[draws] = time.perf_counter() - start
        ok = [m for m in res.models if m.status == "ok"]
        print(f"{len(ok)} models on {args.dataset}, {res.dataset.num_samples} samples, scores {', '.join(res.scores)}")
        print(f"rank, cached features, --bootstrap 0: {times[0]:.1f} s")
        print(f"rank, cached features, --bootstrap {args.draws}: {times[args.draws]:.1f} s "
              f"({times[args.draws] / times[0]:.1f}x)")
        for method in res.scores:
            total = sum(m.bootstrap_seconds.get(method, 0.0) for m in ok)
            once = sum(m.seconds.get(method, 0.0) for m in ok)
            print(f"  {method}: one score {once:.2f} s, {args.draws} draws {total:.2f} s (all models)")


if __name__ == "__main__":
    main()
