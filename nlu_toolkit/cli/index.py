"""``nlu index build|add|delete|info``: a persisted semantic index, so a corpus is encoded once.

An index is a folder (kinds exact, usearch) or a Lance table (``--index-backend lance``, a path or URI
ending in ``.lance``; `nlu_toolkit.search.lance_search`): each command dispatches on the name."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.embed import Precision, PrecisionOpt, reading_of, with_backend
from nlu_toolkit.cli.render import emit
from nlu_toolkit.engine.options import RunOptions

app = typer.Typer(help="Build, grow and inspect semantic indexes.", no_args_is_help=True)

FileArg = Annotated[str, typer.Argument(help="Corpus file: txt, csv, tsv, jsonl, json or parquet ('-' for stdin).")]
DirArg = Annotated[str, typer.Argument(help="The index folder, or a Lance table (DIR.lance, s3://.../DIR.lance).")]
IndexKind = o.choices("IndexKind", "exact", "usearch", "lance")
StorageOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-option",
        help="KEY=VALUE for a Lance table on object storage (e.g. region=eu-west-1); repeatable.",
        show_default=False,
    ),
]


def _storage(values: list[str] | None) -> dict[str, str] | None:
    """``--storage-option KEY=VALUE`` values as lancedb's storage_options."""
    from nlu_toolkit.errors import UsageError

    if not values:
        return None
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--storage-option {value!r} is not KEY=VALUE", "e.g. --storage-option region=eu-west-1")
        pairs[key.strip()] = val
    return pairs


def _is_lance(path: str) -> bool:
    from nlu_toolkit.search.lance_index import is_lance_uri

    return is_lance_uri(path)


OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace an existing index at --out (never a folder that is not an index).")
]
LockTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        min=0.0,
        help="Seconds to wait while another process writes the same index, then fail.",
    ),
]


def _summary(m: dict[str, Any], output: str | None = None) -> None:
    """The index's manifest, in brief, on stdout."""
    emit(
        [
            {
                "path": output,
                "count": m["count"],
                "model": m["model"]["name"],
                "dimension": m["dimension"],
                "precision": m["precision"],
                "backend": m["backend"],
                "corpus_fingerprint": m["corpus_fingerprint"],
            }
        ],
        fmt=None,
        output=None,
        columns=[
            (k, lambda r, k=k: str(r[k])) for k in ("path", "count", "model", "dimension", "precision", "backend")
        ],
    )


@app.command("build")
@output_options("verbose", "quiet")
@input_options()
@run_options("device", "batch_size", "max_length", "threads")
def build_cli(
    file: FileArg,
    folder: Annotated[str, typer.Option("--out", help="Folder to write the index to (a new or empty folder).")],
    overwrite: OverwriteOpt = False,
    lock_timeout: LockTimeoutOpt = 60.0,
    model: o.ModelOpt = None,
    precision: PrecisionOpt = Precision.float32,
    kind: Annotated[
        IndexKind,
        typer.Option(
            "--index-backend",
            help="exact, usearch (approximate, the ann extra), or lance (a Lance table DIR.lance with an ANN "
            "index, on disk or object storage; the lance extra).",
        ),
    ] = IndexKind.exact,
    long: o.LongOpt = "truncate",
    backend: o.BackendOpt = "torch",
    quantize: o.QuantizeOpt = None,
    storage: StorageOpt = None,
    hybrid: Annotated[
        bool,
        typer.Option(
            "--hybrid",
            help="Also index the words (BM25; a Lance table: its full-text index), for nlu embed --search "
            "--mode lexical|hybrid. Needs the hybrid extra for a folder.",
        ),
    ] = False,
    passages: Annotated[
        int | None,
        typer.Option(
            "--passages",
            help="Index passages of up to N tokens (the index's tokenizer) instead of whole documents, cut at "
            "sentence ends where one fits; each keeps parent_id, start, end and the document's columns. "
            "nlu index add splits new documents the same way.",
            show_default=False,
        ),
    ] = None,
    overlap: Annotated[
        int | None,
        typer.Option(
            "--overlap",
            help="With --passages: tokens neighbouring passages share (whole sentences where they fit; default 0).",
            show_default=False,
        ),
    ] = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Encode a corpus once and save vectors, documents and a manifest to a folder.

    Example: nlu index build data/corpus.jsonl --out corpus.idx
    (or --out corpus.lance --index-backend lance: a Lance table, searchable with --where filters)
    """
    out.start()
    from nlu_toolkit.search.passages import check_passages

    check_passages(passages, overlap)  # before any model loads
    split = {"passages": passages, "overlap": overlap}
    run, index_kind = with_backend(run, backend, quantize, "exact" if kind.value == "lance" else kind.value)
    if kind.value == "lance" or _is_lance(folder):
        _build_lance(
            file, folder, kind.value, precision.value, overwrite, model, long, storage, out, source, run, hybrid=hybrid,
            split=split,
        )  # fmt: skip
        return
    from nlu_toolkit.io.guard import check_output_folder
    from nlu_toolkit.search.index import SemanticIndex, is_index_folder

    # Before any model loads: never replace the input, a file, or a folder that is not an index.
    check_output_folder(folder, kind="index", is_kind=is_index_folder, inputs=[file], overwrite=overwrite)

    with out.progress(True, "indexing") as progress:
        records = _read(file, source, progress)
        index = SemanticIndex.build(
            records, model, precision=precision.value, kind=index_kind, long=long, hybrid=hybrid, run=run, **split
        )
        with index:
            out.note_model(index.embedder)
            index.save(folder, overwrite=overwrite, lock_timeout=lock_timeout, run_info=out.run_info([file]))
    _summary(index.manifest, folder)


def _build_lance(
    file: str,
    folder: str,
    kind: str,
    precision: str,
    overwrite: bool,
    model: str | None,
    long: str,
    storage: list[str] | None,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
    hybrid: bool = False,
    split: dict[str, Any] | None = None,
) -> None:
    """``nlu index build --index-backend lance``: the corpus into a Lance table."""
    from nlu_toolkit.errors import UsageError

    if not _is_lance(folder):
        raise UsageError(
            "--index-backend lance writes a Lance table: its name ends in .lance", "e.g. --out corpus.lance"
        )
    if kind == "usearch":
        raise UsageError("--out DIR.lance is a Lance table", "add --index-backend lance, or name the folder otherwise")
    if precision != "float32":
        raise UsageError("a Lance index keeps float32 vectors", "drop --precision (its ANN index compresses them)")
    from nlu_toolkit.search.lance_index import local_path
    from nlu_toolkit.search.lance_search import LanceIndex

    local = local_path(folder)
    if local is not None:
        from nlu_toolkit.io.guard import check_output_folder

        check_output_folder(
            local, kind="Lance index", is_kind=lambda p: (p / "_versions").is_dir(), inputs=[file], overwrite=overwrite
        )
    with out.progress(True, "indexing") as progress:
        index = LanceIndex.create(
            folder,
            _read(file, source, progress),
            model,
            long=long,
            overwrite=overwrite,
            storage_options=_storage(storage),
            hybrid=hybrid,
            **(split or {}),
            run=run,
        )
        out.note_model(index.embedder)
    _summary(index.manifest, folder)


@app.command("add")
@output_options("verbose", "quiet")
@input_options()
@run_options("device", "batch_size", "backend", "quantize", "threads")
def add_cli(
    index_dir: DirArg,
    file: FileArg,
    lock_timeout: LockTimeoutOpt = 60.0,
    storage: StorageOpt = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Add documents to an index, encoding only those, with the index's own model.

    A document whose id is in the index already replaces it (the last one, if FILE repeats an id);
    rows without ids get new ones. Says "added N, replaced M" on stderr. The index is locked from load
    to save, so concurrent `nlu index add` runs wait for each other.
    """
    out.start()
    if _is_lance(index_dir):  # a Lance commit per window: atomic, and readers hold no lock
        from nlu_toolkit.search.lance_search import LanceIndex

        with out.progress(True, "adding") as progress:
            lance = LanceIndex.open(index_dir, storage_options=_storage(storage), run=run)
            out.note_model(lance.embedder)
            result = lance.add(_read(file, source, progress, id_start=lance.next_id))
        _say(out, result.message())
        _summary(lance.manifest, index_dir)
        return
    from pathlib import Path

    from nlu_toolkit.io.lock import artefact_lock
    from nlu_toolkit.search.index import SemanticIndex, read_manifest
    from nlu_toolkit.search.store import refuse_foreign_entries

    read_manifest(Path(index_dir))  # a missing or foreign folder fails before the lock and the model
    refuse_foreign_entries(Path(index_dir).resolve())  # the save swaps the whole folder
    with (
        artefact_lock(index_dir, timeout=lock_timeout),
        out.progress(True, "adding") as progress,
        SemanticIndex.load(index_dir, run=run) as index,
    ):
        out.note_model(index.embedder)
        result = index.add(_read(file, source, progress, id_start=index.next_id))
        index.save(index_dir, overwrite=True, lock_timeout=lock_timeout, run_info=out.run_info([file]))
    _say(out, result.message())
    _summary(index.manifest, index_dir)


@app.command("delete")
@output_options("verbose", "quiet")
def delete_cli(
    index_dir: DirArg,
    ids: Annotated[list[str] | None, typer.Argument(help="Ids of the documents to delete.", show_default=False)] = None,
    input_file: Annotated[
        str | None, typer.Option("--input", "-i", help="Read ids from FILE, one per line ('-' for stdin).")
    ] = None,
    missing_ok: Annotated[
        bool, typer.Option("--missing-ok", help="Succeed even when none of the ids is in the index.")
    ] = False,
    lock_timeout: LockTimeoutOpt = 60.0,
    storage: StorageOpt = None,
    *,
    out: OutputOptions,
) -> None:
    """Delete documents from an index by id, and save it (atomically, under its lock).

    Ids match by their text (3 and "3" are the same id). Ids not in the index are reported on stderr
    ("deleted 2 (1 not found: x)"); when none of them is there, the index is unchanged and the command
    fails, unless --missing-ok.

    Example: nlu index delete corpus.idx doc-17 doc-42
    """
    out.start()
    from pathlib import Path

    from nlu_toolkit.errors import InputError, UsageError
    from nlu_toolkit.io.readers import iter_records
    from nlu_toolkit.search.index import SemanticIndex, read_manifest
    from nlu_toolkit.search.store import refuse_foreign_entries

    given = list(ids or [])
    if input_file is not None:
        given += [r["text"].strip() for r in iter_records(input_file, fmt="txt")]
    if not given:
        raise UsageError("no ids given", "give ids as arguments, or --input FILE with one id per line")
    if _is_lance(index_dir):
        from nlu_toolkit.search.lance_search import LanceIndex

        lance = LanceIndex.open(index_dir, storage_options=_storage(storage))
        result = lance.delete(given)
        manifest = lance.manifest
    else:
        read_manifest(Path(index_dir))  # a missing or foreign folder fails before the lock and the model
        refuse_foreign_entries(Path(index_dir).resolve())
        result = SemanticIndex.delete_from(
            index_dir, given, lock_timeout=lock_timeout, run_info=out.run_info([input_file])
        )
        manifest = None
    if not result.deleted and not missing_ok:
        raise InputError(
            f"none of the {len(result.not_found)} ids is in the index", "check the ids, or add --missing-ok"
        )
    _say(out, result.message())
    _summary(manifest or read_manifest(Path(index_dir)), index_dir)


def _say(out: OutputOptions, line: str) -> None:
    """One line of what was done, on stderr, unless --quiet."""
    if not out.quiet:
        print(f"nlu: {line}", file=sys.stderr)


def _read(file: str, source: InputOptions, progress: Any, id_start: int = 0) -> Any:
    """The corpus records of ``file`` ('-': stdin), read as ``source`` says."""
    from nlu_toolkit.io.readers import iter_records

    return iter_records(file, progress=progress, id_start=id_start, **reading_of(source))


@app.command("info")
@output_options("fmt")
def info_cli(index_dir: DirArg, storage: StorageOpt = None, *, out: OutputOptions) -> None:
    """Show an index's manifest (model, checksum, dimension, precision, count, fingerprint)."""
    from pathlib import Path

    from nlu_toolkit.search.index import read_manifest

    if _is_lance(index_dir):
        from nlu_toolkit.search.lance_index import lance_info

        m = lance_info(index_dir, _storage(storage))
    else:
        m = read_manifest(Path(index_dir))
    flat = {
        **{k: v for k, v in m.items() if k not in ("model", "files")},
        "model": m["model"]["name"],
        "model_sha256": m["model"].get("sha256"),
    }
    out.emit([flat], [(k, lambda r, k=k: str(r[k])) for k in flat])
