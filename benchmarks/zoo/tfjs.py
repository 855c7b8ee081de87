"""Reading TensorFlow.js models without TensorFlow: the topology and the (quantised) weights.

TF.js stores a model as a JSON description (``model.json``: topology + weights manifest) and binary
weight shards. Packages such as nsfwjs ship both wrapped in JavaScript bundles (``model.min.js``: a
browserify module whose export is the JSON as a JavaScript object literal; ``group1-shardKofN.min.js``:
the shard as a base64 string). This module reads either form and decodes the weights to float32 numpy
arrays exactly as TF.js does (``tfjs-core/src/io/io_utils.ts``, ``decodeWeights``):
``value = q * scale + min`` computed in double precision, then rounded to float32.
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# --------------------------------------------------------------------- JavaScript object literals

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_$][\w$]*")
_PLAIN_DQ = re.compile(r'[^"\\]*')
_PLAIN_SQ = re.compile(r"[^'\\]*")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
            "v": "\v", "0": "\0", "'": "'"}


class _LiteralReader:
    """A recursive-descent reader for the subset of JavaScript that minifiers emit for JSON data:
    objects with bare or quoted keys, arrays, strings, numbers (``.5``, ``-1e-4``), ``!0``/``!1``,
    ``true``/``false``/``null`` and ``void 0``. Anything else is an error naming the position."""

    def __init__(self, text: str, pos: int, source: str):
        self.text, self.pos, self.source = text, pos, source

    def fail(self, what: str):
        snippet = self.text[self.pos:self.pos + 40]
        raise ValueError(f"{self.source}: cannot read the TF.js model data at character {self.pos} "
                         f"({what}; text there: {snippet!r}); the bundle is not in the expected format")

    def value(self) -> Any:
        text, pos = self.text, self.pos
        if pos >= len(text):
            self.fail("unexpected end")
        ch = text[pos]
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.arr()
        if ch in "\"'":
            return self.string()
        if text.startswith("!0", pos) or text.startswith("!1", pos):
            self.pos += 2
            return text[pos + 1] == "0"
        for word, val in (("true", True), ("false", False), ("null", None), ("void 0", None)):
            if text.startswith(word, pos):
                self.pos += len(word)
                return val
        m = _NUMBER.match(text, pos)
        if not m:
            self.fail("expected a value")
        self.pos = m.end()
        literal = m.group()
        if re.fullmatch(r"-?\d+", literal):
            return int(literal)
        return float(literal)

    def string(self) -> str:
        text, quote = self.text, self.text[self.pos]
        out, i = [], self.pos + 1
        while True:
            j = (_PLAIN_DQ if quote == '"' else _PLAIN_SQ).match(text, i).end()
            if j >= len(text):
                self.fail("unterminated string")
            out.append(text[i:j])
            if text[j] == quote:
                self.pos = j + 1
                return "".join(out)
            esc = text[j + 1]
            if esc == "u":
                out.append(chr(int(text[j + 2:j + 6], 16)))
                i = j + 6
            elif esc == "x":
                out.append(chr(int(text[j + 2:j + 4], 16)))
                i = j + 4
            elif esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                i = j + 2
            else:
                self.pos = j
                self.fail(f"unknown string escape \\{esc}")

    def obj(self) -> dict:
        self.pos += 1
        out: dict[str, Any] = {}
        if self.text[self.pos] == "}":
            self.pos += 1
            return out
        while True:
            ch = self.text[self.pos]
            if ch in "\"'":
                key = self.string()
            else:
                m = _IDENT.match(self.text, self.pos) or _NUMBER.match(self.text, self.pos)
                if not m:
                    self.fail("expected an object key")
                key, self.pos = m.group(), m.end()
            if self.text[self.pos] != ":":
                self.fail("expected ':' after an object key")
            self.pos += 1
            out[key] = self.value()
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "}":
                return out
            if ch != ",":
                self.pos -= 1
                self.fail("expected ',' or '}' in an object")

    def arr(self) -> list:
        self.pos += 1
        out: list[Any] = []
        if self.text[self.pos] == "]":
            self.pos += 1
            return out
        while True:
            out.append(self.value())
            ch = self.text[self.pos]
            self.pos += 1
            if ch == "]":
                return out
            if ch != ",":
                self.pos -= 1
                self.fail("expected ',' or ']' in an array")


def read_js_literal(text: str, pos: int = 0, source: str = "<text>") -> tuple[Any, int]:
    """Parse one JavaScript literal value starting at ``pos``; returns (value, end position)."""
    reader = _LiteralReader(text, pos, source)
    value = reader.value()
    return value, reader.pos


_BUNDLE_EXPORT = re.compile(r"\{1:\[function\((\w+),(\w+),(\w+)\)\{\2\.exports=")


def read_js_bundle_export(text: str, source: str) -> Any:
    """The value a single-module browserify bundle exports (``module.exports = <literal>``)."""
    m = _BUNDLE_EXPORT.search(text)
    if not m:
        raise ValueError(f"{source} is not a browserify bundle exporting one literal (no "
                         "'module.exports=' in module 1); expected a model.min.js / shard .min.js file")
    return read_js_literal(text, m.end(), source)[0]


# ------------------------------------------------------------------------------------ weights

_DTYPES = {"float32": np.float32, "int32": np.int32, "uint8": np.uint8, "uint16": np.uint16,
           "float16": np.float16, "bool": np.bool_}


@dataclass
class TfjsModel:
    """A TF.js model: its ``model.json`` content and the decoded float weights by name."""

    model_json: dict[str, Any]
    weights: dict[str, np.ndarray]

    @property
    def topology(self) -> dict[str, Any]:
        return self.model_json["modelTopology"]

    def keras_layers(self) -> list[dict[str, Any]]:
        """The layer list of a Keras (layers-format) model."""
        cfg = self.topology.get("model_config", {}).get("config", {})
        if "layers" not in cfg:
            raise ValueError("this TF.js model is not a Keras layers model (no model_config.config.layers)")
        return cfg["layers"]

    def graph_nodes(self) -> list[dict[str, Any]]:
        """The node list of a graph-format model (tfjs-converter GraphDef)."""
        if "node" not in self.topology:
            raise ValueError("this TF.js model is not a graph model (no modelTopology.node)")
        return self.topology["node"]


def decode_weights(manifest: list[dict[str, Any]], read_shard: Callable[[str], bytes],
                   source: str = "model") -> dict[str, np.ndarray]:
    """Decode every weight of a TF.js weights manifest. Each group's shards are concatenated in order
    and the weights laid end to end; quantised ones (uint8/uint16 with ``min``/``scale``) are mapped back
    to float32 the way TF.js does; float16 ones are widened."""
    out: dict[str, np.ndarray] = {}
    for group in manifest:
        buf = b"".join(read_shard(p) for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            name, shape, dtype = spec["name"], [int(s) for s in spec["shape"]], spec["dtype"]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored = quant["dtype"] if quant else dtype
            if stored not in _DTYPES or dtype not in _DTYPES:
                raise ValueError(f"{source}: weight {name!r} has unsupported dtype {stored!r}/{dtype!r}")
            nbytes = count * np.dtype(_DTYPES[stored]).itemsize
            if offset + nbytes > len(buf):
                raise ValueError(f"{source}: the weight shards are too short for {name!r} (need "
                                 f"{offset + nbytes} bytes, have {len(buf)}); the package is incomplete")
            raw = np.frombuffer(buf, dtype=_DTYPES[stored], count=count, offset=offset)
            offset += nbytes
            if quant and stored in ("uint8", "uint16"):
                if "min" not in quant or "scale" not in quant:
                    raise ValueError(f"{source}: quantised weight {name!r} has no min/scale")
                # TF.js: values[i] = v * scale + min in JavaScript doubles, stored into a Float32Array
                values = (raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])).astype(np.float32)
            elif quant and stored == "float16":
                values = raw.astype(np.float32)
            else:
                values = raw.astype(_DTYPES[dtype])
            out[name] = values.reshape(shape)
        if offset != len(buf):
            raise ValueError(f"{source}: {len(buf) - offset} bytes of the weight shards are not described "
                             "by the manifest; the model.json and shards do not belong together")
    return out


def read_bundled_model(read_text: Callable[[str], str], folder: str) -> TfjsModel:
    """A TF.js model shipped as JavaScript bundles (``<folder>/model.min.js`` and
    ``<folder>/group1-shardKofN.min.js``), as in the nsfwjs npm package. ``read_text(path)`` returns the
    text of one file of the package."""
    source = f"{folder}/model.min.js"
    model_json = read_js_bundle_export(read_text(source), source)
    if not isinstance(model_json, dict) or "weightsManifest" not in model_json:
        raise ValueError(f"{source} does not hold a TF.js model.json (no weightsManifest)")

    def shard(path: str) -> bytes:
        name = f"{folder}/{path}.min.js"
        data = read_js_bundle_export(read_text(name), name)
        if not isinstance(data, str):
            raise ValueError(f"{name} does not export a base64 string")
        return base64.b64decode(data, validate=True)

    return TfjsModel(model_json, decode_weights(model_json["weightsManifest"], shard, source))


def read_model_json(path: str) -> TfjsModel:
    """A TF.js model saved as files: ``model.json`` plus its binary shards in the same folder."""
    from pathlib import Path

    folder = Path(path).parent
    model_json = json.loads(Path(path).read_text())
    return TfjsModel(model_json, decode_weights(model_json["weightsManifest"],
                                                lambda p: (folder / p).read_bytes(), str(path)))
