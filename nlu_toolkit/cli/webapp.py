"""``nlu app``: a local web UI (Gradio) for classification, NER, QA, search and clustering.

Named webapp.py because ``cli/app.py`` is the root Typer app.
"""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Annotated, Any

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import OutputOptions, output_options

server_opt = o.panel("Server")


def _model_opt(flag: str, help: str) -> Any:
    return typer.Option(flag, help=help, rich_help_panel=o.MODEL, show_default=False)


@output_options("verbose")
def app_cli(
    index: Annotated[
        str | None,
        o.input_opt(
            "--index",
            help="Index folder or Lance table DIR.lance (from nlu index build) for the search tab; its documents are also the default corpus "
            "to cluster. Without it, the tabs take a pasted or uploaded corpus.",
        ),
    ] = None,
    host: Annotated[
        str, server_opt("--host", help="Address to bind; 0.0.0.0 exposes the app to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, server_opt("--port", min=1, max=65535, help="Port to listen on.")] = 7860,
    classify_model: Annotated[
        str | None,
        _model_opt(
            "--classify-model",
            "Supervised classifier, used when no labels are given (default: the sentiment preset, if cached).",
        ),
    ] = None,
    zero_shot_model: Annotated[
        str | None,
        _model_opt(
            "--zero-shot-model", "Model for zero-shot labels: sentence-transformers or NLI (default: embedded MiniLM)."
        ),
    ] = None,
    ner_model: Annotated[
        str | None, _model_opt("--ner-model", "Token-classification model (default: the ner preset, if cached).")
    ] = None,
    qa_model: Annotated[
        str | None, _model_opt("--qa-model", "Extractive-QA model (default: the qa preset, if cached).")
    ] = None,
    embed_model: Annotated[
        str | None,
        _model_opt(
            "--embed-model",
            "Sentence-transformers model for pasted corpora and clustering (default: embedded MiniLM).",
        ),
    ] = None,
    device: o.DeviceOpt = o.Device.auto,
    *,
    out: OutputOptions,
) -> None:
    """Start a local web UI: classify (zero-shot too), NER, QA, semantic search and clustering.

    Runs offline: models load from local folders, the HF cache or the embedded MiniLM (HF_HUB_OFFLINE=0 allows downloads); Gradio analytics are off and no share link is made.

    Examples:
      nlu app --index corpus.idx
      nlu app --ner-model ./my-ner --qa-model ./my-qa --port 8080
    """
    from nlu_toolkit.app.webapp import AppConfig, launch, offline_environment
    from nlu_toolkit.extras import require

    # Before gradio or the hub client are imported (require imports gradio): analytics and telemetry off.
    offline_environment()
    require("gradio", extra="app")
    out.start()
    config = AppConfig(
        index=index,
        classify_model=classify_model,
        zero_shot_model=zero_shot_model,
        ner_model=ner_model,
        qa_model=qa_model,
        embed_model=embed_model,
        device=device.value,
    )
    demo, url = launch(config, host=host, port=port)
    typer.echo(f"nlu app: serving on {url} (Ctrl+C to stop)", err=True)
    try:
        threading.Event().wait()  # the server runs in Gradio's thread until Ctrl+C
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.redirect_stdout(io.StringIO()):  # Gradio announces the close on stdout
            demo.close()
