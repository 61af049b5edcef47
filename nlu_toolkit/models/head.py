"""A linear classification head on sentence embeddings: ``head.safetensors`` + ``head.json``, never pickle.

The few-shot classifier (``nlu finetune --task fewshot``) and the classifier on a static model
(``nlu finetune --task classification --model STATIC``) are an embedding model plus this head, in one folder:
the folder stays a working embedding model (``nlu embed`` gives its vectors), and ``nlu classify`` scores
``probs = activation(vectors @ weight.T + bias)``, softmax over labels or a sigmoid per label.

Files:
- ``head.safetensors``: ``weight`` (n_labels, dim) and ``bias`` (n_labels,), float32.
- ``head.json``: ``labels`` (in row order), ``multi_label``, ``normalize`` (the vectors the head was fitted on
  are unit length), ``kind`` (``logreg`` or ``torch``: how it was fitted).

SetFit saves its head as ``model_head.pkl`` (joblib, i.e. pickle); such a folder is refused, never unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu_toolkit.core.pooling import sigmoid, softmax
from nlu_toolkit.errors import ModelNotAvailable, UnsafeModel

HEAD_WEIGHTS, HEAD_CONFIG = "head.safetensors", "head.json"
#: SetFit's pickled head: recognised only to refuse it.
PICKLED_HEAD = "model_head.pkl"
HEAD_KINDS = ("logreg", "torch")


@dataclass
class LinearHead:
    """``weight`` (n_labels, dim), ``bias`` (n_labels,), the label names in row order, and how to score."""

    weight: np.ndarray
    bias: np.ndarray
    labels: list[str]
    multi_label: bool = False
    normalize: bool = True
    kind: str = "logreg"
    extra: dict[str, Any] = field(default_factory=dict)  # recorded in head.json as is (e.g. who trained it)

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """(n, dim) vectors -> (n, n_labels) logits."""
        return np.asarray(vectors, dtype=np.float32) @ self.weight.T + self.bias

    def scores(self, vectors: np.ndarray, multi_label: bool | None = None) -> np.ndarray:
        """(n, dim) vectors -> (n, n_labels) probabilities: a softmax over labels, or a sigmoid per label."""
        multi = self.multi_label if multi_label is None else multi_label
        logits = self.logits(vectors)
        return sigmoid(logits) if multi else softmax(logits)


def has_head(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a linear head (``head.json``)."""
    return (Path(path) / HEAD_CONFIG).is_file()


def has_pickled_head(path: str | Path) -> bool:
    """A SetFit folder: a pickled ``model_head.pkl`` and no head of ours."""
    folder = Path(path)
    return (folder / PICKLED_HEAD).is_file() and not (folder / HEAD_CONFIG).is_file()


def refuse_pickled_head(path: str | Path) -> None:
    """Raise `UnsafeModel` for a SetFit folder, whose head loads only by unpickling."""
    raise UnsafeModel(
        f"{Path(path) / PICKLED_HEAD} is a pickled (joblib) SetFit head, and pickle files are never loaded: "
        "unpickling runs code from the file",
        "train the classifier with `nlu finetune --task fewshot` (its head is safetensors), or use the folder's "
        "sentence encoder alone with {=labels} for zero-shot",
    )


def save_head(folder: str | Path, head: LinearHead) -> None:
    """Write ``head.safetensors`` and ``head.json`` into ``folder`` (a staging folder: callers rename it in)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    weight = np.ascontiguousarray(head.weight, dtype=np.float32)
    bias = np.ascontiguousarray(head.bias, dtype=np.float32)
    _check_shapes(weight, bias, head.labels, folder)
    save_file({"weight": weight, "bias": bias}, str(folder / HEAD_WEIGHTS))
    config = {
        "labels": list(head.labels),
        "multi_label": bool(head.multi_label),
        "normalize": bool(head.normalize),
        "kind": head.kind,
        "dim": int(weight.shape[1]),
        **head.extra,
    }
    (folder / HEAD_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_head(folder: str | Path) -> LinearHead:
    """Read the head of ``folder``; a missing, damaged or inconsistent head is `ModelNotAvailable`."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(folder)
    hint = "retrain the classifier with `nlu finetune`, or restore the folder"
    try:
        config = json.loads((folder / HEAD_CONFIG).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / HEAD_WEIGHTS))
    except FileNotFoundError as e:
        raise ModelNotAvailable(f"the classifier head in {folder} is incomplete: {e.filename} is missing", hint) from e
    except (OSError, ValueError, SafetensorError) as e:  # bad JSON, truncated safetensors
        raise ModelNotAvailable(f"the classifier head in {folder} is damaged: {e}", hint) from e
    if not isinstance(config, dict) or not isinstance(config.get("labels"), list):
        raise ModelNotAvailable(f"{folder / HEAD_CONFIG} has no list of labels", hint)
    if "weight" not in tensors or "bias" not in tensors:
        raise ModelNotAvailable(f"{folder / HEAD_WEIGHTS} lacks its weight or bias", hint)
    labels = [str(x) for x in config["labels"]]
    weight, bias = tensors["weight"].astype(np.float32), tensors["bias"].astype(np.float32)
    _check_shapes(weight, bias, labels, folder)
    known = {"labels", "multi_label", "normalize", "kind", "dim"}
    return LinearHead(
        weight=weight,
        bias=bias,
        labels=labels,
        multi_label=bool(config.get("multi_label", False)),
        normalize=bool(config.get("normalize", True)),
        kind=str(config.get("kind", "logreg")),
        extra={k: v for k, v in config.items() if k not in known},
    )


def _check_shapes(weight: np.ndarray, bias: np.ndarray, labels: list[str], folder: Path) -> None:
    if weight.ndim != 2 or bias.shape != (weight.shape[0],) or weight.shape[0] != len(labels) or not labels:
        raise ModelNotAvailable(
            f"the classifier head in {folder} does not fit together: weight {tuple(weight.shape)}, "
            f"bias {tuple(bias.shape)}, {len(labels)} labels",
            "retrain the classifier with `nlu finetune`",
        )
