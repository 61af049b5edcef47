"""Regression: an -o path that is a symlink or a special file is never replaced by the atomic rename."""

from __future__ import annotations

import os
import stat

import pytest

from nlu_toolkit.io.writers import atomic_output


def test_symlink_output_writes_the_real_file_and_keeps_the_link(tmp_path):
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "out_link.jsonl"
    link.symlink_to(real)
    with atomic_output(link) as f:
        f.write("new\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_fifo_output_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "myfifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with atomic_output(fifo) as f:
            f.write("hello\n")
        assert os.read(fd, 100) == b"hello\n"
    finally:
        os.close(fd)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mknod of a char device needs root")
def test_char_device_output_is_written_through_not_replaced(tmp_path):
    dev = tmp_path / "mynull"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with atomic_output(dev) as f:
        f.write("gone\n")
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
