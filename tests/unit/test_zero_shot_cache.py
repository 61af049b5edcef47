"""`ZeroShotCache`: one classifier per label set, LRU-bounded, errors cached only when asked."""

from __future__ import annotations

import threading

import pytest

from nlu_toolkit.errors import ModelNotAvailable, UsageError
from nlu_toolkit.tasks import zero_shot_cache
from nlu_toolkit.tasks.zero_shot_cache import ZeroShotCache


@pytest.fixture
def built(monkeypatch) -> list[tuple]:
    """The classifiers the cache builds (a fake `Classifier` records its arguments)."""
    calls: list[tuple] = []

    def fake(model, *, labels, multi_label, **options):
        calls.append((model, labels, multi_label, options))
        if model == "missing":
            raise ModelNotAvailable("no such model", "give another")
        if model == "broken":
            raise RuntimeError("boom")
        return object()

    monkeypatch.setattr(zero_shot_cache, "Classifier", fake)
    return calls


def test_one_classifier_per_key_least_recently_used_dropped_first(built):
    cache = ZeroShotCache(2, device="cpu")
    first = cache.get("m", ["a", "b"])
    assert cache.get("m", ("a", "b")) is first  # a list and a tuple of the same labels: one key
    cache.get("m", ["c"], multi_label=True)
    cache.get("m", ["a", "b"])  # used again: now the most recent
    cache.get("m", None)
    assert cache.label_sets() == [("a", "b"), None]
    assert built == [
        ("m", ["a", "b"], None, {"device": "cpu"}),
        ("m", ["c"], True, {"device": "cpu"}),
        ("m", None, None, {"device": "cpu"}),
    ]
    cache.clear()
    assert len(cache) == 0


def test_errors_are_cached_only_when_asked(built):
    cached = ZeroShotCache(4, cache_errors=(ModelNotAvailable, UsageError))
    for _ in range(2):
        with pytest.raises(ModelNotAvailable):
            cached.get("missing", ["a"])
    assert len(built) == 1  # not retried
    plain = ZeroShotCache(4)
    for _ in range(2):
        with pytest.raises(ModelNotAvailable):
            plain.get("missing", ["a"])
    with pytest.raises(RuntimeError):
        cached.get("broken", ["a"])
    assert len(built) == 4 and len(plain) == 0 and cached.label_sets() == [("a",)]


def test_threads_asking_for_one_label_set_build_it_once(built):
    cache = ZeroShotCache(4)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("m", ["x"]))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len({id(g) for g in got}) == 1
