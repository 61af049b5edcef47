"""`nlu summarize|translate|generate` through the CLI: records, streaming, the offline error contract."""

from __future__ import annotations

import json

from cli_checks import check_error, check_ok, jsonl


def test_summarize_file_to_json(nlu, bart_model, tmp_path):
    source = tmp_path / "docs.txt"
    source.write_text(
        "The river bank was flooded. Money was kept in the bank.\nWho wrote the story?\n", encoding="utf-8"
    )
    result = nlu("summarize", "--input", source, "--model", bart_model, "--max-length", "8", "--format", "json")
    check_ok(result)
    records = json.loads(result.stdout)
    assert [r["id"] for r in records] == [0, 1]
    assert all(isinstance(r["summary"], str) and r["chunks"] == 1 for r in records)


def test_summarize_inverted_lengths_exit_2(nlu, bart_model):
    check_error(nlu("summarize", "text", "--model", bart_model, "--min-length", "30", "--max-length", "10"), 2)


def test_library_errors_name_this_commands_flags(nlu, bart_model, gpt2_model):
    # The library names parameters ({=min_length}); the CLI shows the flags of the command that ran.
    result = nlu("summarize", "text", "--model", bart_model, "--min-length", "30", "--max-length", "10")
    check_error(result, 2, contains="--min-length 30 is greater than --max-length 10")
    check_error(nlu("translate", "--source", "en", "hello"), 2, contains="needs --source and --target (or --model)")
    check_error(nlu("translate", "--source", "english", "--target", "de", "hello"), 2, contains="--source 'english'")
    result = nlu("generate", "the river", "--model", gpt2_model, "--num-return-sequences", "2")
    check_error(result, 2, contains="set --do-sample for several --num-return-sequences")


def test_translate_jsonl(nlu, marian_model):
    result = nlu("translate", "the city bank.", "who wrote it?", "--model", marian_model, "--max-length", "6")
    check_ok(result)
    records = jsonl(result.stdout)
    assert [r["text"] for r in records] == ["the city bank.", "who wrote it?"]
    assert all("translation" in r for r in records)


def test_generate_seeded_json_twice_is_equal(nlu, gpt2_model):
    args = ["generate", "the river", "--model", gpt2_model, "--do-sample", "--seed", "3", "-n", "8", "--format", "json"]
    first, second = nlu(*args), nlu(*args)
    check_ok(first)
    assert json.loads(first.stdout) == json.loads(second.stdout)
    assert json.loads(first.stdout)[0]["text"] == "the river"


def test_generate_streams_the_prompt_and_continuation_as_text(nlu, gpt2_model):
    result = nlu("generate", "who wrote", "--model", gpt2_model, "-n", "6", "--format", "table")
    check_ok(result)
    assert result.stdout.startswith("who wrote") and result.stdout.endswith("\n")


def test_offline_defaults_fail_with_a_remedy(nlu, empty_hf_cache):
    for args, pull in (
        (["summarize", "some text"], "nlu models pull summarize"),
        (["translate", "--source", "en", "--target", "de", "hello"], "nlu models pull translate-en-de"),
        (["generate", "once upon"], "nlu models pull generate"),
    ):
        check_error(nlu(*args), 2, contains=pull)
