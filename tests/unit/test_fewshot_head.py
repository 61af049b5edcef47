"""Few-shot pieces without a model: SetFit's pair counts, and the linear head against scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from nlu_toolkit.errors import ModelNotAvailable, UnsafeModel
from nlu_toolkit.models.head import LinearHead, load_head, refuse_pickled_head, save_head
from nlu_toolkit.train.fewshot_pairs import contrastive_pairs
from nlu_toolkit.train.head_fit import fit_head, head_metrics

TEXTS = [f"text {i}" for i in range(16)]
LABELS = [0] * 8 + [1] * 8


def test_default_pairs_are_setfits_oversampling_counts():
    pairs = contrastive_pairs(TEXTS, LABELS, seed=0)
    # 16 examples, self-pairs included: 2 * (8 * 9 / 2) = 72 positive, 8 * 8 = 64 negative; negatives cycled to 72.
    assert len(pairs) == 144
    assert sum(y for *_, y in pairs) == 72
    assert len({(a, b) for a, b, y in pairs if y == 0.0}) == 64
    assert pairs[0][2] == 1.0 and pairs[1][2] == 0.0  # positives and negatives in turn
    for a, b, y in pairs:
        assert (LABELS[TEXTS.index(a)] == LABELS[TEXTS.index(b)]) == (y == 1.0)


def test_num_iterations_and_pairs_per_example_set_the_counts():
    assert len(contrastive_pairs(TEXTS, LABELS, num_iterations=3)) == 2 * 3 * 16
    assert len(contrastive_pairs(TEXTS, LABELS, pairs_per_example=5)) == 2 * 40


def test_pairs_follow_the_seed():
    assert contrastive_pairs(TEXTS, LABELS, seed=1) == contrastive_pairs(TEXTS, LABELS, seed=1)
    assert contrastive_pairs(TEXTS, LABELS, seed=1) != contrastive_pairs(TEXTS, LABELS, seed=2)


def test_multi_label_pairs_are_positive_when_they_share_a_label():
    texts = ["a", "b", "c"]
    rows = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=np.float32)
    found = {frozenset((a, b)): y for a, b, y in contrastive_pairs(texts, list(rows))}
    assert found[frozenset("ab")] == 1.0
    assert found[frozenset("ac")] == 0.0 and found[frozenset("bc")] == 0.0
    assert found[frozenset("c")] == 1.0  # an example with itself


def _data(n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, 6))
    y = np.arange(60) % n_classes
    return centres[y] + rng.normal(scale=0.8, size=(60, 6)), y


@pytest.mark.parametrize("n_classes", [2, 4])
def test_logreg_head_gives_sklearns_probabilities(n_classes):
    x, y = _data(n_classes)
    head = fit_head(x, y, [f"c{i}" for i in range(n_classes)], multi_label=False, seed=0)
    reference = LogisticRegression(max_iter=1000, random_state=0).fit(x, y).predict_proba(x)
    assert np.abs(head.scores(x) - reference).max() < 1e-5


def test_multi_label_head_gives_each_labels_own_probabilities():
    x, _ = _data(3)
    y = np.stack([x[:, 0] > 0, x[:, 1] > 0, np.zeros(len(x))], axis=1).astype(np.float32)  # label 3 never occurs
    head = fit_head(x, y, ["a", "b", "never"], multi_label=True, seed=0)
    for j in range(2):
        reference = LogisticRegression(max_iter=1000, random_state=0).fit(x, y[:, j]).predict_proba(x)[:, 1]
        assert np.abs(head.scores(x)[:, j] - reference).max() < 1e-5
    assert head.scores(x)[:, 2].max() < 1e-6
    assert head_metrics(head, x, y)["micro_f1"] > 0.8


def test_torch_head_learns_a_separable_problem():
    x, y = _data(3)
    head = fit_head(x, y, ["a", "b", "c"], multi_label=False, kind="torch", seed=0)
    assert head.kind == "torch"
    assert head_metrics(head, x, y)["accuracy"] > 0.9


def test_head_round_trips_through_safetensors_and_json(tmp_path):
    x, y = _data(2)
    head = fit_head(x, y, ["neg", "pos"], multi_label=False, seed=0)
    head.extra = {"task": "fewshot"}
    save_head(tmp_path, head)
    loaded = load_head(tmp_path)
    assert loaded.labels == ["neg", "pos"] and loaded.extra == {"task": "fewshot"}
    assert np.array_equal(loaded.scores(x), head.scores(x))
    assert json.loads((tmp_path / "head.json").read_text())["dim"] == 6


def test_a_damaged_head_is_reported(tmp_path):
    save_head(tmp_path, LinearHead(np.zeros((2, 3)), np.zeros(2), ["a", "b"]))
    (tmp_path / "head.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelNotAvailable, match="damaged"):
        load_head(tmp_path)
    (tmp_path / "head.safetensors").unlink()
    with pytest.raises(ModelNotAvailable, match="missing"):
        load_head(tmp_path)


def test_a_head_whose_shapes_disagree_is_refused(tmp_path):
    with pytest.raises(ModelNotAvailable, match="does not fit"):
        save_head(tmp_path, LinearHead(np.zeros((2, 3)), np.zeros(2), ["only one"]))


def test_a_pickled_setfit_head_is_refused(tmp_path):
    with pytest.raises(UnsafeModel, match="pickle"):
        refuse_pickled_head(tmp_path)
