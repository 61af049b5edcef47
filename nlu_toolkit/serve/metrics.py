"""Prometheus metrics: ``GET /metrics`` in the text exposition format (the ``prometheus-client`` library).

Every app has its own `CollectorRegistry` (several apps in one process never clash) holding:

* ``nlu_requests_total{route, method, status}`` and ``nlu_request_duration_seconds{route, method}``,
  from an ASGI middleware that wraps every route, present and future, with no per-route
  registration. ``route`` is the route's template (``/embed``, ``/v1/models``), never the raw
  path, so the label set stays bounded: a path no route matches is ``route="unmatched"``, a
  method outside the standard ones ``method="OTHER"``. Errors are the requests with a 4xx or
  5xx ``status``; those the API key and body guard answer (401, 413) count too. ``/metrics``
  itself is not counted.
* ``nlu_batch_size{task}`` (the items of a task in one worker batch), ``nlu_texts_total{task}``
  (items processed: texts, queries, pairs or question/context records) and
  ``nlu_tokens_total{task}`` (the tokens the model ran on, special tokens included, as the
  model's tokenizer counts them: metered where the batches are built, never tokenized twice),
  from `Service.observers`.
* ``nlu_queue_depth{task}`` (items waiting for their worker) and ``nlu_model_load_seconds{task,
  model}``, read from the `Service` at scrape time.
* the client library's process, platform and garbage-collector metrics (``process_*``,
  ``python_*``).

``/metrics`` is behind the API key when one is set, like every route but ``/health`` and the
docs: a scrape says which models run and how much traffic they get.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.middleware import Middleware

from nlu_toolkit.extras import require
from nlu_toolkit.serve.service import Service

METRICS_PATH = "/metrics"
#: The ``route`` label of a request no route matches (a 404): one label, whatever the path.
UNMATCHED = "unmatched"
#: Methods kept as they are in the ``method`` label; any other is ``OTHER``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Seconds: a request on a tiny model takes ~1 ms, a large batch on a CPU some seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Items per worker batch: powers of two up to well over any ``max_batch_size``.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The metrics of one app: its registry, the request and batch metrics, the service's gauges."""

    def __init__(self, service: Service) -> None:
        prom = require("prometheus_client", extra="serve", package="prometheus-client")
        self.registry = registry = prom.CollectorRegistry()
        prom.ProcessCollector(registry=registry)
        prom.PlatformCollector(registry=registry)
        prom.GCCollector(registry=registry)
        self.requests = prom.Counter(
            "nlu_requests", "HTTP requests answered, by route template, method and status code",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self.latency = prom.Histogram(
            "nlu_request_duration_seconds", "Time from the request's arrival to the end of its answer",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.batch_size = prom.Histogram(
            "nlu_batch_size", "Items of a task in one batch of its model's worker",
            ["task"], buckets=BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        self.texts = prom.Counter(
            "nlu_texts",
            "Items processed: texts, queries, pairs or question/context records",
            ["task"],
            registry=registry,
        )
        self.tokens = prom.Counter(
            "nlu_tokens", "Tokens the model ran on, special tokens included, as its tokenizer counts them",
            ["task"], registry=registry,
        )  # fmt: skip
        registry.register(_ServiceCollector(service))
        for task in service.tasks:  # every served task shows, at 0, before its first request
            self.texts.labels(task)
            self.tokens.labels(task)
        service.observers.append(self.observe_batch)
        self._latest = prom.generate_latest
        self.content_type = prom.CONTENT_TYPE_LATEST

    def observe_batch(self, task: str, items: int, tokens: int) -> None:
        """One worker batch held ``items`` of ``task``, on which the model ran ``tokens`` tokens."""
        self.batch_size.labels(task).observe(items)
        self.texts.labels(task).inc(items)
        self.tokens.labels(task).inc(tokens)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "OTHER"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def exposition(self) -> bytes:
        return self._latest(self.registry)


class _ServiceCollector:
    """What the service knows at scrape time: queue depth per task, load time per task and model."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("nlu_queue_depth", "Items waiting for their model's worker", labels=["task"])
        for task, count in self.service.queue_depth().items():
            depth.add_metric([task], count)
        yield depth
        load = GaugeMetricFamily(
            "nlu_model_load_seconds", "Seconds the task took to load its model at start-up", labels=["task", "model"]
        )
        for task, seconds in self.service.load_seconds.items():
            load.add_metric([task, _model_name(self.service.tasks[task].describe())], seconds)
        yield load

    def describe(self) -> list[Any]:
        return []  # no names claimed up front: collect() runs at scrape time only


def _model_name(described: dict[str, Any]) -> str:
    # /models' record of the task: its model, or (zero-shot classify only) its zero-shot model.
    model = described.get("model") or described.get("zero_shot_model")
    return str(model.get("name", "")) if isinstance(model, dict) else str(model or "")


#: The scope key under which the outer middleware hands the inner one a place for the matched route.
_SLOT = "nlu_toolkit.metrics"


class MetricsMiddleware:
    """Pure ASGI middleware: counts and times every HTTP request under its route's template.

    It wraps every other middleware (the guard's 401 and 413 count too). The route comes from
    `_RouteCapture`, innermost, which reads what the router chose: the guard hands the router a
    copy of the scope, so the outer middleware never sees the router's own entries.
    """

    def __init__(self, app: Any, *, metrics: Metrics, routes: Callable[[], list[Any]]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before it answers
        matched: dict[str, Any] = {}
        scope[_SLOT] = matched

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if "path" in matched:  # the router ran: the route it chose
                route = route_template(matched["route"], matched["path"])
            else:  # answered before routing (the guard's 401, 413): the route the path would reach
                route = _lookup(self.routes(), scope)
            self.metrics.observe_request(route, scope["method"], status, time.perf_counter() - started)


class _RouteCapture:
    """Innermost middleware: after the router ran, hand the route it matched (if any) to `MetricsMiddleware`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            matched = scope.get(_SLOT)
            if matched is not None:
                matched["route"], matched["path"] = scope.get("route"), get_route_path(scope)


def route_template(route: Any, path: str) -> str:
    """The template of the route that answered ``path`` (``/embed``, ``/items/{id}``), or `UNMATCHED`.

    A route of a router included with a prefix knows its path without the prefix: the prefix
    (a constant of the app, so the label set stays bounded) is the part of ``path`` before what
    the route's pattern matches.
    """
    template = getattr(route, "path", None)
    if route is None or not isinstance(template, str):
        return UNMATCHED
    pattern = getattr(route, "path_regex", None)
    if pattern is None or pattern.match(path):
        return template or UNMATCHED
    for i, char in enumerate(path):
        if char == "/" and i and pattern.match(path[i:]):
            return path[:i] + template
    return template or UNMATCHED


def get_route_path(scope: dict[str, Any]) -> str:
    """The path the router matches: the request path without the app's ``root_path`` (as Starlette strips it)."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and (path == root or path[len(root)] == "/"):
        return path[len(root) :]
    return path


def _lookup(routes: list[Any], scope: dict[str, Any]) -> str:
    """The template of the first route whose path pattern matches the request's path, whatever its methods."""
    try:  # FastAPI >= 0.16x keeps included routers whole; their routes' contexts carry the full paths
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(routes))
    except ImportError:  # older FastAPI copies an included router's routes into app.routes
        pass
    path = get_route_path(scope)
    for route in routes:
        pattern, template = getattr(route, "path_regex", None), getattr(route, "path", None)
        if pattern is not None and isinstance(template, str) and pattern.match(path):
            return template or UNMATCHED
    return UNMATCHED


def install_metrics(app: FastAPI, service: Service) -> Metrics:
    """``GET /metrics`` and the request middleware on ``app``.

    Call it after adding the other middleware: one added later would wrap it, and what that one
    answers by itself would not be counted.
    """
    metrics = Metrics(service)
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=lambda: app.router.routes)  # type: ignore[arg-type]
    app.user_middleware.append(Middleware(_RouteCapture))  # innermost: it sees the router's scope

    @app.get(METRICS_PATH, include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    return metrics
