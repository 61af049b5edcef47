"""`ZeroShotCache`: loaded `Classifier`s kept per (model, labels, multi_label), for the server and the web app.

A zero-shot classifier encodes its labels once, when it is built, so a front end that lets its
users choose the labels keeps one per label set; the weights themselves are shared (the resolver
caches them). The bound matters there: the users choose the labels, so the label sets are unbounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

from nlu_toolkit.errors import NluError
from nlu_toolkit.tasks.classify import Classifier


class ZeroShotCache:
    """At most ``max_entries`` classifiers, least recently used dropped first; safe across threads.

    ``options`` (device, batch size, backend, ...) go to every `Classifier` it builds. A build that
    raises one of ``cache_errors`` is cached as that error and raised again on every `get` for its key
    (a model that cannot load is not retried on every click); other errors are not cached.
    """

    def __init__(self, max_entries: int, *, cache_errors: tuple[type[NluError], ...] = (), **options: Any) -> None:
        self.max_entries = max_entries
        self.cache_errors = cache_errors
        self.options = options
        self._entries: OrderedDict[Hashable, Classifier | NluError] = OrderedDict()
        # One build at a time: two requests for a new label set must not encode it twice.
        self._lock = threading.Lock()

    def get(self, model: str | None, labels: Sequence[str] | None, *, multi_label: bool | None = None) -> Classifier:
        """The classifier of ``model`` over ``labels`` (None: the model's own labels), built on first use."""
        key = (model, tuple(labels) if labels else None, multi_label)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
            else:
                try:
                    built: Classifier | NluError = Classifier(
                        model, labels=list(labels) if labels else None, multi_label=multi_label, **self.options
                    )
                except self.cache_errors as e:
                    built = e
                self._entries[key] = built
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            found = self._entries[key]
        if isinstance(found, NluError):
            raise found
        return found

    def label_sets(self) -> list[tuple[str, ...] | None]:
        """The label sets kept, least recently used first (for tests and diagnostics)."""
        with self._lock:
            return [labels for _, labels, _ in self._entries]  # type: ignore[misc]

    def clear(self) -> None:
        """Drop every kept classifier."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
