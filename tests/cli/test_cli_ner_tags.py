"""``nlu finetune -t ner`` on a CoNLL file with an ``X-FOO`` tag: exit 2 naming file:line, before any model loads."""

from __future__ import annotations

from cli_checks import check_error


def test_finetune_conll_unknown_tag_prefix_is_one_line_exit_2(nlu, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("Ada B-PER\nParis X-FOO\n", encoding="utf-8")
    out = tmp_path / "m"
    # No model is named: the data is checked before any model is looked up.
    result = nlu("finetune", "-t", "ner", "--train", bad, "-m", tmp_path / "no-model", "-o", out, "--max-steps", "1")
    check_error(result, 2, contains=f"{bad}:2: tag 'X-FOO' has an unknown prefix")
    assert not out.exists()
