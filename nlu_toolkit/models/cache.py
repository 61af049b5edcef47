"""`ModelCache`: the thread-safe cache of loaded models that the resolver and inspection share.

A model is loaded once per process and per key (spec, task, device, ...): loading costs seconds
and hundreds of megabytes, and the server's worker threads ask for the same models at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class ModelCache(Generic[T]):
    """Loaded models by key; `get_or_load` loads outside the lock, so one slow load blocks no lookup."""

    def __init__(self) -> None:
        self._items: dict[Hashable, T] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The model cached under ``key``, else ``load()``'s, cached (the first one stored wins a race)."""
        with self._lock:
            if key in self._items:
                return self._items[key]
        value = load()
        with self._lock:
            return self._items.setdefault(key, value)

    def clear(self) -> None:
        """Forget every model (tests use this to free memory)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
