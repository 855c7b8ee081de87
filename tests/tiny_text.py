"""Tiny transformers text models and text datasets, built offline in a temporary folder (no download).

The tokenizer is a word-level ``tokenizers`` model trained on the few strings below and saved with
``PreTrainedTokenizerFast.save_pretrained``; the models are randomly initialised tiny BERTs.
"""
from __future__ import annotations

import json
from pathlib import Path

WORDS_GOOD = ("great", "wonderful", "moving", "brilliant", "funny", "superb")
WORDS_BAD = ("boring", "awful", "dull", "clumsy", "tedious", "bland")
FILLER = ("the", "film", "was", "a", "story", "and", "plot", "very", "quite", "acting")


def corpus() -> list[str]:
    return [" ".join((*FILLER, *WORDS_GOOD, *WORDS_BAD))]


def save_tokenizer(folder: Path, max_length: int = 32) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus(), trainers.WordLevelTrainer(special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=max_length)
    fast.save_pretrained(str(folder))


def tiny_config(num_labels: int | None = None, layers: int = 2):
    from transformers import BertConfig

    vocab = 5 + len(set(corpus()[0].split()))
    kwargs = {"num_labels": num_labels} if num_labels else {}
    return BertConfig(vocab_size=vocab, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0, **kwargs)


def sentence_encoder(folder: Path, seed: int = 0, pooling: str = "mean", normalize: bool = True) -> Path:
    """A tiny sentence-transformers-style folder: BertModel, tokenizer, modules.json, 1_Pooling."""
    import torch
    from transformers import BertModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(tiny_config()).save_pretrained(str(folder))
    save_tokenizer(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 16, "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
        "pooling_mode_mean_sqrt_len_tokens": False}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 24, "do_lower_case": False}))
    return folder


def sequence_classifier(folder: Path, num_labels: int = 3, seed: int = 0, tokenizer: bool = True) -> Path:
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    BertForSequenceClassification(tiny_config(num_labels)).save_pretrained(str(folder))
    if tokenizer:
        save_tokenizer(folder)
    return folder


def review_texts(n_per_class: int = 12, seed: int = 0) -> tuple[list[str], list[int]]:
    """Short reviews: class 1 holds 'good' words, class 0 'bad' ones, both with filler words."""
    import numpy as np

    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for label, words in ((0, WORDS_BAD), (1, WORDS_GOOD)):
        for _ in range(n_per_class):
            n = int(rng.integers(3, 9))
            picked = list(rng.choice(FILLER, size=n)) + list(rng.choice(words, size=2))
            rng.shuffle(picked)
            texts.append(" ".join(picked))
            labels.append(label)
    return texts, labels


def review_dataset(folder: Path | None = None, n_per_class: int = 12, seed: int = 0, extra_columns: dict | None = None):
    """A ``datasets.Dataset`` (``sentence`` string, ``label`` ClassLabel bad/good), saved to ``folder``
    with save_to_disk when given."""
    import datasets

    texts, labels = review_texts(n_per_class, seed)
    data = {"sentence": texts, "label": labels, **(extra_columns or {})}
    features = {"sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["bad", "good"])}
    for name, values in (extra_columns or {}).items():
        features[name] = datasets.Value("string") if isinstance(values[0], str) else datasets.Value("int64")
    ds = datasets.Dataset.from_dict(data, features=datasets.Features(features))
    if folder is not None:
        ds.save_to_disk(str(folder))
    return ds
