"""Text members derived from a text zoo model on first use: its first k layers (``truncate``) or its
architecture with a fresh seeded initialisation (``random``).

They give the embedded text demo (``lead-hf rank --dataset embedded:rotten_tomatoes``) a ladder of models
whose transferability differs in a known direction, from one package's weights. Building one takes
seconds (tensors copied, no training), so a member is built the first time it is asked for
(``ZooEntry.materialize``) into ``<zoo dir>/<name>/`` as a transformers folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .zoo import ZooEntry, register_zoo, weight_files_or_none, zoo_dir, zoo_entry

TEXT_KINDS = ("truncate", "random")


@dataclass(frozen=True, kw_only=True)
class TextMember:
    name: str
    """The zoo name of the member (``zoo:NAME``)."""
    kind: str
    """truncate: the embeddings and the first ``layers`` layers; random: fresh initialisation."""
    parent: str
    """Zoo name of the text model it is derived from."""
    description: str
    layers: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.kind not in TEXT_KINDS:
            raise ValueError(f"text member {self.name!r}: kind must be one of {TEXT_KINDS}")
        if self.kind == "truncate" and not (self.layers and self.layers >= 1):
            raise ValueError(f"text member {self.name!r}: truncate needs layers >= 1")


MEMBERS: dict[str, TextMember] = {m.name: m for m in (
    TextMember(name="all-minilm-l6-v2-layers4", kind="truncate", parent="all-minilm-l6-v2", layers=4,
               description="all-MiniLM-L6-v2 cut to its embeddings and first 4 of 6 layers (mean pooling kept)"),
    TextMember(name="all-minilm-l6-v2-layers2", kind="truncate", parent="all-minilm-l6-v2", layers=2,
               description="all-MiniLM-L6-v2 cut to its embeddings and first 2 of 6 layers (mean pooling kept)"),
    TextMember(name="all-minilm-l6-v2.random", kind="random", parent="all-minilm-l6-v2",
               description="all-MiniLM-L6-v2's architecture and tokenizer, random initialisation (seed 0)"),
)}


def member_dir(name: str) -> Path:
    """The transformers folder of a derived text member."""
    return zoo_dir() / name


def build_text_member(member: TextMember) -> Path:
    """Build a derived text member's folder from its parent's package files (seconds)."""
    from .loaders import zoo_ref
    from .text import derive_text_member

    parent = zoo_entry(member.parent)
    files = weight_files_or_none(parent)
    if files is None:
        raise ValueError(f"zoo model {member.name!r} is derived from zoo:{member.parent}, whose package is "
                         f"missing: {parent.install_hint()}")
    info = {"parent": f"zoo:{member.parent}", "parent_revision": zoo_ref(member.parent).revision,
            "description": member.description}
    return derive_text_member(Path(files[0]).parent, member_dir(member.name), member.kind, member.layers,
                              member.seed, info)


def _register(member: TextMember) -> ZooEntry:
    from .text import member_files

    parent = zoo_entry(member.parent)
    return register_zoo(ZooEntry(
        name=member.name, family="text", weights=lambda: member_files(member_dir(member.name)),
        package=parent.package, pip_args=parent.pip_args,
        how_to_get=f"it is built from zoo:{member.parent} on first use; install {parent.package} first",
        materialize=lambda: build_text_member(member),
        feature_dim=parent.feature_dim, num_classes=0, licence=parent.licence, description=member.description))


for _member in MEMBERS.values():
    _register(_member)
