"""``--engine ray`` on embed, classify and ner: option checks, the missing extra, and a real run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli_checks import check_error, check_ok, jsonl


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(2):
        rows = [
            {"text": f"Review {i}: a {'fine' if i % 2 else 'dull'} film in Paris.", "stars": i % 5}
            for i in range(k * 30, k * 30 + 30)
        ]
        (folder / f"part-{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.mark.parametrize("command", ["embed", "classify", "ner"])
@pytest.mark.parametrize(
    ("args", "flag"),
    [(["--workers", "2"], "--workers"), (["--resume"], "--resume"), (["--address", "auto"], "--address")],
)
def test_ray_options_need_engine_ray(nlu, command, args, flag):
    result = nlu(command, "some text", *args)
    check_error(result, 2, contains=f"{flag}: only with --engine ray")


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (["some", "text", "-o", "OUT"], "--engine ray reads files, not text arguments"),
        (["--input", "IN"], "--engine ray needs --output"),
        (["--input", "IN", "-o", "OUT", "--format", "jsonl"], "writes Parquet, not --format jsonl"),
        (["--input", "IN", "-o", "OUT", "--search", "q"], "--search is not taken with --engine ray"),
        (["--input", "IN", "-o", "OUT", "--address", "not an address"], "is not a Ray cluster address"),
    ],
)
def test_engine_ray_usage_errors(nlu, corpus, tmp_path, args, contains):
    args = [str(corpus) if a == "IN" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    check_error(nlu("embed", "--engine", "ray", *args), 2, contains=contains)
    assert not (tmp_path / "out").exists()


def test_engine_ray_without_the_extra_names_the_install(nlu, corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails, as without the extra
    result = nlu("classify", "--engine", "ray", "--input", corpus, "-o", tmp_path / "out")
    check_error(result, 2, contains="pip install 'nlu-toolkit[ray]'")
    assert not (tmp_path / "out").exists()


def test_engine_local_is_unchanged(nlu, corpus, cls_model):
    result = nlu("classify", "--engine", "local", "--input", corpus / "part-0.jsonl", "-m", cls_model, "-f", "jsonl")
    check_ok(result)
    assert len(jsonl(result.stdout)) == 30


@pytest.mark.slow
def test_engine_ray_equals_local_and_resumes(nlu, corpus, cls_model, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    result = nlu("classify", "--engine", "ray", "--workers", "2", "--input", corpus, "-o", out, "-m", cls_model)
    check_ok(result)
    assert "60 records from 2 files" in result.stderr and "2 computed" in result.stderr
    for k in range(2):
        local = nlu("classify", "--input", corpus / f"part-{k}.jsonl", "-m", cls_model, "-f", "jsonl")
        check_ok(local)
        assert pq.read_table(out / f"part-{k}.parquet").to_pylist() == jsonl(local.stdout)
    # Run again: refused without --resume, nothing to do with it.
    again = nlu("classify", "--engine", "ray", "--input", corpus, "-o", out, "-m", cls_model)
    check_error(again, 2, contains="pass --resume")
    (out / "part-1.parquet").unlink()
    resumed = nlu("classify", "--engine", "ray", "--resume", "--input", corpus, "-o", out, "-m", cls_model)
    check_ok(resumed)
    assert "1 computed, 1 kept from before" in resumed.stderr
    assert sorted(p.name for p in out.iterdir()) == ["_nlu_job.json", "part-0.parquet", "part-1.parquet"]


def test_engine_ray_refuses_an_output_inside_the_inputs(nlu, corpus):
    pytest.importorskip("ray")
    result = nlu("ner", "--engine", "ray", "--input", corpus, "-o", corpus / "out")
    check_error(result, 2, contains="lies inside the input")
    assert not (corpus / "out").exists()
