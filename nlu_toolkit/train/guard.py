"""Checks and cleanup around a fine-tune run: its output folder, its base model, its checkpoint.

What marks a fine-tune output: a ``metrics.json`` that holds ``task`` and ``settings`` (written
by every finished run, with the model card ``README.md``), or a ``checkpoints/`` folder (a run
in progress or stopped). `check_output` refuses, before any work:

- an output that is one of the inputs, an existing file, the current folder, an existing
  non-empty folder that is not a fine-tune output (never replaced, even with ``overwrite``),
  an unwritable place (`OutputError`, exit 2, via `io.guard.check_output_folder`);
- a fine-tune output without ``overwrite`` or ``resume`` (`UsageError`);
- under ``resume``, a last checkpoint that is incomplete or unreadable (`CheckpointCorrupted`).

`check_base` refuses a base model with pickle weights (`UnsafeModel`) or the output folder itself.

`output_run` wraps the run: it takes the output folder's exclusive lock (``filelock``, beside the
folder, taken by the main process of a distributed run; `ArtefactBusy` when another run holds
it), creates the folder, and when the run fails
removes the folder it created, unless a checkpoint was saved (that run can be resumed). A folder
that existed before is never removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from nlu_toolkit.errors import (
    ArtefactBusy,
    CheckpointCorrupted,
    ModelNotAvailable,
    NluError,
    UnsafeModel,
    UsageError,
)
from nlu_toolkit.train.launch import is_main_process

CHECKPOINTS = "checkpoints"
KIND = "fine-tune output"
WHAT = "{=output_dir}"  # the parameter named in messages about the output folder
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def is_finetune_output(folder: Path) -> bool:
    """True for a folder a fine-tune wrote: ``metrics.json`` with ``task`` and ``settings``, or ``checkpoints/``."""
    if (folder / CHECKPOINTS).is_dir():
        return True
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and "task" in metrics and "settings" in metrics


def last_checkpoint(out: Path) -> Path | None:
    """The checkpoint ``resume`` continues from: the highest-numbered ``checkpoints/checkpoint-N`` (as the Trainer)."""
    folder = out / CHECKPOINTS
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()]
    return max(found)[1] if found else None


def check_output(out: Path, *, inputs: Iterable[str | Path | None], resume: bool, overwrite: bool) -> None:
    """Refuse an output folder that must not or cannot be written, before any work (see the module docs)."""
    from nlu_toolkit.io.guard import check_output_folder

    if resume:
        if overwrite:
            raise UsageError("{=resume} continues the run in {=output_dir}; {=overwrite} would discard it", "pick one")
        if not out.is_dir() or last_checkpoint(out) is None:
            _refuse_if_busy(out)  # a first run still before its first checkpoint is busy, not absent
            raise UsageError(f"no checkpoint to resume from in {out / CHECKPOINTS}", "drop {=resume} to start afresh")
    elif out.is_dir() and is_finetune_output(out) and not overwrite:
        raise UsageError(
            f"{out} already holds a model or checkpoints",
            "pass {=overwrite} to replace it, {=resume} to continue, or another {=output_dir}",
        )
    check_output_folder(out, kind=KIND, is_kind=is_finetune_output, inputs=list(inputs), overwrite=True, what=WHAT)
    if resume:
        check_checkpoint(last_checkpoint(out))  # type: ignore[arg-type]


def _refuse_if_busy(out: Path) -> None:
    """`ArtefactBusy` when another run holds the lock of ``out`` now."""
    from nlu_toolkit.io.lock import artefact_lock

    if not out.parent.is_dir():
        return
    try:
        with artefact_lock(out, timeout=0, what=KIND):
            pass
    except ArtefactBusy as e:
        raise ArtefactBusy(
            f"{out}: another fine-tune run is writing this folder", "wait for it to finish, then {=resume}"
        ) from e


def _damaged(checkpoint: Path, what: str) -> CheckpointCorrupted:
    earlier = sorted(
        (p for p in checkpoint.parent.iterdir() if _CHECKPOINT.match(p.name) and p != checkpoint),
        key=lambda p: int(p.name.split("-")[1]),
    )
    hint = "start afresh: drop {=resume} and pass {=overwrite}"
    if earlier:
        hint += f"; or move {checkpoint.name} out of {checkpoint.parent} to resume from {earlier[-1].name}"
    return CheckpointCorrupted(f"checkpoint {checkpoint} is damaged: {what}", hint)


def check_checkpoint(checkpoint: Path) -> None:
    """Refuse a checkpoint the Trainer could not resume from: missing state, unreadable JSON, weights or states."""
    state = checkpoint / "trainer_state.json"
    if not state.is_file():
        raise _damaged(checkpoint, "trainer_state.json is missing")
    for file in sorted(checkpoint.glob("*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise _damaged(checkpoint, f"{file.name} is unreadable ({e})") from e
        if file == state and not (isinstance(data, dict) and isinstance(data.get("global_step"), int)):
            raise _damaged(checkpoint, "trainer_state.json has no global_step")
    from nlu_toolkit.models.weights import weights_files

    try:
        weights = weights_files(checkpoint)
    except UnsafeModel:
        raise
    except ModelNotAvailable as e:
        raise _damaged(checkpoint, "it holds no model weights") from e
    from safetensors import safe_open

    for file in weights:
        try:
            with safe_open(str(file), framework="numpy") as f:
                f.keys()
        except Exception as e:  # safetensors raises its own error types for a bad header
            raise _damaged(checkpoint, f"{file.name} is unreadable ({e})") from e
    # The optimizer, scheduler and RNG states are torch zip archives (read with weights_only=True).
    for file in sorted([*checkpoint.glob("*.pt"), *checkpoint.glob("*.pth")]):
        try:
            with zipfile.ZipFile(file) as archive:
                bad = archive.testzip()
        except (OSError, zipfile.BadZipFile) as e:
            raise _damaged(checkpoint, f"{file.name} is unreadable ({e})") from e
        if bad is not None:
            raise _damaged(checkpoint, f"{file.name} is corrupted ({bad})")


def check_base(base: dict[str, str], out: Path) -> None:
    """The base model loads from safetensors only (`UnsafeModel`), and is not the output folder."""
    from nlu_toolkit.io.guard import check_output_folder
    from nlu_toolkit.models.weights import require_safetensors

    require_safetensors(base["path"])
    if base.get("source") == "local":
        check_output_folder(
            out, kind=KIND, is_kind=is_finetune_output, inputs=[base["path"]], overwrite=True, what=WHAT
        )


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder on the way to ``folder`` that does not exist yet (what a run would create)."""
    missing = None
    current = Path(os.path.abspath(folder))
    while not current.exists():
        missing = current
        if current.parent == current:
            break
        current = current.parent
    return missing


@contextlib.contextmanager
def output_run(out: Path, *, resume: bool, overwrite: bool) -> Iterator[None]:
    """Lock, create and on failure clean up the output folder of one run (see the module docs)."""
    from nlu_toolkit.io.lock import artefact_lock

    created = _first_missing(out)
    # Under a launcher every process runs this; the main one (global rank 0) holds the lock for them all.
    main = is_main_process()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # the lock file lives beside the folder
        with artefact_lock(out, timeout=0, what=KIND) if main else contextlib.nullcontext():
            if overwrite and not resume:
                shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
            out.mkdir(parents=True, exist_ok=True)
            yield
    except ArtefactBusy as e:
        _remove_created(created, out)
        raise ArtefactBusy(
            f"{out}: another fine-tune run is writing this folder",
            "wait for it to finish, or give another {=output_dir}",
        ) from e
    except BaseException as e:
        if main:
            _drop_damaged_checkpoint(out)
            _remove_created(created, out)
        full = _disk_full_error(e, out)
        if full is not None:
            raise full from e
        raise


def _drop_damaged_checkpoint(out: Path) -> None:
    """Delete the last checkpoint if this failed run left it half-written: ``resume`` then takes the one before."""
    last = last_checkpoint(out)
    if last is None:
        return
    try:
        check_checkpoint(last)
    except (CheckpointCorrupted, UnsafeModel):
        shutil.rmtree(last, ignore_errors=True)


def _disk_full_error(e: BaseException, out: Path) -> NluError | None:
    """An `OutputError` for a full disk met while saving, whoever's writer hit it (OS, safetensors, torch)."""
    from nlu_toolkit.io.guard import output_error
    from nlu_toolkit.io.writers import disk_full

    full = disk_full(e)
    return None if full is None else output_error(full, out, doing="save the model")


def _remove_created(created: Path | None, out: Path) -> None:
    """Remove what a failed run created, unless it saved a checkpoint (``resume`` continues it)."""
    if created is not None and created.exists() and last_checkpoint(out) is None:
        shutil.rmtree(created, ignore_errors=True)
