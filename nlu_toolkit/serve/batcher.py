"""Dynamic batching: gather concurrent requests into one call of a batch function.

`DynamicBatcher` knows nothing about models. Each request submits a *job* (a list
of items) and gets a future; one worker thread takes the first waiting job, then
keeps taking jobs until ``max_batch_size`` items are gathered, no job has come for
``idle_ms``, or ``max_wait_ms`` have passed since the batch opened; it calls ``fn``
once on all their items and hands each job its slice of the outputs, in order.

A batch opens when the worker is free and a job waits, so the wait counts from the
later of the first job's arrival and the end of the previous batch. Counting from
arrival alone splits steady load into two half-size cohorts for good: the jobs that
queued during a batch are all overdue when it ends and go out at once, while the
clients just answered are still sending their next requests. Waiting a little for
them merges the cohorts (16 clients: 8 items a batch -> 15, and a packed pass of
16 costs far less than two of 8). ``idle_ms`` ends the wait as soon as requests stop
coming, so a lone request waits ``idle_ms``, not ``max_wait_ms``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("nlu_toolkit.serve")


class BatcherStopped(RuntimeError):
    """The batcher no longer takes work (the server is shutting down)."""


@dataclass
class _Job(Generic[T, R]):
    items: list[T]
    future: Future[list[R]]


_STOP = object()


@dataclass
class BatcherStats:
    """Counters of what the worker ran: batches, items, and the largest batch."""

    batches: int = 0
    items: int = 0
    jobs: int = 0
    largest: int = 0

    def to_dict(self) -> dict[str, Any]:
        mean = self.items / self.batches if self.batches else 0.0
        return {
            "batches": self.batches,
            "items": self.items,
            "jobs": self.jobs,
            "largest_batch": self.largest,
            "mean_batch": round(mean, 2),
        }


class DynamicBatcher(Generic[T, R]):
    """Run ``fn`` on batches gathered from concurrent `submit` calls, on one worker thread.

    Args:
        fn: takes a list of items, returns one output per item, in order.
        max_batch_size: items per call of ``fn``; a job larger than this runs alone,
            never split, so its items always share one call.
        max_wait_ms: how long a batch may wait for company once it opens; 0 takes
            only what is already queued.
        idle_ms: a batch stops waiting when no job has arrived for this long (at
            most ``max_wait_ms``); 0 waits the whole ``max_wait_ms``.
        name: the worker thread's name (shows in logs and debuggers).
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 10.0,
        idle_ms: float = 2.0,
        name: str = "nlu-batcher",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be at least 0, got {max_wait_ms}")
        if idle_ms < 0:
            raise ValueError(f"idle_ms must be at least 0, got {idle_ms}")
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.idle = idle_ms / 1000.0
        self.name = name
        self.stats = BatcherStats()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._carry: _Job[T, R] | None = None  # taken from the queue, opens the next batch

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (idempotent)."""
        with self._lock:
            if self._closed:
                raise BatcherStopped(f"{self.name} was stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new jobs, finish every job already queued, then end the worker thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- submitting ---------------------------------------------------------------------

    def submit(self, items: Sequence[T]) -> Future[list[R]]:
        """Queue ``items`` as one job; the future resolves to their outputs, in order."""
        future: Future[list[R]] = Future()
        if not items:
            future.set_result([])
            return future
        with self._lock:
            # Checked under the lock so that no job slips in behind the stop marker.
            if self._closed:
                raise BatcherStopped(f"{self.name} is shutting down")
            if self._thread is None:
                raise BatcherStopped(f"{self.name} was not started")
            self._queue.put(_Job(list(items), future))
        return future

    async def run(self, items: Sequence[T]) -> list[R]:
        """`submit` and await the outputs without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(items))

    def waiting(self) -> list[T]:
        """The items of the jobs not yet in a batch (queued, or held to open the next one): a snapshot."""
        with self._queue.mutex:
            jobs = [j for j in self._queue.queue if j is not _STOP]
        carry = self._carry
        return [x for j in ([carry] if carry is not None else []) + jobs for x in j.items]

    # -- the worker ---------------------------------------------------------------------

    def _loop(self) -> None:
        carry: _Job[T, R] | None = None
        while True:
            first = carry if carry is not None else self._queue.get()
            carry = self._carry = None
            if first is _STOP:
                return
            jobs, size, stop = [first], len(first.items), False
            # The batch opens now: the worker is free and a job waits (see the module docstring).
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch_size:
                try:
                    left = deadline - time.monotonic()
                    if self.idle:
                        left = min(left, self.idle)
                    job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                if size + len(job.items) > self.max_batch_size:
                    carry = self._carry = job  # it opens the next batch, which keeps its place in line
                    break
                jobs.append(job)
                size += len(job.items)
            self._run(jobs)
            if stop:
                return

    def _run(self, jobs: list[_Job[T, R]]) -> None:
        # A job whose caller went away (cancelled future) costs no compute.
        jobs = [j for j in jobs if j.future.set_running_or_notify_cancel()]
        if len(jobs) > 1:
            try:
                outputs = self._call([x for j in jobs for x in j.items])
            except Exception:
                # Rerun each job alone so that one bad request fails only itself.
                for job in jobs:
                    self._run_alone(job)
                return
            self._count(len(jobs), len(outputs))  # before the results: a caller may read the stats next
            start = 0
            for job in jobs:
                job.future.set_result(outputs[start : start + len(job.items)])
                start += len(job.items)
        elif jobs:
            self._run_alone(jobs[0])

    def _run_alone(self, job: _Job[T, R]) -> None:
        try:
            outputs = self._call(job.items)
        except Exception as e:
            job.future.set_exception(e)
            return
        self._count(1, len(outputs))
        job.future.set_result(outputs)

    def _call(self, items: list[T]) -> list[R]:
        try:
            outputs = list(self.fn(items))
        except Exception:
            raise
        except BaseException as e:
            # A Rust panic inside tokenizers is a BaseException (pyo3's PanicException):
            # it must fail the request, not kill the worker thread and strand every later job.
            raise RuntimeError(f"{type(e).__name__}: {e}") from e
        if len(outputs) != len(items):
            raise RuntimeError(f"{self.name}: the batch function returned {len(outputs)} outputs for {len(items)}")
        return outputs

    def _count(self, jobs: int, items: int) -> None:
        self.stats.batches += 1
        self.stats.items += items
        self.stats.jobs += jobs
        self.stats.largest = max(self.stats.largest, items)
