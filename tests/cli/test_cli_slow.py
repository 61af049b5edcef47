"""Slow CLI tests on the real embedded all-MiniLM-L6-v2: zero-shot labels, the README's command, verify."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli_checks import check_ok, jsonl

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LABELS = "sports,politics,technology,food,travel,customer service"


def test_zero_shot_on_the_sample_reviews(nlu, data_dir):
    result = nlu("classify", "--input", data_dir / "reviews.txt", "--labels", LABELS)
    check_ok(result)
    records = jsonl(result.stdout)
    texts = (data_dir / "reviews.txt").read_text(encoding="utf-8").splitlines()
    assert [r["text"] for r in records] == texts
    label = {r["text"]: r["label"] for r in records}
    assert label["This pasta recipe is quick, cheap and the kids loved it."] == "food"
    assert label["The striker scored twice in the second half to win the derby."] == "sports"
    assert label["Parliament voted late last night to raise the minimum wage."] == "politics"
    assert label["Customer support never answered my emails; I want a refund."] == "customer service"
    assert label["The update bricked my laptop and the fan is louder than ever."] == "technology"
    for r in records:
        assert len(r["labels"]) == 6
        assert sum(x["score"] for x in r["labels"]) == pytest.approx(1.0, abs=1e-6)


def test_zero_shot_multi_label_uses_cosine_threshold(nlu, data_dir):
    """Multi-label embedding scores are raw cosine similarities, kept at >= COSINE_THRESHOLD by default."""
    from nlu_toolkit.tasks.classify import COSINE_THRESHOLD

    args = ["classify", "--input", data_dir / "reviews.txt", "--labels", "sports,food", "--multi-label"]
    result = nlu(*args, "--format", "json")
    check_ok(result)
    records = json.loads(result.stdout)
    assert len(records) == 10
    for r in records:
        assert all(COSINE_THRESHOLD <= x["score"] <= 1.0 for x in r["labels"])
    assert records[4]["labels"][0]["label"] == "food"  # the pasta recipe
    high = json.loads(nlu(*args, "--threshold", "0.25", "--format", "json").stdout)
    assert [x["label"] for x in high[4]["labels"]] == ["food"]
    assert sum(len(r["labels"]) for r in high) < sum(len(r["labels"]) for r in records)


def test_embedded_model_named_explicitly(nlu):
    result = nlu("classify", "--model", "embedded", "--labels", "sports,food", "-v", "The striker scored twice")
    check_ok(result)
    assert jsonl(result.stdout)[0]["label"] == "sports"
    assert "embedded" in result.stderr and "all-MiniLM-L6-v2" in result.stderr


def test_models_verify(nlu):
    from nlu_toolkit.models.embedded import EMBEDDED_SHA256

    result = nlu("models", "verify", "--format", "json")
    check_ok(result)
    (row,) = json.loads(result.stdout)
    assert row["ok"] is True and row["sha256"] == row["expected"] == EMBEDDED_SHA256
    assert Path(row["path"], "model.safetensors").is_file()
    listed = {r["name"]: r for r in json.loads(nlu("models", "list", "--format", "json").stdout)}
    assert listed["embedded"]["available"] is True and listed["embedded"]["path"] == row["path"]


def readme_setup_command() -> str:
    """The `nlu ...` part of the README's first set-up command, with its env assignments."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no bash code block"
    first = next(line for line in blocks[0].splitlines() if "nlu " in line)
    return first.split("&&")[-1].strip()


def test_readme_setup_command_runs_offline():
    command = readme_setup_command()
    words = shlex.split(command)
    env = dict(os.environ)
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    assert env.get("HF_HUB_OFFLINE") == "1"
    assert words[0] == "nlu", command
    script = Path(sys.executable).with_name("nlu")
    argv = [str(script)] if script.is_file() else [sys.executable, "-c", "from nlu_toolkit.cli.app import main; main()"]
    result = subprocess.run([*argv, *words[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    # The main job: semantic search of the sample corpus, one record per --search query.
    queries = [words[i + 1] for i, w in enumerate(words) if w in ("--search", "-s")]
    assert [r["query"] for r in records] == queries
    assert records[0]["hits"][0]["id"] == "faq-01"  # "I forgot my password" -> the password reset FAQ
    assert all(1 <= len(r["hits"]) <= 3 for r in records)
    assert "Traceback" not in result.stderr
