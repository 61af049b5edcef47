"""Indexes are locked, self-verifying and leave nothing behind (tiny random models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app
from nlu_toolkit.errors import IndexCorrupted, InputError, OutputError, UsageError
from nlu_toolkit.search.index import SemanticIndex, read_manifest
from nlu_toolkit.search.manifest import CHECKSUM_KEY, manifest_checksum

TEXTS = [f"document number {i} about {topic}" for i, topic in enumerate(["films", "banks", "rivers", "money"] * 2)]


def nlu(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def check_ok(result) -> None:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"


def check_error(result, code: int) -> str:
    """Exit ``code``, one ``nlu: error:`` line with a remedy, no traceback."""
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stderr}"
    (line,) = result.stderr.splitlines()
    assert line.startswith("nlu: error: ") and line.endswith(")") and "Traceback" not in result.stderr
    return line


@pytest.fixture(scope="module")
def saved(st_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("safety") / "base.idx"
    with SemanticIndex.build(TEXTS, st_model) as index:
        index.save(folder)
    return folder


@pytest.fixture
def copy(saved, tmp_path) -> Path:
    import shutil

    target = tmp_path / "copy.idx"
    shutil.copytree(saved, target)
    return target


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _write_manifest(folder: Path, manifest: dict, *, resign: bool) -> None:
    if resign:  # as a tool that rewrites the checksum would: only the field checks can catch it
        manifest = {**manifest, CHECKSUM_KEY: manifest_checksum(manifest)}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _refused(folder: Path, match: str) -> None:
    """Damage is IndexCorrupted in the library and a clean exit 1 in the CLI, never 'unexpected'."""
    with pytest.raises(IndexCorrupted, match=match):
        SemanticIndex.load(folder)
    line = check_error(nlu("embed", "--search", "bank", "--index", folder), 1)
    assert "unexpected" not in line


# -- concurrent writers ----------------------------------------------------------------------


def test_concurrent_index_adds_keep_every_document(copy, tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("".join(f"alpha text {i}\n" for i in range(5)), encoding="utf-8")
    b.write_text("".join(f"beta text {i}\n" for i in range(7)), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nlu_toolkit",
                "index",
                "add",
                str(copy),
                str(f),
                "--quiet",
                "--lock-timeout",
                "300",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for f in (a, b)
    ]
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err.decode()
    with SemanticIndex.load(copy) as index:
        assert len(index) == len(TEXTS) + 5 + 7
        texts = [d["text"] for d in index.documents()]
    assert {f"alpha text {i}" for i in range(5)} | {f"beta text {i}" for i in range(7)} <= set(texts)
    assert sorted(p.name for p in copy.parent.iterdir()) == ["a.txt", "b.txt", "copy.idx"]  # no lock, no temp


# -- self-verifying manifest -----------------------------------------------------------------


def test_manifest_without_file_checksums_is_corrupted(copy):
    manifest = _manifest(copy)
    del manifest["files"]
    _write_manifest(copy, manifest, resign=True)
    _refused(copy, "file checksums")


def test_flipped_vector_byte_with_checksums_removed_is_corrupted(copy):
    data = bytearray((copy / "vectors.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (copy / "vectors.safetensors").write_bytes(bytes(data))
    manifest = _manifest(copy)
    manifest["files"] = {}
    _write_manifest(copy, manifest, resign=False)
    _refused(copy, "checksum")


def test_edited_docs_file_is_corrupted(copy):
    docs = copy / "docs.jsonl"
    docs.write_bytes(docs.read_bytes().replace(b"films", b"fiLms"))
    _refused(copy, "docs.jsonl does not match its checksum")


def test_edited_manifest_fails_its_own_checksum(copy):
    manifest = _manifest(copy)
    manifest["count"] = 3
    _write_manifest(copy, manifest, resign=False)
    _refused(copy, "own checksum")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("precision", 5),
        ("precision", "x"),
        ("backend", None),
        ("count", "8"),
        ("count", -1),
        ("dimension", 0),
        ("dimension", True),
        ("model", []),
        ("model", {"name": 3}),
        ("files", {"vectors.safetensors": 5, "docs.jsonl": "ab"}),
        ("files", {"../x": "0" * 64}),
        ("version", "1"),
        ("max_length", -5),
        ("max_length", 10**30),
        ("normalized", "yes"),
        ("normalized", False),
    ],
)
def test_every_manifest_field_is_validated(copy, key, value):
    manifest = _manifest(copy)
    manifest[key] = value
    _write_manifest(copy, manifest, resign=True)
    _refused(copy, "manifest")
    check_error(nlu("index", "info", copy), 1)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_manifest_that_is_a_link_or_fifo_is_refused_not_followed(copy, tmp_path, kind):
    real = tmp_path / "elsewhere.json"
    real.write_bytes((copy / "manifest.json").read_bytes())
    (copy / "manifest.json").unlink()
    if kind == "symlink":
        (copy / "manifest.json").symlink_to(real)
    else:
        os.mkfifo(copy / "manifest.json")  # reading it would block forever
    with pytest.raises(IndexCorrupted, match="not a regular file"):
        read_manifest(copy)
    _refused(copy, "not a regular file")


def test_a_changed_model_without_model_given_does_not_hint_at_a_flag_never_passed(st_model, st_model_other, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(st_model, model)
    folder = tmp_path / "x.idx"
    with SemanticIndex.build(TEXTS, str(model)) as index:
        index.save(folder)
    shutil.rmtree(model)
    with pytest.raises(Exception, match="which is gone") as err:
        SemanticIndex.load(folder)
    # The hint names the parameter: model for the library (model=), --model on the command line.
    assert err.value.params == ["model"] and "the same model again" in err.value.hint
    assert "the same --model again" in err.value.render(lambda name: "--" + name)
    shutil.copytree(st_model_other, model)  # same path, other weights
    line = check_error(nlu("embed", "--search", "bank", "--index", folder), 2)
    assert "drop --model" not in line and "rebuild the index" in line


def test_manifest_that_is_not_an_object(copy):
    (copy / "manifest.json").write_text('["nlu-semantic-index"]', encoding="utf-8")
    _refused(copy, "not an nlu index manifest")


def test_version_1_index_without_own_checksum_still_loads_and_is_upgraded(copy):
    manifest = _manifest(copy)
    del manifest[CHECKSUM_KEY]
    manifest["version"] = 1
    _write_manifest(copy, manifest, resign=False)
    with SemanticIndex.load(copy) as index:
        assert len(index) == len(TEXTS)
        index.save(copy, overwrite=True)
    assert read_manifest(copy)["version"] == 2
    assert _manifest(copy)[CHECKSUM_KEY] == manifest_checksum(_manifest(copy))


def test_version_1_without_file_checksums_is_refused(copy):
    manifest = _manifest(copy)
    del manifest[CHECKSUM_KEY]
    manifest["version"] = 1
    manifest["files"] = {}
    _write_manifest(copy, manifest, resign=False)
    _refused(copy, "file checksums")


# -- saving never destroys -------------------------------------------------------------------


def test_library_save_refuses_foreign_folders_files_and_existing_indexes(st_model, saved, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep")
    (tmp_path / "notes.txt").write_text("keep")
    with SemanticIndex.build(TEXTS[:2], st_model) as index:
        with pytest.raises(OutputError, match="not an index"):
            index.save(tmp_path / "mine", overwrite=True)
        with pytest.raises(OutputError, match="existing file"):
            index.save(tmp_path / "notes.txt", overwrite=True)
        with pytest.raises(OutputError, match="pass overwrite to replace it"):
            index.save(saved)
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep"
    assert (tmp_path / "notes.txt").read_text() == "keep"
    assert len(SemanticIndex.load(saved)) == len(TEXTS)


class _Terminated(BaseException):
    """What the CLI's SIGTERM handler raises."""


def test_interrupted_save_keeps_the_old_index_and_leaves_no_temp_folder(copy, monkeypatch):
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    with SemanticIndex.load(copy) as index:
        real = SemanticIndex._write

        def interrupted(self, tmp):
            real(self, tmp)
            raise _Terminated

        monkeypatch.setattr(SemanticIndex, "_write", interrupted)
        with pytest.raises(_Terminated):
            index.save(copy, overwrite=True)
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.idx"]


# -- queries and staging folders -------------------------------------------------------------


def test_empty_and_invalid_queries(saved):
    with SemanticIndex.load(saved) as index:
        for query in ("", "  ", ["ok", "\n"]):
            with pytest.raises(UsageError, match="empty"):
                index.search(query)
        with pytest.raises(InputError, match="lone surrogate"):
            index.search("bank\ud800")


def test_no_staging_folder_is_left_behind(st_model, saved, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    corpus = tmp_path / "c.txt"
    corpus.write_text("good film\nbad film\n", encoding="utf-8")
    check_ok(nlu("index", "build", corpus, "--out", tmp_path / "idx", "-m", st_model))
    check_ok(nlu("index", "add", tmp_path / "idx", corpus))
    check_ok(nlu("embed", "--search", "film", "--index", tmp_path / "idx"))
    check_ok(nlu("embed", "--search", "film", "--corpus", corpus, "-m", st_model))
    with SemanticIndex.load(saved) as index:
        index.search("bank")
        assert list(temp.glob("nlu-index-*"))
    index = SemanticIndex.load(saved)
    index.close()
    index.close()  # twice is fine
    assert list(temp.glob("nlu-index-*")) == []


def test_library_updates_from_threads_keep_every_document(copy):
    from concurrent.futures import ThreadPoolExecutor

    batches = [[f"thread {t} text {i}" for i in range(3)] for t in range(3)]
    with ThreadPoolExecutor(3) as pool:
        added = [r.added for r in pool.map(lambda batch: SemanticIndex.update(copy, batch), batches)]
    assert added == [3, 3, 3]
    with SemanticIndex.load(copy) as index:
        assert len(index) == len(TEXTS) + 9
        assert {t for b in batches for t in b} <= {d["text"] for d in index.documents()}


@pytest.mark.parametrize("exchange", [True, False])
def test_a_load_racing_a_save_reads_one_whole_index(copy, st_model, monkeypatch, exchange):
    import nlu_toolkit.search.manifest as im
    from nlu_toolkit.io import swap

    if not exchange:  # the fallback: move aside, rename in
        monkeypatch.setattr(swap, "_exchange", lambda a, b: False)
    with SemanticIndex.build(TEXTS[:3], st_model) as small:
        real = im.parse_manifest
        raced = []

        def racing(data, where):
            manifest = real(data, where)
            if not raced:  # between reading the manifest and opening the files, a writer swaps
                raced.append(True)
                small.save(copy, overwrite=True)
            return manifest

        monkeypatch.setattr(im, "parse_manifest", racing)
        with SemanticIndex.load(copy) as index:
            assert len(index) in (len(TEXTS), 3)
            assert len(list(index.documents())) == len(index) == index.manifest["count"]
    assert raced and len(SemanticIndex.load(copy)) == 3
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.idx"]


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
@pytest.mark.parametrize("command", ["build", "add"])
def test_sigterm_while_indexing_leaves_no_staging_lock_or_temp_folder(copy, st_model, tmp_path, command):
    import signal
    import time

    big = tmp_path / "big.txt"
    big.write_text("".join(f"line {i}: the river bank and the money bank\n" for i in range(30_000)))
    temp = tmp_path / "tmp"
    temp.mkdir()
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    args = ["build", str(big), "--out", str(tmp_path / "new.idx"), "-m", st_model] if command == "build" else []
    args = args or ["add", str(copy), str(big)]
    env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlu_toolkit", "index", *args, "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 240
        while not any(temp.glob("nlu-index-*")):  # encoding has started
            assert proc.poll() is None, proc.communicate()[1].decode(errors="replace")
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = stderr.decode(errors="replace")
    assert proc.returncode == 128 + signal.SIGTERM, text
    assert "Traceback" not in text and "unexpected" not in text
    assert list(temp.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt", "copy.idx", "tmp"]
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
