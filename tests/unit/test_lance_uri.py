"""Names of Lance indexes (`search.lance_index`): which paths are tables, how lancedb addresses them,
and the vector index planned for a table's size. No lancedb needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlu_toolkit.errors import UsageError
from nlu_toolkit.search.lance_index import ANN_MIN_ROWS, ann_plan, is_lance_uri, local_path, split_uri


@pytest.mark.parametrize(
    ("uri", "want"),
    [
        ("s3://bucket/indexes/corpus.lance", ("s3://bucket/indexes", "corpus")),
        ("gs://bucket/corpus.lance/", ("gs://bucket", "corpus")),
        ("az://container/a/b.lance", ("az://container/a", "b")),
    ],
)
def test_object_storage_uris_split_into_database_and_table(uri, want):
    assert is_lance_uri(uri)
    assert split_uri(uri) == want
    assert local_path(uri) is None


def test_local_paths_and_file_uris_name_the_same_folder(tmp_path):
    folder = tmp_path / "corpus.lance"
    assert split_uri(str(folder)) == (str(tmp_path), "corpus")
    assert split_uri(f"file://{folder}") == (str(tmp_path), "corpus")
    assert local_path(f"file://{folder}") == folder
    assert split_uri(Path("rel/x.lance"))[1] == "x"


def test_other_names_are_not_lance_tables():
    assert not is_lance_uri("corpus.idx")
    assert not is_lance_uri("corpus.lance.bak")
    with pytest.raises(UsageError, match=r"\.lance"):
        split_uri("corpus.idx")


def test_small_tables_stay_exact_and_large_ones_get_ivf_pq():
    assert ann_plan(ANN_MIN_ROWS - 1, 384) == {"type": "exact"}
    plan = ann_plan(1_000_000, 384)
    assert plan["type"] == "IVF_PQ" and plan["num_partitions"] == 1000 and plan["num_sub_vectors"] == 48
    assert 384 % plan["num_sub_vectors"] == 0
    assert 30 % ann_plan(10_000, 30)["num_sub_vectors"] == 0  # a dimension that 8 does not divide
