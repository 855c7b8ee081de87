"""Images/s of ``lead_hf.extract``: the landed release's code against this checkout's, side by side.

Two tables.

1. **End to end** (``extract`` with a fresh cache: model load, the dataset, the ONNX export where it runs,
   the loop and the cache write). The baseline is the landed code itself: ``--landed`` (a git ref, default
   ``origin/main``) is unpacked from git into a temporary folder and imported from there. Every
   (variant, repeat) runs in a fresh process (the import is not timed), all models one after the other;
   the variants are interleaved and their order rotates from repeat to repeat, so load on a shared machine
   falls on all of them alike. Quoted: medians of the repeats, the median of the per-repeat ratios to the
   landed code, the loop's own img/s (``provenance.cost["images_per_second"]``: decoding, preprocessing and
   the forward), and the largest difference from the landed features, relative to max(1, max |landed|)
   (``lead_hf.extract.runtime.TOLERANCE``'s measure).
2. **Levers** (``--levers``): the forward pass alone on one batch of the dataset's images, in this process,
   the variants interleaved: eager NCHW, eager channels-last (the landed forward), ``torch.jit.freeze``,
   ``torch.jit.freeze`` + ``optimize_for_inference`` (oneDNN fusion), ONNX Runtime on 1 and 2 threads; the
   preprocessing of one image on one thread; and the roofline: FLOPs per image x img/s against the GEMM
   FLOP/s this machine measures (a 1024^3 float32 matmul on the same threads).

Every process sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set, as the ``lead-hf`` command does.

    .venv/bin/python benchmarks/bench_extract.py --num-images 256 --repeats 3 --levers
    .venv/bin/python benchmarks/bench_extract.py --candidates runtime=eager runtime=auto "batch_size=64"
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (lead_hf.cli does the same)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ["zoo:mobilenetv2_100.in1k", "zoo:tf_efficientnet_lite0.in1k", "zoo:tf_efficientnet_lite1.in1k",
        "zoo:tf_efficientnet_lite2.in1k"]


def parse_options(text: str) -> dict:
    """``key=value,key=value`` -> ExtractOptions overrides (ints and booleans parsed); "" -> {}."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        value = value.strip()
        out[key.strip()] = int(value) if value.lstrip("-").isdigit() else \
            {"true": True, "false": False}.get(value.lower(), value)
    return out


# ------------------------------------------------------------------------------------- one timed process

def worker(job: dict) -> None:
    """Runs in a fresh process: import lead_hf from ``job["code"]``, extract every model, save the features,
    print one JSON line of timings."""
    sys.path.insert(0, job["code"])
    import numpy as np

    import lead_hf
    from lead_hf.data import load_split
    from lead_hf.extract import ExtractOptions, extract

    assert Path(lead_hf.__file__).resolve().is_relative_to(Path(job["code"]).resolve()), lead_hf.__file__
    import accelerate, datasets, timm, tqdm  # noqa: F401,E401 - the imports every variant needs, not timed
    ds = load_split(job["dataset"], f"{job['split']}[:{job['num_images']}]")
    out = {}
    for i, spec in enumerate(job["models"]):
        opts = ExtractOptions(**{"cache_dir": job["cache_dir"], "batch_size": job["batch_size"], "use_cache": False,
                                 "progress": False, **job["options"]})
        start = time.perf_counter()
        got = extract(spec, ds, opts)
        seconds = time.perf_counter() - start
        np.save(Path(job["out_dir"]) / f"{i}.npy", got.features)
        prov = got.provenance  # a dict in releases before the typed ExtractionProvenance (2026-12-02)
        cost = (prov.get("cost") if isinstance(prov, dict) else prov.cost) or {}
        out[spec] = {"seconds": seconds, "loop_ips": cost.get("images_per_second"),
                     "flops": cost.get("flops_per_image"), "runtime": cost.get("runtime", {"runtime": "eager"}),
                     "n": int(got.features.shape[0])}
    print("BENCH-RESULT " + json.dumps(out), flush=True)


def run_worker(job: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True,
                          cwd=job["out_dir"])
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("BENCH-RESULT "):])


def landed_tree(ref: str, into: Path) -> tuple[Path, str]:
    """The landed package (``lead_hf`` at git ``ref``) unpacked into ``into``; (folder, commit)."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref], check=True, capture_output=True,
                            text=True).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "lead_hf"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into, commit


def end_to_end(args, models) -> None:
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        landed, commit = landed_tree(args.landed, tmp / "landed")
        variants = [(f"landed {args.landed} ({commit})", str(landed), {})] + \
            [(c, str(ROOT), parse_options(c)) for c in args.candidates]
        runs = {name: [] for name, _, _ in variants}
        diffs = {name: {m: 0.0 for m in models} for name, _, _ in variants}
        for r in range(args.repeats):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            feats = {}
            for name, code, options in order:
                out_dir = tmp / f"r{r}-v{[v[0] for v in variants].index(name)}"
                out_dir.mkdir()
                job = {"code": code, "models": models, "dataset": args.dataset, "split": args.split,
                       "num_images": args.num_images, "batch_size": args.batch_size, "options": options,
                       "cache_dir": str(out_dir / "cache"), "out_dir": str(out_dir)}
                runs[name].append(run_worker(job))
                feats[name] = [np.load(out_dir / f"{i}.npy") for i in range(len(models))]
                print(f"repeat {r} {name}: " + ", ".join(
                    f"{m.split(':')[-1]} {v['n'] / v['seconds']:.1f} img/s" for m, v in runs[name][-1].items()),
                    flush=True)
            base = feats[variants[0][0]]
            for name, _, _ in variants:
                for i, m in enumerate(models):
                    want, got = base[i], feats[name][i]
                    diffs[name][m] = max(diffs[name][m], float(np.abs(got - want).max()) / max(1.0, float(np.abs(want).max())))
    load = os.getloadavg()[0]
    print(f"\n## End to end: {args.dataset} {args.split}[:{args.num_images}], batch {args.batch_size}, fresh cache, "
          f"median of {args.repeats} interleaved repeats (fresh process each), load average {load:.1f} at the end\n")
    print("| model | variant | img/s end to end | loop img/s | ratio to landed (median of per-repeat ratios) "
          "| runtime | max rel. feature diff vs landed |")
    print("|---|---|---:|---:|---:|---|---:|")
    base_name = variants[0][0]
    for m in models:
        for name, _, _ in variants:
            rs = runs[name]
            ips = statistics.median(x[m]["n"] / x[m]["seconds"] for x in rs)
            loop = statistics.median(x[m]["loop_ips"] or 0.0 for x in rs)
            ratio = statistics.median(b[m]["seconds"] / x[m]["seconds"] for b, x in zip(runs[base_name], rs))
            used = sorted({x[m]["runtime"].get("runtime", "eager") for x in rs})
            print(f"| {m.split(':')[-1]} | {name} | {ips:.1f} | {loop:.1f} | {ratio:.2f}x | {'/'.join(used)} "
                  f"| {diffs[name][m]:.1e} |")


# ---------------------------------------------------------------------------------------------- levers

def gemm_gflops(threads: int, repeats: int = 5) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best.append(time.perf_counter() - start)
    return 2 * 1024 ** 3 / statistics.median(best) / 1e9


def levers(args, models) -> None:
    import warnings

    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    from lead_hf.data import load_split
    from lead_hf.extract import runtime as rt
    from lead_hf.extract.cost import forward_flops
    from lead_hf.models import load_model

    threads = torch.get_num_threads()
    ds = load_split(args.dataset, f"{args.split}[:{args.batch_size}]")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in models:
            m = load_model(spec)
            images = [img.convert("RGB") for img in ds["image"]]
            start = time.perf_counter()
            x = torch.stack([m.preprocess(img) for img in images])
            prep_ips = len(images) / (time.perf_counter() - start)
            flops = forward_flops(m, m.image_size)
            with torch.inference_mode():
                want = [t.numpy() for t in m(x)]
            cl = load_model(spec).to("cpu", channels_last=True)
            x_cl = x.contiguous(memory_format=torch.channels_last)
            setup, forwards = {}, {"eager NCHW": lambda: m(x), "eager channels-last (landed)": lambda: cl(x_cl)}
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                frozen = torch.jit.freeze(torch.jit.trace(rt._Both(m).eval(), x[:2]))
                setup["jit.freeze"] = time.perf_counter() - start
                start = time.perf_counter()
                fused = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(rt._Both(m).eval(), x[:2])))
                setup["jit.freeze + optimize_for_inference"] = time.perf_counter() - start
            forwards["jit.freeze"] = lambda: frozen(x)
            forwards["jit.freeze + optimize_for_inference"] = lambda: fused(x)
            start = time.perf_counter()
            path = Path(tmp) / f"{models.index(spec)}.onnx"
            rt.export(m, path)
            export_s = time.perf_counter() - start
            x_np = x.numpy()
            for n in sorted({1, threads}):
                start = time.perf_counter()
                sess = rt.session(path, n)
                setup[f"ONNX Runtime, {n} thread(s)"] = export_s + time.perf_counter() - start
                forwards[f"ONNX Runtime, {n} thread(s)"] = lambda s=sess: s.run(None, {"pixels": x_np})
            diff = {}
            for name, f in forwards.items():
                with torch.inference_mode():
                    got = f()
                    f()  # warm-up
                diff[name] = max(float(np.abs(np.asarray(g) - w).max()) / max(1.0, float(np.abs(w).max()))
                                 for g, w in zip(got, want))
            times = {name: [] for name in forwards}
            for r in range(args.lever_repeats):
                names = list(forwards)
                for name in names[r % len(names):] + names[:r % len(names)]:
                    with torch.inference_mode():
                        start = time.perf_counter()
                        forwards[name]()
                        times[name].append(time.perf_counter() - start)
            torch.set_num_threads(threads)
            gemm = gemm_gflops(threads)
            base = times["eager channels-last (landed)"]
            for name, ts in times.items():
                ips = len(x) / statistics.median(ts)
                ratio = statistics.median(b / t for b, t in zip(base, ts))
                rows.append((spec.split(":")[-1], name, ips, ratio, setup.get(name, 0.0), diff[name],
                             (flops or 0) * ips / 1e9, gemm, prep_ips))
    print(f"\n## Levers: the forward pass alone, one batch of {args.batch_size} {args.dataset} images, torch threads "
          f"{threads}, median of {args.lever_repeats} interleaved repeats, load average {os.getloadavg()[0]:.1f}\n")
    print("| model | forward | img/s | ratio to eager channels-last | set-up s | max rel. diff vs eager NCHW "
          "| GFLOP/s | % of GEMM GFLOP/s | preprocess img/s (1 thread) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model, name, ips, ratio, setup_s, d, gf, gemm, prep in rows:
        print(f"| {model} | {name} | {ips:.1f} | {ratio:.2f}x | {setup_s:.1f} | {d:.1e} | {gf:.1f} "
              f"| {100 * gf / gemm:.0f}% of {gemm:.0f} | {prep:.0f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, help="model specs (default: the four demo models)")
    p.add_argument("--dataset", default="embedded:digits")
    p.add_argument("--split", default="train")
    p.add_argument("--num-images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--landed", default="origin/main", help="git ref of the landed code (the baseline)")
    p.add_argument("--candidates", nargs="*", default=["runtime=eager", "runtime=auto"],
                   help="this checkout's variants, each as ExtractOptions overrides key=value,key=value")
    p.add_argument("--no-end-to-end", action="store_true", help="only the levers table")
    p.add_argument("--levers", action="store_true", help="also time the forward pass alone under each lever")
    p.add_argument("--lever-repeats", type=int, default=5)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    models = args.models or DEMO
    if not args.no_end_to_end:
        end_to_end(args, models)
    if args.levers:
        levers(args, models)


if __name__ == "__main__":
    main()
