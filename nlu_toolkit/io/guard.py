"""Checks of output locations, run before any work starts, so nothing is overwritten that should not be.

Two pure functions, cheap to import (no numpy, no models), used by every command
and library writer that takes an output path:

``check_output_file(output, inputs=(), *, what="{=output}", suffixes=None)``
    ``None`` or ``"-"`` (stdout) passes. Otherwise refused with `OutputError`
    (exit 2, nothing touched) when the path, after resolving links and ``./``,
    is one of ``inputs`` or lies inside an input folder; is an existing folder;
    has a suffix not in ``suffixes`` (when given, e.g. ``(".png", ".svg", ".pdf")``);
    lies inside a model or index folder (`artefact_kind` of an ancestor); or its
    parent folder does not exist, is not a folder or is not writable.
    An existing *file* that is not an input may be replaced (files are written
    atomically: a temp file beside the target, renamed on success).

``check_output_folder(path, *, kind, is_kind, inputs=(), overwrite=False, what="{=out}")``
    For artefacts written as a whole folder (an index, a fine-tuned model).
    Refused when the path is an existing file; is the current folder or one
    of its parents; is, contains or lies inside one of ``inputs``; lies inside a
    model or index folder; is an existing
    non-empty folder for which ``is_kind(path)`` is false (never replaced, even
    with ``overwrite``); is an existing artefact of the same kind and ``overwrite``
    is false (the hint names ``{=overwrite}``). An empty existing folder
    passes. Missing parent folders pass (the writer creates them) when the
    nearest existing ancestor is a writable folder.

Both return the output as a `Path` (``None`` for stdout). ``inputs`` may hold
``None``, ``"-"`` or paths that do not exist; those are skipped. ``what`` names the path in
messages: a parameter (``{=output}``, shown by the CLI as its flag) or plain words.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from nlu_toolkit.errors import OutputError

PathLike = str | os.PathLike[str]
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def is_stdout(output: PathLike | None) -> bool:
    return output is None or str(output) == "-"


def _real(path: PathLike) -> Path:
    return Path(os.path.realpath(os.path.abspath(os.fspath(path))))


def _real_inputs(inputs: Iterable[PathLike | None]) -> list[Path]:
    return [_real(p) for p in inputs if not is_stdout(p) and str(p) != ""]


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:  # hard links and bind mounts: the same inode under two names
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(child: Path, parent: Path) -> bool:
    return child != parent and parent in child.parents


def _a(kind: str) -> str:
    return ("an " if kind[:1].lower() in "aeiou" else "a ") + kind


#: Files whose presence makes a folder a model, an adapter, a checkpoint or an index. Checked by
#: name only (a few ``stat`` calls per ancestor), so the guard stays cheap and loads nothing.
_MODEL_MARKERS = ("modules.json", "adapter_config.json", "trainer_state.json")
_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "model.onnx",
    "openvino_model.xml",
)


def artefact_kind(folder: Path) -> str | None:
    """``"model"``, ``"index"`` or ``None``: what ``folder`` holds, judged by its file names."""
    if (folder / "manifest.json").is_file() and (folder / "vectors.safetensors").is_file():
        return "index"
    if any((folder / m).is_file() for m in _MODEL_MARKERS):
        return "model"
    if (folder / "config.json").is_file() and any((folder / w).is_file() for w in _WEIGHTS):
        return "model"
    return None


def _refuse_inside_artefact(real: Path, output: PathLike, what: str) -> None:
    """Refuse an output inside a model or index folder: writing there can overwrite or shadow its files."""
    for ancestor in real.parents:
        kind = artefact_kind(ancestor)
        if kind is not None:
            raise OutputError(
                f"{what} lies inside the {kind} folder {ancestor}; writing there could damage the {kind}",
                "write the output outside it",
                path=str(output),
            )


def _writable_folder(folder: Path, output: PathLike, what: str) -> None:
    if not folder.exists():
        raise OutputError(
            f"the folder of {what} does not exist", f"create {folder} first, or write elsewhere", path=str(output)
        )
    if not folder.is_dir():
        raise OutputError(f"the parent of {what} is not a folder", "choose another path", path=str(output))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"permission denied: cannot write in {folder}",
            "choose a folder you can write to, or fix its permissions",
            path=str(output),
        )


def check_output_file(
    output: PathLike | None,
    inputs: Iterable[PathLike | None] = (),
    *,
    what: str = "{=output}",
    suffixes: Iterable[str] | None = None,
    in_artefact: bool = False,
) -> Path | None:
    """Refuse (`OutputError`) an output file that must not or cannot be written; see the module docs.

    ``in_artefact=True`` lets an artefact's own writer (a fine-tune's metrics, an exported backend)
    write inside it; a user's output path never gets it.
    """
    if is_stdout(output):
        return None
    assert output is not None
    given = Path(output)
    if str(output) == "" or given.name in ("", ".", ".."):
        raise OutputError(f"{what} must name a file", "give a file path", path=str(output))
    if suffixes is not None:
        allowed = tuple(s.lower() for s in suffixes)
        if given.suffix.lower() not in allowed:
            raise OutputError(
                f"{what} has an unknown file type {given.suffix or '(no suffix)'!r}",
                f"use one of: {', '.join(allowed)}",
                path=str(output),
            )
    real = _real(given)
    for source in _real_inputs(inputs):
        if _same(real, source):
            raise OutputError(
                f"{what} is also an input; writing it would destroy the input",
                "write the output to another file",
                path=str(output),
            )
        if _inside(real, source):
            raise OutputError(
                f"{what} lies inside the input folder {source}", "write the output elsewhere", path=str(output)
            )
    if real.is_dir():
        raise OutputError(f"{what} is a folder, not a file", f"give a file path for {what}", path=str(output))
    if not in_artefact:
        _refuse_inside_artefact(real, output, what)
    _writable_folder(real.parent, output, what)
    return given


def check_output_folder(
    path: PathLike,
    *,
    kind: str,
    is_kind: Callable[[Path], bool],
    inputs: Iterable[PathLike | None] = (),
    overwrite: bool = False,
    what: str = "{=out}",
) -> Path:
    """Refuse (`OutputError`) an output folder that must not or cannot be written; see the module docs."""
    given = Path(path)
    if str(path) == "":
        raise OutputError(f"{what} must name a folder", "give a folder path", path=str(path))
    real = _real(given)
    cwd = _real(os.getcwd())
    if real == cwd or _inside(cwd, real):
        raise OutputError(
            f"{what} is the current folder or one of its parents; it cannot be replaced by {_a(kind)}",
            f"give a new folder for the {kind}",
            path=str(path),
        )
    for source in _real_inputs(inputs):
        if _same(real, source) or _inside(real, source) or _inside(source, real):
            raise OutputError(
                f"{what} is, holds or lies inside the input {source}; writing it would destroy the input",
                "write the output to another folder",
                path=str(path),
            )
    _refuse_inside_artefact(real, path, what)
    if real.exists() and not real.is_dir():
        raise OutputError(
            f"{what} is an existing file, not a folder; refusing to replace it with {_a(kind)}",
            "give a new or empty folder",
            path=str(path),
        )
    if real.is_dir():
        try:
            empty = next(real.iterdir(), None) is None
        except OSError as e:
            raise OutputError(f"cannot read {what} ({e.strerror})", "choose another folder", path=str(path)) from e
        if not empty:
            if not is_kind(real):
                raise OutputError(
                    f"{what} is a folder that is not {_a(kind)}; refusing to replace it (even with {{=overwrite}})",
                    "give a new or empty folder",
                    path=str(path),
                )
            if not overwrite:
                raise OutputError(
                    f"{what} already holds {_a(kind)}",
                    "pass {=overwrite} to replace it, or give a new folder",
                    path=str(path),
                )
        # Replacing moves the folder itself, which needs write access to it too.
        if not os.access(real, os.W_OK | os.X_OK):
            raise OutputError(
                f"permission denied: cannot replace {real}",
                "choose a folder you can write to, or fix its permissions",
                path=str(path),
            )
        _writable_folder(real.parent, path, what)
        return given
    ancestor = real.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    _writable_folder(ancestor, path, what)
    return given


def check_outputs(
    files: Mapping[str, PathLike | None],
    inputs: Iterable[PathLike | None] = (),
    *,
    suffixes: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Check every output file of one command: each against the inputs, and no two the same file.

    ``files`` maps the name of each output (its ``what``: ``"{=output}"``, ``"--summary"``) to its path
    or ``None``.
    """
    sources = list(inputs)
    taken: list[tuple[str, Path]] = []
    for what, output in files.items():
        if check_output_file(output, sources, what=what, suffixes=(suffixes or {}).get(what)) is None:
            continue
        real = _real(output)  # type: ignore[arg-type]
        for other, seen in taken:
            if _same(real, seen):
                raise OutputError(
                    f"{what} and {other} are the same file", "give each output its own file", path=str(output)
                )
        taken.append((what, real))


def output_error(e: OSError, path: PathLike, *, doing: str = "write") -> OutputError:
    """A typed `OutputError` for an `OSError` met while writing ``path``: permission, full disk, or the OS's reason."""
    import errno

    if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputError(
            f"permission denied: cannot {doing} here",
            "choose a folder you can write to, or fix its permissions",
            path=str(path),
        )
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return OutputError(
            f"the disk is full: cannot {doing} (nothing was replaced)",
            "free some space or write elsewhere, then run again",
            path=str(path),
        )
    return OutputError(
        f"cannot {doing}: {e.strerror or e}", "check the path and the disk, then run again", path=str(path)
    )
