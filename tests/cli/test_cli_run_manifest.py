"""Run manifests from the CLI: ``--manifest FILE`` on inference commands, and always beside a fine-tuned
model, an index, and in ``nlu evaluate``'s figures; early stopping said on stderr."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cli_checks import check_error, check_ok, jsonl

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "finetune"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_classify_manifest_records_versions_model_inputs_and_settings(nlu, cls_model, data_dir, tmp_path):
    manifest = tmp_path / "run.json"
    reviews = data_dir / "reviews.txt"
    result = nlu("classify", "--model", cls_model, "--input", reviews, "--top-k", "1", "--manifest", manifest)
    check_ok(result)
    assert jsonl(result.stdout)  # the results still go to stdout
    m = _read(manifest)
    assert m["command"].endswith("classify") and m["nlu_toolkit"] and m["python"]
    assert {"torch", "transformers"} <= set(m["packages"])
    assert m["settings"]["top_k"] == 1 and m["settings"]["model"] == cls_model
    assert m["inputs"] == [
        {
            "path": str(reviews),
            "resolved": str(reviews.resolve()),
            "size": reviews.stat().st_size,
            "sha256": _sha(reviews),
        }
    ]
    assert m["outputs"] == ["-"]
    weights = {w["file"]: w["sha256"] for w in m["model"]["weights"]}
    assert weights == {"model.safetensors": _sha(Path(cls_model) / "model.safetensors")}
    assert m["model"]["path"] == str(Path(cls_model).resolve()) and m["model"]["backend"] == "torch"


def test_manifest_with_an_output_file_and_stdin(nlu, cls_model, tmp_path):
    manifest, output = tmp_path / "run.json", tmp_path / "out.jsonl"
    check_ok(nlu("classify", "-m", cls_model, "-", "-o", output, "--manifest", manifest, input="good\nbad\n"))
    m = _read(manifest)
    assert m["outputs"] == [str(output)]
    assert m["inputs"] == [{"path": "-", "size": 9, "sha256": hashlib.sha256(b"good\nbad\n").hexdigest()}]
    assert len(jsonl(output.read_text(encoding="utf-8"))) == 2


def test_manifest_on_ner_qa_embed_and_cluster(nlu, ner_model, qa_model, st_model, data_dir, tmp_path):
    runs = {
        "ner": ("ner", "-m", ner_model, "Paris is nice"),
        "qa": ("qa", "-m", qa_model, "--question", "Who?", "--context", "Ann went home."),
        "embed": ("embed", "-m", st_model, "some text"),
        "cluster": ("cluster", "-m", st_model, "-i", data_dir / "reviews.txt", "--k", "2", "--seed", "3"),
    }
    for name, args in runs.items():
        manifest = tmp_path / f"{name}.json"
        check_ok(nlu(*args, "--manifest", manifest))
        m = _read(manifest)
        assert m["command"].endswith(name) and m["model"]["weights"], name
    assert m["seed"] == 3  # cluster's


def test_stdin_as_input_file_is_hashed_and_still_read_whole(nlu, cls_model, tmp_path):
    manifest = tmp_path / "run.json"
    text = "".join(f"text number {i}\n" for i in range(3000)).encode()  # more than one read buffer
    result = nlu("classify", "-m", cls_model, "-i", "-", "--manifest", manifest, input=text)
    check_ok(result)
    assert len(jsonl(result.stdout)) == 3000
    assert _read(manifest)["inputs"] == [{"path": "-", "size": len(text), "sha256": hashlib.sha256(text).hexdigest()}]


def test_no_manifest_is_left_by_a_failed_run(nlu, tmp_path):
    manifest = tmp_path / "run.json"
    result = nlu("classify", "--model", tmp_path / "no-such-model", "text", "--manifest", manifest)
    assert result.exit_code != 0
    assert not manifest.exists()


def test_manifest_and_output_cannot_be_the_same_file(nlu, cls_model, tmp_path):
    same = tmp_path / "x.json"
    check_error(nlu("classify", "-m", cls_model, "text", "-o", same, "--manifest", same), contains="same file")


def test_finetune_folder_holds_the_manifest_and_metrics_json_too(nlu, st_model, tmp_path):
    out = tmp_path / "model"
    train = SAMPLES / "sentiment_train.csv"
    args = ["-t", "classification", "--train", train, "-m", st_model, "-o", out, "--max-steps", "1", "--seed", "7"]
    check_ok(nlu("finetune", *args, "-f", "json"))
    m = _read(out / "run_manifest.json")
    assert m["seed"] == 7 and m["settings"]["task"] == "classification" and m["settings"]["max_steps"] == 1
    assert m["inputs"][0]["sha256"] == _sha(train) and m["outputs"] == [str(out)]
    assert m["model"]["weights"] and {"transformers", "torch"} <= set(m["packages"])
    assert _read(out / "metrics.json")["manifest"] == m


def test_evaluate_figures_carry_the_manifest(nlu, cls_model, tmp_path):
    figures = tmp_path / "metrics.json"
    dev = tmp_path / "dev.csv"  # labelled as the tiny model's labels
    dev.write_text("text,label\ngood film,POSITIVE\nbad film,NEGATIVE\n", encoding="utf-8")
    result = nlu("evaluate", "-t", "classification", "-m", cls_model, "-d", dev, "-o", figures, "-f", "json")
    check_ok(result)
    m = _read(figures)["manifest"]
    assert m["inputs"][0]["sha256"] == _sha(dev) and m["outputs"] == [str(figures)]
    assert m["settings"]["task"] == "classification" and m["model"]["weights"]


def test_finetune_says_on_stderr_that_early_stopping_ended_the_run(nlu, st_model, tmp_path):
    args = [
        "-t", "classification", "--train", SAMPLES / "sentiment_train.csv", "--eval", SAMPLES / "sentiment_dev.csv",
        "-m", st_model, "-o", tmp_path / "m", "--epochs", "6", "--patience", "1", "--lr", "1e-9", "--warmup", "0",
        "-b", "32", "--metric", "accuracy", "-f", "json",
    ]  # fmt: skip
    result = nlu("finetune", *args)
    check_ok(result)
    assert (
        "early stopping: no improvement in accuracy for 1 evaluation; stopped at epoch 2 of 6, best epoch 1"
        in result.stderr
    )
    summary = json.loads(result.stdout)
    assert summary["stopped_early"] is True and summary["stopped_at_epoch"] == 2.0


def test_index_folder_holds_a_run_manifest_kept_across_adds(nlu, st_model, data_dir, tmp_path):
    folder = tmp_path / "idx"
    corpus = data_dir / "corpus.jsonl"
    check_ok(nlu("index", "build", corpus, "--out", folder, "-m", st_model))
    m = _read(folder / "run_manifest.json")
    assert m["command"].endswith("index build") and m["inputs"][0]["sha256"] == _sha(corpus)
    assert m["model"]["weights"] and m["outputs"] == [str(folder.resolve())]
    more = tmp_path / "more.txt"
    more.write_text("one more document\n", encoding="utf-8")
    check_ok(nlu("index", "add", folder, more))
    m2 = _read(folder / "run_manifest.json")
    assert m2["command"].endswith("index add") and m2["inputs"][0]["sha256"] == _sha(more)
    assert m2["previous_runs"] == [m]
    check_ok(nlu("index", "delete", folder, "faq-01"))
    m3 = _read(folder / "run_manifest.json")
    assert m3["command"].endswith("index delete") and m3["settings"]["ids"] == ["faq-01"]
    assert [r["command"] for r in m3["previous_runs"]] == [m["command"], m2["command"]]
    check_ok(nlu("embed", "--search", "document", "--index", folder))  # the index still loads
