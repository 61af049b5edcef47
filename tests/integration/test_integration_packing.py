"""Packed passes give the padded passes' results, for every task and every packable architecture.

Each check runs the same inputs twice, packed and with ``NLU_PACKING=0``, and also asserts
that packed passes really ran (the runner's count grew), so a silent fallback to the
padded path cannot pass for packing.
"""

from __future__ import annotations

import numpy as np
import pytest

import nlu_toolkit.engine.packing as packing
from nlu_toolkit.engine.batching import pad_features
from nlu_toolkit.tasks.common import torch_forward

# Mixed lengths, as a server's batch of requests has: short ones share rows.
TEXTS = [
    "good",
    "the movie was good and the acting was great but the ending was bad",
    "bad film",
    "Paris is in France",
    "a great great movie",
    "John works at Google in London and likes it",
    "ok",
    "not good, not bad",
]


def _passes(forward) -> int:
    """Packed passes that ``forward``'s runner has made so far (0 when it cannot pack)."""
    runner = getattr(forward, "packer", None)
    return 0 if runner is None else runner.passes


def _padded(monkeypatch, build):
    monkeypatch.setenv("NLU_PACKING", "0")
    try:
        return build()
    finally:
        monkeypatch.delenv("NLU_PACKING")


def test_classify_packed_equals_padded(cls_model, monkeypatch):
    from nlu_toolkit.tasks.classify import Classifier

    packed = Classifier(cls_model, batch_size=32)
    before = _passes(packed._scorer.forward)
    got = [r.to_dict() for r in packed.predict(TEXTS)]
    assert _passes(packed._scorer.forward) > before
    assert packed._scorer.forward.packer.verified is True
    want = [r.to_dict() for r in _padded(monkeypatch, lambda: Classifier(cls_model, batch_size=32)).predict(TEXTS)]
    assert [r["label"] for r in got] == [r["label"] for r in want]
    assert np.allclose([r["score"] for r in got], [r["score"] for r in want], atol=1e-5)


def test_nli_zero_shot_packed_equals_padded(nli_model, monkeypatch):
    from nlu_toolkit.tasks.classify import Classifier

    labels = ["sports", "politics", "film"]
    packed = Classifier(nli_model, labels=labels, batch_size=32)
    before = _passes(packed._scorer.forward)
    got = [r.to_dict() for r in packed.predict(TEXTS)]
    assert _passes(packed._scorer.forward) > before
    padded = _padded(monkeypatch, lambda: Classifier(nli_model, labels=labels, batch_size=32))
    want = [r.to_dict() for r in padded.predict(TEXTS)]
    for a, b in zip(got, want, strict=True):
        assert a["label"] == b["label"]
        assert np.allclose([x["score"] for x in a["labels"]], [x["score"] for x in b["labels"]], atol=1e-5)


def test_ner_packed_equals_padded(ner_model, monkeypatch):
    from nlu_toolkit.tasks.ner import EntityRecognizer

    packed = EntityRecognizer(ner_model, aggregation="none")
    before = _passes(packed.forward)
    got = [r.to_dict() for r in packed.predict(TEXTS)]
    assert _passes(packed.forward) > before
    padded = _padded(monkeypatch, lambda: EntityRecognizer(ner_model, aggregation="none"))
    want = [r.to_dict() for r in padded.predict(TEXTS)]
    assert [[(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in got] == [
        [(e["start"], e["end"], e["label"]) for e in r["entities"]] for r in want
    ]
    scores = [e["score"] for r in got for e in r["entities"]]
    assert np.allclose(scores, [e["score"] for r in want for e in r["entities"]], atol=1e-5)


def test_qa_packed_equals_padded(qa_model, monkeypatch):
    from nlu_toolkit.tasks.qa import QuestionAnswerer

    records = [{"question": q, "context": c} for q, c in zip(["who", "where is it", "what"] * 2, TEXTS, strict=False)]
    packed = QuestionAnswerer(qa_model, batch_size=16)
    before = _passes(packed.forward)
    got = [r.to_dict() for r in packed.predict(records)]
    assert _passes(packed.forward) > before
    want = [
        r.to_dict() for r in _padded(monkeypatch, lambda: QuestionAnswerer(qa_model, batch_size=16)).predict(records)
    ]
    assert [(r["start"], r["end"], r["answer"]) for r in got] == [(r["start"], r["end"], r["answer"]) for r in want]
    assert np.allclose([r["score"] for r in got], [r["score"] for r in want], atol=1e-5)


def test_embed_packed_equals_padded(st_model, monkeypatch):
    from nlu_toolkit.tasks.embed import Embedder

    embedder = Embedder(st_model, batch_size=32)
    before = _passes(embedder._torch_forward)
    got, _ = embedder.encode(TEXTS)
    assert _passes(embedder._torch_forward) > before
    assert embedder._torch_forward.packer.verified is True
    want, _ = _padded(monkeypatch, lambda: Embedder(st_model, batch_size=32)).encode(TEXTS)
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.99999


def test_one_text_never_packs(st_model):
    from nlu_toolkit.tasks.embed import Embedder

    embedder = Embedder(st_model)
    before = _passes(embedder._torch_forward)
    embedder.encode(["just one"])
    assert _passes(embedder._torch_forward) == before


def test_nlu_packing_0_runs_padded(st_model, monkeypatch):
    from nlu_toolkit.tasks.embed import Embedder

    monkeypatch.setenv("NLU_PACKING", "0")
    embedder = Embedder(st_model, batch_size=32)
    assert not hasattr(embedder._torch_forward, "packer")
    assert embedder.encode(TEXTS)[0].shape[0] == len(TEXTS)


# -- architectures and heads, in memory -------------------------------------------------------


def _tiny(kind: str, head: str, attention: str):
    import torch
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        BertConfig,
        DistilBertConfig,
        ElectraConfig,
        RobertaConfig,
    )

    size = {"num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "hidden_size": 32}
    configs = {
        "bert": lambda: BertConfig(vocab_size=100, max_position_embeddings=80, **size),
        "distilbert": lambda: DistilBertConfig(
            vocab_size=100, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=80
        ),
        # RoBERTa counts positions from pad_token_id + 1: packing must too.
        "roberta": lambda: RobertaConfig(vocab_size=100, max_position_embeddings=90, pad_token_id=1, **size),
        "electra": lambda: ElectraConfig(vocab_size=100, max_position_embeddings=80, embedding_size=32, **size),
    }
    config = configs[kind]()
    if head != "qa":  # a QA head has two outputs per token: start and end
        config.num_labels = 3
    config._attn_implementation = attention
    auto = {
        "sequence": AutoModelForSequenceClassification,
        "token": AutoModelForTokenClassification,
        "qa": AutoModelForQuestionAnswering,
    }[head]
    torch.manual_seed(0)
    return auto.from_config(config).eval()


def _random_features(n: int, seed: int, pad_id: int) -> list[dict[str, list[int]]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ids = [2, *rng.integers(pad_id + 4, 90, int(rng.integers(2, 30))).tolist(), 3]
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "token_type_ids": [0] * len(ids)})
    return out


PICK = {
    "sequence": lambda out: out.logits,
    "token": lambda out: out.logits,
    "qa": lambda out: (out.start_logits, out.end_logits),
}


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("head", ["sequence", "token", "qa"])
@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta", "electra"])
def test_every_packable_architecture_and_head_matches_padded(kind, head, attention):
    model = _tiny(kind, head, attention)
    pad_id = model.config.pad_token_id or 0
    forward = torch_forward(model, "cpu", PICK[head], probe=_random_features(12, 0, pad_id), pad_id=pad_id)
    plain = torch_forward(model, "cpu", PICK[head])  # no probe: always padded
    batch = pad_features(_random_features(10, 1, pad_id), pad_id)
    got, want = forward(batch), plain(batch)
    assert forward.packer.verified is True, forward.packer.reason
    assert forward.packer.passes == 2  # the check's packed pass and this batch's
    assert got.shape == want.shape
    valid = batch["attention_mask"].astype(bool)
    if head != "sequence":  # per-token outputs: padding positions are nobody's
        got, want = got[valid], want[valid]
    assert np.abs(got - want).max() < 1e-5


def test_a_model_that_disagrees_packed_runs_padded():
    model = _tiny("bert", "sequence", "sdpa")
    forward = torch_forward(model, "cpu", PICK["sequence"], probe=_random_features(12, 0, 0), pad_id=0)
    forward.packer.offset = 3  # as if the model counted positions differently: packed outputs go wrong
    batch = pad_features(_random_features(10, 1, 0), 0)
    got = forward(batch)
    assert forward.packer.verified is False
    assert "differs from padded" in forward.packer.reason
    assert np.abs(got - torch_forward(model, "cpu", PICK["sequence"])(batch)).max() < 1e-6
    before = forward.packer.passes
    forward(batch)
    assert forward.packer.passes == before  # checked once; never packed again


def test_a_packed_pass_that_raises_counts_as_a_failed_check(monkeypatch):
    model = _tiny("bert", "sequence", "sdpa")
    forward = torch_forward(model, "cpu", PICK["sequence"], probe=_random_features(12, 0, 0), pad_id=0)

    def broken(*args, **kwargs):
        raise RuntimeError("no 4D masks here")

    monkeypatch.setattr(forward.packer, "inputs", broken)
    batch = pad_features(_random_features(12, 1, 0), 0)  # lengths that pack into fewer rows: the check runs
    assert forward(batch).shape == (12, 3)
    assert forward.packer.verified is False and "no 4D masks here" in forward.packer.reason


def test_the_hook_leaves_ordinary_calls_alone():
    import torch

    model = _tiny("bert", "sequence", "sdpa")
    batch = pad_features(_random_features(5, 2, 0), 0)
    inputs = {k: torch.from_numpy(v) for k, v in batch.items()}
    with torch.inference_mode():
        before = model(**inputs).logits
    torch_forward(model, "cpu", PICK["sequence"], probe=_random_features(12, 0, 0), pad_id=0)(batch)
    with torch.inference_mode():
        after = model(**inputs).logits  # outside a packed pass: the hook must do nothing
    assert torch.equal(before, after)


def test_what_cannot_pack_says_why():
    model = _tiny("bert", "sequence", "sdpa")
    assert "CPU only" in packing.unsupported(model, "cuda")
    model.config._attn_implementation = "flash_attention_2"
    assert "takes no 4D mask" in packing.unsupported(model, "cpu")
    model.config.model_type = "mpnet"
    assert "not one packing knows" in packing.unsupported(model, "cpu")
    assert packing.PackedRunner.for_model(model, "cpu", 0) is None


@pytest.mark.slow
def test_minilm_packed_equals_padded_on_sst2(shared_data, monkeypatch):
    """The embedded MiniLM on real sentences: packed vectors equal padded ones (cosine >= 0.99999)."""
    import csv

    from nlu_toolkit.tasks.embed import Embedder

    path = shared_data / "sst2" / "dev.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with open(path, encoding="utf-8", newline="") as f:
        texts = [row["sentence"] for _, row in zip(range(96), csv.DictReader(f, delimiter="\t"), strict=False)]
    packed = Embedder(None, batch_size=32)
    got = np.concatenate([packed.encode(texts[i : i + 16])[0] for i in range(0, len(texts), 16)])
    assert packed._torch_forward.packer.verified is True
    padded = _padded(monkeypatch, lambda: Embedder(None, batch_size=32))
    want = np.concatenate([padded.encode(texts[i : i + 16])[0] for i in range(0, len(texts), 16)])
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.99999
