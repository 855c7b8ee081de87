"""Linear-algebra helpers shared by the scores (LogME, H-score, NLEEP, LEAD)."""
from __future__ import annotations

import numpy as np
import torch

try:  # scipy's BLAS wrappers: symmetric rank-k update, half the flops of a general matmul
    from scipy.linalg.blas import dsyrk as _dsyrk
except ImportError:  # pragma: no cover - scipy is a dependency, but the torch path needs nothing
    _dsyrk = None


def gram(x: torch.Tensor, *, samples: bool = False, lower_only: bool = False) -> torch.Tensor:
    """The symmetric matrix x^T x [D, D] (or x x^T [N, N] with ``samples=True``).

    For float64 CPU tensors it is computed by BLAS ``dsyrk``, which fills one triangle only: about half
    the work of ``x.T @ x``, the dominant cost of LogME and H-score when N >> D (50k x 2048 features:
    4e11 flops as a matmul). Other devices and dtypes use a matmul.
    ``lower_only=True`` may return just the lower triangle (the upper one zero) when that is all the
    caller reads, e.g. a Cholesky factorisation or ``eigh`` (both use the lower triangle only).
    """
    if _dsyrk is None or x.device.type != "cpu" or x.dtype != torch.float64 or x.requires_grad:
        return x @ x.T if samples else x.T @ x
    # x.T of a C-contiguous [N, D] array is a Fortran-contiguous [D, N] array: no copy. syrk computes
    # a a^T (trans=0) or a^T a (trans=1) into the lower triangle.
    a = x.contiguous().numpy().T
    lower = torch.from_numpy(_dsyrk(1.0, a, trans=1 if samples else 0, lower=1))
    if lower_only:
        return lower.tril_()
    return torch.tril(lower) + torch.tril(lower, -1).T


def new_matrix(rows: int, cols: int, *, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised [rows, cols] tensor with ``like``'s dtype and device, for a large working copy.

    On the CPU the memory comes from numpy, which asks Linux for transparent huge pages on large arrays
    (``madvise``); torch's own allocator does not, so filling a fresh buffer of hundreds of MB costs one
    page fault per 4 KiB. Measured here (1 thread): a 50,000 x 2,048 float64 gather took 1.08 s into a
    torch allocation and 0.28 s into a numpy one.
    """
    if like.device.type != "cpu":
        return torch.empty(rows, cols, dtype=like.dtype, device=like.device)
    np_dtype = torch.empty(0, dtype=like.dtype).numpy().dtype
    return torch.from_numpy(np.empty((rows, cols), dtype=np_dtype))
