"""The CLI side of the library's text checks: a lone surrogate in a file or a bad template exits 2, named.

(Arguments that are not valid UTF-8 are refused earlier, see test_cli_boundary.py.)
"""

from __future__ import annotations

import json

from cli_checks import check_error

LONE = "\ud800"


def test_cli_hypothesis_template_with_a_named_field_exits_2(nlu, nli_model):
    result = nlu("classify", "hello", "--labels", "a,b", "-m", nli_model, "--hypothesis-template", "About {topic}: {}")
    check_error(result, 2, contains="--hypothesis-template")


# -- QA ----------------------------------------------------------------------------------------------------------


def test_cli_qa_input_file_with_an_escaped_lone_surrogate_exits_2(nlu, qa_model, tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"question": "Who?", "context": "Ada " + LONE}) + "\n")  # ASCII "\ud800" escape
    result = nlu("qa", "--input", str(path), "-m", qa_model)
    check_error(result, 2, contains="invalid character U+D800")


def test_cli_similarity_pairs_file_with_an_escaped_lone_surrogate_exits_2(nlu, st_model, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"a": "x", "b": "y"}) + "\n" + json.dumps({"a": "x", "b": LONE}) + "\n")
    result = nlu("similarity", "--pairs", str(path), "-m", st_model)
    check_error(result, 2, contains=f"{path}:2:")
