"""``nlu cluster --embeddings`` with NaN/inf vectors: exit 2 naming the rows (was "unexpected ValueError")."""

from __future__ import annotations

import numpy as np
from cli_checks import check_error, listing


def test_cli_cluster_all_nan_embeddings_exits_2_naming_the_rows(nlu, tmp_path, out_dir):
    path = tmp_path / "nan.npy"
    np.save(path, np.full((10, 8), np.nan, dtype=np.float32))
    result = nlu("cluster", "--embeddings", str(path), "-o", str(out_dir / "clusters.jsonl"))
    check_error(result, 2, contains="embeddings: rows 0, 1, 2, 3, 4 and 5 more")
    assert listing(out_dir) == []
