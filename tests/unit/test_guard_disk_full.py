"""Regression: a full disk during np.save / safetensors save_file ended as "unexpected"."""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.errors import OutputError
from nlu_toolkit.io.writers import write_embeddings


def test_npy_short_write_is_disk_full(tmp_path, monkeypatch):
    def short(*a, **k):
        raise OSError("230400 requested and 12256 written")

    monkeypatch.setattr(np, "save", short)
    out = tmp_path / "out.npy"
    with pytest.raises(OutputError, match="disk is full"):
        write_embeddings([{"text": "a"}], np.zeros((1, 3), dtype=np.float32), "npy", str(out))
    assert list(tmp_path.iterdir()) == []
