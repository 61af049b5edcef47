"""``--engine ray``: the distributed options of embed, classify and ner, and the glue to `batch.run_job`.

    @distributed_options()               # --engine --address --workers --gpus-per-worker --resume -> dist
    def embed_cli(..., *, dist: DistributedOptions, ...) -> None:
        if dist.engine == "ray":
            run_distributed("embed", dist, ...)   # files to a Parquet folder or a .lance table, on Ray
            return
        dist.check_local()               # Ray options without --engine ray: a usage error

With ``--engine local`` (the default) nothing changes. Nothing heavy is imported here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, _bundle
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

dist_opt = o.panel("Distributed (Ray)")

Engine = o.choices("Engine", "local", "ray")

EngineOpt = Annotated[
    Engine,
    dist_opt(
        "--engine",
        help="local: this process; ray: files to a Parquet folder (or, for embed, a .lance index) on Ray Data "
        "(needs nlu-toolkit[ray]).",
    ),
]
AddressOpt = Annotated[
    str | None,
    dist_opt("--address", help="Join a Ray cluster: auto or ray://HOST:PORT (default: a local Ray for the run)."),
]
WorkersOpt = Annotated[
    int | None,
    dist_opt("--workers", min=1, help="Model replicas (Ray actors), each loading the model once [default: 1]."),
]
GpusOpt = Annotated[float | None, dist_opt("--gpus-per-worker", min=0.0, help="GPUs per worker [default: 0].")]
ResumeOpt = Annotated[
    bool,
    dist_opt("--resume", help="Finish an interrupted job in --output: only inputs without a whole output are run."),
]

DIST_FIELDS: dict[str, tuple[Any, Any]] = {
    "engine": (EngineOpt, Engine.local),
    "address": (AddressOpt, None),
    "workers": (WorkersOpt, None),
    "gpus_per_worker": (GpusOpt, None),
    "resume": (ResumeOpt, False),
}


@dataclass(frozen=True)
class DistributedOptions:
    """``--engine``, ``--address``, ``--workers``, ``--gpus-per-worker``, ``--resume``."""

    engine: str = "local"
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    resume: bool = False

    def check_local(self) -> None:
        """Refuse the Ray options with ``--engine local``."""
        given = [
            flag
            for flag, value in (
                ("{=address}", self.address),
                ("{=workers}", self.workers),
                ("{=gpus_per_worker}", self.gpus_per_worker),
                ("{=resume}", self.resume or None),
            )
            if value is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)}: only with {{=engine}} ray", "add --engine ray, or drop them")


def distributed_options() -> Callable[[F], F]:
    """Add the distributed options and pass them as ``dist: DistributedOptions``."""

    def make(**values: Any) -> DistributedOptions:
        values["engine"] = getattr(values["engine"], "value", values["engine"])
        return DistributedOptions(**values)

    return _bundle(DIST_FIELDS, list(DIST_FIELDS), {}, "dist", make)


def run_distributed(
    task: str,
    dist: DistributedOptions,
    *,
    texts: list[str] | None,
    input_file: str | None,
    model: str | None,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
    task_options: dict[str, Any],
    not_with: dict[str, Any] | None = None,
) -> None:
    """Run ``task`` as a Ray job from ``--input`` to ``--output``; a summary line on stderr."""
    for flag, value in (not_with or {}).items():
        if value:
            raise UsageError(f"{flag} is not taken with {{=engine}} ray", f"drop {flag}, or run with --engine local")
    if texts:
        raise UsageError("{=engine} ray reads files, not text arguments", "give the data with {=input_file}")
    if input_file is None or input_file == "-":
        raise UsageError(
            "{=engine} ray needs {=input_file}: Parquet or JSONL files, a folder, a glob or a URI",
            "e.g. --input data/ -o out/",
        )
    if out.output is None:
        raise UsageError(
            "{=engine} ray needs {=output}: a folder for Parquet files (or, for embed, a .lance index)",
            "e.g. -o out/",
        )
    if out.fmt not in (None, "parquet"):
        raise UsageError(f"{{=engine}} ray writes Parquet, not --format {out.fmt}", "drop --format")
    if out.manifest is not None:
        raise UsageError("--manifest is not taken with {=engine} ray", "the job writes its own _nlu_job.json")
    if source.input_format is not None:
        raise UsageError(
            "{=input_format} is not taken with {=engine} ray", "inputs are read as their suffix says: .parquet, .jsonl"
        )
    from nlu_toolkit.batch.job import run_job
    from nlu_toolkit.cli.render import configure_runtime, stderr_console

    configure_runtime(out.verbose)
    debug = os.environ.get("NLU_DEBUG", "") not in ("", "0")
    result = run_job(
        task,
        input_file,
        out.output,
        model=model,
        text_column=source.text_column,
        id_column=source.id_column,
        encoding=source.encoding,
        max_chars=source.max_chars,
        address=dist.address,
        workers=dist.workers or 1,
        gpus_per_worker=dist.gpus_per_worker or 0,
        run=run,
        resume=dist.resume,
        quiet=not (debug or out.verbose),
        progress_bars=not out.quiet,
        **task_options,
    )
    if not out.quiet:
        kept = len(result.files) - len(result.computed)
        also = f", {kept} kept from before" if kept else ""
        stderr_console().print(
            f"nlu: {result.rows:,} records from {len(result.files)} files -> {result.output} "
            f"({len(result.computed)} computed{also}) in {result.seconds:.1f} s",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
