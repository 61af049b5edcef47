"""``nlu serve``: the tasks over HTTP, with dynamic batching (FastAPI + uvicorn, the ``serve`` extra)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Annotated, Any

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import OutputOptions, output_options
from nlu_toolkit.serve.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HOST,
    DEFAULT_IDLE_MS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ITEMS,
    DEFAULT_MAX_LABELS,
    DEFAULT_MAX_WAIT_MS,
    DEFAULT_MAX_WORK,
    DEFAULT_PORT,
    SERVE_TASKS,
)

tasks_opt = o.panel("Tasks and models")
batching_opt = o.panel("Batching")
limits_opt = o.panel("Limits and access")
server_opt = o.panel("Server")


# The choices and defaults are the config's own (nlu_toolkit.serve.config imports nothing heavy).
ServeTask = o.choices("ServeTask", *SERVE_TASKS)


def _wait_opt(flag: str, help: str) -> Any:
    """A batching wait in milliseconds, 0 to 10 s."""
    return batching_opt(flag, min=0.0, max=10_000.0, help=help)


def _limit_opt(flag: str, help: str) -> Any:
    """A request bound: a positive whole number."""
    return limits_opt(flag, min=1, help=help)


@output_options("verbose")
def serve_cli(
    host: Annotated[
        str,
        server_opt(
            "--host",
            help="Interface to bind. The default takes connections from this machine only; "
            "0.0.0.0 opens the API to the network (use --api-key).",
        ),
    ] = DEFAULT_HOST,
    port: Annotated[int, server_opt("--port", "-p", min=0, max=65535, help="Port to listen on.")] = DEFAULT_PORT,
    task: Annotated[
        list[ServeTask] | None,
        tasks_opt(
            "--task", "-t", help="Serve this task (repeatable); each must load. Default: every task that loads offline."
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        tasks_opt(
            "--model",
            "-m",
            help="TASK=SPEC (repeatable): the model for a task (folder, hub id, preset or 'embedded'); "
            "a bare SPEC goes with a single --task.",
        ),
    ] = None,
    index: Annotated[
        str | None, tasks_opt("--index", help="Serve /search on this index (a folder, or a Lance table DIR.lance).")
    ] = None,
    device: o.DeviceOpt = o.Device.auto,
    backend: o.BackendOpt = "torch",
    quantize: o.QuantizeOpt = None,
    threads: o.ThreadsOpt = None,
    max_batch_size: Annotated[
        int, batching_opt("--max-batch-size", min=1, help="Items gathered into one library call.")
    ] = DEFAULT_MAX_BATCH_SIZE,
    max_wait_ms: Annotated[
        float,
        _wait_opt("--max-wait-ms", "How long a batch may wait for requests to share it, from when the model is free."),
    ] = DEFAULT_MAX_WAIT_MS,
    idle_ms: Annotated[
        float,
        _wait_opt("--idle-ms", "Stop waiting once no request has come for this long (a lone request waits this)."),
    ] = DEFAULT_IDLE_MS,
    batch_size: Annotated[
        int,
        batching_opt(
            "--batch-size",
            "-b",
            min=1,
            help="Texts per forward pass within a gathered batch (on a CPU, mixed lengths share packed rows).",
        ),
    ] = DEFAULT_BATCH_SIZE,
    batching: Annotated[
        bool,
        batching_opt(
            "--batching/--no-batching",
            help="Gather concurrent requests into batches; --no-batching runs them one at a time (to compare).",
        ),
    ] = True,
    max_body_bytes: Annotated[
        int, _limit_opt("--max-body-bytes", "Larger request bodies get 413.")
    ] = DEFAULT_MAX_BODY_BYTES,
    max_items: Annotated[int, _limit_opt("--max-items", "Longer lists in one request get 413.")] = DEFAULT_MAX_ITEMS,
    max_chars: Annotated[
        int, _limit_opt("--max-chars", "Longer texts, labels, questions, contexts or queries get 422.")
    ] = 100_000,
    max_labels: Annotated[
        int, _limit_opt("--max-labels", "More zero-shot labels in one request get 413.")
    ] = DEFAULT_MAX_LABELS,
    max_work: Annotated[
        int, _limit_opt("--max-work", "A zero-shot request with more texts x labels than this gets 413.")
    ] = DEFAULT_MAX_WORK,
    api_key: Annotated[
        str | None,
        limits_opt(
            "--api-key",
            envvar="NLU_API_KEY",
            help="Require 'Authorization: Bearer KEY' on every endpoint but /health and the docs. "
            "Prefer the environment variable: a command line is visible to other users.",
        ),
    ] = None,
    access_log: Annotated[bool, server_opt("--access-log", help="Log every request to stderr.")] = False,
    *,
    out: OutputOptions,
) -> None:
    """Serve classify, ner, qa, embed, similarity and search over HTTP, with dynamic batching.

    Models load once at start-up; concurrent requests to a model share its forward passes. Docs at /docs.

    Examples:
      nlu serve                                   # embed, similarity, zero-shot classify
      nlu serve --model ner=./my-ner --model qa=./my-qa --index ./idx
      NLU_API_KEY=secret nlu serve --host 0.0.0.0 --port 8080
      curl localhost:8000/classify -d '{"text": "Great!", "labels": ["pos", "neg"]}'
    """
    out.start()
    from nlu_toolkit.serve import require_serve_extra
    from nlu_toolkit.serve.config import ServeConfig, check_bind, parse_model_options

    require_serve_extra()  # before the slow model loads
    tasks = tuple(t.value for t in task or [])
    config = ServeConfig(
        host=host,
        port=port,
        tasks=tasks,
        models=parse_model_options(model or [], tasks),
        index=index,
        device=device.value,
        backend=o.inference_backend(backend),
        quantize=quantize,
        threads=threads,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        idle_ms=idle_ms,
        batch_size=batch_size,
        batching=batching,
        max_body_bytes=max_body_bytes,
        max_items=max_items,
        max_chars=max_chars,
        max_labels=max_labels,
        max_work=max_work,
        api_key=api_key or None,
    )
    check_bind(config.host, config.port)  # a port in use is found now, not after the models load
    if not config.loopback and config.api_key is None:
        _say(
            f"nlu: warning: binding {host} without --api-key: anyone who can reach this machine can use the API "
            "(set NLU_API_KEY or pass --api-key)"
        )
    from nlu_toolkit.serve.api import create_app, run_server

    app = create_app(config)  # loads every model now; a task that was asked for and cannot load stops here
    _summary(app.state.service, config)
    try:
        with _exit_zero_on_signals():
            run_server(app, config, log_level="info", access_log=access_log)
    finally:  # the lifespan closes too; this covers a server that never started (port taken)
        close = getattr(app.state.service, "close", None)
        if close is not None:
            close()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _summary(service: Any, config: Any) -> None:
    described = service.describe()
    for name, info in described.items():
        if not info["served"]:
            _say(f"nlu serve: {name}: not served ({info['error'].split(': ', 1)[-1]}; {info['hint']})")
            continue
        parts = [info["model"]["name"]] if info.get("model") else []
        if info.get("zero_shot_model"):
            parts.append(f"zero-shot on {info['zero_shot_model']['name']}")
        if info.get("index"):
            parts.append(f"index {info['index']['path']} ({info['index']['count']:,} documents)")
        what = ", ".join(parts)
        _say(f"nlu serve: {name}: {what}")
    how = (
        f"batches of up to {config.max_batch_size}, {config.max_wait_ms:g} ms wait ({config.idle_ms:g} ms idle)"
        if config.batching
        else "no batching"
    )
    auth = "API key required" if config.api_key else "no API key"
    _say(f"nlu serve: http://{config.host}:{config.port} ({how}; {auth}; docs at /docs)")


@contextlib.contextmanager
def _exit_zero_on_signals() -> Iterator[None]:
    """Make SIGTERM/SIGINT end the process with status 0 once uvicorn has shut down gracefully.

    uvicorn handles the signal (drains in-flight requests, runs the shutdown), then
    re-raises it to the handler that was there before; without this one, SIGTERM's
    default handler would kill the process with status -15 after a clean shutdown.
    """

    def _exit(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    previous = {sig: signal.signal(sig, _exit) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
