"""Batch inference on a real local Ray (2 CPUs, started once for the module): outputs equal the
single-process CLI's, whatever the number of workers; resume redoes only what is missing; bad
records are named with their file and row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app
from nlu_toolkit.errors import InputError, OutputError, UsageError

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

TOPICS = ["cats", "ships", "money", "rain"]


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


def _text(i: int) -> str:
    words = " ".join(["word"] * (i % 7))
    return f"Sentence {i} is about {TOPICS[i % 4]} {words} and London, Paris or Ada Lovelace."


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 records in three files (two JSONL, one Parquet with its own id column), with passthrough columns."""
    folder = tmp_path_factory.mktemp("ray-inputs") / "in"
    folder.mkdir()
    for k in range(3):
        rows = [{"text": _text(i), "topic": TOPICS[i % 4], "n": i} for i in range(k * 100, (k + 1) * 100)]
        if k == 1:
            pq.write_table(pa.Table.from_pylist([{"id": f"doc-{r['n']}", **r} for r in rows]), folder / "b.parquet")
        else:
            (folder / f"{'ac'[k // 2]}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _single(task: str, source: Path, out: Path, *args: str) -> list[dict]:
    """The single-process CLI's records for one input file."""
    target = out / f"{source.stem}.{'parquet' if task == 'embed' else 'jsonl'}"
    result = CliRunner().invoke(app, [task, "--input", str(source), "-o", str(target), "--quiet", *args])
    assert result.exit_code == 0, result.stderr
    if task == "embed":
        return pq.read_table(target).to_pylist()
    return [json.loads(line) for line in target.read_text().splitlines()]


def _same(task: str, got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert list(a) == list(b)  # same fields, same order
        if task == "embed":
            np.testing.assert_allclose(a.pop("embedding"), b.pop("embedding"), atol=1e-6)
        assert a == b


@pytest.fixture(scope="module")
def tasks(cls_model: str, ner_model: str, st_model: str) -> dict[str, tuple[str, list[str], dict]]:
    """Per task: the model, the single-process CLI options, and the same as `run_job` keywords."""
    return {
        "embed": (st_model, ["--normalize"], {"normalize": True}),
        "classify": (cls_model, ["--top-k", "2"], {"top_k": 2}),
        "ner": (ner_model, [], {}),
    }


# Each task with 1 and with 2 workers would be six jobs of ~10 s: embed runs with both, classify and ner with one each.
@pytest.mark.parametrize(("task", "workers"), [("embed", 1), ("embed", 2), ("classify", 2), ("ner", 1)])
def test_outputs_equal_the_single_process(ray_local, inputs, tasks, tmp_path, task, workers):
    from nlu_toolkit.batch import run_job

    model, cli_args, options = tasks[task]
    result = run_job(task, str(inputs), str(tmp_path / "out"), model=model, workers=workers, batch_size=8, **options)
    assert [f.output for f in result.files] == ["a.parquet", "b.parquet", "c.parquet"]
    assert result.rows == 300 and len(result.computed) == 3
    for source in sorted(inputs.iterdir()):
        want = _single(task, source, tmp_path, "--model", model, "--batch-size", "8", *cli_args)
        _same(task, pq.read_table(tmp_path / "out" / f"{source.stem}.parquet").to_pylist(), want)
    manifest = json.loads((tmp_path / "out" / "_nlu_job.json").read_text())
    assert {v["rows"] for v in manifest["files"].values()} == {100}


def test_resume_redoes_only_missing_or_incomplete_outputs(ray_local, inputs, st_model, tmp_path):
    from nlu_toolkit.batch import run_job

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run_job("embed", str(inputs), str(whole), model=st_model)
    shutil.copytree(whole, cut)
    # An interrupted run: c.parquet never written (nor its manifest entry); b.parquet damaged after its
    # entry was written (cut to 10 rows); a.parquet whole.
    (cut / "c.parquet").unlink()
    manifest = json.loads((cut / "_nlu_job.json").read_text())
    key_c = next(k for k in manifest["files"] if k.endswith("c.jsonl"))
    del manifest["files"][key_c]
    (cut / "_nlu_job.json").write_text(json.dumps(manifest))
    pq.write_table(pq.read_table(cut / "b.parquet").slice(0, 10), cut / "b.parquet")
    kept = (cut / "a.parquet").stat().st_mtime_ns

    with pytest.raises(OutputError, match="resume"):
        run_job("embed", str(inputs), str(cut), model=st_model)
    with pytest.raises(UsageError, match="another job"):
        run_job("embed", str(inputs), str(cut), model=st_model, resume=True, normalize=True)
    result = run_job("embed", str(inputs), str(cut), model=st_model, resume=True)
    assert sorted(Path(p).name for p in result.computed) == ["b.parquet", "c.jsonl"]
    assert (cut / "a.parquet").stat().st_mtime_ns == kept  # a is not recomputed nor rewritten
    assert [f.rows for f in result.files] == [100, 100, 100]
    for name in ("a.parquet", "b.parquet", "c.parquet"):
        assert pq.read_table(cut / name).to_pylist() == pq.read_table(whole / name).to_pylist()
    assert key_c in json.loads((cut / "_nlu_job.json").read_text())["files"]
    assert sorted(p.name for p in cut.iterdir()) == ["_nlu_job.json", "a.parquet", "b.parquet", "c.parquet"]


@pytest.mark.parametrize(
    ("line", "row", "options", "message"),
    [
        ({"text": "x" * 300}, 4, {"max_chars": 200}, "over the limit of 200"),
        ({"text": None}, 4, {}, "column 'text' is empty"),
        ({"body": "no text column"}, 4, {}, "no column 'text'"),
    ],
)
def test_bad_record_is_named_with_its_file_and_row(ray_local, st_model, tmp_path, line, row, options, message):
    from nlu_toolkit.batch import run_job

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.jsonl").write_text("".join(json.dumps({"text": f"fine {i}"}) + "\n" for i in range(20)))
    lines = [{"text": f"ok {i}"} for i in range(3)] + [line] + [{"text": "after"}]
    (folder / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(InputError, match=message) as caught:
        run_job("embed", str(folder), str(tmp_path / "out"), model=st_model, **options)
    assert caught.value.path == str(folder / "bad.jsonl") or caught.value.path.endswith("bad.jsonl")
    assert caught.value.line == row
    assert f"bad.jsonl:{row}: " in str(caught.value)
    assert not (tmp_path / "out").exists()  # the folder the failed run made is removed again


def test_map_dataset_composes_with_ray_pipelines(ray_local, st_model):
    import ray.data

    from nlu_toolkit.batch import map_dataset
    from nlu_toolkit.tasks.embed import Embedder

    texts = [_text(i) for i in range(40)]
    ds = ray.data.from_items([{"body": t, "k": i} for i, t in enumerate(texts)])
    rows = map_dataset(ds, "embed", st_model, text_column="body", workers=2).take_all()
    rows.sort(key=lambda r: r["k"])
    assert set(rows[0]) == {"body", "k", "embedding", "truncated"}
    vectors, _ = Embedder(st_model).encode(texts)
    np.testing.assert_allclose(np.stack([r["embedding"] for r in rows]), vectors, atol=1e-6)


@pytest.fixture(scope="module")
def lance_job(ray_local, st_model, tmp_path_factory) -> tuple[Path, str, object]:
    """A finished ``.lance`` job over 100 records in four files: (inputs folder, table, result)."""
    pytest.importorskip("lancedb")
    from nlu_toolkit.batch import run_job

    folder = tmp_path_factory.mktemp("lance-job") / "in"
    folder.mkdir()
    for k in range(4):  # unique ids across the files: a Lance index holds one row per id
        rows = [{"id": f"d{i}", "text": _text(i), "topic": TOPICS[i % 4]} for i in range(k * 25, (k + 1) * 25)]
        (folder / f"p{k}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    uri = str(folder.parent / "corpus.lance")
    return folder, uri, run_job("embed", str(folder), uri, model=st_model, workers=2)


def test_lance_output_is_a_search_index(lance_job):
    from nlu_toolkit.search.lance_search import LanceIndex

    _, uri, result = lance_job
    assert result.rows == 100
    with LanceIndex.open(uri) as index:
        assert len(index) == 100
        hits = index.search([_text(7)], top_k=1)[0].hits
        assert hits[0].doc["id"] == "d7"


def test_lance_resume_gives_the_uninterrupted_table(lance_job, st_model, tmp_path):
    import os

    import lance

    from nlu_toolkit.batch import run_job
    from nlu_toolkit.search.lance_index import lance_info
    from nlu_toolkit.search.lance_search import LanceIndex

    folder, uri, _ = lance_job
    cut = tmp_path / "cut.lance"
    shutil.copytree(uri, cut)
    # The inputs in the order the job appended them (25 rows each), and the table version after each append.
    ids = lance.dataset(str(cut)).to_table(columns=["id"]).column("id").to_pylist()
    order = list(dict.fromkeys(f"p{int(i[1:]) // 25}.jsonl" for i in ids))
    counts = {
        v["version"]: lance.dataset(str(cut), version=v["version"]).count_rows()
        for v in lance.dataset(str(cut)).versions()
    }
    after = [min(v for v, n in counts.items() if n == 25 * (k + 1)) for k in range(4)]
    # An interrupted run: the last input's rows were appended but its manifest entry never written; the
    # third input was rewritten since (same records, new mtime), so its rows in the table are stale.
    manifest = json.loads((cut / "_nlu_job.json").read_text())
    del manifest["files"][next(k for k in manifest["files"] if k.endswith(order[3]))]
    manifest["lance_version"] = after[2]
    (cut / "_nlu_job.json").write_text(json.dumps(manifest))
    stat = (folder / order[2]).stat()
    os.utime(folder / order[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))

    result = run_job("embed", str(folder), str(cut), model=st_model, resume=True)
    assert sorted(Path(p).name for p in result.computed) == sorted(order[2:])
    assert result.rows == 100 and len(json.loads((cut / "_nlu_job.json").read_text())["files"]) == 4
    got, want = (lance.dataset(str(t)).to_table().sort_by("id").to_pylist() for t in (cut, uri))
    assert [r["id"] for r in got] == [r["id"] for r in want] and len({r["id"] for r in got}) == 100
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.pop("vector"), b.pop("vector"), atol=1e-6)
        assert a == b
    info, whole = lance_info(str(cut)), lance_info(uri)
    assert {k: v for k, v in info.items() if k not in ("created", "table_version")} == {
        k: v for k, v in whole.items() if k not in ("created", "table_version")
    }
    with LanceIndex.open(str(cut)) as index:
        assert len(index) == 100
        assert index.search([_text(7)], top_k=1)[0].hits[0].doc["id"] == "d7"
