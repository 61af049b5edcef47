"""Option bundles: decorators that add a group of shared options to a command, gathered into one value.

Every command that runs a model takes the same run options, and every command that reads
records the same input options. Instead of listing them in each command and passing them on
one by one, a command declares the bundle and receives one value:

    @run_options()                       # --device --batch-size --max-length --backend ... -> run
    @input_options()                     # --text-column --id-column --input-format ... -> source
    def classify_cli(texts, ..., run: RunOptions, source: InputOptions) -> None:
        records = source.read(texts, input_file)
        Classifier(model, labels=labels, run=run)

The options keep their flags, help and panels (`nlu_toolkit.cli.options`); a command picks the
fields it takes and its own defaults. Nothing heavy is imported: ``nlu --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from nlu_toolkit.cli import options as o
from nlu_toolkit.engine.options import RunOptions

F = TypeVar("F", bound=Callable[..., Any])

#: The run options: parameter name -> (annotation, default).
RUN_FIELDS: dict[str, tuple[Any, Any]] = {
    "device": (o.DeviceOpt, o.Device.auto),
    "batch_size": (o.BatchSizeOpt, 32),
    "max_length": (o.MaxLengthOpt, None),
    "trust_remote_code": (o.TrustRemoteCodeOpt, False),
    "backend": (o.BackendOpt, "torch"),
    "quantize": (o.QuantizeOpt, None),
    "threads": (o.ThreadsOpt, None),
}
#: The input options (how records are read from a file or stdin).
INPUT_FIELDS: dict[str, tuple[Any, Any]] = {
    "text_column": (o.TextColumnOpt, "text"),
    "id_column": (o.IdColumnOpt, None),
    "input_format": (o.InputFormatOpt, None),
    "encoding": (o.EncodingOpt, "utf-8"),
    "max_chars": (o.MaxCharsOpt, 100_000),
}


def _bundle(
    fields: dict[str, tuple[Any, Any]], names: Sequence[str], defaults: dict[str, Any], into: str, make: Callable
) -> Callable[[F], F]:
    """A decorator adding ``names`` (from ``fields``) as options and passing ``make(**values)`` as ``into``."""
    unknown = set(names) - set(fields) or set(defaults) - set(names)
    if unknown:
        raise TypeError(f"unknown or unused bundle fields: {sorted(unknown)}")

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        # Typer reads real annotations; the command's are strings (postponed evaluation).
        own = [
            p.replace(annotation=eval(p.annotation, fn.__globals__) if isinstance(p.annotation, str) else p.annotation)
            for p in signature.parameters.values()
            if p.name != into
        ]
        added = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=fields[name][0],
                default=defaults.get(name, fields[name][1]),
            )
            for name in names
        ]
        params = own + added

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return fn(**kwargs, **{into: make(**values)})

        command.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command  # type: ignore[return-value]

    return decorate


def run_options(*names: str, **defaults: Any) -> Callable[[F], F]:
    """Add the run options ``names`` (default: all) and pass them as ``run: RunOptions``.

    ``defaults`` overrides a field's default for this command (``batch_size=8``). The backend goes
    through `options.inference_backend`: ``--backend exact`` is an index kind, refused here (the
    commands that still take that old spelling, embed and index build, keep ``--backend`` as their own
    option and leave it out of the bundle).
    """
    chosen = list(names or RUN_FIELDS)

    def make(**values: Any) -> RunOptions:
        if "device" in values:
            values["device"] = getattr(values["device"], "value", values["device"])
        if "backend" in values:
            values["backend"] = o.inference_backend(values["backend"])
        return RunOptions(**values)

    return _bundle(RUN_FIELDS, chosen, defaults, "run", make)


@dataclass(frozen=True)
class InputOptions:
    """How a command reads records: ``--text-column``, ``--id-column``, ``--input-format``, ``--encoding``, ``--max-chars``."""

    text_column: str = "text"
    id_column: str | None = None
    input_format: str | None = None
    encoding: str = "utf-8"
    max_chars: int = 100_000

    def read(
        self,
        texts: Sequence[str] | None,
        input_file: str | None,
        *,
        fields: dict[str, str] | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Records from ``--input FILE``, stdin (``-``) or the arguments (see `render.read_inputs`)."""
        from nlu_toolkit.cli.render import read_inputs

        return read_inputs(
            texts,
            input_file,
            fields=fields or {"text": self.text_column},
            id_column=self.id_column,
            input_format=self.input_format,
            encoding=self.encoding,
            max_chars=self.max_chars,
            progress=progress,
        )


def input_options(*names: str, **defaults: Any) -> Callable[[F], F]:
    """Add the input options ``names`` (default: all) and pass them as ``source: InputOptions``."""
    chosen = list(names or INPUT_FIELDS)

    def make(**values: Any) -> InputOptions:
        if values.get("input_format") is not None:
            values["input_format"] = getattr(values["input_format"], "value", values["input_format"])
        return InputOptions(**values)

    return _bundle(INPUT_FIELDS, chosen, defaults, "source", make)
