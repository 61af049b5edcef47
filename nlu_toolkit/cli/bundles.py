"""Option bundles: decorators that add a group of shared options to a command, gathered into one value.

Every command that runs a model takes the same run options, and every command that reads
records the same input options. Instead of listing them in each command and passing them on
one by one, a command declares the bundle and receives one value:

    @output_options()                    # --format --output --verbose --quiet --manifest -> out
    @input_options()                     # --text-column --id-column --input-format ... -> source
    @run_options()                       # --device --batch-size --max-length --backend ... -> run
    def classify_cli(texts, ..., *, out: OutputOptions, source: InputOptions, run: RunOptions) -> None:
        out.start(input_file)            # library chatter off unless -v; --output checked against inputs
        records = source.read(texts, input_file)
        out.emit(Classifier(model, labels=labels, run=run).predict(records), columns)

The options keep their flags, help and panels (`nlu_toolkit.cli.options`); a command picks the
fields it takes and its own defaults. Nothing heavy is imported: ``nlu --help`` stays fast.

``--manifest FILE`` (in `OutputOptions`) writes a run manifest once the command has succeeded: the
versions, the command and its options, the model (from `OutputOptions.note_model`) with its weights'
checksums, and the inputs and outputs (from `OutputOptions.start`) with theirs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

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


ManifestOpt = Annotated[
    str | None,
    o.output_opt(
        "--manifest",
        help="Write a run manifest to FILE (json): versions, options, seed, the model and its weights' checksums, "
        "the inputs' checksums, the outputs.",
    ),
]

#: The output options (where results go, how much is said on stderr, the run manifest).
OUTPUT_FIELDS: dict[str, tuple[Any, Any]] = {
    "fmt": (o.FormatOpt, None),
    "output": (o.OutputOpt, None),
    "verbose": (o.VerboseOpt, False),
    "quiet": (o.QuietOpt, False),
    "manifest": (ManifestOpt, None),
}


def _bundle(
    fields: dict[str, tuple[Any, Any]],
    names: Sequence[str],
    defaults: dict[str, Any],
    into: str,
    make: Callable,
    after: Callable[[Any], None] | None = None,
) -> Callable[[F], F]:
    """A decorator adding ``names`` (from ``fields``) as options and passing ``make(**values)`` as ``into``;
    ``after(value)`` runs once the command has returned (not when it raised)."""
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
            value = make(**values)
            done = fn(**kwargs, **{into: value})
            if after is not None:
                after(value)
            return done

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


@dataclass(frozen=True)
class OutputOptions:
    """Where results go and what stderr shows: ``--format``, ``--output``, ``--verbose``, ``--quiet``, ``--manifest``."""

    fmt: str | None = None
    output: str | None = None
    verbose: bool = False
    quiet: bool = False
    manifest: str | None = None
    #: What the run manifest needs, gathered as the command runs (inputs, outputs, model).
    seen: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def start(
        self,
        *inputs: str | None,
        outputs: dict[str, str | None] | None = None,
        suffixes: dict[str, Any] | None = None,
    ) -> None:
        """Before any work: library chatter off unless verbose; every output checked against the inputs.

        ``outputs`` maps further output flags to their paths (``{"--plot": plot}``), beside ``--output``;
        ``suffixes`` the file types an output may have (``{"--plot": PLOT_SUFFIXES}``).
        """
        from nlu_toolkit.cli.render import configure_runtime
        from nlu_toolkit.io.guard import check_outputs

        configure_runtime(self.verbose)
        files = {"--output": self.output, **(outputs or {})}
        check_outputs({**files, "--manifest": self.manifest}, list(inputs), suffixes=suffixes)
        self.seen["inputs"] = [i for i in inputs if i is not None]
        self.seen["outputs"] = [path for path in files.values() if path is not None]
        if self.manifest is not None:
            from nlu_toolkit.cli.manifest import hash_stdin, reads_stdin

            if reads_stdin(self.seen["inputs"]):
                self.seen["stdin"] = hash_stdin()

    def progress(self, enabled: bool, label: str) -> Any:
        """A progress bar on stderr (a context manager yielding the callback), unless ``--quiet``."""
        from nlu_toolkit.cli.render import progress_bar

        return progress_bar(enabled and not self.quiet, label)

    def emit(self, records: Any, columns: Sequence[Any], title: str | None = None, passthrough: Any = None) -> int:
        """Write the records in the chosen format to stdout or ``--output``; return how many.

        ``passthrough`` (the result's fields the table leaves out): show the input's other columns too.
        """
        from nlu_toolkit.cli.render import emit

        return emit(records, fmt=self.fmt, output=self.output, columns=columns, title=title, passthrough=passthrough)

    def note_model(self, task: Any) -> None:
        """The model line (with ``-v``) and the backend fallback warning (always) on stderr."""
        from nlu_toolkit.cli.render import note_model, warn_runtime

        info = getattr(task, "model_info", None)
        if info is not None:
            # With --backend auto this is the only place the user learns which backend was picked.
            note_model(info, self.verbose, getattr(task, "runtime", None))
            self.seen["model"] = {**info.to_dict(), "backend": getattr(task, "runtime", None)}
        warn_runtime(task)

    def run_info(self, inputs: Sequence[str | None] | None = None) -> dict[str, Any]:
        """The command, its options, seed and inputs (default: those given to `start`): `build_manifest`'s
        keywords that the CLI knows (``index.save(..., run_info=out.run_info([file]))``)."""
        from nlu_toolkit.cli.manifest import command_run

        run = command_run(self.seen.get("inputs", []) if inputs is None else inputs)
        run.pop("model_spec")
        return run

    def write_manifest(self) -> None:
        """With ``--manifest FILE``: write the run manifest (after the command succeeded)."""
        if self.manifest is None:
            return
        from nlu_toolkit.cli.manifest import command_run
        from nlu_toolkit.io.run_manifest import build_manifest, write_manifest

        run = command_run(self.seen.get("inputs", []))
        spec = run.pop("model_spec")
        if "stdin" in self.seen:  # the bytes read, hashed on the way
            run["inputs"] = [self.seen["stdin"].record() if i == "-" else i for i in run["inputs"]]
        model = self.seen.get("model") or spec
        outputs = self.seen.get("outputs", [self.output] if self.output else []) or [None]  # None: stdout
        write_manifest(build_manifest(**run, model=model, outputs=outputs), self.manifest)


def output_options(*names: str, **defaults: Any) -> Callable[[F], F]:
    """Add the output options ``names`` (default: all) and pass them as ``out: OutputOptions``."""
    chosen = list(names or OUTPUT_FIELDS)

    def make(**values: Any) -> OutputOptions:
        if values.get("fmt") is not None:
            values["fmt"] = getattr(values["fmt"], "value", values["fmt"])
        return OutputOptions(**values)

    return _bundle(OUTPUT_FIELDS, chosen, defaults, "out", make, after=OutputOptions.write_manifest)
