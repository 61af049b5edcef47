"""`nlu_toolkit.train.distill` (Model2Vec static models) and static folders loaded as embedding models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("model2vec.distill")

from nlu_toolkit.errors import MissingExtra, OutputError, TrainingDataError, UsageError
from nlu_toolkit.models.resolver import clear_cache, locate, weights_sha256
from nlu_toolkit.tasks.embed import Embedder, embed, similarity
from nlu_toolkit.train.distill import distill
from nlu_toolkit.train.distill_quality import AGREEMENT_SENTENCES, agreement

TEXTS = ["the cat sat on the mat", "a dog runs in the park", "stock markets fell sharply today"]


@pytest.fixture(scope="module")
def static_model(st_model: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("distill") / "static"
    distill(out, st_model, dims=8)
    return str(out)


def test_distilled_folder_is_safetensors_with_a_card_naming_the_teacher(static_model: str, st_model: str):
    folder = Path(static_model)
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    assert "model.safetensors" in names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pkl", ".pth"))]
    assert json.loads((folder / "config.json").read_text())["model_type"] == "model2vec"
    sha = weights_sha256(locate(st_model, "sentence-embedding"))
    settings = json.loads((folder / "distill.json").read_text())
    assert settings["teacher_sha256"] == sha
    assert settings["dims"] == 8 and settings["seed"] == 0
    card = (folder / "README.md").read_text()
    assert sha in card and "PCA dims | 8" in card


def test_distill_measures_the_student_against_its_teacher(static_model: str, st_model: str):
    settings = json.loads((Path(static_model) / "distill.json").read_text())
    n = len(AGREEMENT_SENTENCES)
    assert n >= 40 and settings["agreement_sentences"] == n and settings["agreement_pairs"] == n * (n - 1) // 2
    # The recorded figures are those of the teacher and the written folder, embedded again here.
    teacher, _ = Embedder(st_model, normalize=True).encode(AGREEMENT_SENTENCES)
    student, _ = Embedder(static_model, normalize=True).encode(AGREEMENT_SENTENCES)
    again = agreement(teacher, student)
    for key in ("agreement_spearman", "agreement_nearest", "agreement_top5"):
        assert settings[key] == pytest.approx(again[key], abs=1e-6)
    assert -1 <= settings["agreement_spearman"] <= 1 and 0 <= settings["agreement_nearest"] <= 1
    assert settings["eval_file"] is None and settings["eval_spearman"] is None
    card = (Path(static_model) / "README.md").read_text()
    assert "## Measured quality" in card
    assert f"{n} built-in sentences, {n * (n - 1) // 2} pairs" in card
    assert f"{settings['agreement_spearman']:.4f}" in card


def test_agreement_is_one_for_the_same_vectors_and_lower_for_others():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(20, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    same = agreement(vectors, vectors)
    assert same["agreement_spearman"] == pytest.approx(1.0)
    assert same["agreement_nearest"] == 1.0 and same["agreement_top5"] == 1.0 and same["agreement_pairs"] == 190
    other = rng.normal(size=(20, 8))
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    assert agreement(vectors, other)["agreement_spearman"] < 0.5


SCORED = "sentence1,sentence2,score\n" + "".join(
    f"{a},{b},{s}\n"
    for a, b, s in [
        ("a cat sat on the mat", "a cat is on the mat", 4.8),
        ("a dog runs in the park", "a dog is running outside", 4.0),
        ("stock markets fell sharply", "shares dropped today", 3.5),
        ("a man plays the guitar", "the weather is cold", 0.2),
        ("I love this film", "the movie was great", 4.1),
        ("refunds take a week", "the cat sleeps", 0.0),
    ]
)


def test_eval_file_scores_student_and_teacher_against_gold(st_model: str, static_model: str, tmp_path: Path):
    from nlu_toolkit.train.evaluate import evaluate

    gold = tmp_path / "sts.csv"
    gold.write_text(SCORED, encoding="utf-8")
    out = tmp_path / "out"
    result = distill(out, st_model, dims=8, eval=str(gold))
    assert result.eval_pairs == 6 and result.eval_file == str(gold)
    # The same figures `nlu evaluate` gives each model on the file.
    assert result.eval_teacher_spearman == pytest.approx(evaluate("embedding", st_model, gold).metrics["spearman"])
    assert result.eval_spearman == pytest.approx(evaluate("embedding", str(out), gold).metrics["spearman"])
    settings = json.loads((out / "distill.json").read_text())
    assert settings["eval_spearman"] == result.eval_spearman and settings["eval_pairs"] == 6
    card = (out / "README.md").read_text()
    assert "sts.csv (6 scored pairs)" in card and f"{result.eval_teacher_spearman:.4f}" in card


def test_bad_eval_file_is_refused_before_work(st_model: str, static_model: str, tmp_path: Path):
    unscored = tmp_path / "pairs.csv"
    unscored.write_text("anchor,positive\na cat,a kitten\na dog,a puppy\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="without scores"):
        distill(tmp_path / "a", st_model, dims=8, eval=str(unscored))
    one = tmp_path / "one.csv"
    one.write_text("sentence1,sentence2,score\na cat,a kitten,0.9\n", encoding="utf-8")
    with pytest.raises(TrainingDataError, match="at least 2"):
        distill(tmp_path / "b", st_model, dims=8, eval=str(one))
    with pytest.raises(TrainingDataError, match="no such file"):
        distill(tmp_path / "c", st_model, dims=8, eval=str(tmp_path / "missing.csv"))
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # nothing written, not even a temporary folder


def test_static_folder_loads_as_an_embedding_model(static_model: str):
    embedder = Embedder(static_model)
    assert embedder.model_info.kind == "model2vec"
    assert embedder.runtime == "static" and embedder.dimension == 8
    vectors, truncated = embedder.encode(TEXTS)
    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    assert truncated == [False, False, False]
    records, matrix = embed(TEXTS, static_model, normalize=True)
    assert [r["id"] for r in records] == [0, 1, 2]
    assert matrix.shape == (3, 8) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    (pair,) = similarity(TEXTS[0], TEXTS[0], static_model)
    assert pair["score"] == pytest.approx(1.0, abs=1e-5)


def test_static_model_flags_texts_cut_at_the_token_limit(static_model: str):
    long_text = " ".join(["cat"] * 40)
    _, truncated = Embedder(static_model, max_length=8).encode(["cat", long_text])
    assert truncated == [False, True]
    _, truncated = Embedder(static_model, max_length=8, long="chunk").encode(["cat", long_text])
    assert truncated == [False, False]


def test_distill_equals_model2vec_own_distillation(static_model: str, st_model: str):
    from model2vec import StaticModel
    from model2vec.distill import distill as m2v_distill

    np.random.seed(0)
    theirs = m2v_distill(st_model, pca_dims=8, device="cpu")
    ours = StaticModel.from_pretrained(static_model, force_download=False)
    assert ours.tokenizer.get_vocab() == theirs.tokenizer.get_vocab()
    np.testing.assert_allclose(np.asarray(ours.embedding, np.float32), np.asarray(theirs.embedding, np.float32))
    np.testing.assert_allclose(ours.encode(TEXTS), theirs.encode(TEXTS), atol=1e-6)


def test_vocabulary_file_adds_words(st_model: str, static_model: str, tmp_path: Path):
    words = tmp_path / "words.txt"
    words.write_text("zyxquux\n\nflorbnet\nzyxquux\n", encoding="utf-8")
    result = distill(tmp_path / "out", st_model, dims=8, vocabulary=str(words))
    assert result.added_words == 2
    base = json.loads((Path(static_model) / "distill.json").read_text())["vocabulary_size"]
    assert result.vocabulary_size == base + 2


def test_distill_refuses_bad_settings_before_work(st_model: str, static_model: str, tmp_path: Path):
    with pytest.raises(UsageError, match="dims"):
        distill(tmp_path / "a", st_model, dims=0)
    with pytest.raises(UsageError, match="more than the teacher"):
        distill(tmp_path / "b", st_model, dims=10_000)
    with pytest.raises(OutputError, match="overwrite"):
        distill(static_model, st_model, dims=8)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_missing_extra_names_the_pip_command(monkeypatch, st_model: str, static_model: str, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "model2vec", None)  # importing model2vec now raises ImportError
    monkeypatch.setitem(sys.modules, "model2vec.distill", None)
    with pytest.raises(MissingExtra) as e:
        distill(tmp_path / "out", st_model, dims=8)
    assert e.value.hint == "install it with: pip install 'nlu-toolkit[static]'"
    clear_cache()
    with pytest.raises(MissingExtra) as e:
        Embedder(static_model)
    assert e.value.hint == "install it with: pip install 'nlu-toolkit[static]'"
    clear_cache()


@pytest.mark.slow
def test_distill_the_embedded_model(tmp_path: Path):
    from nlu_toolkit.models.embedded import EMBEDDED_SHA256

    out = tmp_path / "static"
    result = distill(out, "embedded", dims=32)
    assert result.teacher_sha256 == EMBEDDED_SHA256 and result.dimension == 32
    assert EMBEDDED_SHA256 in (out / "README.md").read_text()
    texts = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply."]
    _, vectors = embed(texts, str(out), normalize=True)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    scores = vectors @ vectors.T
    assert scores[0, 1] > scores[0, 2]
    # The static model keeps the teacher's similarities, well above chance on the built-in sentences
    # (measured: Spearman 0.47, nearest neighbour 0.56 at 32 dims; 0.57 and 0.75 at 256).
    assert result.agreement_spearman > 0.4 and result.agreement_nearest > 0.4
    assert "## Measured quality" in (out / "README.md").read_text()


@pytest.mark.slow
def test_distill_the_embedded_model_scored_on_sts_benchmark(shared_data: Path, tmp_path: Path):
    sts = shared_data / "stsbenchmark" / "sts-dev.csv"  # raw STS Benchmark lines, 1,500 pairs
    result = distill(tmp_path / "static", "embedded", dims=64, eval=str(sts))
    assert result.eval_pairs == 1500
    # Measured: the teacher 0.867; the student 0.792 at 256 dims.
    assert result.eval_teacher_spearman == pytest.approx(0.867, abs=0.01)
    assert 0.7 < result.eval_spearman < result.eval_teacher_spearman
