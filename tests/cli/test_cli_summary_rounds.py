"""`nlu summarize` on a long document: the summary keeps --max-length, and stderr says chunks and rounds."""

from __future__ import annotations

import json

from cli_checks import check_ok

LONG = "The river bank was flooded. Who wrote the story in Paris? Money was kept in the bank. " * 6


def test_long_document_summary_fits_max_length(nlu, bart_model):
    from transformers import AutoTokenizer

    result = nlu("summarize", LONG, "short text.", "--model", bart_model, "--max-length", "8", "--format", "json")
    check_ok(result)
    long, short = json.loads(result.stdout)
    tok = AutoTokenizer.from_pretrained(bart_model)
    assert len(tok(long["summary"], add_special_tokens=False)["input_ids"]) <= 8
    assert long["chunks"] > 1 and long["rounds"] >= 2
    assert (short["chunks"], short["rounds"]) == (1, 1)
    note = f"nlu summarize: record 0: summarized {long['chunks']} chunks in {long['rounds']} rounds"
    assert result.stderr.splitlines() == [note]


def test_quiet_drops_the_note_not_the_rounds(nlu, bart_model):
    result = nlu("summarize", LONG, "--model", bart_model, "--max-length", "8", "--quiet", "--format", "json")
    check_ok(result)
    assert result.stderr == ""
    (record,) = json.loads(result.stdout)
    assert record["rounds"] >= 2
