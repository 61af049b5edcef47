"""What `nlu serve` runs with: one frozen dataclass, checked before any model loads."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nlu_toolkit.errors import UsageError

#: The tasks the API serves, one endpoint each (``POST /<task>``).
SERVE_TASKS = ("classify", "ner", "qa", "embed", "similarity", "search", "rerank")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: 1 MiB holds a batch of 256 paragraph-length texts with room to spare.
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_ITEMS = 256
#: Zero-shot labels per request: a few dozen is typical; 3,000 labels in one 100 KB body took
#: 17 s on the embedded model and held up every other request to it.
DEFAULT_MAX_LABELS = 100
#: A zero-shot request's work is texts x labels (an NLI model scores each pair in its own forward
#: pass): 2,048 is 8 full lists of --max-items texts (256 texts x 8 labels, or 20 texts x 100
#: labels), a few seconds on 2 CPU cores, so no one request holds a model for long.
DEFAULT_MAX_WORK = 2048
#: Batching defaults, measured with 16 clients on 2 CPU cores (benchmarks/RESULTS.md, Serving):
#: waiting up to 10 ms after each batch for the clients just answered merges two half-size
#: cohorts into one batch; 2 ms without a request ends the wait early (a lone request's wait).
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_WAIT_MS = 10.0
DEFAULT_IDLE_MS = 2.0
#: Packed passes (nlu_toolkit.engine.packing) waste nothing on padding, so one pass may take a whole batch.
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class ServeConfig:
    """Settings of the HTTP API.

    Args:
        host, port: where to listen; the default binds the loopback interface only.
        tasks: tasks to serve; each must load or start-up fails. Empty: every task
            that loads offline (see `nlu_toolkit.serve.service.Service`).
        models: model spec per task (``{"ner": "./my-ner"}``); a task named here is
            served and must load.
        index: a saved `SemanticIndex` folder for ``/search`` (search is then served).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
        backend, quantize: the inference backend of every model (``torch``, ``onnx``, ``auto``;
            ``int8``), as ``--backend``/``--quantize`` on the task commands.
        threads: torch's CPU threads (process-wide); default: one per core.
        max_batch_size: items gathered from concurrent requests into one library call.
        max_wait_ms: how long a batch may wait for requests to share it, from when it opens
            (the worker is free and a request waits).
        idle_ms: a batch stops waiting once no request has come for this long.
        batch_size: texts per forward pass inside that call, length-sorted (the library's
            ``batch_size``). On the CPU, mixed lengths are packed into shared rows, so a large
            pass wastes nothing on padding: 32 beat 8 by 1.4x for batches of 16 SST-2 sentences.
        batching: False runs each request alone (one at a time per model), to compare.
        max_body_bytes: larger request bodies get 413.
        max_items: longer ``texts``/``queries``/``records``/``pairs`` lists get 413.
        max_chars: longer texts get 422, as in the CLI's ``--max-chars``; it covers every string
            of a request (labels, questions, contexts, queries, pairs, records' fields).
        max_labels: more zero-shot ``labels`` get 413.
        max_work: a zero-shot request with more than this many texts x labels gets 413.
        api_key: when set, every endpoint but ``/health`` and the docs needs
            ``Authorization: Bearer <api_key>``.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tasks: tuple[str, ...] = ()
    models: Mapping[str, str] = field(default_factory=dict)
    index: str | None = None
    device: str = "auto"
    backend: str = "torch"
    quantize: str | None = None
    threads: int | None = None
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    idle_ms: float = DEFAULT_IDLE_MS
    batch_size: int = DEFAULT_BATCH_SIZE
    batching: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_items: int = DEFAULT_MAX_ITEMS
    max_chars: int = 100_000
    max_labels: int = DEFAULT_MAX_LABELS
    max_work: int = DEFAULT_MAX_WORK
    api_key: str | None = None

    def __post_init__(self) -> None:
        from nlu_toolkit.engine.runtime import check_backend

        check_backend(self.backend, self.quantize)
        for task in (*self.tasks, *self.models):
            if task not in SERVE_TASKS:
                raise UsageError(f"unknown task {task!r}", f"use one of: {', '.join(SERVE_TASKS)}")
        if "search" in self.tasks and self.index is None:
            raise UsageError("--task search needs an index", "add --index DIR (build one with: nlu index build)")
        if self.index is None and "search" in self.models:
            raise UsageError("--model search=... needs an index", "add --index DIR")
        if "rerank" in self.tasks and "rerank" not in self.models:
            raise UsageError("--task rerank needs a cross-encoder", "add --model rerank=PATH")
        for name, value, low in (
            ("--port", self.port, 0),
            ("--max-batch-size", self.max_batch_size, 1),
            ("--batch-size", self.batch_size, 1),
            ("--max-body-bytes", self.max_body_bytes, 1),
            ("--max-items", self.max_items, 1),
            ("--max-chars", self.max_chars, 1),
            ("--max-labels", self.max_labels, 1),
            ("--max-work", self.max_work, 1),
            ("--threads", 1 if self.threads is None else self.threads, 1),
        ):
            if value < low:
                raise UsageError(f"{name} must be at least {low}, got {value}", f"pass a larger {name}")
        if self.port > 65535:
            raise UsageError(f"--port must be at most 65535, got {self.port}", "pick a port from 1 to 65535")
        for name, value in (("--max-wait-ms", self.max_wait_ms), ("--idle-ms", self.idle_ms)):
            if not 0 <= value <= 10_000:
                raise UsageError(f"{name} must be between 0 and 10000, got {value}", "a few ms is typical")
        if self.api_key is not None and not self.api_key.strip():
            raise UsageError("--api-key is empty", "pass a non-empty key, or leave --api-key and NLU_API_KEY unset")

    @property
    def requested(self) -> tuple[str, ...]:
        """Tasks that must load: named by ``tasks`` or ``models``, and search with an ``index``."""
        named = set(self.tasks) | set(self.models) | ({"search"} if self.index is not None else set())
        return tuple(t for t in SERVE_TASKS if t in named)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def parse_model_options(values: Iterable[str], tasks: Iterable[str] = ()) -> dict[str, str]:
    """``["ner=./ner", "embed=embedded"]`` -> ``{"ner": "./ner", ...}``.

    A bare ``SPEC`` (no ``TASK=``) is allowed when exactly one ``--task`` is given, and
    applies to it. A spec may hold ``=`` itself, so only a known task name before the
    first ``=`` counts as a task.
    """
    tasks = list(tasks)
    models: dict[str, str] = {}
    for value in values:
        task, sep, spec = value.partition("=")
        if sep and task in SERVE_TASKS:
            if not spec:
                raise UsageError(f"--model {value} names no model", f"use --model {task}=PATH")
        elif len(tasks) == 1:
            task, spec = tasks[0], value
        else:
            raise UsageError(
                f"--model {value!r} does not say which task it is for",
                f"use --model TASK=SPEC with TASK one of: {', '.join(SERVE_TASKS)}",
            )
        if task in models:
            raise UsageError(f"--model gives two models for {task}", f"give one --model {task}=SPEC")
        models[task] = spec
    return models


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable only from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to any interface


def check_bind(host: str, port: int) -> None:
    """Refuse (`UsageError`) a ``host``/``port`` the server cannot listen on, before any model loads.

    Binds a socket the way uvicorn will (``SO_REUSEADDR``, so a port in ``TIME_WAIT`` passes)
    and closes it at once. Port 0 (any free port) is not checked.
    """
    import errno
    import socket

    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as e:
        raise UsageError(f"cannot listen on host {host!r}: {e}", "give host an address or name of this machine") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} on {host} is already in use", "give another port, or stop the server that holds it"
                ) from e
            if e.errno in (errno.EACCES, errno.EPERM):
                raise UsageError(
                    f"permission denied to listen on port {port}", "give a port above 1023, or run with the rights"
                ) from e
            raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}", "check host and port") from e
