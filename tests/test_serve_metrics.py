"""``GET /metrics`` over real HTTP: request counters and latency per route template, batch sizes,
queue depth, texts and tokens per task (tokens equal the tokenizer's count), model load time,
the process collector, the API key, and one registry per app.

Servers run uvicorn in a thread on a free port with the tiny models of conftest.py; every scrape
is parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
httpx = pytest.importorskip("httpx")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from test_serve import serving as running  # noqa: E402

from nlu_toolkit.serve import ServeConfig  # noqa: E402

WAIT = 60
TEXTS = ["I loved this film", "John lives in Paris", "the plot was remarkably boring, unbelievably so"]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client, **headers: str) -> Samples:
    """Every sample of /metrics, parsed with prometheus_client's parser: {(name, labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def tokens(model: str, *texts: str) -> int:
    """What the model's tokenizer counts for ``texts``: ``input_ids`` with special tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    return sum(len(ids) for ids in tok(list(texts))["input_ids"])


@pytest.fixture(scope="module")
def config(cls_model, st_model) -> ServeConfig:
    return ServeConfig(
        tasks=("classify", "embed", "similarity"),
        models={"classify": cls_model, "embed": st_model},
        max_batch_size=16,
        max_wait_ms=2,
        max_items=20,
        max_chars=500,
    )


@pytest.fixture(scope="module")
def server(config) -> Iterator[tuple[httpx.Client, Any]]:
    with running(config) as served:
        yield served


@pytest.fixture
def api(server) -> httpx.Client:
    return server[0]


def test_requests_are_counted_by_route_template_method_and_status(api):
    before = scrape(api)
    assert api.post("/embed", json={"text": TEXTS[0]}).status_code == 200
    assert api.post("/embed", json={"texts": TEXTS[:2]}).status_code == 200
    assert api.post("/embed", json={"txt": "typo"}).status_code == 422
    assert api.get("/embed").status_code == 405
    assert api.get("/no/such/path/123").status_code == 404
    assert api.get("/no/such/other").status_code == 404
    after = scrape(api)

    requests = "nlu_requests_total"
    assert moved(before, after, requests, route="/embed", method="POST", status="200") == 2
    assert moved(before, after, requests, route="/embed", method="POST", status="422") == 1
    assert moved(before, after, requests, route="/embed", method="GET", status="405") == 1
    assert moved(before, after, requests, route="unmatched", method="GET", status="404") == 2
    # Bounded labels: no raw path, and /metrics does not count itself.
    routes = {dict(labels).get("route") for name, labels in after if name == requests}
    assert not any(r.startswith("/no/") for r in routes) and "/metrics" not in routes
    # The latency histogram: one observation per request, in cumulative buckets ending at +Inf.
    latency = "nlu_request_duration_seconds"
    assert moved(before, after, f"{latency}_count", route="/embed", method="POST") == 3
    assert moved(before, after, f"{latency}_bucket", route="/embed", method="POST", le="+Inf") == 3
    assert moved(before, after, f"{latency}_sum", route="/embed", method="POST") > 0
    assert value(after, f"{latency}_bucket", route="/embed", method="POST", le="0.001") <= value(
        after, f"{latency}_bucket", route="/embed", method="POST", le="30.0"
    )


def test_a_route_added_later_is_counted_under_its_template_with_its_router_prefix(server):
    from fastapi import APIRouter

    api, app = server
    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    app.include_router(router, prefix="/v9")  # no registration with the metrics: the middleware sees it
    before = scrape(api)
    assert api.get("/v9/items/1").status_code == 200
    assert api.get("/v9/items/2").status_code == 200
    assert api.get("/v9/items/x").status_code == 422
    after = scrape(api)
    requests = "nlu_requests_total"
    assert moved(before, after, requests, route="/v9/items/{item_id}", method="GET", status="200") == 2
    assert moved(before, after, requests, route="/v9/items/{item_id}", method="GET", status="422") == 1


def test_texts_tokens_and_batch_sizes_per_task(api, st_model, cls_model):
    before = scrape(api)
    assert api.post("/embed", json={"texts": TEXTS}).status_code == 200
    assert api.post("/classify", json={"texts": TEXTS[:2]}).status_code == 200
    assert api.post("/similarity", json={"a": TEXTS[0], "b": TEXTS[2]}).status_code == 200
    after = scrape(api)

    assert moved(before, after, "nlu_texts_total", task="embed") == 3
    assert moved(before, after, "nlu_tokens_total", task="embed") == tokens(st_model, *TEXTS)
    assert moved(before, after, "nlu_texts_total", task="classify") == 2
    assert moved(before, after, "nlu_tokens_total", task="classify") == tokens(cls_model, *TEXTS[:2])
    assert moved(before, after, "nlu_texts_total", task="similarity") == 1  # one pair
    assert moved(before, after, "nlu_tokens_total", task="similarity") == tokens(st_model, TEXTS[0], TEXTS[2])
    # One request alone on its worker: one batch of its items.
    assert moved(before, after, "nlu_batch_size_count", task="embed") == 1
    assert moved(before, after, "nlu_batch_size_sum", task="embed") == 3
    assert moved(before, after, "nlu_batch_size_bucket", task="embed", le="2.0") == 0
    assert moved(before, after, "nlu_batch_size_bucket", task="embed", le="4.0") == 1


def test_a_failed_request_counts_no_texts(api):
    before = scrape(api)
    assert api.post("/embed", json={"texts": ["ok", "x" * 501]}).status_code == 422  # refused before queueing
    after = scrape(api)
    assert moved(before, after, "nlu_texts_total", task="embed") == 0
    assert moved(before, after, "nlu_requests_total", route="/embed", method="POST", status="422") == 1


def test_a_failing_task_counts_a_500_and_no_texts(server):
    api, app = server
    task = app.state.service.tasks["embed"]

    def broken(group, payloads):
        raise RuntimeError("the model fell over")

    before = scrape(api)
    task.run = broken
    try:
        assert api.post("/embed", json={"text": "boom"}).status_code == 500
    finally:
        del task.run  # the class's method again
    after = scrape(api)
    assert moved(before, after, "nlu_requests_total", route="/embed", method="POST", status="500") == 1
    assert moved(before, after, "nlu_texts_total", task="embed") == 0
    assert moved(before, after, "nlu_batch_size_count", task="embed") == 0


def test_queue_depth_counts_the_items_waiting_for_a_busy_worker(server):
    api, app = server
    task = app.state.service.tasks["embed"]
    started, release = threading.Event(), threading.Event()
    run = task.run

    def slow(group, payloads):
        started.set()
        assert release.wait(WAIT)
        return run(group, payloads)

    task.run = slow
    try:
        with httpx.Client(base_url=str(api.base_url), timeout=WAIT) as other:
            threads = [threading.Thread(target=other.post, args=("/embed",), kwargs={"json": {"text": "first"}})]
            threads[0].start()
            assert started.wait(WAIT)  # the worker is busy with the first request
            for n in (2, 3):
                body = {"texts": [f"queued {i}" for i in range(n)]}
                threads.append(threading.Thread(target=other.post, args=("/embed",), kwargs={"json": body}))
                threads[-1].start()
            wait_for(lambda: value(scrape(api), "nlu_queue_depth", task="embed") >= 5)
            samples = scrape(api)
            assert value(samples, "nlu_queue_depth", task="embed") == 5
            assert value(samples, "nlu_queue_depth", task="classify") == 0
            release.set()
            for thread in threads:
                thread.join(WAIT)
    finally:
        release.set()
        del task.run  # the class's method again
    assert value(scrape(api), "nlu_queue_depth", task="embed") == 0


def test_batcher_waiting_lists_queued_items_and_the_job_held_for_the_next_batch():
    from nlu_toolkit.serve.batcher import DynamicBatcher

    calls, permits = [], threading.Semaphore(0)

    def slow(items: list[str]) -> list[str]:
        calls.append(list(items))
        assert permits.acquire(timeout=WAIT)  # one batch per permit
        return items

    batcher = DynamicBatcher(slow, max_batch_size=3, max_wait_ms=0, idle_ms=0, name="waiting-test")
    batcher.start()
    try:
        futures = [batcher.submit(["a"])]
        wait_for(lambda: len(calls) == 1)
        assert batcher.waiting() == []  # the running batch is not waiting
        futures += [batcher.submit(["b", "c"]), batcher.submit(["d", "e"]), batcher.submit(["f"])]
        assert batcher.waiting() == ["b", "c", "d", "e", "f"]
        permits.release()
        # [b, c] runs; [d, e] would overflow it, so the worker holds it to open the next batch.
        wait_for(lambda: len(calls) == 2)
        assert calls == [["a"], ["b", "c"]] and batcher.waiting() == ["d", "e", "f"]
        permits.release(2)
        assert [f.result(WAIT) for f in futures] == [["a"], ["b", "c"], ["d", "e"], ["f"]]
        assert calls[2] == ["d", "e", "f"] and batcher.waiting() == []
    finally:
        permits.release(10)
        batcher.stop(WAIT)


def test_model_load_time_and_process_metrics(api):
    samples = scrape(api)
    described = api.get("/models").json()
    for task in ("classify", "embed", "similarity"):
        model = described[task]["model"]["name"]
        assert value(samples, "nlu_model_load_seconds", task=task, model=model) > 0
    assert {dict(labels)["task"] for name, labels in samples if name == "nlu_model_load_seconds"} == {
        "classify",
        "embed",
        "similarity",
    }
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_resident_memory_bytes") > 0
    assert any(name == "python_info" for name, _ in samples)
    assert any(name == "python_gc_collections_total" for name, _ in samples)


def test_metrics_is_not_a_task_route_in_openapi(api):
    assert "/metrics" not in api.get("/openapi.json").json()["paths"]


def test_metrics_needs_the_api_key_when_one_is_set_and_each_app_has_its_own_registry(config, api):
    from dataclasses import replace

    before = scrape(api)
    with running(replace(config, api_key="s3cret")) as (locked, _):
        bearer = {"Authorization": "Bearer s3cret"}
        assert locked.get("/metrics").status_code == 401
        assert locked.post("/embed", json={"text": "no key"}).status_code == 401
        assert locked.post("/embed", json={"text": "with key"}, headers=bearer).status_code == 200
        samples = scrape(locked, **bearer)
    requests = "nlu_requests_total"
    assert value(samples, requests, route="/embed", method="POST", status="401") == 1
    assert value(samples, requests, route="/embed", method="POST", status="200") == 1
    assert value(samples, "nlu_texts_total", task="embed") == 1
    # The first app's counters did not see the second app's requests.
    after = scrape(api)
    assert moved(before, after, requests, route="/embed", method="POST", status="200") == 0
    assert moved(before, after, requests, route="/embed", method="POST", status="401") == 0
