import json

import numpy as np
import pytest

import lead_hf
from lead_hf.cli import main
from lead_hf.extract.files import load_feature_files

from helpers import gaussian_classes, within_ulps


def test_score_npz_and_separate_files_match_the_api(tmp_path, capsys):
    x, y = gaussian_classes(num_classes=3, per_class=12, dim=6)
    logits = np.random.default_rng(0).normal(size=(len(y), 4))
    np.savez(tmp_path / "f.npz", features=x, labels=y, logits=logits)
    assert main(["score", "--features", str(tmp_path / "f.npz"), "--scores", "lead,logme,leep", "--json",
                 "--score-options", "lead.head_widths=8,8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lead"]["value"] == pytest.approx(lead_hf.score("lead", x, y, head_widths=(8, 8)))
    assert out["leep"]["value"] == pytest.approx(lead_hf.score("leep", x, y, source_logits=logits))
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "y.txt").write_text("\n".join(["cat", "dog", "emu"][i] for i in y))
    assert main(["score", "--features", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.txt"),
                 "--scores", "logme,nce"]) == 0
    text = capsys.readouterr()
    assert "logme" in text.out and "skipping nce" in text.err


def test_missing_arrays_are_named(tmp_path, capsys):
    x, _ = gaussian_classes()
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(ValueError, match="no labels array"):
        load_feature_files(str(tmp_path / "x.npy"))
    assert main(["score", "--features", str(tmp_path / "nope.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_feature_files(str(tmp_path / "f.bin"))


def test_leep_and_nce_from_labels_and_logits_alone(tmp_path, capsys):
    _, y = gaussian_classes(num_classes=3, per_class=12, dim=6)
    logits = np.random.default_rng(1).normal(size=(len(y), 5)) + 2 * np.eye(5)[y]
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "logits.npy", logits)
    args = ["score", "--labels", str(tmp_path / "y.npy"), "--source-logits", str(tmp_path / "logits.npy")]
    assert main([*args, "--scores", "leep,nce,logme", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert set(out) == {"leep", "nce"} and "skipping logme: it needs features" in captured.err
    assert out["nce"]["value"] == within_ulps(lead_hf.score("nce", None, y, source_logits=logits))
    assert main([*args, "--scores", "lead"]) == 2
    assert "read the features: pass --features" in capsys.readouterr().err
    assert main(["score", "--labels", str(tmp_path / "y.npy"), "--scores", "leep"]) == 2
    assert "--source-logits FILE" in capsys.readouterr().err
