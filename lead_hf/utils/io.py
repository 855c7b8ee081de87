"""Files: atomic writes (every file lead-hf writes appears whole or not at all: temp file + rename), locks
(one process at a time in a results folder or a cache entry), the cache root, and the file hash the caches
and revisions are keyed by. Imports nothing from lead_hf."""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator


def default_cache_root() -> Path:
    """Root of everything lead-hf caches or builds: ``$LEAD_HF_CACHE``, else ``~/.cache/lead_hf``."""
    env = os.environ.get("LEAD_HF_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lead_hf"


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so repeated look-ups of model weights stay cheap
    (:func:`sha256_now` reads the file every time: what an integrity check needs)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_now(path)
    return _SHA_CACHE[key]


def sha256_now(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes as they are on disk now."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str = "", log: Callable[[str], None] | None = None,
              timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock (``flock`` on the file ``path``, created when missing) for the block. Another
    process asking for it waits until it is released (``log`` says once that it waits; ``timeout`` seconds
    at most, then TimeoutError). The lock goes with the process: a killed holder releases it. Locks on a
    network filesystem without ``flock`` support are not reliable."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log is not None:
                log(f"waiting for {what or path}: another process is using it")
            start = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if timeout is not None and time.monotonic() - start > timeout:
                        raise TimeoutError(f"{what or path} is still locked by another process after "
                                           f"{timeout:g} s ({str(path)!r})") from None
                    time.sleep(0.1)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files an interrupted :func:`atomic_path` left in ``folder`` (``.<name>.*.tmp``).
    Call it only while holding the folder's lock: then no other writer is using them."""
    removed = []
    folder = Path(folder)
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def looks_like_local_path(spec: str) -> bool:
    """A spec written as a path (./x, ../x, /x, ~/x), which can never be a Hub id."""
    return isinstance(spec, str) and (spec.startswith(("./", "../", "/", "~", ".\\")) or spec in (".", ".."))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would (umask applied)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any):
    try:
        import numpy as np
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def json_safe(value):
    """Score details as JSON values: numbers, strings, lists and dicts (tensors and arrays become lists,
    non-finite floats None), so results.json can always be written."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):  # torch tensors, numpy arrays and scalars
        return json_safe(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)
