"""`finetune` and `evaluate` end to end on tiny models (``max_steps=2``) and the samples in data/finetune.

Every task trains, saves, reloads in the matching inference class, and scores; the
figures of a 2-step run on a random model mean nothing, so the tests check shapes,
files, label maps and the metric contracts, not values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlu_toolkit import Classifier, Embedder, EntityRecognizer, QuestionAnswerer, evaluate, finetune
from nlu_toolkit.errors import TrainingDataError, UsageError

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def samples(data_dir: Path) -> Path:
    return data_dir / "finetune"


def quick(**kwargs):
    return {"max_steps": 2, "batch_size": 4, "seed": 0, **kwargs}


def check_outputs(result, out: Path, *, eval_metric: str | None) -> None:
    assert result.output_dir == out
    assert (out / "model.safetensors").is_file()
    assert not list(out.glob("*.bin")) and not list(out.rglob("*.pt*"))  # safetensors only, no pickles
    assert (out / "tokenizer.json").is_file()
    assert (out / "training_curve.png").read_bytes().startswith(PNG)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert result.base_model in card and "## Scores" in card
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["task"] == result.task
    assert metrics["settings"]["max_steps"] == 2
    assert not (out / "checkpoints").exists()  # removed after a successful run
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    if eval_metric:
        assert metrics["epochs"] and eval_metric in metrics["epochs"][-1]
        assert eval_metric in result.metrics
        assert result.metric == eval_metric


def test_classification_trains_saves_and_scores(st_model, samples, tmp_path):
    out = tmp_path / "cls"
    result = finetune(
        "classification",
        samples / "sentiment_train.csv",
        out,
        eval=samples / "sentiment_dev.csv",
        model=st_model,
        **quick(),
    )
    check_outputs(result, out, eval_metric="accuracy")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert config["label2id"] == {"negative": 0, "positive": 1}
    assert result.labels == ["negative", "positive"]
    assert 0.0 <= result.metrics["accuracy"] <= 1.0 and "macro_f1" in result.metrics
    # The folder loads straight into the inference class.
    prediction = Classifier(str(out)).predict(["a lovely film"])
    assert next(iter(prediction)).label in {"negative", "positive"}
    scored = evaluate("classification", str(out), samples / "sentiment_dev.csv", confusion_png=tmp_path / "cm.png")
    assert scored.n == 20
    assert set(scored.metrics) >= {"accuracy", "macro_f1", "mcc"}
    assert sum(map(sum, scored.details["confusion"])) == 20
    assert set(scored.details["per_class"]) == {"negative", "positive"}
    assert (tmp_path / "cm.png").read_bytes().startswith(PNG)
    wrong = round((1 - scored.metrics["accuracy"]) * 20)
    assert len(scored.errors) == wrong
    assert all(e["gold"] != e["predicted"] for e in scored.errors)
    assert scored.to_dict()["accuracy"] == scored.metrics["accuracy"]  # overall figures at the top level


def test_multilabel_config_and_scores(st_model, samples, tmp_path):
    out = tmp_path / "ml"
    result = finetune(
        "multilabel",
        samples / "tickets_train.jsonl",
        out,
        eval=samples / "tickets_dev.jsonl",
        model=st_model,
        label_column="labels",
        **quick(),
    )
    check_outputs(result, out, eval_metric="micro_f1")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["problem_type"] == "multi_label_classification"
    assert sorted(config["label2id"]) == ["account", "billing", "technical", "urgent"]
    scored = evaluate("multilabel", str(out), samples / "tickets_dev.jsonl", label_column="labels", threshold=0.5)
    assert set(scored.metrics) >= {"accuracy", "micro_f1", "macro_f1", "hamming_loss"}
    assert scored.n == 12


def test_ner_from_conll_iob1(st_model, samples, tmp_path):
    out = tmp_path / "ner"
    result = finetune(
        "ner", samples / "ner_train.conll", out, eval=samples / "ner_dev.conll", model=st_model, **quick()
    )
    check_outputs(result, out, eval_metric="f1")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    assert labels[0] == "O" and {"B-PER", "I-PER", "B-LOC", "I-ORG", "B-MISC"} <= set(labels)
    found = next(iter(EntityRecognizer(str(out)).predict(["John lives in Paris"])))
    for entity in found.entities:
        assert "John lives in Paris"[entity.start : entity.end] == entity.word
    scored = evaluate("ner", str(out), samples / "ner_dev.conll")
    assert set(scored.metrics) >= {"precision", "recall", "f1", "tp", "fp", "fn"}
    assert scored.n == 10
    assert set(scored.details["per_type"]) <= {"PER", "ORG", "LOC", "MISC"}


def test_qa_squad_v2_end_to_end(st_model_long, samples, tmp_path):
    out = tmp_path / "qa"
    result = finetune(
        "qa",
        samples / "qa_train.json",
        out,
        eval=samples / "qa_dev.json",
        model=st_model_long,
        max_length=192,
        **quick(),
    )
    check_outputs(result, out, eval_metric="f1")
    assert "exact_match" in result.metrics
    answers = list(QuestionAnswerer(str(out)).predict([{"question": "Who?", "context": "Ada wrote it in 1843."}]))
    assert answers[0].answer == "Ada wrote it in 1843."[answers[0].start : answers[0].end]
    scored = evaluate("qa", str(out), samples / "qa_dev.json", max_length=192)
    assert set(scored.metrics) == {"exact_match", "f1"}
    assert scored.details["has_answer"]["n"] + scored.details["no_answer"]["n"] == scored.n == 6
    assert scored.details["no_answer"]["n"] == 1


def test_embedding_scored_pairs(st_model, samples, tmp_path):
    out = tmp_path / "sts"
    before = evaluate("embedding", st_model, samples / "sts_dev.csv")
    result = finetune(
        "embedding", samples / "sts_train.csv", out, eval=samples / "sts_dev.csv", model=st_model, **quick()
    )
    check_outputs(result, out, eval_metric="spearman")
    assert (out / "modules.json").is_file()  # a sentence-transformers folder
    vectors, _ = Embedder(str(out)).encode(["a test sentence"])
    assert vectors.shape == (1, 32)
    after = evaluate("embedding", str(out), samples / "sts_dev.csv")
    assert set(after.metrics) == {"spearman", "pearson"} == set(before.metrics)
    assert -1.0 <= after.metrics["spearman"] <= 1.0


def test_embedding_anchor_positive_pairs(st_model, samples, tmp_path):
    out = tmp_path / "pairs"
    result = finetune("embedding", samples / "pairs.jsonl", out, eval_split=0.25, model=st_model, **quick())
    check_outputs(result, out, eval_metric="mrr@10")
    scored = evaluate("embedding", str(out), samples / "pairs.jsonl")
    assert set(scored.metrics) >= {"mrr@10", "recall@1", "recall@10"}
    assert 0.0 < scored.metrics["mrr@10"] <= 1.0


def test_refuses_to_overwrite_then_resumes(st_model, samples, tmp_path):
    out = tmp_path / "resume"
    train = samples / "sentiment_train.csv"
    first = finetune("classification", train, out, model=st_model, keep_checkpoints=True, **quick())
    assert first.metric is None and first.metrics == {}  # no eval data: nothing to score
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-2"]
    with pytest.raises(UsageError, match="pass overwrite"):
        finetune("classification", train, out, model=st_model, **quick())
    resumed = finetune("classification", train, out, model=st_model, resume=True, **quick(max_steps=4))
    state = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert state["settings"]["max_steps"] == 4
    assert first.steps == 2 and resumed.steps == 4  # continued from step 2, not from scratch
    replaced = finetune("classification", train, out, model=st_model, overwrite=True, **quick())
    assert replaced.output_dir == out


def test_resume_without_checkpoint_is_a_usage_error(st_model, samples, tmp_path):
    with pytest.raises(UsageError, match="no checkpoint"):
        finetune("classification", samples / "sentiment_train.csv", tmp_path / "x", model=st_model, resume=True)


def test_patience_needs_eval_data(st_model, samples, tmp_path):
    with pytest.raises(UsageError, match="patience needs evaluation data"):
        finetune("classification", samples / "sentiment_train.csv", tmp_path / "x", model=st_model, patience=2)


def test_eval_split_and_early_stopping(st_model, samples, tmp_path):
    out = tmp_path / "split"
    result = finetune(
        "classification",
        samples / "sentiment_train.csv",
        out,
        model=st_model,
        eval_split=0.2,
        patience=1,
        epochs=2,
        batch_size=16,
        seed=0,
    )
    assert result.eval_rows == 12 and result.train_rows == 48
    assert 1 <= len(result.history) <= 2
    assert result.best_epoch in [row["epoch"] for row in result.history]


def test_lora_saves_a_merged_model(st_model, samples, tmp_path):
    pytest.importorskip("peft")
    out = tmp_path / "lora"
    finetune("classification", samples / "sentiment_train.csv", out, model=st_model, lora=True, **quick())
    assert not (out / "adapter_config.json").exists()
    assert next(iter(Classifier(str(out)).predict(["fine"]))).label in {"negative", "positive"}


def test_evaluate_refuses_labels_the_model_lacks(cls_model, samples):
    # cls_model knows NEGATIVE/POSITIVE; the sample uses lower case labels.
    with pytest.raises(TrainingDataError, match=r"negative|positive"):
        evaluate("classification", cls_model, samples / "sentiment_dev.csv")


def test_bad_training_data_is_a_training_data_error(st_model, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nfine,1\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="review"):
        finetune("classification", bad, tmp_path / "o", model=st_model, text_column="review", max_steps=1)
    assert not (tmp_path / "o" / "config.json").exists()


def test_qa_question_too_long_for_the_window_is_named(st_model, samples, tmp_path):
    # The tiny 64-position model leaves no room for these questions' contexts; the tokenizer would panic.
    with pytest.raises(TrainingDataError, match="too long"):
        finetune("qa", samples / "qa_train.json", tmp_path / "qa", model=st_model, max_steps=1)


def test_precision_is_mixed_only_on_cuda():
    from nlu_toolkit.train.finetune import _mixed_precision

    assert _mixed_precision("auto", "cpu") is None
    assert _mixed_precision("fp32", "cuda") is None
    assert _mixed_precision("fp16", "cuda:1") == "fp16"
    with pytest.raises(UsageError, match="CUDA"):
        _mixed_precision("bf16", "cpu")


@pytest.mark.slow
def test_default_base_is_the_embedded_minilm(samples, tmp_path):
    out = tmp_path / "minilm"
    result = finetune("classification", samples / "sentiment_train.csv", out, max_steps=2, batch_size=8)
    assert result.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert config["hidden_size"] == 384 and config["id2label"] == {"0": "negative", "1": "positive"}


def test_unknown_metric_is_refused_before_training(st_model, samples, tmp_path):
    with pytest.raises(UsageError, match="macro_f1"):
        finetune("classification", samples / "sentiment_train.csv", tmp_path / "m", model=st_model, metric="f1")
    assert not (tmp_path / "m").exists()  # nothing created for a run that never started


def test_loss_as_the_early_stopping_metric(st_model, samples, tmp_path):
    result = finetune(
        "classification",
        samples / "sentiment_train.csv",
        tmp_path / "m",
        eval=samples / "sentiment_dev.csv",
        model=st_model,
        metric="loss",
        patience=1,
        **quick(),
    )
    assert result.metric == "eval_loss" and "eval_loss" in result.metrics


def test_embedding_loss_must_fit_the_pairs(st_model, samples, tmp_path):
    with pytest.raises(UsageError, match="not an embedding loss"):
        finetune("classification", samples / "sentiment_train.csv", tmp_path / "a", model=st_model, loss="cosine")
    with pytest.raises(UsageError, match="does not fit scored pairs"):
        finetune("embedding", samples / "sts_train.csv", tmp_path / "b", model=st_model, loss="mnrl", max_steps=1)


def test_embedding_cosent_loss_on_request(st_model, samples, tmp_path):
    result = finetune("embedding", samples / "sts_train.csv", tmp_path / "c", model=st_model, loss="cosent", **quick())
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["loss"] == "CoSENTLoss" and result.steps == 2


@pytest.mark.slow
def test_qa_labels_are_aligned_minilm_memorises_the_sample(samples, tmp_path):
    """Start/end labels that missed the answer spans would leave nothing to memorise: EM stays near 0."""
    out = tmp_path / "qa-fit"
    train = samples / "qa_train.json"
    result = finetune("qa", train, out, eval=train, epochs=30, lr=2e-4, seed=42)
    assert result.metrics["exact_match"] >= 0.9
    scored = evaluate("qa", str(out), train)  # the inference path (QuestionAnswerer) agrees with training's decoding
    assert scored.metrics["exact_match"] >= 0.9
    assert scored.details["no_answer"]["n"] == 3 and scored.details["no_answer"]["exact_match"] >= 2 / 3


# ---- seq2seq (summaries, translations) --------------------------------------------------------------------------

SEQ2SEQ_HEADLINE = {"rougeL", "rouge1", "rouge2", "bleu", "chrf"}


def test_seq2seq_bart_trains_saves_and_scores(bart_model, samples, tmp_path):
    from nlu_toolkit.tasks.generate import Summarizer, Translator

    out = tmp_path / "bart"
    result = finetune(
        "seq2seq",
        samples / "seq2seq_train.jsonl",
        out,
        eval=samples / "seq2seq_dev.jsonl",
        model=bart_model,
        max_length=64,
        **quick(),
    )
    check_outputs(result, out, eval_metric="rougeL")
    assert set(result.metrics) >= SEQ2SEQ_HEADLINE
    assert all(0.0 <= result.metrics[k] <= 1.0 for k in SEQ2SEQ_HEADLINE)
    assert result.labels == [] and result.train_rows == 30 and result.eval_rows == 8
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["architectures"] == ["BartForConditionalGeneration"]
    generation = json.loads((out / "generation_config.json").read_text(encoding="utf-8"))
    assert generation["max_length"] == 64  # --max-target-length 128, capped by the 64 decoder positions
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["max_target_length"] == 64 and metrics["settings"]["max_length"] == 64
    assert metrics["data"]["columns"] == {"source": "source", "target": "target"}
    assert "nlu summarize --model DIR" in (out / "README.md").read_text(encoding="utf-8")
    # The folder loads straight into the inference classes of `nlu summarize` / `nlu translate`.
    summary = next(iter(Summarizer(str(out), max_length=16).predict(["The ferry adds an evening crossing."])))
    assert isinstance(summary.output, str)
    translation = next(iter(Translator(model=str(out), max_length=16).predict(["Good morning"])))
    assert isinstance(translation.output, str)

    scored = evaluate("seq2seq", str(out), samples / "seq2seq_dev.jsonl", max_target_length=16)
    assert set(scored.metrics) == SEQ2SEQ_HEADLINE
    assert scored.n == 8 and scored.task == "seq2seq"
    assert scored.to_dict()["rougeL"] == scored.metrics["rougeL"]  # overall figures at the top level
    assert scored.details["rougeLsum"] is not None and scored.details["warnings"] == []
    assert len(scored.errors) == 8  # a 2-step random model matches no reference
    assert set(scored.errors[0]) == {"row", "source", "reference", "prediction"}
    assert all(e["prediction"].strip() != e["reference"].strip() for e in scored.errors)


def test_seq2seq_t5_with_source_prefix_and_bleu(t5_model, samples, tmp_path):
    from nlu_toolkit.tasks.generate import Summarizer

    out = tmp_path / "t5"
    result = finetune(
        "seq2seq",
        samples / "seq2seq_train.jsonl",
        out,
        eval=samples / "seq2seq_dev.jsonl",
        model=t5_model,
        max_length=64,
        max_target_length=32,
        source_prefix="summarize: ",
        metric="bleu",
        **quick(),
    )
    check_outputs(result, out, eval_metric="bleu")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"]["source_prefix"] == "summarize: "
    assert metrics["settings"]["max_target_length"] == 32
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["prefix"] == "summarize: " and config["architectures"] == ["T5ForConditionalGeneration"]
    assert json.loads((out / "generation_config.json").read_text(encoding="utf-8"))["max_length"] == 32
    assert isinstance(next(iter(Summarizer(str(out)).predict(["A storm felled an old oak."]))).output, str)
    scored = evaluate("seq2seq", str(out), samples / "seq2seq_dev.jsonl")
    assert set(scored.metrics) == SEQ2SEQ_HEADLINE
    assert scored.details["source_prefix"] == "summarize: "  # the prefix recorded at training is applied


def test_seq2seq_needs_a_seq2seq_base_model(samples, tmp_path):
    with pytest.raises(UsageError, match="cannot generate") as info:
        finetune("seq2seq", samples / "seq2seq_train.jsonl", tmp_path / "s", max_steps=1)
    assert "t5-small" in info.value.hint and "nlu models pull" in info.value.hint
    assert not (tmp_path / "s").exists()


def test_seq2seq_refuses_a_classifier_as_base(cls_model, st_model, samples, tmp_path):
    for base in (cls_model, st_model):
        with pytest.raises(UsageError, match="sequence-to-sequence") as info:
            finetune("seq2seq", samples / "seq2seq_train.jsonl", tmp_path / "s", model=base, max_steps=1)
        assert "t5-small" in info.value.hint
    assert not (tmp_path / "s").exists()
    with pytest.raises(UsageError, match="sequence-to-sequence"):
        evaluate("seq2seq", cls_model, samples / "seq2seq_dev.jsonl")


def test_source_prefix_is_for_seq2seq_only(st_model, samples, tmp_path):
    with pytest.raises(UsageError, match="source_prefix is for task seq2seq"):
        finetune("classification", samples / "sentiment_train.csv", tmp_path / "c", model=st_model, source_prefix="x: ")
