"""Shared options as ``Annotated`` aliases, so every command spells them the same way.

Nothing heavy is imported here: ``nlu --help`` must stay fast.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from nlu_toolkit.engine.options import BACKENDS
from nlu_toolkit.errors import UsageError

INPUT = "Input"
OUTPUT = "Output"
MODEL = "Model and speed"


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class InputFormat(str, Enum):
    txt = "txt"
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    json = "json"
    parquet = "parquet"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


TextsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Texts to process; '-' reads one text per line from stdin.", show_default=False),
]
InputOpt = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        help="Read texts from FILE: txt (a text per line), csv, tsv, jsonl, json or parquet.",
        rich_help_panel=INPUT,
        show_default=False,
    ),
]
TextColumnOpt = Annotated[str, typer.Option("--text-column", help="Column holding the text.", rich_help_panel=INPUT)]
IdColumnOpt = Annotated[
    str | None,
    typer.Option(
        "--id-column",
        help="Column holding record ids (default: an 'id' column if present, else the row number from 0).",
        rich_help_panel=INPUT,
    ),
]
InputFormatOpt = Annotated[
    InputFormat | None,
    typer.Option(
        "--input-format", help="Input format (default: from the extension; stdin: txt).", rich_help_panel=INPUT
    ),
]
EncodingOpt = Annotated[str, typer.Option("--encoding", help="Encoding of text input files.", rich_help_panel=INPUT)]
MaxCharsOpt = Annotated[
    int,
    typer.Option("--max-chars", min=1, help="Refuse texts longer than this many characters.", rich_help_panel=INPUT),
]

FormatOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format",
        "-f",
        help="Output format (default: table on a terminal, jsonl when piped, else from --output's extension).",
        rich_help_panel=OUTPUT,
        show_default=False,
    ),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Write results to FILE (atomically) instead of stdout.",
        rich_help_panel=OUTPUT,
        show_default=False,
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="Log the model that ran, and library warnings, to stderr.", rich_help_panel=OUTPUT
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bar.", rich_help_panel=OUTPUT)]

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Hub id, local folder, preset name (nlu models list) or 'embedded'.",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
DeviceOpt = Annotated[Device, typer.Option("--device", help="Where to run the model.", rich_help_panel=MODEL)]
BatchSizeOpt = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Inputs per forward pass.", rich_help_panel=MODEL)
]
MaxLengthOpt = Annotated[
    int | None,
    typer.Option(
        "--max-length", min=8, help="Lower the model's token limit.", rich_help_panel=MODEL, show_default=False
    ),
]
TrustRemoteCodeOpt = Annotated[
    bool, typer.Option("--trust-remote-code", help="Allow code shipped with a hub model to run.", rich_help_panel=MODEL)
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
    typer.Option(
        "--backend",
        "--runtime",
        metavar="[torch|onnx|openvino|auto]",
        callback=_backend_value,
        help="Run the model in torch, ONNX Runtime or OpenVINO (pip install 'nlu-toolkit[onnx]' / '[openvino]'; "
        "exported once, cached, checked against torch, torch runs if it disagrees), or auto: the fastest that "
        "'nlu bench' measured here.",
        rich_help_panel=MODEL,
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


QuantizeOpt = Annotated[
    str | None,
    typer.Option(
        "--quantize",
        help="int8: dynamic int8 quantization of the ONNX graph (with --backend onnx or auto).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="CPU threads for inference (default: all cores).",
        rich_help_panel=MODEL,
        show_default=False,
    ),
]
