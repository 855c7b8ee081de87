"""The GPU check of issue 12, in one command: scores on CUDA vs the CPU, extraction throughput, equality.

1. Every registered score on the same generated features (Gaussian class clusters, float32, with 1,000
   source classes of noisy logits for the scores that read them), timed on the CPU and on CUDA
   (median of --repeats, after a warm-up), and the two values compared with the tolerance the CUDA tests
   of tests/test_score_*.py use (TOLERANCES below; 1e-6 relative for a score without its own).
2. Extraction throughput (images/s) of the demo zoo on embedded:digits: a plain loop (``model.eval()``,
   ``no_grad``, NCHW float32, no DataLoader workers) against ``lead_hf.extract`` in float32 NCHW,
   float32 channels-last and bf16 channels-last (the cache write included, the cache read off; it runs
   on the accelerator's device: CUDA when present), and each one's largest feature difference from the
   plain loop.
3. Writes the tables, with the device named, to --out (Markdown) and prints them; exits 1 when a CUDA
   score differs from the CPU beyond its tolerance.

    python benchmarks/bench_gpu.py                       # the README table on a GPU machine
    python benchmarks/bench_gpu.py --quick               # small sizes, two models, one repeat
    python benchmarks/bench_gpu.py --device cpu --quick  # a dry run of the script itself, no GPU (< 1 min)

The dry run (``--quick`` on a device that is not CUDA) goes through every step with the smallest sizes that
still run every code path: every score at 400 x 32 x 5 with 100 source classes, one model, one batch of
8 images, one repeat, and writes its tables to a temporary folder unless ``--out`` is given. Its
figures measure nothing; they show the script works before a GPU is lent.
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_baselines import make_data  # the same Gaussian-cluster features and source logits (benchmarks/ is on sys.path)

# |cuda - cpu| allowed, from the CUDA tests: ("rel" | "abs", bound)
TOLERANCES = {"lead": ("abs", 1e-6), "logme": ("rel", 1e-9), "hscore": ("rel", 1e-9), "hscore_reg": ("rel", 1e-9),
              "leep": ("rel", 1e-10), "nleep": ("rel", 1e-6)}
DEFAULT_TOLERANCE = ("rel", 1e-6)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_score(name: str, data, device: str, repeats: int) -> tuple[float, float]:
    import lead_hf

    feats, labels, logits = data
    times, value = [], None
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        value = lead_hf.score(name, feats, labels, source_logits=logits, device=device)
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def within(name: str, a: float, b: float) -> tuple[bool, str]:
    kind, bound = TOLERANCES.get(name, DEFAULT_TOLERANCE)
    diff = abs(a - b)
    if kind == "abs":
        return diff <= bound, f"abs {bound:g}"
    return diff <= bound * max(abs(a), abs(b), 1e-300), f"rel {bound:g}"


def score_rows(sizes, device: str, repeats: int, scores, cpu_repeats: int = 1,
               source_classes: int = 1000) -> tuple[list[str], bool]:
    import lead_hf

    warm = make_data(60, 8, 3, 5, seed=1)
    for name in scores:  # CUDA context, cuBLAS/cuSOLVER handles, lazy LAPACK: not timed
        for dev in ("cpu", device):
            lead_hf.score(name, warm[0], warm[1], source_logits=warm[2], device=dev)
    lines = ["| score | N x D x K | CPU s | CUDA s | CPU / CUDA | |CUDA - CPU| | tolerance | equal |",
             "|---|---|---:|---:|---:|---:|---|:---:|"]
    ok = True
    for n, d, k in sizes:
        data = make_data(n, d, k, source_classes)
        for name in scores:
            t_cpu, v_cpu = time_score(name, data, "cpu", cpu_repeats)
            t_dev, v_dev = time_score(name, data, device, repeats)
            same, tol = within(name, v_cpu, v_dev)
            ok &= same
            lines.append(f"| {name} | {n} x {d} x {k} | {t_cpu:.2f} | {t_dev:.3f} | {t_cpu / t_dev:.1f}x | "
                         f"{abs(v_cpu - v_dev):.1e} | {tol} | {'yes' if same else 'NO'} |")
            print(lines[-1], flush=True)
    return lines, ok


def plain_loop(model, ds, batch_size: int, device: torch.device):
    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return model.preprocess(ds[i]["image"])

    loader = torch.utils.data.DataLoader(Plain(), batch_size=batch_size, shuffle=False, num_workers=0)
    feats = []
    sync(device.type)
    start = time.perf_counter()
    with torch.no_grad():
        for batch in loader:
            f, _ = model(batch.to(device))
            feats.append(f.float().cpu())
    sync(device.type)
    return time.perf_counter() - start, torch.cat(feats).numpy()


def extraction_rows(models, num_images: int, batch_size: int, device: torch.device, repeats: int) -> list[str]:
    from lead_hf.data import load_split
    from lead_hf.extract import ExtractOptions, extract
    from lead_hf.models import load_model

    ds = load_split("embedded:digits", f"train[:{num_images}]")
    # PyTorch in every variant (runtime="eager"): ONNX Runtime runs only on the CPU, measured by bench_extract.py
    variants = {"float32 NCHW": dict(mixed_precision="no", channels_last=False, runtime="eager"),
                "float32 channels-last": dict(mixed_precision="no", channels_last=True, runtime="eager"),
                "bf16 channels-last": dict(mixed_precision="bf16", channels_last=True, runtime="eager")}
    lines = ["| model | plain loop img/s | " + " | ".join(f"extract {v} img/s (max abs diff)" for v in variants) + " |",
             "|---|---:|" + "---:|" * len(variants)]
    with tempfile.TemporaryDirectory() as tmp:
        for spec in models:
            m = load_model(spec)
            m.module.to(device)
            plain_loop(m, ds.select(range(min(len(ds), batch_size))), batch_size, device)  # warm-up
            base = [plain_loop(m, ds, batch_size, device) for _ in range(repeats)]
            t_base, f_base = statistics.median(t for t, _ in base), base[0][1]
            cells = []
            for r, (name, extra) in enumerate(variants.items()):
                times, diff = [], 0.0
                for i in range(repeats):
                    opts = ExtractOptions(cache_dir=os.path.join(tmp, f"{spec}-{r}-{i}"), batch_size=batch_size,
                                          use_cache=False, progress=False, **extra)
                    start = time.perf_counter()
                    out = extract(spec, ds, opts)
                    sync(device.type)
                    times.append(time.perf_counter() - start)
                    diff = max(diff, float(np.abs(out.features - f_base).max()))
                cells.append(f"{len(ds) / statistics.median(times):.0f} ({diff:.1e})")
            lines.append(f"| {spec} | {len(ds) / t_base:.0f} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    return lines


def main(argv=None) -> int:
    import lead_hf
    from lead_hf.models import list_zoo
    from lead_hf.models.zoo import DEMO_MODELS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", nargs="+", default=["20000x1024x50"], help="NxDxK triples for every score")
    p.add_argument("--lead-sizes", nargs="+", default=["50000x2048x100"],
                   help="NxDxK triples for LEAD and LogME only (the speed target's large case)")
    p.add_argument("--scores", nargs="+", default=None, help="default: every registered score")
    p.add_argument("--repeats", type=int, default=3, help="CUDA timings per score and extraction variant")
    p.add_argument("--cpu-repeats", type=int, default=1, help="CPU timings per score (the slow side)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's, all cores)")
    p.add_argument("--num-images", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--models", nargs="*", default=None, help="default: the demo zoo")
    p.add_argument("--quick", action="store_true", help="2000x256x10 only, two models, 256 images, one repeat; "
                   "with a device that is not CUDA, the dry run (see above)")
    p.add_argument("--out", default=None, help="Markdown file for the tables (default benchmarks/results/gpu_<device>.md)")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("bench_gpu: CUDA is not available on this machine; run it on a GPU machine "
              "(or pass --device cpu for a dry run)", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    dry_run = args.quick and not args.device.startswith("cuda")
    source_classes = 100 if dry_run else 1000
    if args.quick:
        args.sizes, args.lead_sizes, args.repeats, args.num_images = ["2000x256x10"], [], 1, 256
    if dry_run:
        args.sizes, args.num_images, args.batch_size = ["400x32x5"], 8, 8
    parse = lambda texts: [tuple(int(v) for v in s.lower().split("x")) for s in texts]  # noqa: E731
    scores = args.scores or lead_hf.available_scores()
    big_scores = [s for s in ("lead", "logme") if s in scores]
    models = args.models or [f"zoo:{n}" for n in list_zoo(available_only=True) if n in DEMO_MODELS]
    if args.quick:
        models = models[:1 if dry_run else 2]
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu (dry run)"
    header = (f"# GPU check: {device_name}, torch {torch.__version__}, CPU {os.cpu_count()} cores with "
              f"{torch.get_num_threads()} torch threads; medians of {args.repeats} (CUDA, extraction) and "
              f"{args.cpu_repeats} (CPU scores)")
    print(header + "\n", flush=True)
    lines, ok = score_rows(parse(args.sizes), args.device, args.repeats, scores, args.cpu_repeats, source_classes)
    if args.lead_sizes and big_scores:
        more, ok_big = score_rows(parse(args.lead_sizes), args.device, args.repeats, big_scores, args.cpu_repeats,
                                  source_classes)
        lines, ok = lines + more[2:], ok and ok_big
    ext = extraction_rows(models, args.num_images, args.batch_size, torch.device(args.device), args.repeats)
    cmd = "python benchmarks/bench_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join([header, "", f"`{cmd.strip()}`", "", "## Scores, CUDA vs CPU", "", *lines, "",
                      f"## Extraction, embedded:digits, {args.num_images} images, batch {args.batch_size}", "",
                      *ext, ""])
    if args.out:
        out = Path(args.out)
    elif dry_run:  # a dry run's figures are no result: nothing is written into benchmarks/results/
        out = Path(tempfile.mkdtemp(prefix="bench_gpu_dry_run_")) / f"gpu_{args.device.replace(':', '')}.md"
    else:
        out = Path(__file__).resolve().parent / "results" / f"gpu_{args.device.replace(':', '')}.md"
    from lead_hf.utils.io import atomic_path

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(text)
    print(f"\nwrote {out}; CUDA results {'equal the CPU ones' if ok else 'DIFFER from the CPU ones'} "
          "within the tolerances")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
