"""ONNX Runtime in the extraction loop (lead_hf/extract/runtime.py): its features equal a plain float32
``model(x)`` loop within the stated tolerance, it is not part of the cache key, the exported graph is cached,
and every way it can fail falls back to PyTorch with the reason recorded."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lead_hf.extract import ExtractOptions, extract
from lead_hf.extract import runtime as rt
from lead_hf.models import load_model

from test_extract import make_dataset, timm_model  # noqa: F401 - the tiny timm model fixture

pytest.importorskip("onnxruntime")


@pytest.fixture
def opts(tmp_path):
    return ExtractOptions(cache_dir=str(tmp_path / "cache"), batch_size=4, chunk_size=8, num_workers=0,
                          progress=False)


def plain_loop(spec, ds):
    """What the fast path must equal: float32, eager, NCHW, ``model(x)`` batch by batch."""
    m = load_model(spec)
    feats, logits = [], []
    with torch.no_grad():
        for start in range(0, len(ds), 4):
            x = torch.stack([m.preprocess(img) for img in ds[start:start + 4]["image"]])
            f, lg = m(x)
            feats.append(f)
            logits.append(lg)
    return torch.cat(feats).numpy(), torch.cat(logits).numpy()


def within_tolerance(got, want):
    return np.abs(got - want).max() <= rt.TOLERANCE * max(1.0, np.abs(want).max())


def test_onnxruntime_equals_the_plain_loop(timm_model, opts):  # noqa: F811
    ds = make_dataset()
    out = extract(timm_model, ds, opts)
    cost = out.provenance.cost
    assert cost["runtime"]["runtime"] == "onnxruntime", cost["runtime"]
    assert 0 <= cost["runtime"]["checked_difference"] <= rt.TOLERANCE
    want_f, want_l = plain_loop(timm_model, ds)
    assert within_tolerance(out.features, want_f) and within_tolerance(out.logits, want_l)
    eager = extract(timm_model, ds, opts, runtime="eager", use_cache=False)
    assert eager.provenance.cost["runtime"] == {"runtime": "eager", "why": "runtime='eager'"}
    assert within_tolerance(eager.features, want_f)


def test_a_model_without_a_classifier_runs_on_onnxruntime_too(tmp_path, opts):
    """Its logits are empty ([B, 0]): the first-batch check took max() of nothing and fell back to PyTorch
    for every such model (the FID InceptionV3 of the benchmark zoo)."""
    from lead_hf.models.base import LoadedModel

    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    model = LoadedModel(name="headless", module=body, family="torch", preprocess=None, revision="sha256:0",
                        hub_id=None, image_size=(16, 16), num_classes=0, feature_dim=4,
                        _both=lambda x: (body(x), body(x)[:, :0]))
    forward, info = rt.forward_for(model, torch.device("cpu"), opts, tmp_path, threads=1)
    pixels = torch.randn(3, 3, 16, 16)
    feats, logits = forward(pixels)
    assert info["runtime"] == "onnxruntime", info
    assert tuple(logits.shape) == (3, 0)
    with torch.no_grad():
        assert within_tolerance(feats.numpy(), body(pixels).numpy())
    assert rt.close_enough(torch.zeros(2, 0), torch.zeros(2, 0)) == (True, 0.0)
    assert rt.close_enough(torch.zeros(2, 0), torch.zeros(3, 0))[0] is False


def test_the_runtime_is_not_in_the_cache_key_and_the_export_is_cached(timm_model, opts, monkeypatch):  # noqa: F811
    ds = make_dataset(n=9)
    first = extract(timm_model, ds, opts, runtime="eager")
    assert extract(timm_model, ds, opts, runtime="onnxruntime").from_cache  # same numbers: the same entry
    extract(timm_model, ds, opts, use_cache=False)
    assert len(list((opts.cache_root() / "onnx").glob("*.onnx"))) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported twice")

    monkeypatch.setattr(rt, "export", no_export)
    again = extract(timm_model, ds, opts, use_cache=False)
    assert again.provenance.cost["runtime"]["runtime"] == "onnxruntime"
    assert within_tolerance(again.features, first.features)


def test_an_export_that_fails_falls_back_to_pytorch(timm_model, opts, monkeypatch):  # noqa: F811
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("operator not supported")

    monkeypatch.setattr(rt, "export", broken)
    ds = make_dataset(n=6)
    with pytest.warns(rt.RuntimeFallbackWarning, match="operator not supported"):
        out = extract(timm_model, ds, opts, runtime="onnxruntime")
    info = out.provenance.cost["runtime"]
    assert info["runtime"] == "eager" and "operator not supported" in info["why"]
    assert within_tolerance(out.features, plain_loop(timm_model, ds)[0])
    # asked for nothing in particular: no warning, the reason is still recorded, and the export that failed
    # is not tried again (its .failed record says why)
    out = extract(timm_model, ds, opts, use_cache=False)
    info = out.provenance.cost["runtime"]
    assert info["runtime"] == "eager" and "operator not supported" in info["why"] and "recorded" in info["why"]
    assert str(opts.cache_root()) not in info["why"]  # provenance travels: no local path
    assert calls == [1]
    [record] = (opts.cache_root() / "onnx").glob("*.failed")
    record.unlink()  # deleting the record tries again
    extract(timm_model, ds, opts, use_cache=False)
    assert calls == [1, 1]


def test_a_real_export_failure_keeps_the_exporters_graph_dump_off_stderr(tmp_path, opts, capfd):
    """An adaptive pool whose input is not a multiple of its output cannot be exported (the benchmark zoo's
    LeNet at 64 px): the exporter prints its whole traced graph from C++ before raising; the user sees only
    the reason, recorded, and PyTorch's features."""
    from lead_hf.models.base import LoadedModel

    torch.manual_seed(0)
    body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(5), torch.nn.Flatten()).eval()
    model = LoadedModel(name="odd-pool", module=body, family="torch", preprocess=None, revision="sha256:0",
                        hub_id=None, image_size=(16, 16), num_classes=0, feature_dim=100,
                        _both=lambda x: (body(x), body(x)[:, :0]))
    capfd.readouterr()
    forward, info = rt.forward_for(model, torch.device("cpu"), opts, tmp_path, threads=1)
    err = capfd.readouterr().err
    assert info["runtime"] == "eager" and "ONNX export" in info["why"], info
    assert "graph" not in err.lower() and "aten::" not in err, err[:500]
    pixels = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert within_tolerance(forward(pixels)[0].numpy(), body(pixels).numpy())  # channels-last: not bitwise
    assert len(list((tmp_path / "onnx").glob("*.failed"))) == 1


def test_a_check_that_fails_falls_back_to_pytorch(timm_model, opts, monkeypatch):  # noqa: F811
    real_run = rt.OrtForward.run

    def off_by_a_bit(self, pixels):
        f, lg = real_run(self, pixels)
        return f + 1e-2, lg

    monkeypatch.setattr(rt.OrtForward, "run", off_by_a_bit)
    ds = make_dataset(n=10)
    with pytest.warns(rt.RuntimeFallbackWarning, match="differs from PyTorch"):
        out = extract(timm_model, ds, opts, runtime="onnxruntime")
    assert out.provenance.cost["runtime"]["runtime"] == "eager"
    assert within_tolerance(out.features, plain_loop(timm_model, ds)[0])


def test_where_onnxruntime_does_not_apply(timm_model):  # noqa: F811
    model = load_model(timm_model)
    cpu = torch.device("cpu")
    assert rt.onnxruntime_applies(model, cpu, ExtractOptions()) is None
    assert rt.onnxruntime_applies(model, cpu, ExtractOptions(runtime="eager")) == "runtime='eager'"
    assert "mixed_precision" in rt.onnxruntime_applies(model, cpu, ExtractOptions(mixed_precision="bf16"))
    assert "cuda" in rt.onnxruntime_applies(model, torch.device("cuda"), ExtractOptions())
    with pytest.raises(ValueError, match="runtime must be one of"):
        ExtractOptions(runtime="tensorrt")


@pytest.mark.parametrize("cpus, processes, eager, fast", [(2, 1, 1, 0), (4, 1, 3, 1), (16, 1, 8, 4), (16, 2, 7, 2),
                                                          (1, 1, 0, 0)])
def test_automatic_workers_leave_onnx_runtime_the_cores(monkeypatch, cpus, processes, eager, fast):
    from lead_hf.extract import loop

    monkeypatch.setattr(loop.os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert loop.auto_num_workers(processes) == eager
    assert loop.auto_num_workers(processes, fast_forward=True) == fast
