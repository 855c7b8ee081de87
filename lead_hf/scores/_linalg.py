"""Linear-algebra helpers shared by the scores (LogME, H-score, NLEEP, LEAD)."""
from __future__ import annotations

import numpy as np
import torch

try:  # scipy's BLAS wrappers: symmetric rank-k update, half the flops of a general matmul
    from scipy.linalg.blas import dsyrk as _dsyrk
    from scipy.linalg.blas import dgemm as _dgemm
    from scipy.linalg.blas import ssyrk as _ssyrk
    from scipy.linalg.lapack import dpotrf as _dpotrf
    from scipy.linalg.lapack import dpotrs as _dpotrs
except ImportError:  # pragma: no cover - scipy is a dependency, but the torch path needs nothing
    _dsyrk = _ssyrk = _dgemm = _dpotrf = _dpotrs = None

GRAM_PRODUCTS = ("float64", "float32")
FLOAT32_BLOCK_ROWS = 4096
"""Rows per block of a Gram matrix taken with float32 products: the float32 sums run over at most this
many rows, and the blocks are added in float64."""


def _syrk(x: torch.Tensor, samples: bool) -> torch.Tensor | None:
    """LOWER triangle (upper one unspecified) of x^T x (or x x^T) by BLAS syrk; None where it does not apply."""
    routine = {torch.float64: _dsyrk, torch.float32: _ssyrk}.get(x.dtype)
    if routine is None or x.device.type != "cpu" or x.requires_grad or 0 in x.shape:
        return None
    # x.T of a C-contiguous [N, D] array is a Fortran-contiguous [D, N] array: no copy. syrk computes
    # a a^T (trans=0) or a^T a (trans=1) into the lower triangle.
    a = x.contiguous().numpy().T
    return torch.from_numpy(routine(1.0, a, trans=1 if samples else 0, lower=1))


def gram(x: torch.Tensor, *, samples: bool = False, lower_only: bool = False,
         products: str = "float64") -> torch.Tensor:
    """The symmetric matrix x^T x [D, D] (or x x^T [N, N] with ``samples=True``), in x's dtype.

    For float64 (and float32) CPU tensors it is computed by BLAS ``dsyrk`` (``ssyrk``), which fills one
    triangle only: about half the work of ``x.T @ x``, the dominant cost of LogME and H-score when N >> D
    (50k x 2048 features: 4e11 flops as a matmul). Other devices and dtypes use a matmul.
    ``lower_only=True`` may return just the lower triangle (the upper one zero) when that is all the
    caller reads, e.g. a Cholesky factorisation or ``eigh`` (both use the lower triangle only).
    ``products="float32"`` (float64 ``x``, ``samples=False``): the products are taken in float32 over
    blocks of ``FLOAT32_BLOCK_ROWS`` rows and the blocks summed in float64. That halves the time of
    the float64 syrk; each entry then carries about the float32 rounding of x itself (1e-7 relative),
    which features extracted in float32 carry already.
    """
    if products not in GRAM_PRODUCTS:
        raise ValueError(f"products={products!r} is not one of {', '.join(GRAM_PRODUCTS)}")
    if products == "float32" and not samples and x.dtype == torch.float64:
        lower = _blocked_float32_gram(x)
    else:
        lower = _syrk(x, samples)
        if lower is None:
            return x @ x.T if samples else x.T @ x
    if lower_only:
        return lower.tril_()
    return torch.tril(lower) + torch.tril(lower, -1).T


def new_gram_total(dim: int, like: torch.Tensor) -> torch.Tensor:
    """A zero [dim, dim] float64 matrix for ``add_gram_`` (column-major on the CPU, so that BLAS adds
    into it in place)."""
    if like.device.type == "cpu":
        return torch.from_numpy(np.zeros((dim, dim), order="F"))
    return torch.zeros(dim, dim, dtype=torch.float64, device=like.device)


def add_gram_(total: torch.Tensor, x: torch.Tensor, products: str = "float64",
              scratch: dict | None = None) -> torch.Tensor:
    """total += x^T x for float64 ``x`` [m, D], in the LOWER triangle of ``total`` (``new_gram_total``;
    the upper one is left unspecified): the Gram of many row blocks summed without a temporary per block.

    float64 products: BLAS dsyrk with beta = 1 writes into ``total`` directly. float32 products: the block
    is rounded to float32, its Gram taken by ssyrk (at most ``FLOAT32_BLOCK_ROWS`` rows per float32
    sum) and added in float64, as ``gram(products="float32")`` does; ``scratch``, a dict kept by the
    caller between calls, holds the float32 buffers so that they are allocated once.
    """
    if products not in GRAM_PRODUCTS:
        raise ValueError(f"products={products!r} is not one of {', '.join(GRAM_PRODUCTS)}")
    if x.shape[0] == 0:
        return total
    if products == "float32":
        return _blocked_float32_gram(x, scratch, total)
    t = total.numpy() if total.device.type == "cpu" else None
    if (_dsyrk is not None and t is not None and t.flags.f_contiguous and x.dtype == torch.float64
            and x.device.type == "cpu" and not x.requires_grad):
        out = _dsyrk(1.0, x.contiguous().numpy().T, beta=1.0, c=t, trans=0, lower=1, overwrite_c=1)
        if out is not t:  # pragma: no cover - f2py copies only when c is not usable in place
            t[...] = out
        return total
    total += x.T @ x
    return total


def _blocked_float32_gram(x: torch.Tensor, scratch: dict | None = None,
                          total: torch.Tensor | None = None) -> torch.Tensor:
    """total (default: a new ``new_gram_total``) += x^T x in its lower triangle (the upper one
    unspecified): float32 products over blocks of ``FLOAT32_BLOCK_ROWS`` rows, each block's Gram added
    in float64. ``scratch`` (a dict the caller keeps between calls) holds the float32 buffers."""
    n, d = x.shape
    if total is None:
        total = new_gram_total(d, x)
    if n == 0:
        return total
    scratch = {} if scratch is None else scratch
    rows_per_block = min(n, FLOAT32_BLOCK_ROWS)
    block = scratch.get("rows")
    if block is None or block.numel() < rows_per_block * d or block.device != x.device:
        block = scratch["rows"] = new_matrix(rows_per_block, d, like=x.new_empty(0, dtype=torch.float32))
    block = block.reshape(-1)[:rows_per_block * d].view(rows_per_block, d)
    cpu = _ssyrk is not None and x.device.type == "cpu" and total.device.type == "cpu"
    if cpu and ("c" not in scratch or scratch["c"].shape != (d, d)):
        scratch["c"] = np.zeros((d, d), dtype=np.float32, order="F")  # syrk writes its lower triangle
    for start in range(0, n, rows_per_block):
        rows = block[:min(rows_per_block, n - start)]
        rows.copy_(x[start:start + rows.shape[0]])
        if cpu:
            c = _ssyrk(1.0, rows.numpy().T, beta=0.0, c=scratch["c"], trans=0, lower=1, overwrite_c=1)
            # both column-major, so the float64 sum runs through memory in order; numpy's mixed-precision
            # add took 4.5 ms for 2048 x 2048 here, torch's add_ 22 ms
            t = total.numpy()
            np.add(t, c, out=t)
        else:
            total += rows.T @ rows
    return total


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


def spd_solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a^-1 b for a symmetric positive definite ``a`` of which only the LOWER triangle is read (and which
    may be overwritten), by a Cholesky factorisation.

    Float64 CPU tensors go to LAPACK dpotrf/dpotrs through scipy (OpenBLAS), which factorised a
    2049 x 2049 matrix in 0.08 s here against 0.14 s for torch.linalg.cholesky (MKL, 1 thread, AMD
    EPYC) and solved 100 right-hand sides in half the time; other tensors go to torch.linalg.cholesky
    and torch.cholesky_solve. A column-major ``a`` is factorised in place.
    """
    if _dpotrf is None or a.device.type != "cpu" or a.dtype != torch.float64 or b.dtype != torch.float64:
        return torch.cholesky_solve(b, torch.linalg.cholesky(a))
    factor, info = _dpotrf(np.asfortranarray(a.numpy()), lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise torch.linalg.LinAlgError(f"the matrix is not positive definite (LAPACK dpotrf info={info})")
    x, info = _dpotrs(factor, b.numpy(), lower=1)
    if info != 0:  # pragma: no cover - dpotrs fails only on bad arguments
        raise RuntimeError(f"LAPACK dpotrs failed (info={info})")
    return torch.from_numpy(x)


def symmetric_eigh(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(eigenvalues ascending, eigenvectors) of a symmetric matrix, reading its lower triangle.

    Float64 CPU tensors go to LAPACK's divide-and-conquer dsyevd through scipy (OpenBLAS): on one thread
    it took 0.08 s for 632 x 632 here, torch.linalg.eigh (MKL) 0.15-0.18 s. Others go to torch."""
    if _dpotrf is None or a.device.type != "cpu" or a.dtype != torch.float64:
        return torch.linalg.eigh(a)
    from scipy.linalg import eigh

    w, v = eigh(a.numpy(), lower=True, driver="evd", check_finite=False)
    return torch.from_numpy(w), torch.from_numpy(v)


def addmm_rows_(out: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """out = bias + x @ w (``out`` [m, K] C-contiguous, ``bias`` [1, K] or [K], ``x`` [m, D], ``w`` [D, K]).

    Float64 CPU tensors go to BLAS dgemm through scipy (OpenBLAS), written into ``out`` in place as
    out^T = w^T x^T: 0.04 s against 0.066 s for torch.addmm (MKL) for 4096 x 2048 x 100 here."""
    if (_dgemm is None or out.device.type != "cpu" or not out.is_contiguous()
            or any(t.dtype != torch.float64 for t in (out, x, w))):
        return torch.addmm(bias.reshape(1, -1), x, w, out=out)
    out.copy_(bias.reshape(1, -1).expand_as(out))
    c = out.numpy().T  # Fortran-contiguous [K, m], the same memory
    result = _dgemm(1.0, w.contiguous().numpy().T, x.contiguous().numpy().T, beta=1.0, c=c, overwrite_c=1)
    if result is not c:  # pragma: no cover - f2py copies only when c is not usable in place
        c[...] = result
    return out
