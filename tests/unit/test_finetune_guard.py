"""The fine-tune run's guards without training: output folder checks, checkpoint checks, cleanup, lock."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nlu_toolkit.errors import ArtefactBusy, CheckpointCorrupted, OutputError, UnsafeModel, UsageError
from nlu_toolkit.train.guard import check_base, check_checkpoint, check_output, is_finetune_output, output_run


def _zip(path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", b"state")
    path.write_bytes(buffer.getvalue())


def _checkpoint(out: Path, step: int) -> Path:
    from safetensors.numpy import save_file

    folder = out / "checkpoints" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    _zip(folder / "optimizer.pt")
    _zip(folder / "rng_state.pth")
    return folder


def test_a_sound_checkpoint_passes(tmp_path):
    check_checkpoint(_checkpoint(tmp_path, 2))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda c: (c / "trainer_state.json").unlink(), "trainer_state.json is missing"),
        (lambda c: (c / "trainer_state.json").write_text("{"), "trainer_state.json is unreadable"),
        (lambda c: (c / "trainer_state.json").write_text("[]"), "no global_step"),
        (lambda c: (c / "config.json").write_text("not json"), "config.json is unreadable"),
        (lambda c: (c / "model.safetensors").write_bytes(b"\x10\x00"), "model.safetensors is unreadable"),
        (lambda c: (c / "model.safetensors").unlink(), "no model weights"),
        (lambda c: (c / "optimizer.pt").write_bytes(b"half a zip"), "optimizer.pt is unreadable"),
    ],
)
def test_a_damaged_checkpoint_is_refused_with_a_hint(tmp_path, damage, reason):
    _checkpoint(tmp_path, 1)
    last = _checkpoint(tmp_path, 2)
    damage(last)
    with pytest.raises(CheckpointCorrupted, match=reason) as err:
        check_output(tmp_path, inputs=(), resume=True, overwrite=False)
    assert err.value.exit_code == 2
    assert "overwrite" in err.value.hint and "checkpoint-1" in err.value.hint


def test_a_pickle_only_checkpoint_is_unsafe(tmp_path):
    last = _checkpoint(tmp_path, 1)
    (last / "model.safetensors").rename(last / "pytorch_model.bin")
    with pytest.raises(UnsafeModel):
        check_checkpoint(last)


def test_what_marks_a_finetune_output(tmp_path):
    assert not is_finetune_output(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "metrics.json").write_text('{"accuracy": 1}')
    assert not is_finetune_output(tmp_path)  # a metrics file of someone else's
    (tmp_path / "metrics.json").write_text('{"task": "classification", "settings": {}}')
    assert is_finetune_output(tmp_path)
    other = tmp_path / "run"
    _checkpoint(other, 1)
    assert is_finetune_output(other)


def test_a_folder_that_is_not_a_finetune_output_is_never_replaced(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not a fine-tune output"):
            check_output(mine, inputs=(), resume=False, overwrite=overwrite)
    assert (mine / "precious.txt").read_text() == "keep"


def test_an_output_that_is_a_file_or_an_input_is_refused(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\n")
    with pytest.raises(OutputError):
        check_output(train, inputs=[train], resume=False, overwrite=True)
    with pytest.raises(OutputError, match="input"):
        check_output(tmp_path, inputs=[train], resume=False, overwrite=True)
    assert train.read_text() == "text,label\n"


def test_a_finished_output_needs_overwrite_or_resume(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "metrics.json").write_text('{"task": "classification", "settings": {}}')
    with pytest.raises(UsageError, match="pass overwrite"):
        check_output(tmp_path / "m", inputs=(), resume=False, overwrite=False)
    check_output(tmp_path / "m", inputs=(), resume=False, overwrite=True)


def test_the_base_model_folder_is_not_the_output(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"w")
    with pytest.raises(OutputError, match="input"):
        check_base({"name": "b", "path": str(base), "source": "local"}, base)
    (base / "model.safetensors").rename(base / "pytorch_model.bin")
    with pytest.raises(UnsafeModel):
        check_base({"name": "b", "path": str(base), "source": "local"}, tmp_path / "out")


def test_a_failed_run_removes_the_folder_it_created_only(tmp_path):
    fresh = tmp_path / "new" / "model"
    with pytest.raises(RuntimeError), output_run(fresh, resume=False, overwrite=False):
        assert fresh.is_dir()
        raise RuntimeError("training failed")
    assert not (tmp_path / "new").exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError), output_run(existing, resume=False, overwrite=False):
        raise RuntimeError("training failed")
    assert existing.is_dir()
    # A run that saved a checkpoint can be resumed: its folder stays.
    kept = tmp_path / "kept"
    with pytest.raises(KeyboardInterrupt), output_run(kept, resume=False, overwrite=False):
        _checkpoint(kept, 1)
        raise KeyboardInterrupt
    assert (kept / "checkpoints" / "checkpoint-1").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing", "kept"]  # no lock file left


def test_a_run_on_a_folder_another_run_holds_is_busy(tmp_path):
    from nlu_toolkit.io.lock import lock_path

    out = tmp_path / "model"
    _checkpoint(out, 1)
    holder = (
        "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(lock_path(out))], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(ArtefactBusy, match="another fine-tune run"), output_run(out, resume=True, overwrite=False):
            pytest.fail("the run went ahead while another held the lock")
    finally:
        proc.kill()
        proc.wait()
    assert (out / "checkpoints" / "checkpoint-1").is_dir()
    with output_run(out, resume=True, overwrite=False):
        pass


def test_resume_while_a_first_run_holds_the_folder_is_busy_not_missing(tmp_path):
    """Before its first checkpoint a running fine-tune has nothing to resume, but it is busy, not absent."""
    from nlu_toolkit.io.lock import lock_path

    out = tmp_path / "model"
    out.mkdir()
    holder = (
        "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(lock_path(out))], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(ArtefactBusy, match="another fine-tune run"):
            check_output(out, inputs=[], resume=True, overwrite=False)
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(UsageError, match="no checkpoint"):
        check_output(out, inputs=[], resume=True, overwrite=False)


@pytest.mark.parametrize(
    "error",
    [
        OSError(28, "No space left on device"),
        RuntimeError(
            "[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file data/0: file write failed"
        ),
        type("SafetensorError", (Exception,), {})(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        ),
    ],
)
def test_a_full_disk_while_saving_is_an_output_error_and_leaves_a_resumable_folder(tmp_path, error):
    out = tmp_path / "model"
    with pytest.raises(OutputError, match="disk is full"), output_run(out, resume=False, overwrite=False):
        _checkpoint(out, 1)
        half = out / "checkpoints" / "checkpoint-2"  # the save that hit the full disk: no trainer_state.json
        half.mkdir()
        (half / "model.safetensors").write_bytes(b"\x00" * 3)
        raise error
    assert not (out / "checkpoints" / "checkpoint-2").exists()  # the half-written checkpoint is dropped
    check_output(out, inputs=[], resume=True, overwrite=False)  # so --resume takes checkpoint-1


def test_other_failures_keep_their_type(tmp_path):
    with pytest.raises(RuntimeError, match="CUDA"), output_run(tmp_path / "m", resume=False, overwrite=False):
        raise RuntimeError("CUDA out of memory")
