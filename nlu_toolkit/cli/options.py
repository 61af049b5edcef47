"""Shared options as ``Annotated`` aliases, so every command spells them the same way.

Nothing heavy is imported here: ``nlu --help`` must stay fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import typer
from rich.markup import escape

from nlu_toolkit.engine.options import BACKENDS
from nlu_toolkit.errors import UsageError

INPUT = "Input"
OUTPUT = "Output"
MODEL = "Model and speed"


def panel(name: str) -> Callable[..., Any]:
    """A ``typer.Option`` factory for the help panel ``name``, so a declaration fits on a line.

    ``task_opt = panel("Classification")`` then ``task_opt("--top-k", min=1, help=...)``.
    """

    def option(*decls: str, **settings: Any) -> Any:
        if settings.get("help"):  # plain text: "nlu-toolkit[onnx]" must not be read as rich markup
            settings["help"] = escape(settings["help"])
        return typer.Option(*decls, rich_help_panel=name, **settings)

    return option


def choices(name: str, *values: str) -> Any:
    """A str ``Enum`` named ``name`` whose members are ``values``: typer lists and checks them."""
    return Enum(name, {value: value for value in values}, type=str)


input_opt = panel(INPUT)
output_opt = panel(OUTPUT)
model_opt = panel(MODEL)


OutputFormat = choices("OutputFormat", "table", "json", "jsonl", "csv")


InputFormat = choices("InputFormat", "txt", "csv", "tsv", "jsonl", "json", "parquet")


Device = choices("Device", "auto", "cpu", "cuda", "mps")


TextsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Texts to process; '-' reads one text per line from stdin.", show_default=False),
]
InputOpt = Annotated[
    str | None,
    input_opt("--input", "-i", help="Read texts from FILE: txt (a text per line), csv, tsv, jsonl, json or parquet."),
]
TextColumnOpt = Annotated[str, input_opt("--text-column", help="Column holding the text.")]
IdColumnOpt = Annotated[
    str | None,
    input_opt(
        "--id-column",
        help="Column holding record ids (default: an 'id' column if present, else the row number from 0).",
    ),
]
InputFormatOpt = Annotated[
    InputFormat | None, input_opt("--input-format", help="Input format (default: from the extension; stdin: txt).")
]
EncodingOpt = Annotated[str, input_opt("--encoding", help="Encoding of text input files.")]
MaxCharsOpt = Annotated[int, input_opt("--max-chars", min=1, help="Refuse texts longer than this many characters.")]

FormatOpt = Annotated[
    OutputFormat | None,
    output_opt(
        "--format",
        "-f",
        help="Output format (default: table on a terminal, jsonl when piped, else from --output's extension).",
    ),
]
OutputOpt = Annotated[
    str | None, output_opt("--output", "-o", help="Write results to FILE (atomically) instead of stdout.")
]
VerboseOpt = Annotated[
    bool, output_opt("--verbose", "-v", help="Log the model that ran, and library warnings, to stderr.")
]
QuietOpt = Annotated[bool, output_opt("--quiet", help="No progress bar.")]

ModelOpt = Annotated[
    str | None, model_opt("--model", "-m", help="Hub id, local folder, preset name (nlu models list) or 'embedded'.")
]
DeviceOpt = Annotated[Device, model_opt("--device", help="Where to run the model.")]
BatchSizeOpt = Annotated[int, model_opt("--batch-size", "-b", min=1, help="Inputs per forward pass.")]
MaxLengthOpt = Annotated[int | None, model_opt("--max-length", min=8, help="Lower the model's token limit.")]
TrustRemoteCodeOpt = Annotated[
    bool, model_opt("--trust-remote-code", help="Allow code shipped with a hub model to run.")
]


#: The search-index kinds that ``--backend`` named before ``--index-backend`` existed (still
#: taken on embed and index build, with a warning).
INDEX_BACKENDS = ("exact", "usearch")


def _backend_value(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.lower()
    if value not in BACKENDS + INDEX_BACKENDS:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(BACKENDS)}")
    return value


BackendOpt = Annotated[
    str,
    model_opt(
        "--backend",
        "--runtime",
        metavar="[torch|onnx|openvino|auto]",
        callback=_backend_value,
        help="Run the model in torch, ONNX Runtime or OpenVINO (pip install 'nlu-toolkit[onnx]' or 'nlu-toolkit[openvino]'; "
        "exported once, cached, checked against torch, torch runs if it disagrees), or auto: the fastest that "
        "'nlu bench' measured here.",
    ),
]


def inference_backend(backend: str) -> str:
    """``--backend`` on a command without a search index: refuse the index backends."""
    if backend in INDEX_BACKENDS:
        raise UsageError(
            f"--backend {backend} is a search-index backend", "use --backend torch, onnx, openvino or auto"
        )
    return backend


def split_backend(backend: str, index_backend: str) -> tuple[str, str]:
    """``(inference, index)`` backends; ``--backend exact|usearch`` is the old spelling of ``--index-backend``."""
    if backend in INDEX_BACKENDS:
        print(f"nlu: warning: --backend {backend} is now --index-backend {backend}", file=sys.stderr)
        return "torch", backend
    return backend, index_backend


#: How a text over the model's token limit is handled, the same on every command that runs a model.
LONG_VALUES = ("truncate", "chunk")
#: Old spellings ``--long`` still takes, not shown in the help: classify's ``window``.
LONG_ALIASES = {"window": "chunk"}
long_opt = panel("Long inputs")


def _long_value(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.lower()
    value = LONG_ALIASES.get(value, value)
    if value not in LONG_VALUES:
        raise typer.BadParameter(f"{value!r} is not one of: {', '.join(LONG_VALUES)}")
    return value


LongOpt = Annotated[
    str,
    long_opt(
        "--long",
        metavar="[truncate|chunk]",
        callback=_long_value,
        help="Texts over the model's token limit: truncate (cut at the limit, flagged 'truncated') or chunk "
        "(overlapping windows, combined: scores averaged, vectors mean-pooled, entities and answers merged).",
    ),
]
StrideOpt = Annotated[
    int | None,
    long_opt(
        "--stride",
        min=0,
        help="With --long chunk: tokens shared by neighbouring windows (default: a quarter of the window; "
        "qa: at most 128).",
    ),
]


QuantizeOpt = Annotated[
    str | None,
    model_opt("--quantize", help="int8: dynamic int8 quantization of the ONNX graph (with --backend onnx or auto)."),
]
ThreadsOpt = Annotated[
    int | None, model_opt("--threads", min=1, help="CPU threads for inference (default: all cores).")
]
