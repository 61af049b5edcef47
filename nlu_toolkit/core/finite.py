"""One check for user-supplied vectors: every value finite.

A NaN or infinite value (a broken model, a hand-made ``.npy``, float64 values too
large for float32) poisons every cosine it takes part in: k-means, silhouettes and
top-k lists then fail deep inside numpy, scikit-learn or torch, or return garbage.
`check_finite` refuses such rows where the vectors enter, naming them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlu_toolkit.errors import InputError

#: Row numbers listed in the message; the rest are counted.
_SHOWN = 5


def nonfinite_rows(x: Any) -> np.ndarray:
    """Indices (from 0) of the rows of the 2-D array or tensor ``x`` holding a NaN or an infinity."""
    if hasattr(x, "detach"):  # a torch tensor
        import torch

        return torch.nonzero(~torch.isfinite(x.detach()).all(dim=1)).flatten().cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "fc":  # integer codes are always finite
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(~np.isfinite(x).all(axis=1))


def nonfinite_error(rows: np.ndarray, n: int, what: str, *, offset: int = 0, path: str | None = None) -> InputError:
    """The `InputError` for ``rows`` (indices into a block that starts at row ``offset``) of ``n`` rows."""
    rows = np.asarray(rows) + offset
    shown = ", ".join(str(int(r)) for r in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN:,} more" if len(rows) > _SHOWN else ""
    rows_hold = "row" if len(rows) == 1 else "rows"
    verb = "holds" if len(rows) == 1 else "hold"
    return InputError(
        f"{what}: {rows_hold} {shown}{more} (of {n:,}, counting from 0) {verb} NaN or infinite values",
        "re-create the vectors (e.g. nlu embed --input FILE -o X.npy) or drop those rows",
        path=path,
    )


def check_finite(x: Any, what: str = "embeddings", *, path: str | None = None) -> None:
    """Raise `InputError` naming the rows of the ``(n, dim)`` ``x`` that hold a NaN or an infinity."""
    rows = nonfinite_rows(x)
    if len(rows):
        raise nonfinite_error(rows, len(x), what, path=path)
