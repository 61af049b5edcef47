"""The error contract: exit 2 (or 1 for runtime failures), one `nlu: error:` line naming a remedy,
no traceback, and no output file left behind."""

from __future__ import annotations

import json

import pytest
from cli_checks import check_error, check_ok, jsonl, listing


@pytest.fixture
def files(tmp_path):
    """Broken input files, one per failure mode."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "unclosed.csv").write_text('id,text\n1,good\n2,"never closed\n', encoding="utf-8")
    (folder / "ragged.csv").write_text("id,text\n1,good\n2,bad,extra\n", encoding="utf-8")
    (folder / "bad.jsonl").write_text('{"text": "good"}\n{"text": oops}\n', encoding="utf-8")
    (folder / "list.jsonl").write_text('{"text": "good"}\n["not", "an", "object"]\n', encoding="utf-8")
    (folder / "nocol.jsonl").write_text('{"body": "good"}\n', encoding="utf-8")
    (folder / "empty.txt").write_text("", encoding="utf-8")
    (folder / "blank.txt").write_text("\n  \n\n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("good\ncafé\n".encode("latin-1"))
    (folder / "huge.txt").write_text("good\n" + "a" * 1_000_000 + "\n", encoding="utf-8")
    (folder / "ok.txt").write_text("good\nbad\n", encoding="utf-8")
    return folder


def _classify_to(nlu, model, out_dir, *args, **kwargs):
    return nlu("classify", "--model", model, "--output", out_dir / "out.jsonl", *args, **kwargs)


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["classify", "I loved it"], "nlu models pull sentiment"),
        (["ner", "Ada Lovelace lived in London"], "nlu models pull ner"),
        (["qa", "-Q", "Who?", "--context", "Ada wrote it."], "nlu models pull qa"),
    ],
)
def test_default_model_not_available_offline(nlu, empty_hf_cache, out_dir, args, expect):
    result = nlu(*args, "--output", out_dir / "out.jsonl")
    line = check_error(result, 2, contains=expect)
    assert "HF_HUB_OFFLINE" in line and "--model PATH" in line
    assert listing(out_dir) == []


def test_classify_default_model_offline_suggests_the_embedded_model(nlu, empty_hf_cache):
    line = check_error(nlu("classify", "I loved it"))
    assert "--labels" in line


def test_hub_id_not_cached(nlu, empty_hf_cache):
    check_error(nlu("ner", "--model", "org/not-cached", "x"), contains="nlu models pull org/not-cached")


def test_missing_model_folder(nlu, tmp_path):
    check_error(nlu("classify", "--model", str(tmp_path / "nope" / "model"), "x"), contains="--model")


@pytest.mark.parametrize(
    ("name", "extra", "expect"),
    [
        ("missing.txt", [], "no such file"),
        ("unclosed.csv", [], "ill-formed CSV"),
        ("ragged.csv", [], "row has 3 fields"),
        ("bad.jsonl", [], "bad.jsonl:2: ill-formed JSON"),
        ("list.jsonl", [], "list.jsonl:2: a JSON list"),
        ("nocol.jsonl", [], "no column 'text'"),
        ("nocol.jsonl", ["--text-column", "body", "--id-column", "key"], "no column 'key'"),
        ("empty.txt", [], "holds no records"),
        ("blank.txt", [], "holds no records"),
        ("latin1.txt", [], "latin1.txt:2: byte 0xe9"),
        ("huge.txt", [], "huge.txt:2: text is 1,000,000 characters"),
        ("ok.txt", ["--encoding", "no-such-codec"], "unknown encoding"),
        ("ok.txt", ["--max-chars", "3"], "--max-chars"),
    ],
)
def test_bad_input_files(nlu, cls_model, files, out_dir, name, extra, expect):
    result = _classify_to(nlu, cls_model, out_dir, "--input", files / name, *extra)
    check_error(result, 2, contains=expect)
    assert listing(out_dir) == []


def test_empty_stdin(nlu, cls_model, out_dir):
    check_error(_classify_to(nlu, cls_model, out_dir, "-", input=""), 2, contains="<stdin>: holds no records")
    assert listing(out_dir) == []


def test_one_megabyte_argument(nlu, cls_model, out_dir):
    result = _classify_to(nlu, cls_model, out_dir, "a" * 1_000_000)
    check_error(result, 2, contains="over the limit of 100,000")
    assert listing(out_dir) == []


def test_non_utf8_on_stdin(nlu, cls_model, out_dir):
    result = _classify_to(nlu, cls_model, out_dir, "-", input="good\ncafé\n".encode("latin-1"))
    check_error(result, 2, contains="<stdin>:2")
    assert listing(out_dir) == []


def test_bad_row_after_the_first_window_leaves_no_file(nlu, cls_model, tmp_path, out_dir):
    """Results of the first 1,024 rows are already streamed to the temp file when row 1,500 fails."""
    path = tmp_path / "late.jsonl"
    path.write_text("".join(json.dumps({"text": f"good {i}"}) + "\n" for i in range(1500)) + "{broken\n")
    result = _classify_to(nlu, cls_model, out_dir, "--input", path, "--batch-size", "256")
    check_error(result, 2, contains="late.jsonl:1501")
    assert listing(out_dir) == []


def test_failed_run_keeps_an_existing_output_file(nlu, cls_model, files, out_dir):
    target = out_dir / "out.jsonl"
    target.write_text("previous results\n")
    check_error(_classify_to(nlu, cls_model, out_dir, "--input", files / "bad.jsonl"))
    assert target.read_text() == "previous results\n"
    assert listing(out_dir) == ["out.jsonl"]


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--format", "xml"], "'--format'"),
        (["--batch-size", "0"], "'--batch-size'"),
        (["--device", "tpu"], "'--device'"),
        (["--long", "foo"], "'--long'"),
        (["--top-k", "0"], "'--top-k'"),
        (["--threshold", "1.5"], "'--threshold'"),
        (["--max-length", "2"], "'--max-length'"),
        (["--input-format", "xlsx"], "'--input-format'"),
        (["--no-such-option"], "--no-such-option"),
        (["--labels", " , "], "--labels is empty"),
        (["--labels", "a,b,a"], "repeats a label"),
        (["--hypothesis-template", "no placeholder", "--labels", "a,b"], "{}"),
        (["--format", "table"], "--format table"),
    ],
)
def test_bad_option_values(nlu, cls_model, out_dir, args, expect):
    result = nlu("classify", "--model", cls_model, "--output", out_dir / "out.jsonl", *args, "good")
    check_error(result, 2, contains=expect)
    assert listing(out_dir) == []


@pytest.mark.parametrize(
    "args",
    [
        ["ner", "--aggregation", "bogus", "x"],
        ["ner", "--stride", "-1", "x"],
        ["qa", "-Q", "q", "-c", "c", "--top-k", "0"],
        ["qa", "-Q", "q", "-c", "c", "--max-length", "4"],
        ["models", "list", "--format", "yaml"],
    ],
)
def test_bad_option_values_other_commands(nlu, args):
    check_error(nlu(*args), 2, contains="Invalid value")


def test_ner_stride_too_large(nlu, ner_model):
    check_error(nlu("ner", "--model", ner_model, "--stride", "500", "x"), 2, contains="--stride")


def test_qa_stride_too_large(nlu, qa_model):
    result = nlu("qa", "--model", qa_model, "--max-length", "64", "--stride", "40", "-Q", "q", "-c", "c")
    check_error(result, 2, contains="--stride")


def test_device_cuda_without_a_gpu(nlu, cls_model, out_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible here")
    result = _classify_to(nlu, cls_model, out_dir, "--device", "cuda", "good")
    check_error(result, 2, contains="--device")
    assert listing(out_dir) == []


def test_texts_and_input_together(nlu, cls_model, files, out_dir):
    result = _classify_to(nlu, cls_model, out_dir, "--input", files / "ok.txt", "good")
    check_error(result, 2, contains="not both")
    assert listing(out_dir) == []


def test_no_input(nlu, cls_model):
    check_error(nlu("classify", "--model", cls_model), 2, contains="no input")


def test_output_folder_missing(nlu, cls_model, tmp_path):
    check_error(nlu("classify", "--model", cls_model, "-o", tmp_path / "nope" / "out.jsonl", "good"), 2)


def test_model_without_a_classification_head(nlu, st_model):
    check_error(nlu("classify", "--model", st_model, "good"), 2, contains="no classification head")


def test_labels_with_a_non_nli_classifier(nlu, cls_model):
    check_error(nlu("classify", "--model", cls_model, "--labels", "a,b", "good"), 2, contains="not an NLI model")


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["-Q", "q"], "exactly one of --context"),
        (["-c", "ctx"], "no question"),
        (["-Q", "q", "-c", "ctx", "--context-file", "x.txt"], "exactly one of --context"),
        (["--input", "DATA/qa.jsonl", "-Q", "q"], "--input takes questions"),
        (["-Q", "q", "--context-file", "MISSING"], "no such file"),
        (["-Q", "q", "--context-file", "EMPTY"], "is empty"),
        (["-Q", " ", "-c", "ctx"], "has no question"),
        (["-Q", "q", "--context-file", "LATIN1"], "not valid utf-8"),
        (["--input", "NOCOL"], "no column 'question'"),
    ],
)
def test_qa_usage_and_input_errors(nlu, qa_model, data_dir, files, out_dir, args, expect):
    subst = {
        "DATA/qa.jsonl": str(data_dir / "qa.jsonl"),
        "MISSING": str(files / "missing.txt"),
        "EMPTY": str(files / "empty.txt"),
        "NOCOL": str(files / "nocol.jsonl"),
        "LATIN1": str(files / "latin1.txt"),
    }
    args = [subst.get(a, a) for a in args]
    result = nlu("qa", "--model", qa_model, "--output", out_dir / "out.jsonl", *args)
    check_error(result, 2, contains=expect)
    assert listing(out_dir) == []


def test_ner_bad_input(nlu, ner_model, files, out_dir):
    result = nlu("ner", "--model", ner_model, "--input", files / "ragged.csv", "-o", out_dir / "e.jsonl")
    check_error(result, 2, contains="ragged.csv:3")
    assert listing(out_dir) == []


def test_unknown_command(nlu):
    check_error(nlu("summarise", "x"), 2, contains="No such command")
    check_error(nlu("models", "delete"), 2, contains="No such command")


def test_unknown_top_level_option(nlu):
    check_error(nlu("--bogus"), 2, contains="--bogus")


def test_debug_env_reraises(nlu, cls_model, files):
    from nlu_toolkit.errors import InputError

    result = nlu("classify", "--model", cls_model, "--input", files / "missing.txt", env={"NLU_DEBUG": "1"})
    assert isinstance(result.exception, InputError)
    assert not result.stderr.startswith("nlu: error:")


def test_runtime_failure_exits_1(nlu, cls_model, out_dir, monkeypatch):
    import nlu_toolkit.tasks.classify as classify_mod

    def broken_forward(model, device, pick, **_):
        def forward(batch):
            raise RuntimeError("CUDA out of memory (simulated)")

        return forward

    monkeypatch.setattr(classify_mod, "torch_forward", broken_forward)
    result = _classify_to(nlu, cls_model, out_dir, "good", "bad")
    line = check_error(result, 1, contains="nlu: error: unexpected RuntimeError")
    assert "NLU_DEBUG=1" in line
    assert listing(out_dir) == []


def test_runtime_failure_in_ner_and_qa(nlu, ner_model, qa_model, monkeypatch):
    import nlu_toolkit.tasks.ner as ner_mod
    import nlu_toolkit.tasks.qa as qa_mod

    def broken_forward(model, device, pick, **_):
        def forward(batch):
            raise RuntimeError("boom")

        return forward

    monkeypatch.setattr(ner_mod, "torch_forward", broken_forward)
    monkeypatch.setattr(qa_mod, "torch_forward", broken_forward)
    check_error(nlu("ner", "--model", ner_model, "x"), 1, contains="unexpected RuntimeError: boom")
    check_error(nlu("qa", "--model", qa_model, "-Q", "q", "-c", "ctx"), 1, contains="unexpected RuntimeError: boom")


def _nlu_commands_in(text: str) -> list[str]:
    import re

    return re.findall(r"\bnlu ([a-z][a-z-]*)", text)


def test_error_hints_name_only_existing_commands(nlu, st_model):
    line = check_error(nlu("classify", "--model", st_model, "good"))
    for command in _nlu_commands_in(line):
        check_ok(nlu(command, "--help"))


def test_debug_off_values(nlu, cls_model, files):
    result = nlu("classify", "--model", cls_model, "--input", files / "missing.txt", env={"NLU_DEBUG": "0"})
    check_error(result, 2)


def test_error_output_is_not_mixed_into_stdout(nlu, cls_model, files):
    result = nlu("classify", "--model", cls_model, "--input", files / "bad.jsonl")
    check_error(result, 2)
    # The first record was fine, but classify scores whole windows: nothing reached stdout.
    assert jsonl(result.stdout) == []


def test_qa_question_filling_the_window_is_an_input_error(nlu, qa_model, out_dir):
    context = "The river runs through the city. " * 20
    question = "who " * 40 + "?"  # 41 tokens: 4 left for context in a 48-token window, stride 12
    try:
        result = nlu(
            "qa", "--model", qa_model, "-Q", question, "-c", context, "--max-length", "48", "-o", out_dir / "a.jsonl"
        )
    except BaseException as e:  # the panic escapes CliRunner, which only catches Exception
        pytest.fail(f"{type(e).__name__} escaped the error boundary")
    check_error(result, 2, contains="--max-length")
    assert listing(out_dir) == []


@pytest.mark.parametrize(("long", "max_length"), [("truncate", "20"), ("window", "28")])
def test_nli_hypothesis_filling_the_window_is_a_usage_error(nlu, nli_model, long, max_length):
    text = "the movie was good and the actors were great but the plot was boring " * 10
    args = ["--labels", "sports,food", "--hypothesis-template", "This text is about {}.", "--max-length", max_length]
    try:
        result = nlu("classify", "--model", nli_model, *args, "--long", long, text)
    except BaseException as e:
        pytest.fail(f"{type(e).__name__} escaped the error boundary")
    check_error(result, 2, contains="--max-length")
