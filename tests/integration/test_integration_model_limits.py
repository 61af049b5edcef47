"""A model's input limit is the smaller of its tokenizer's and its position embeddings' (issue 14, item 5).

Each model here is a copy of a tiny fixture whose tokenizer claims 512 tokens while the model embeds 64
positions: before, long inputs ran past the position table (``IndexError: index out of range in self``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlu_toolkit.cli.app import app

LONG = " ".join(["the river bank was quiet and the film was good"] * 120)  # far over 64 tokens


def _overclaiming(source: str, folder: Path) -> str:
    shutil.copytree(source, folder)
    config = folder / "tokenizer_config.json"
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["model_max_length"] = 512
    config.write_text(json.dumps(settings), encoding="utf-8")
    return str(folder)


def _run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_summarize_chunks_instead_of_running_past_the_positions(bart_model, tmp_path):
    model = _overclaiming(bart_model, tmp_path / "bart")
    (record,) = _run("summarize", LONG, "-m", model, "--max-length", "12", "--format", "jsonl")
    assert record["summary"].strip()


@pytest.mark.parametrize("long", ["truncate", "window"])
def test_classify_keeps_within_the_positions(cls_model, tmp_path, long):
    model = _overclaiming(cls_model, tmp_path / "cls")
    (record,) = _run("classify", LONG, "-m", model, "--long", long, "--format", "jsonl")
    assert record["label"]


def test_ner_keeps_within_the_positions(ner_model, tmp_path):
    model = _overclaiming(ner_model, tmp_path / "ner")
    (record,) = _run("ner", LONG, "-m", model, "--format", "jsonl")
    assert isinstance(record["entities"], list)


def test_embed_keeps_within_the_positions(st_model, tmp_path):
    """A sentence-transformers config whose max_seq_length is over the encoder's positions."""
    from nlu_toolkit.tasks.embed import Embedder

    model = shutil.copytree(st_model, tmp_path / "st")
    config = model / "sentence_bert_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "max_seq_length": 512}), encoding="utf-8")
    embedder = Embedder(str(model), device="cpu")
    assert embedder.limit <= embedder.loaded.model[0].auto_model.config.max_position_embeddings
    for long in ("truncate", "chunk"):
        out = tmp_path / f"{long}.jsonl"
        _run("embed", LONG, "-m", model, "--long", long, "-o", out)
        (record,) = [json.loads(line) for line in out.read_text().splitlines()]
        assert record["truncated"] is (long == "truncate") and len(record["embedding"]) == embedder.dimension


def test_the_limit_is_the_smaller_and_knows_offset_and_relative_positions():
    from types import SimpleNamespace as NS

    from nlu_toolkit.tasks.common import token_limit

    bert = NS(config=NS(model_type="bert", max_position_embeddings=64))
    assert token_limit(NS(model_max_length=512), bert) == 64
    assert token_limit(NS(model_max_length=32), bert) == 32
    assert token_limit(NS(model_max_length=10**30), bert) == 64  # "no limit" sentinel
    roberta = NS(config=NS(model_type="roberta", max_position_embeddings=514, pad_token_id=1))
    assert token_limit(NS(model_max_length=10**30), roberta) == 512
    t5 = NS(config=NS(model_type="t5", n_positions=512))
    assert token_limit(NS(model_max_length=2048), t5) == 2048  # relative positions: the tokenizer decides
    assert token_limit(NS(model_max_length=512), bert, 16) == 16
