"""One long-input policy on every command that runs a model: ``--long truncate|chunk`` and ``--stride N``.

The tiny test models take 64 tokens; LONG runs past that several times over.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from cli_checks import check_error, check_ok, jsonl

LONG = "the movie was good and the actors were great but the plot was boring " * 10
NER_LONG = "John Smith lives in Paris and works for Acme in Berlin. " * 12
QA_CONTEXT = "The river runs through the city. " * 20 + "John wrote the story in Paris."
WIDE = {"COLUMNS": "200"}

COMMANDS = ["classify", "embed", "ner", "qa", "similarity", "dedupe", "cluster"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_model_command_shows_the_same_long_options(nlu, command):
    result = nlu(command, "--help", env=WIDE)
    check_ok(result)
    lines = [line for line in result.stdout.splitlines() if re.match(r"\W*--long\b", line)]
    assert len(lines) == 1 and "[truncate|chunk]" in lines[0], lines
    assert any(re.match(r"\W*--stride\b", line) for line in result.stdout.splitlines())
    assert "--doc-stride" not in result.stdout  # the old spelling is taken but not shown
    assert "|window" not in result.stdout and "window|" not in result.stdout  # nor is classify's old value


@pytest.mark.parametrize(("command", "default"), [("classify", "truncate"), ("ner", "chunk"), ("qa", "chunk")])
def test_the_default_is_the_tasks_own(nlu, command, default):
    help_text = nlu(command, "--help", env=WIDE).stdout
    section = help_text[help_text.index("--long") :]
    assert f"[default: {default}]" in section[: section.index("--stride")]


def test_ner_long_chunk_with_a_stride(nlu, ner_model):
    result = nlu("ner", "--model", ner_model, "--long", "chunk", "--stride", "16", NER_LONG)
    check_ok(result)
    (record,) = jsonl(result.stdout)
    assert record["truncated"] is False
    assert all(record["text"][e["start"] : e["end"]] == e["word"] for e in record["entities"])


def test_ner_long_truncate_tags_the_first_window_only_and_flags_it(nlu, ner_model):
    whole = jsonl(nlu("ner", "--model", ner_model, "--aggregation", "none", NER_LONG).stdout)[0]
    result = nlu("ner", "--model", ner_model, "--aggregation", "none", "--long", "truncate", NER_LONG, "short")
    check_ok(result)
    cut, short = jsonl(result.stdout)
    assert (cut["truncated"], short["truncated"]) == (True, False)
    assert cut["entities"] and max(e["end"] for e in cut["entities"]) < len(NER_LONG) // 3
    assert max(e["end"] for e in whole["entities"]) > len(NER_LONG) // 3


def test_qa_doc_stride_is_still_taken_as_stride(nlu, qa_model):
    args = ["qa", "--model", qa_model, "-Q", "Who wrote it?", "-c", QA_CONTEXT, "--max-length", "32", "--top-k", "3"]
    old = nlu(*args, "--doc-stride", "8")
    new = nlu(*args, "--stride", "8")
    other = nlu(*args, "--stride", "0")
    for result in (old, new, other):
        check_ok(result)
    assert jsonl(old.stdout) == jsonl(new.stdout)
    assert jsonl(new.stdout) != jsonl(other.stdout)
    check_error(nlu(*args, "--stride", "8", "--doc-stride", "4"), 2, contains="--doc-stride")


def test_qa_stride_too_large_names_stride(nlu, qa_model):
    result = nlu("qa", "--model", qa_model, "--max-length", "64", "--doc-stride", "40", "-Q", "q", "-c", "c")
    check_error(result, 2, contains="--stride must be between 0 and 31")


def test_qa_long_truncate_reads_the_first_window_and_flags_it(nlu, qa_model):
    args = ["qa", "--model", qa_model, "-Q", "Who wrote it?", "--max-length", "32", "--top-k", "5"]
    result = nlu(*args, "--long", "truncate", "-c", QA_CONTEXT)
    check_ok(result)
    (record,) = jsonl(result.stdout)
    assert record["truncated"] is True
    assert all(a["end"] <= 120 for a in record["answers"])  # 32 tokens hold well under 120 characters
    short = jsonl(nlu(*args, "--long", "truncate", "-c", "John wrote it.").stdout)[0]
    assert short["truncated"] is False
    whole = jsonl(nlu(*args, "-c", QA_CONTEXT).stdout)[0]
    assert whole["truncated"] is False and max(a["end"] for a in whole["answers"]) > 120


def test_similarity_and_dedupe_take_long_and_stride(nlu, st_model):
    pair = ["similarity", "--model", st_model, LONG, LONG[::-1]]
    cut = nlu(*pair)
    chunked = nlu(*pair, "--long", "chunk")
    strided = nlu(*pair, "--long", "chunk", "--stride", "4")
    for result in (cut, chunked, strided):
        check_ok(result)
    scores = [jsonl(r.stdout)[0]["score"] for r in (cut, chunked, strided)]
    assert len({round(s, 6) for s in scores}) == 3
    texts = [LONG, LONG + " extra words at the end", "something else"]
    truncated = jsonl(nlu("dedupe", "--model", st_model, "--threshold", "0.999", *texts).stdout)
    assert [(r["a_id"], r["b_id"]) for r in truncated] == [(0, 1)]  # the difference is past the limit
    check_ok(nlu("dedupe", "--model", st_model, "--threshold", "0.999", "--long", "chunk", "--stride", "8", *texts))


def test_cluster_takes_long_and_stride(nlu, st_model):
    texts = [LONG, LONG[::-1], "short one", "short two"]
    result = nlu("cluster", "--model", st_model, "--k", "2", "--long", "chunk", "--stride", "8", *texts)
    check_ok(result)
    assert len(jsonl(result.stdout)) == 4


def test_classify_window_is_the_old_spelling_of_chunk(nlu, cls_model):
    old = nlu("classify", "--model", cls_model, "--long", "window", LONG)
    new = nlu("classify", "--model", cls_model, "--long", "chunk", LONG)
    check_ok(old)
    check_ok(new)
    assert jsonl(old.stdout) == jsonl(new.stdout)
    assert jsonl(new.stdout)[0]["truncated"] is False
    strided = nlu("classify", "--model", cls_model, "--long", "chunk", "--stride", "0", LONG)
    check_ok(strided)
    assert jsonl(strided.stdout)[0]["score"] != pytest.approx(jsonl(new.stdout)[0]["score"], abs=1e-9)


@pytest.mark.parametrize("command", ["classify", "embed", "similarity"])
def test_stride_without_windows_is_a_usage_error(nlu, cls_model, st_model, command):
    model = cls_model if command == "classify" else st_model
    texts = ["a", "b"]
    line = check_error(nlu(command, "--model", model, "--stride", "4", *texts), 2, contains="--stride")
    assert "--long=chunk" in line


def test_a_bad_long_value_names_the_option(nlu):
    line = check_error(nlu("ner", "--long", "window-ish", "x"), 2, contains="'--long'")
    assert "truncate, chunk" in line


def test_stride_too_large_names_stride(nlu, st_model):
    check_error(
        nlu("embed", "--model", st_model, "--long", "chunk", "--stride", "62", "x"),
        2,
        contains="--stride must be between 0 and 61",
    )


def test_embed_stride_changes_the_chunked_vectors(nlu, st_model, out_dir):
    base = ["embed", "--model", st_model, "--long", "chunk", LONG, "-f", "jsonl"]
    default = nlu(*base)
    strided = nlu(*base, "--stride", "0")
    check_ok(default)
    check_ok(strided)
    a, b = (np.array(json.loads(r.stdout)["embedding"]) for r in (default, strided))
    assert not np.allclose(a, b)


def test_embed_stride_is_refused_in_search_mode(nlu, st_model, data_dir):
    args = ["embed", "--model", st_model, "--search", "q", "--corpus", data_dir / "corpus.jsonl"]
    check_error(nlu(*args, "--long", "chunk", "--stride", "8"), 2, contains="--stride is not taken in search mode")
