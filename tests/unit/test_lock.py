"""The artefact lock: exclusive across processes and threads, re-entrant in a thread, bounded wait, no leftovers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from nlu_toolkit.errors import ArtefactBusy
from nlu_toolkit.io.lock import artefact_lock, lock_path


def test_lock_file_sits_beside_and_is_removed(tmp_path):
    target = tmp_path / "idx"
    with artefact_lock(target, timeout=1) as where:
        assert where == lock_path(target) == tmp_path / ".idx.lock" and where.exists()
        with artefact_lock(target, timeout=0):  # re-entrant in the same thread
            pass
    assert os.listdir(tmp_path) == []


def test_another_thread_waits_then_gives_up_with_a_hint(tmp_path):
    target = tmp_path / "idx"
    errors = []

    def other():
        try:
            with artefact_lock(target, timeout=0.1):
                pass
        except ArtefactBusy as e:
            errors.append(e)

    with artefact_lock(target):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert len(errors) == 1 and errors[0].exit_code == 1
    assert "another process" in str(errors[0]) and "longer lock_timeout" in errors[0].hint
    assert errors[0].params == ["lock_timeout"]


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_another_process_is_kept_out(tmp_path):
    target = tmp_path / "idx"
    code = (
        "import sys; from nlu_toolkit.io.lock import artefact_lock\n"
        "from nlu_toolkit.errors import ArtefactBusy\n"
        f"try:\n    with artefact_lock({str(target)!r}, timeout=0.1): sys.exit(0)\n"
        "except ArtefactBusy: sys.exit(3)\n"
    )
    with artefact_lock(target):
        assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert os.listdir(tmp_path) == []
