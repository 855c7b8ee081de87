"""Images/s of ``lead_hf.extract`` against a plain single-process loop, on the embedded zoo.

The baseline is what one writes by hand: a DataLoader in the main process (no workers), ``model.eval()``,
``torch.no_grad()``, contiguous NCHW input, ``for batch in loader: model(batch)``. The extraction is timed
end to end (model load, dataset build and the cache write included; the cache read is disabled), so
the comparison is conservative. Both see the same preprocessed images; features must agree.

    .venv/bin/python benchmarks/bench_extract.py --num-images 256 --repeats 3
    accelerate launch ... (GPU) : python benchmarks/bench_extract.py --device cuda
"""
from __future__ import annotations

import _lab  # noqa: F401 - the checkout on sys.path, the benchmark zoo registered

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import torch


def baseline(spec, ds, batch_size, device):
    from lead_hf.models import load_model

    m = load_model(spec)
    m.module.to(device)

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return m.preprocess(ds[i]["image"])

    loader = torch.utils.data.DataLoader(Plain(), batch_size=batch_size, shuffle=False, num_workers=0)
    feats = []
    start = time.perf_counter()
    with torch.no_grad():
        for batch in loader:
            f, _ = m(batch.to(device))  # one forward giving the features and the logits
            feats.append(f.float().cpu())
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, torch.cat(feats).numpy()


def ours(spec, ds, batch_size, cache_dir, mixed_precision):
    from lead_hf.extract import ExtractOptions, extract

    opts = ExtractOptions(cache_dir=cache_dir, batch_size=batch_size, use_cache=False, progress=False,
                          mixed_precision=mixed_precision)
    start = time.perf_counter()
    out = extract(spec, ds, opts)
    return time.perf_counter() - start, out.features


def main(argv=None):
    from lead_hf.data import load_split
    from lead_hf.models import list_zoo

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, help="model specs (default: the available zoo)")
    p.add_argument("--dataset", default="embedded:digits")
    p.add_argument("--split", default="train")
    p.add_argument("--num-images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--mixed-precision", default="no")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    models = args.models or [f"zoo:{n}" for n in list_zoo(available_only=True)]
    ds = load_split(args.dataset, f"{args.split}[:{args.num_images}]")
    device = torch.device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in models:
            base_t, ours_t, diffs = [], [], []
            for r in range(args.repeats):
                t, f_base = baseline(spec, ds, args.batch_size, device)
                base_t.append(t)
                t, f_ours = ours(spec, ds, args.batch_size, os.path.join(tmp, f"r{r}"), args.mixed_precision)
                ours_t.append(t)
                diffs.append(float(np.abs(f_base - f_ours).max()))
            b, o = statistics.median(base_t), statistics.median(ours_t)
            rows.append((spec, len(ds), len(ds) / b, len(ds) / o, b / o, max(diffs),
                         bool(np.allclose(f_base, f_ours, rtol=1e-3, atol=1e-4))))
    print(f"\n{args.dataset} {args.split}, {len(ds)} images, batch {args.batch_size}, device {device}, "
          f"torch threads {torch.get_num_threads()}, median of {args.repeats}\n")
    print("| model | images | plain loop (img/s) | lead-hf extract (img/s) | speed-up | max abs feature diff | same features |")
    print("|---|---:|---:|---:|---:|---:|:---:|")
    for spec, n, b, o, s, d, same in rows:
        print(f"| {spec} | {n} | {b:.1f} | {o:.1f} | {s:.2f}x | {d:.2e} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
