"""Fitting a linear head (`nlu_toolkit.models.head.LinearHead`) on frozen sentence vectors, and scoring it.

Two ways, one file format:

- ``logreg`` (default): scikit-learn's ``LogisticRegression`` (SetFit's default head), one per label for
  multi-label. Its coefficients are copied into the head exactly: multiclass = ``coef_``/``intercept_`` under
  a softmax; binary (``coef_`` is one row ``w``) = rows ``[0; w]``, bias ``[0; b]``, since
  ``softmax([0, z]) = (1 - sigmoid(z), sigmoid(z))``; multi-label = each label's row under a sigmoid.
  Probabilities equal ``predict_proba``'s (tests check it), so sklearn is needed to train, not to predict.
- ``torch``: the same linear layer trained by gradient descent (cross-entropy, or BCE per label), the
  differentiable head of SetFit's ``--head torch`` option.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlu_toolkit.models.head import HEAD_KINDS, LinearHead

#: A label that never (or always) occurs in the training rows gets no classifier; its fixed logit.
_CONSTANT_LOGIT = 20.0
#: Torch head: epochs, learning rate and batch size as SetFit's differentiable head (1e-2, 16 epochs).
TORCH_EPOCHS, TORCH_LR, TORCH_BATCH = 16, 1e-2, 16


def fit_head(
    vectors: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
    *,
    multi_label: bool,
    kind: str = "logreg",
    seed: int = 42,
    normalize: bool = True,
) -> LinearHead:
    """Fit a head on ``vectors`` (n, dim).

    ``targets``: (n,) label indices, or for ``multi_label`` an (n, n_labels) 0/1 matrix.
    """
    if kind not in HEAD_KINDS:
        raise ValueError(f"unknown head kind {kind!r}")
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(targets)
    if kind == "torch":
        weight, bias = _fit_torch(x, y, len(labels), multi_label, seed)
    elif multi_label:
        weight, bias = _fit_logreg_per_label(x, y, seed)
    else:
        weight, bias = _fit_logreg(x, y, len(labels), seed)
    return LinearHead(
        weight=weight.astype(np.float32),
        bias=bias.astype(np.float32),
        labels=list(labels),
        multi_label=multi_label,
        normalize=normalize,
        kind=kind,
    )


def _logreg(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    # sklearn's defaults, as SetFit's head, with room to converge on a few thousand rows.
    return LogisticRegression(max_iter=1000, random_state=seed)


def _fit_logreg(x: np.ndarray, y: np.ndarray, n_labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    weight = np.zeros((n_labels, x.shape[1]))
    bias = np.full(n_labels, -_CONSTANT_LOGIT)  # a class absent from training is never predicted
    present = np.unique(y)
    if len(present) == 1:
        bias[present[0]] = _CONSTANT_LOGIT
        return weight, bias
    model = _logreg(seed).fit(x, y)
    classes = model.classes_.astype(int)
    if len(classes) == 2:
        # One row w for classes_[1] against classes_[0]: logits (0, w.x + b) give the same probabilities.
        bias[classes] = (0.0, float(model.intercept_[0]))
        weight[classes[1]] = model.coef_[0]
    else:
        weight[classes] = model.coef_
        bias[classes] = model.intercept_
    return weight, bias


def _fit_logreg_per_label(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_labels = y.shape[1]
    weight, bias = np.zeros((n_labels, x.shape[1])), np.zeros(n_labels)
    for j in range(n_labels):
        column = (y[:, j] > 0.5).astype(int)
        if column.min() == column.max():
            bias[j] = _CONSTANT_LOGIT if column[0] else -_CONSTANT_LOGIT
            continue
        model = _logreg(seed).fit(x, column)
        weight[j], bias[j] = model.coef_[0], model.intercept_[0]
    return weight, bias


def _fit_torch(
    x: np.ndarray, y: np.ndarray, n_labels: int, multi_label: bool, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    inputs = torch.tensor(x, dtype=torch.float32)
    target = torch.tensor(y, dtype=torch.float32 if multi_label else torch.long)
    layer = torch.nn.Linear(inputs.shape[1], n_labels)
    optimiser = torch.optim.AdamW(layer.parameters(), lr=TORCH_LR, weight_decay=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss() if multi_label else torch.nn.CrossEntropyLoss()
    for _ in range(TORCH_EPOCHS):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), TORCH_BATCH):
            rows = order[start : start + TORCH_BATCH]
            optimiser.zero_grad()
            loss_fn(layer(inputs[rows]), target[rows]).backward()
            optimiser.step()
    return layer.weight.detach().numpy().astype(np.float64), layer.bias.detach().numpy().astype(np.float64)


def head_metrics(head: LinearHead, vectors: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """The task's eval metrics for ``head`` on ``vectors``: as the Trainer tasks report them (`METRICS`)."""
    from nlu_toolkit.core.metrics import classification_metrics, multilabel_metrics

    probs = head.scores(vectors)
    y = np.asarray(targets)
    if head.multi_label:
        found = multilabel_metrics(y > 0.5, probs >= 0.5, head.labels)
        return {k: float(found[k]) for k in ("accuracy", "micro_f1", "macro_f1")}
    found = classification_metrics(y.tolist(), probs.argmax(axis=1).tolist(), head.labels)
    return {k: float(found[k]) for k in ("accuracy", "macro_f1", "mcc")}
