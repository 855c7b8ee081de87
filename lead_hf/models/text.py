"""Text models: transformers checkpoints as a :class:`~lead_hf.models.base.LoadedModel` of modality ``text``.

Two kinds, told apart by the checkpoint's config (no weights loaded):

- a sequence classifier (``architectures`` ends in ``ForSequenceClassification``):
  ``AutoModelForSequenceClassification``; the features are the input of its last classification
  ``nn.Linear`` (a forward pre-hook, as for image classifiers) and the logits are its head's output;
- a sentence encoder (anything else, loaded with ``AutoModel``): the features are its pooled output, by
  the model's own convention. A sentence-transformers folder (``modules.json``) says it: its Pooling
  module's mode (mean of the token states under the attention mask for all-MiniLM-L6-v2; CLS, max and
  their concatenation are supported too), then L2 normalisation when a Normalize module follows, and its
  ``max_seq_length``. Without one, the model's pooler output when it has a pooler (BERT's tanh-dense of
  the first token, what its sequence classifier reads), else the first token's hidden state. An encoder
  has no source head: no logits (LEEP, NCE and other scores that need them report so).

Tokenisation is the checkpoint's own tokenizer (``AutoTokenizer``), with truncation at ``max_length``
(the option, else the sentence-transformers ``max_seq_length``, else the tokenizer's
``model_max_length``, never above the position embeddings) and padding to the longest text of each batch
(the attention mask keeps padding out of every result).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .base import LoadedModel, ModelRef, file_sha256, find_classifier_linear, hooked_forward

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # DataLoader workers fork after the tokenizer ran

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt",
                   "spiece.model", "sentencepiece.bpe.model", "special_tokens_map.json")
"""Files a saved tokenizer consists of (any one marks a folder as having a tokenizer)."""
ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len")
"""sentence-transformers pooling modes supported, in the order it concatenates them."""
FLOPS_TOKENS = 128
"""Sequence length at which a text model's forward FLOPs are counted (capped at its max_length)."""
_SEQUENCE_HEADS = ("ForSequenceClassification",)


def is_text_model_dir(folder: Path, config: dict[str, Any]) -> bool:
    """Whether a transformers folder holds a text model: no image processor, and a tokenizer, a
    sentence-transformers config or a sequence-classification architecture."""
    folder = Path(folder)
    if (folder / "preprocessor_config.json").is_file():
        return False
    if any((folder / f).is_file() for f in TOKENIZER_FILES + ST_FILES):
        return True
    return any(str(a).endswith(_SEQUENCE_HEADS) for a in config.get("architectures") or [])


def hub_text_folder(repo_id: str, snapshot: Path, config: dict[str, Any]) -> Path | None:
    """The snapshot folder of a Hub text model, with its tokenizer and sentence-transformers files
    fetched into it (from the local cache when offline), or None when the repo is not a text model (it has
    an image processor, or neither a tokenizer nor a sequence-classification architecture)."""
    from huggingface_hub import hf_hub_download

    def fetch(filename: str) -> bool:
        try:
            hf_hub_download(repo_id, filename)
            return True
        except Exception:  # noqa: BLE001 - absent, offline and not cached, gated: all mean "not there"
            return False

    if fetch("preprocessor_config.json"):
        return None
    has_tokenizer = any([fetch(f) for f in ("tokenizer_config.json", "tokenizer.json", "vocab.txt",
                                            "special_tokens_map.json")])
    modules = fetch("modules.json")
    if modules:
        for mod in _read_json(Path(snapshot) / "modules.json") or []:
            sub = str(mod.get("path", ""))
            if sub:
                fetch(f"{sub}/config.json")
        fetch("sentence_bert_config.json")
    sequence_head = any(str(a).endswith(_SEQUENCE_HEADS) for a in config.get("architectures") or [])
    return Path(snapshot) if (has_tokenizer or modules or sequence_head) else None


def no_tokenizer_message(name: str, detail: str = "") -> str:
    return (f"model {name!r} has no tokenizer{f' ({detail})' if detail else ''}: a text model needs the "
            "tokenizer it was trained with, saved next to its weights (tokenizer.json / tokenizer_config.json "
            "and vocabulary): AutoTokenizer.from_pretrained(ORIGINAL).save_pretrained(MODEL_DIR)")


def image_model_on_text_message(name: str, dataset: str) -> str:
    return (f"model {name!r} reads images and has no tokenizer, but dataset {dataset!r} is text: rank text "
            "models on it (transformers text classifiers or sentence encoders with their tokenizer, e.g. "
            "zoo:all-minilm-l6-v2)")


def text_model_on_images_message(name: str, dataset: str) -> str:
    return (f"model {name!r} is a text model (it has a tokenizer, no image preprocessing), but dataset "
            f"{dataset!r} holds images: rank image models on it, or pass a text dataset (e.g. "
            "embedded:rotten_tomatoes)")


# ----------------------------------------------------------------------------------- configuration

def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def sentence_transformers_config(folder: Path, name: str) -> dict[str, Any] | None:
    """Pooling modes, normalisation and max_seq_length from a sentence-transformers folder, or None when
    the folder is not one. Modules other than Transformer, Pooling and Normalize are refused."""
    folder = Path(folder)
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list):
        return None
    pooling, normalize = None, False
    for mod in modules:
        kind = str(mod.get("type", "")).rsplit(".", 1)[-1]
        if kind == "Transformer":
            continue
        if kind == "Pooling":
            cfg = _read_json(folder / mod.get("path", "") / "config.json") or {}
            pooling = [m for m in POOLING_MODES if cfg.get(f"pooling_mode_{m}_tokens" if m != "cls" else
                                                           "pooling_mode_cls_token")]
            if not pooling:
                raise ValueError(f"model {name!r}: its sentence-transformers Pooling module "
                                 f"({mod.get('path')}/config.json) sets none of the modes lead-hf supports "
                                 f"({', '.join(POOLING_MODES)})")
        elif kind == "Normalize":
            normalize = True
        else:
            raise ValueError(f"model {name!r}: sentence-transformers module {kind!r} ({mod.get('path')!r}) is not "
                             "supported (only Transformer, Pooling and Normalize); extract its features with "
                             "sentence-transformers and score them with lead-hf score")
    if pooling is None:
        return None
    st = _read_json(folder / "sentence_bert_config.json") or {}
    return {"pooling": "+".join(pooling), "normalize": normalize, "max_seq_length": st.get("max_seq_length")}


def tokenizer_fingerprint(folder: Path) -> str:
    """sha256 over the tokenizer files of a folder (part of the cache key through preprocess_config)."""
    h = hashlib.sha256()
    for f in TOKENIZER_FILES:
        p = Path(folder) / f
        if p.is_file():
            h.update(f.encode() + b"\0" + file_sha256(p).encode())
    return h.hexdigest()


def _position_limit(config) -> int | None:
    limit = getattr(config, "max_position_embeddings", None)
    if limit and getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2  # their positions start after the padding index
    return int(limit) if limit else None


def _max_length(requested: int | None, st: dict | None, tokenizer, config) -> int:
    limit = _position_limit(config)
    if requested and limit and requested > limit:
        raise ValueError(f"max_length {requested} is more tokens than the model has positions ({limit}); "
                         f"pass --max-length {limit} or less")
    chosen = requested or (st or {}).get("max_seq_length")
    if not chosen:
        tml = getattr(tokenizer, "model_max_length", None)
        chosen = int(tml) if isinstance(tml, int) and 0 < tml < 1_000_000 else (limit or 512)
    return int(min(chosen, limit) if limit else chosen)


# ---------------------------------------------------------------------------------------- the model

class TextModel(nn.Module):
    """A transformers text model with its feature convention. ``forward(batch)`` -> (features, logits);
    ``features(batch, normalize=False)`` is the pooled output before any final L2 normalisation (what
    fine-tuning puts its new head on)."""

    def __init__(self, backbone: nn.Module, kind: str, pooling: str, normalize: bool, name: str,
                 num_labels: int = 0):
        super().__init__()
        self.backbone = backbone
        self.kind = kind
        self.pooling = pooling
        self.normalize = normalize
        self.model_name = name
        if kind == "classifier":
            self.classifier_linear = find_classifier_linear(backbone, num_labels, name)
            self.num_features = int(self.classifier_linear.in_features)
            self._hooked = hooked_forward(backbone, self.classifier_linear,
                                          lambda batch: backbone(**batch).logits, name)
        else:
            self.classifier_linear = None
            self.num_features = int(backbone.config.hidden_size) * (len(pooling.split("+")) if pooling else 1)

    def _pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.backbone(**batch)
        hidden = out.last_hidden_state
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            return pooled if pooled is not None else hidden[:, 0]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        parts = []
        for mode in self.pooling.split("+"):
            if mode == "cls":
                parts.append(hidden[:, 0])
            elif mode == "max":
                parts.append(hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(dim=1).values)
            else:
                summed, count = (hidden * mask).sum(dim=1), mask.sum(dim=1).clamp(min=1e-9)
                parts.append(summed / (count.sqrt() if mode == "mean_sqrt_len" else count))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    @contextlib.contextmanager
    def eager_attention(self):
        """Attention as explicit matrix products while counting FLOPs: FlopCounterMode does not count
        every fused scaled-dot-product kernel (the CPU one), which would drop the attention products."""
        before = getattr(self.backbone.config, "_attn_implementation", None)
        switch = getattr(self.backbone, "set_attn_implementation", None)
        if switch is None or before in (None, "eager"):
            yield
            return
        switch("eager")
        try:
            yield
        finally:
            switch(before)

    def features(self, batch: dict[str, torch.Tensor], normalize: bool = False) -> torch.Tensor:
        if self.kind == "classifier":
            return self._hooked(batch)[0]
        pooled = self._pooled(batch)
        return nn.functional.normalize(pooled, p=2, dim=1) if normalize else pooled

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "classifier":
            return self._hooked(batch)
        feats = self.features(batch, normalize=self.normalize)
        return feats, feats.new_zeros((feats.shape[0], 0))


def text_ref(source: str | Path, name: str, revision: str, hub_id: str | None, *,
             max_length: int | None = None, family: str = "transformers", folder: Path | None = None) -> ModelRef:
    """A :class:`ModelRef` of modality ``text`` for a transformers folder or Hub id (``folder``: its
    snapshot folder, where the tokenizer and sentence-transformers files are). The tokenizer and the
    config are read now (clear errors before any work); the weights when ``load()`` is called."""
    from transformers import AutoConfig, AutoTokenizer

    if folder is None and Path(str(source)).is_dir():
        folder = Path(source)
    if folder is not None and not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ValueError(no_tokenizer_message(name, f"none of {', '.join(TOKENIZER_FILES[:4])} ... in "
                                                    f"{str(folder)!r}"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(no_tokenizer_message(name, f"{type(err).__name__}: {str(err)[:200]}")) from None
    try:
        config = AutoConfig.from_pretrained(str(source))
    except (OSError, ValueError) as err:
        raise ValueError(f"model {name!r} has no readable transformers config ({err}); save it with "
                         "save_pretrained") from None
    archs = [str(a) for a in (getattr(config, "architectures", None) or [])]
    kind = "classifier" if any(a.endswith(_SEQUENCE_HEADS) for a in archs) else "encoder"
    st = sentence_transformers_config(folder, name) if folder is not None and kind == "encoder" else None
    pooling = "classifier-input" if kind == "classifier" else (st["pooling"] if st else "pooler")
    normalize = bool(st and st["normalize"])
    length = _max_length(max_length, st, tokenizer, config)
    cfg = {"modality": "text", "kind": kind, "pooling": pooling, "normalize": normalize, "max_length": length,
           "max_positions": _position_limit(config), "truncation": True, "padding": "longest",
           "tokenizer": tokenizer_fingerprint(folder) if folder is not None else f"hub:{revision}",
           "tokenizer_class": type(tokenizer).__name__}

    def load() -> LoadedModel:
        from transformers import AutoModel, AutoModelForSequenceClassification

        auto = AutoModelForSequenceClassification if kind == "classifier" else AutoModel
        try:
            backbone = auto.from_pretrained(str(source))
        except (OSError, ValueError) as err:
            raise ValueError(f"model {name!r} could not be loaded as a text {kind} ({type(err).__name__}: "
                             f"{str(err)[:300]})") from None
        num_labels = int(backbone.config.num_labels) if kind == "classifier" else 0
        module = TextModel(backbone, kind, pooling, normalize, name, num_labels).eval()
        module.tokenizer = tokenizer
        return text_loaded(name, module, revision, hub_id, cfg, family)

    return ModelRef(name, family, revision, hub_id, cfg, load, modality="text")


def text_loaded(name: str, module: TextModel, revision: str, hub_id: str | None, cfg: dict,
                family: str = "transformers") -> LoadedModel:
    """The :class:`LoadedModel` of a :class:`TextModel` (its ``tokenizer`` attribute set) with ``cfg``'s
    truncation length."""
    length = int(cfg["max_length"])
    tokenizer = module.tokenizer

    def preprocess(texts) -> dict[str, torch.Tensor]:
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=length, return_tensors="pt")
        return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    def example_input() -> dict[str, torch.Tensor]:
        tokens = min(FLOPS_TOKENS, length)
        fill = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
        batch = {"input_ids": torch.full((1, tokens), int(fill), dtype=torch.long),
                 "attention_mask": torch.ones((1, tokens), dtype=torch.long)}
        device = next(module.parameters()).device
        return {k: v.to(device) for k, v in batch.items()}

    return LoadedModel(name=name, module=module, family=family, preprocess=preprocess, revision=revision,
                       hub_id=hub_id, image_size=(0, 0), num_classes=int(getattr(module.classifier_linear,
                                                                              "out_features", 0) or 0),
                       feature_dim=module.num_features, preprocess_config=cfg, _both=module.forward,
                       modality="text", example_input=example_input)


def with_max_length(ref: ModelRef, max_length: int | None) -> ModelRef:
    """``ref`` truncating at ``max_length`` tokens (None: unchanged). The preprocessing config, hence the
    extraction cache key, records it."""
    if max_length is None or ref.modality != "text":
        return ref
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1 token, got {max_length}")
    limit = ref.preprocess_config.get("max_positions")
    if limit and max_length > limit:
        raise ValueError(f"max_length {max_length} is more tokens than model {ref.name!r} has positions "
                         f"({limit}); pass --max-length {limit} or less")
    cfg = {**ref.preprocess_config, "max_length": int(max_length)}
    inner = ref.loader

    def load() -> LoadedModel:
        loaded = inner()
        return text_loaded(loaded.name, loaded.module, loaded.revision, loaded.hub_id, cfg, loaded.family)

    return dataclasses.replace(ref, preprocess_config=cfg, loader=load)


def auto_text_batch_size(device: torch.device) -> int:
    return 32 if device.type == "cpu" else 256


# ---------------------------------------------------------------------------- derived text members

_COPIED = TOKENIZER_FILES + ST_FILES
"""Files a derived member takes over from its parent as they are (tokenizer, sentence-transformers)."""


def derive_text_member(parent_folder: Path, out: Path, kind: str, layers: int | None = None, seed: int = 0,
                       info: dict[str, Any] | None = None) -> Path:
    """Build a derived text model folder ``out`` from ``parent_folder`` (a transformers folder):

    - ``truncate``: the parent's embeddings and first ``layers`` transformer layers, unchanged (tensors
      copied bit for bit; the layers above are dropped, the config says ``num_hidden_layers=layers``);
    - ``random``: the parent's architecture freshly initialised by transformers (``from_config``) after
      ``torch.manual_seed(seed)``: no pre-training at all.

    Tokenizer and sentence-transformers files (pooling included) are copied, so the member is read exactly
    as its parent. Written into a temporary folder renamed onto ``out`` at the end (an interrupted build
    leaves nothing half-made). Returns ``out``."""
    import shutil
    import tempfile

    from safetensors.torch import load_file, save_file

    parent_folder, out = Path(parent_folder), Path(out)
    config = json.loads((parent_folder / "config.json").read_text())
    n_layers = int(config.get("num_hidden_layers", 0))
    if kind == "truncate":
        if not (layers and 1 <= layers < n_layers):
            raise ValueError(f"truncate needs 1 <= layers < {n_layers} (the parent's layers), got {layers}")
        sd = load_file(str(parent_folder / "model.safetensors"))
        drop = tuple(f"{prefix}layer.{i}." for i in range(layers, n_layers)
                     for prefix in ("encoder.", "bert.encoder.", "model.encoder."))
        kept = {k: v.contiguous() for k, v in sd.items() if not any(d in k for d in drop)}
        if len(kept) == len(sd):
            raise ValueError(f"no layer tensors of {str(parent_folder)!r} match encoder.layer.<i>.: cannot truncate it")
        config["num_hidden_layers"] = int(layers)
    elif kind == "random":
        from transformers import AutoConfig, AutoModel

        torch.manual_seed(seed)
        fresh = AutoModel.from_config(AutoConfig.from_pretrained(str(parent_folder)))
        kept = {k: v.detach().clone().contiguous() for k, v in fresh.state_dict().items()}
    else:
        raise ValueError(f"unknown derivation {kind!r} for a text model (truncate, random)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name in _COPIED:
            if (parent_folder / name).is_file():
                shutil.copy2(parent_folder / name, tmp / name)
        for sub in parent_folder.iterdir():  # sentence-transformers module folders (1_Pooling/...)
            if sub.is_dir() and (sub / "config.json").is_file() and not sub.name.startswith("."):
                shutil.copytree(sub, tmp / sub.name)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_file(kept, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        record = {"kind": kind, "layers": layers, "seed": seed, "parent_folder": str(parent_folder),
                  "tensors": len(kept), **(info or {})}
        (tmp / "derived.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        if out.exists():  # built meanwhile by another process: keep that one
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def member_files(folder: Path) -> list[str]:
    """The files of a (derived) text member folder that its revision hashes: weights, config, tokenizer and
    sentence-transformers files. Raises FileNotFoundError when it is not built."""
    folder = Path(folder)
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"text member {str(folder)!r} is not built")
    names = ["model.safetensors", "config.json"] + [f for f in _COPIED if (folder / f).is_file()]
    subs = sorted(str(p.relative_to(folder)) for p in folder.glob("*/config.json"))
    return [str(folder / n) for n in names + subs]
