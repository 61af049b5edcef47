"""DynamicBatcher on fake batch functions: order, gathering, limits, errors, cancellation, shutdown.

A gate (a blocked first call) makes the gathering deterministic: jobs submitted while the
worker is busy must go out together in the next batch, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future

import pytest

from nlu_toolkit.serve.batcher import BatcherStopped, DynamicBatcher

WAIT = 30  # seconds a future may take before the test fails; never reached when the batcher works


class Recorder:
    """A batch function that records each batch; the first call can be held at a gate."""

    def __init__(self, hold_first: bool = False, fail_on: object = None) -> None:
        self.batches: list[list[object]] = []
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.hold_first = hold_first
        self.fail_on = fail_on
        self.first: Future | None = None

    def __call__(self, items: list[object]) -> list[object]:
        self.batches.append(list(items))
        if self.hold_first and len(self.batches) == 1:
            self.entered.set()
            assert self.gate.wait(WAIT)
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"cannot process {self.fail_on!r}")
        return [f"out:{x}" for x in items]


@pytest.fixture
def make():
    started: list[DynamicBatcher] = []

    def build(fn, **kwargs) -> DynamicBatcher:
        batcher = DynamicBatcher(fn, **kwargs)
        batcher.start()
        started.append(batcher)
        return batcher

    yield build
    for batcher in started:
        batcher.stop(WAIT)


def held(make, **kwargs) -> tuple[DynamicBatcher, Recorder]:
    """A batcher whose worker is busy with a first job (``recorder.first``) until ``recorder.gate`` is set."""
    recorder = Recorder(hold_first=True, fail_on=kwargs.pop("fail_on", None))
    batcher = make(recorder, **kwargs)
    recorder.first = batcher.submit(["first"])
    assert recorder.entered.wait(WAIT)
    return batcher, recorder


def test_each_job_gets_its_own_outputs_in_order(make):
    batcher, recorder = held(make, max_batch_size=64, max_wait_ms=0)
    jobs = [batcher.submit([f"{j}-{k}" for k in range(j + 1)]) for j in range(5)]
    recorder.gate.set()
    assert recorder.first.result(WAIT) == ["out:first"]
    for j, job in enumerate(jobs):
        assert job.result(WAIT) == [f"out:{j}-{k}" for k in range(j + 1)]


def test_jobs_queued_while_the_worker_is_busy_share_one_batch(make):
    batcher, recorder = held(make, max_batch_size=64, max_wait_ms=0)
    jobs = [batcher.submit([f"t{i}"]) for i in range(6)]
    recorder.gate.set()
    for job in [recorder.first, *jobs]:
        job.result(WAIT)
    assert recorder.batches == [["first"], [f"t{i}" for i in range(6)]]
    assert batcher.stats.to_dict() == {"batches": 2, "items": 7, "jobs": 7, "largest_batch": 6, "mean_batch": 3.5}


def test_batches_never_exceed_max_batch_size_and_keep_arrival_order(make):
    batcher, recorder = held(make, max_batch_size=4, max_wait_ms=0)
    jobs = [batcher.submit([f"t{i}"]) for i in range(9)]
    recorder.gate.set()
    for job in jobs:
        job.result(WAIT)
    assert [len(b) for b in recorder.batches[1:]] == [4, 4, 1]
    assert [x for b in recorder.batches[1:] for x in b] == [f"t{i}" for i in range(9)]


def test_a_job_larger_than_the_batch_runs_alone_and_whole(make):
    batcher, recorder = held(make, max_batch_size=3, max_wait_ms=0)
    small = batcher.submit(["a"])
    big = batcher.submit([f"b{i}" for i in range(7)])
    after = batcher.submit(["c"])
    recorder.gate.set()
    assert big.result(WAIT) == [f"out:b{i}" for i in range(7)]
    small.result(WAIT), after.result(WAIT)
    assert recorder.batches[1:] == [["a"], [f"b{i}" for i in range(7)], ["c"]]


def test_a_full_batch_goes_out_without_waiting_for_max_wait(make):
    recorder = Recorder()
    batcher = make(recorder, max_batch_size=2, max_wait_ms=10_000)
    a, b = batcher.submit(["a"]), batcher.submit(["b"])
    # Well before the 10 s wait: the batch is full, so it runs at once.
    assert a.result(WAIT / 3) == ["out:a"]
    assert b.result(WAIT / 3) == ["out:b"]
    assert recorder.batches == [["a", "b"]]


def test_a_failing_job_fails_alone_and_the_others_in_its_batch_succeed(make):
    batcher, recorder = held(make, max_batch_size=64, max_wait_ms=0, fail_on="bad")
    good1, bad, good2 = batcher.submit(["x"]), batcher.submit(["bad", "y"]), batcher.submit(["z"])
    recorder.gate.set()
    assert good1.result(WAIT) == ["out:x"]
    assert good2.result(WAIT) == ["out:z"]
    with pytest.raises(ValueError, match="cannot process 'bad'"):
        bad.result(WAIT)
    # The shared batch failed, then each job ran alone.
    assert recorder.batches[1:] == [["x", "bad", "y", "z"], ["x"], ["bad", "y"], ["z"]]


def test_a_base_exception_becomes_an_error_and_the_worker_lives_on(make):
    class Panic(BaseException):  # what pyo3's PanicException derives from
        pass

    calls = []

    def fn(items):
        calls.append(items)
        if items == ["panic"]:
            raise Panic("tokenizer panicked")
        return items

    batcher = make(fn, max_batch_size=1, max_wait_ms=0)
    with pytest.raises(RuntimeError, match="Panic: tokenizer panicked"):
        batcher.submit(["panic"]).result(WAIT)
    assert batcher.submit(["ok"]).result(WAIT) == ["ok"]
    assert batcher.running


def test_a_wrong_number_of_outputs_is_an_error(make):
    batcher = make(lambda items: items[:-1], max_wait_ms=0)
    with pytest.raises(RuntimeError, match="returned 1 outputs for 2"):
        batcher.submit(["a", "b"]).result(WAIT)


def test_a_cancelled_job_costs_no_compute(make):
    batcher, recorder = held(make, max_batch_size=64, max_wait_ms=0)
    gone = batcher.submit(["gone"])
    kept = batcher.submit(["kept"])
    assert gone.cancel()
    recorder.gate.set()
    assert kept.result(WAIT) == ["out:kept"]
    assert recorder.batches[1:] == [["kept"]]


def test_stop_finishes_queued_jobs_then_refuses_new_ones(make):
    batcher, recorder = held(make, max_batch_size=2, max_wait_ms=0)
    queued = [batcher.submit([f"q{i}"]) for i in range(5)]
    stopper = threading.Thread(target=batcher.stop, args=(WAIT,))
    stopper.start()
    recorder.gate.set()
    stopper.join(WAIT)
    assert [q.result(0) for q in queued] == [[f"out:q{i}"] for i in range(5)]
    assert not batcher.running
    with pytest.raises(BatcherStopped):
        batcher.submit(["late"])


def test_submit_before_start_and_empty_jobs():
    batcher = DynamicBatcher(lambda items: items)
    assert batcher.submit([]).result(0) == []
    with pytest.raises(BatcherStopped, match="not started"):
        batcher.submit(["x"])


def test_run_awaits_without_blocking_the_event_loop(make):
    batcher = make(lambda items: [x * 2 for x in items], max_batch_size=8, max_wait_ms=1)

    async def main():
        return await asyncio.gather(*(batcher.run([i, i + 100]) for i in range(20)))

    assert asyncio.run(main()) == [[2 * i, 2 * (i + 100)] for i in range(20)]
    assert batcher.stats.items == 40


def test_the_wait_counts_from_when_the_batch_opens_not_from_arrival(make):
    """Jobs that queued during a long batch still wait for the clients that batch just answered.

    Counting from arrival would send ``early`` out alone the moment the worker is free (its
    wait ran out during the held batch); counting from the opening lets ``late``, submitted
    shortly after, join it.
    """
    batcher, recorder = held(make, max_batch_size=64, max_wait_ms=1_000, idle_ms=800)
    early = batcher.submit(["early"])
    time.sleep(1.2)  # longer than max_wait: counted from its arrival, early's wait is over
    recorder.gate.set()  # the held batch ends: the next batch opens with "early" in it
    assert recorder.first.result(WAIT) == ["out:first"]
    late = batcher.submit(["late"])  # well within idle_ms of the opening
    assert early.result(WAIT) == ["out:early"] and late.result(WAIT) == ["out:late"]
    assert recorder.batches[1:] == [["early", "late"]]


def test_a_lone_job_waits_only_idle_ms_not_max_wait(make):
    recorder = Recorder()
    batcher = make(recorder, max_batch_size=64, max_wait_ms=60_000, idle_ms=10)
    # Far sooner than the 60 s max wait: nobody else came for 10 ms, so the batch went out.
    assert batcher.submit(["alone"]).result(WAIT) == ["out:alone"]
    assert recorder.batches == [["alone"]]


def test_idle_ms_0_waits_the_whole_max_wait_for_company(make):
    recorder = Recorder()
    batcher = make(recorder, max_batch_size=64, max_wait_ms=1_500, idle_ms=0)
    first = batcher.submit(["a"])
    time.sleep(0.3)  # an idle gap that would end a batch with idle_ms > 0 and < 300
    second = batcher.submit(["b"])
    assert first.result(WAIT) == ["out:a"] and second.result(WAIT) == ["out:b"]
    assert recorder.batches == [["a", "b"]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_batch_size": 0}, "max_batch_size"), ({"max_wait_ms": -1}, "max_wait_ms"), ({"idle_ms": -1}, "idle_ms")],
)
def test_invalid_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DynamicBatcher(lambda items: items, **kwargs)
