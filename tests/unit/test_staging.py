"""Staging folders of killed runs are swept by the next run; live and foreign ones are kept."""

from __future__ import annotations

import os
import subprocess
import sys

from nlu_toolkit.io.staging import staging_folder, sweep_stale


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_folders_of_dead_processes_are_removed_only(tmp_path):
    dead = tmp_path / f"nlu-index-{_dead_pid()}-abc"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "docs.jsonl").write_text("x")
    alive = tmp_path / f"nlu-index-{os.getppid()}-def"  # our parent is alive
    alive.mkdir()
    ours = tmp_path / f"nlu-index-{os.getpid()}-ghi"
    ours.mkdir()
    legacy = tmp_path / "nlu-index-xyz"  # no pid in the name: not ours to judge
    legacy.mkdir()
    other = tmp_path / f"other-{_dead_pid()}-x"
    other.mkdir()
    assert sweep_stale("nlu-index-", str(tmp_path)) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (alive, ours, legacy, other))


def test_a_new_staging_folder_carries_the_pid(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f"nlu-index-{_dead_pid()}-old"
    stale.mkdir()
    folder = staging_folder("nlu-index-")
    assert folder.parent == tmp_path and folder.name.startswith(f"nlu-index-{os.getpid()}-")
    assert not stale.exists()
