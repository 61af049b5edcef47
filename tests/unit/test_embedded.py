"""Unit tests for nlu_toolkit.models.embedded without the real model: a small fake model.zip."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from nlu_toolkit.errors import ModelCorrupted, ModelNotAvailable, NluError
from nlu_toolkit.models import embedded

WEIGHTS = b"fake safetensors weights \x00\x01\x02" * 100
SHA = hashlib.sha256(WEIGHTS).hexdigest()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("NLU_CACHE", str(cache))
    monkeypatch.setattr(embedded, "EMBEDDED_SHA256", SHA)
    return cache


@pytest.fixture
def good_zip(tmp_path, monkeypatch):
    zpath = make_zip(
        tmp_path / "model.zip",
        {"model.safetensors": WEIGHTS, "config.json": b'{"hidden_size": 384}', "sub/tokenizer.json": b"{}"},
    )
    monkeypatch.setattr(embedded, "find_zip", lambda: zpath)
    return zpath


def models_folder(cache: Path) -> list[str]:
    folder = cache / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("NLU_CACHE", str(tmp_path / "c"))
    assert embedded.cache_dir() == tmp_path / "c"


def test_cache_dir_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NLU_CACHE", "~/nlu-cache")
    assert embedded.cache_dir() == tmp_path / "nlu-cache"


def test_embedded_dir_under_cache_and_names_checksum(cache):
    d = embedded.embedded_dir()
    assert d.parent == cache / "models"
    assert SHA[:12] in d.name


def test_sha256_file(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(WEIGHTS)
    assert embedded.sha256_file(p) == SHA
    assert embedded.sha256_file(p, chunk=7) == SHA


def test_extracts_once_and_verifies(cache, good_zip, monkeypatch):
    target = embedded.embedded_path()
    assert target == embedded.embedded_dir()
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert (target / "config.json").read_bytes() == b'{"hidden_size": 384}'
    assert (target / "sub" / "tokenizer.json").is_file()
    assert models_folder(cache) == [target.name], "no .extract-* temp folder left behind"

    def no_zip(*args, **kwargs):
        raise AssertionError("re-extracted on the second call")

    monkeypatch.setattr(embedded.zipfile, "ZipFile", no_zip)
    monkeypatch.setattr(embedded, "find_zip", no_zip)
    assert embedded.embedded_path() == target
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert models_folder(cache) == [target.name]


def test_verify_embedded(cache, good_zip):
    info = embedded.verify_embedded()
    assert info == {
        "name": embedded.EMBEDDED_NAME,
        "path": str(embedded.embedded_dir()),
        "sha256": SHA,
        "expected": SHA,
        "ok": True,
    }
    (embedded.embedded_dir() / "model.safetensors").write_bytes(b"tampered")
    info = embedded.verify_embedded()
    assert info["ok"] is False
    assert info["sha256"] == hashlib.sha256(b"tampered").hexdigest()


def test_wrong_checksum_raises_and_leaves_nothing(cache, tmp_path, monkeypatch):
    bad = make_zip(tmp_path / "bad.zip", {"model.safetensors": b"not the real weights"})
    monkeypatch.setattr(embedded, "find_zip", lambda: bad)
    with pytest.raises(ModelCorrupted) as excinfo:
        embedded.embedded_path()
    err = excinfo.value
    assert err.exit_code == 1
    assert SHA in str(err)
    assert hashlib.sha256(b"not the real weights").hexdigest() in str(err)
    assert embedded.PIP_NAME in err.hint
    assert not embedded.embedded_dir().exists()
    assert models_folder(cache) == []


def test_missing_weights_in_zip_is_corrupted(cache, tmp_path, monkeypatch):
    bad = make_zip(tmp_path / "bad.zip", {"config.json": b"{}"})
    monkeypatch.setattr(embedded, "find_zip", lambda: bad)
    with pytest.raises(ModelCorrupted, match="missing"):
        embedded.embedded_path()
    assert not embedded.embedded_dir().exists()
    assert models_folder(cache) == []


@pytest.mark.parametrize("member", ["../evil.txt", "sub/../../evil.txt", "/abs/evil.txt"])
def test_zip_slip_refused(cache, tmp_path, monkeypatch, member):
    bad = make_zip(tmp_path / "slip.zip", {"model.safetensors": WEIGHTS, member: b"pwned"})
    monkeypatch.setattr(embedded, "find_zip", lambda: bad)
    with pytest.raises(ModelCorrupted) as excinfo:
        embedded.embedded_path()
    assert "unsafe" in str(excinfo.value)
    assert not embedded.embedded_dir().exists()
    assert models_folder(cache) == []
    assert not list(tmp_path.rglob("evil.txt"))


def test_failed_extraction_then_good_zip_succeeds(cache, tmp_path, monkeypatch, good_zip):
    bad = make_zip(tmp_path / "bad.zip", {"model.safetensors": b"nope"})
    monkeypatch.setattr(embedded, "find_zip", lambda: bad)
    with pytest.raises(ModelCorrupted):
        embedded.embedded_path()
    monkeypatch.setattr(embedded, "find_zip", lambda: good_zip)
    target = embedded.embedded_path()
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert models_folder(cache) == [target.name]


def test_concurrent_finisher_is_accepted(cache, good_zip, monkeypatch):
    """If another process renamed its verified copy into place first, ours is dropped quietly."""
    real_rename = embedded.os.rename

    def rename_after_rival(src, dst):
        # the rival finishes first: a complete, verified target appears
        Path(dst).mkdir(parents=True)
        (Path(dst) / "model.safetensors").write_bytes(WEIGHTS)
        (Path(dst) / embedded._MARKER).write_text(SHA + "\n")
        return real_rename(src, dst)

    monkeypatch.setattr(embedded.os, "rename", rename_after_rival)
    target = embedded.embedded_path()
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert models_folder(cache) == [target.name]


def test_stale_target_without_marker(cache, good_zip):
    stale = embedded.embedded_dir()
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half a file")
    try:
        target = embedded.embedded_path()
    except NluError:
        pass  # a typed error with a hint is acceptable
    else:
        assert (target / "model.safetensors").read_bytes() == WEIGHTS


def test_find_zip_when_package_missing(monkeypatch):
    monkeypatch.setattr(embedded, "PACKAGE", "no_such_embedded_pkg_xyz")
    with pytest.raises(ModelNotAvailable) as excinfo:
        embedded.find_zip()
    assert excinfo.value.exit_code == 2
    assert embedded.PIP_NAME in excinfo.value.hint


def test_find_zip_when_zip_missing(tmp_path, monkeypatch):
    pkg = tmp_path / "fake_embedded_pkg_xyz"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(embedded, "PACKAGE", "fake_embedded_pkg_xyz")
    with pytest.raises(ModelNotAvailable) as excinfo:
        embedded.find_zip()
    assert "model.zip" in str(excinfo.value)
    (pkg / "model.zip").write_bytes(b"zip")
    assert embedded.find_zip() == pkg / "model.zip"


def test_missing_package_propagates_from_embedded_path(cache, monkeypatch):
    monkeypatch.setattr(embedded, "PACKAGE", "no_such_embedded_pkg_xyz")
    with pytest.raises(ModelNotAvailable):
        embedded.embedded_path()
    assert not embedded.embedded_dir().exists()
