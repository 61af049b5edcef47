"""``nlu serve``: the library's tasks over HTTP (FastAPI + uvicorn, the ``serve`` extra).

    from nlu_toolkit.serve import ServeConfig, create_app
    app = create_app(ServeConfig(models={"ner": "./my-ner"}))   # loads the models now

Modules: `config` (the settings), `batcher` (model-free dynamic batching), `service`
(which tasks load; one batching worker thread per model), `tasks` (what each served task
runs), `api` (the app and its routes),
`schemas` (request and response models, the limits published in /openapi.json), `limits`
(every text field and list checked before work is queued), `errors` (the one JSON error
shape), `guard` (the API key and body size), `protocol` (a JSON 400 for requests the HTTP
parser refuses), `metrics` (Prometheus ``GET /metrics``), `sequence_scores` (TEI's ``/predict``),
`openai_routes` and `openai_errors` (the OpenAI-compatible routes and their error shape), `tei_routes`
and `tei_schemas` (the text-embeddings-inference routes and their bodies). Only `config` and `batcher`
import without the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlu_toolkit.serve.batcher import DynamicBatcher
from nlu_toolkit.serve.config import SERVE_TASKS, ServeConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

    from nlu_toolkit.serve.service import Service


def require_serve_extra() -> None:
    """Raise `MissingExtra` with the pip command when FastAPI or uvicorn is missing."""
    from nlu_toolkit.extras import require

    require("fastapi", extra="serve")
    require("uvicorn", extra="serve")


def create_app(config: ServeConfig, service: Service | None = None) -> FastAPI:
    """The FastAPI app for ``config`` (see `nlu_toolkit.serve.api.create_app`)."""
    require_serve_extra()
    from nlu_toolkit.serve.api import create_app as _create_app

    return _create_app(config, service)


def serve(config: ServeConfig, **options: Any) -> None:
    """Load the models, then serve until SIGINT/SIGTERM (``options`` go to `api.run_server`)."""
    require_serve_extra()
    from nlu_toolkit.serve.api import run_server

    run_server(create_app(config), config, **options)


__all__ = ["SERVE_TASKS", "DynamicBatcher", "ServeConfig", "create_app", "require_serve_extra", "serve"]
