"""Distributed batch inference on Ray Data: a task mapped over a ray.data.Dataset, and file-to-file jobs.

    from nlu_toolkit.batch import map_dataset, run_job

    ds = map_dataset(ray.data.read_parquet("s3://bucket/docs/"), "embed", workers=8)   # compose in Ray
    run_job("classify", "data/", "labelled/", workers=2)                              # files to files

Needs the ``ray`` extra (``pip install 'nlu-toolkit[ray]'``); importing this package does not import Ray.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nlu_toolkit.batch.cluster import ray_session
    from nlu_toolkit.batch.inference import map_dataset
    from nlu_toolkit.batch.job import FileResult, JobResult, run_job

_EXPORTS = {
    "ray_session": "nlu_toolkit.batch.cluster",
    "map_dataset": "nlu_toolkit.batch.inference",
    "run_job": "nlu_toolkit.batch.job",
    "JobResult": "nlu_toolkit.batch.job",
    "FileResult": "nlu_toolkit.batch.job",
}
__all__ = ["FileResult", "JobResult", "map_dataset", "ray_session", "run_job"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nlu_toolkit.batch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
