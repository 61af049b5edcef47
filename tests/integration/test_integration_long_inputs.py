"""The library's one long-input policy: ``long="truncate"|"chunk"`` and ``stride=`` on every task.

The tiny test models take 64 tokens; LONG runs past that several times over.
"""

from __future__ import annotations

import numpy as np
import pytest

from nlu_toolkit.errors import UsageError
from nlu_toolkit.tasks.classify import Classifier, classify
from nlu_toolkit.tasks.cluster import cluster, dedupe
from nlu_toolkit.tasks.embed import Embedder, embed, similarity
from nlu_toolkit.tasks.ner import EntityRecognizer, ner
from nlu_toolkit.tasks.qa import QuestionAnswerer, qa

LONG = "the movie was good and the actors were great but the plot was boring " * 10
NER_LONG = "John Smith lives in Paris and works for Acme in Berlin. " * 12
CONTEXT = "The river runs through the city. " * 20 + "John wrote the story in Paris."


def test_classify_window_is_a_deprecated_spelling_of_chunk(cls_model):
    with pytest.warns(DeprecationWarning, match='long="window"'):
        old = classify([LONG], model=cls_model, long="window")
    new = classify([LONG], model=cls_model, long="chunk")
    assert [r.to_dict() for r in old] == [r.to_dict() for r in new]
    assert new[0].truncated is False


def test_classify_stride_changes_the_windows(cls_model, nli_model):
    default = classify([LONG], model=cls_model, long="chunk")[0].score
    assert classify([LONG], model=cls_model, long="chunk", stride=0)[0].score != pytest.approx(default, abs=1e-9)
    (zero_shot,) = classify([LONG], model=nli_model, labels="a,b", long="chunk", stride=2)
    assert zero_shot.truncated is False
    with pytest.raises(UsageError, match="stride"):
        Classifier(nli_model, labels="a,b", long="chunk", stride=60)


@pytest.mark.parametrize("make", [Embedder, Classifier, EntityRecognizer, QuestionAnswerer])
def test_a_stride_needs_chunk(make, st_model, cls_model, ner_model, qa_model):
    model = {Embedder: st_model, Classifier: cls_model, EntityRecognizer: ner_model, QuestionAnswerer: qa_model}[make]
    with pytest.raises(UsageError) as e:
        make(model, long="truncate", stride=4)
    assert e.value.params == ["stride", "long"]


@pytest.mark.parametrize("make", [Embedder, Classifier, EntityRecognizer, QuestionAnswerer])
def test_an_unknown_long_mode_is_a_usage_error(make):
    with pytest.raises(UsageError, match="unknown long 'sliding'"):
        make("unused", long="sliding")  # refused before any model loads


def test_embed_stride(st_model):
    _, default = embed([LONG], model=st_model, long="chunk")
    _, strided = embed([LONG], model=st_model, long="chunk", stride=0)
    assert not np.allclose(default, strided)
    with pytest.raises(UsageError, match="stride must be between 0 and 61"):
        Embedder(st_model, long="chunk", stride=62)


def test_similarity_cluster_and_dedupe_take_stride(st_model):
    pair = (LONG, LONG[::-1])
    scores = {round(similarity(*pair, st_model, long="chunk", stride=s)[0]["score"], 6) for s in (0, 8, None)}
    assert len(scores) == 3
    texts = [LONG, LONG[::-1], "short one", "short two"]
    assert len(cluster(texts, st_model, k=2, long="chunk", stride=8).records) == 4
    assert isinstance(dedupe(texts, st_model, long="chunk", stride=8), list)


def test_ner_truncate_tags_only_the_first_window(ner_model):
    (cut,) = ner(NER_LONG, model=ner_model, long="truncate", aggregation="none")
    (whole,) = ner(NER_LONG, model=ner_model, aggregation="none")
    assert cut.truncated is True and whole.truncated is False
    assert cut.entities and max(e.end for e in cut.entities) < len(NER_LONG) // 3
    assert max(e.end for e in whole.entities) > len(NER_LONG) // 3
    assert [e.to_dict() for e in ner("John in Paris", model=ner_model, long="truncate")[0].entities] == [
        e.to_dict() for e in ner("John in Paris", model=ner_model)[0].entities
    ]


def test_qa_doc_stride_is_a_deprecated_spelling_of_stride(qa_model):
    with pytest.warns(DeprecationWarning, match="doc_stride"):
        old = qa("Who?", context=CONTEXT, model=qa_model, max_length=32, doc_stride=8, top_k=3)
    new = qa("Who?", context=CONTEXT, model=qa_model, max_length=32, stride=8, top_k=3)
    assert [r.to_dict() for r in old] == [r.to_dict() for r in new]
    with pytest.raises(UsageError, match="disagree"), pytest.warns(DeprecationWarning):
        QuestionAnswerer(qa_model, stride=8, doc_stride=4)


def test_qa_truncate_reads_only_the_first_window(qa_model):
    (cut,) = qa("Who wrote it?", context=CONTEXT, model=qa_model, max_length=32, top_k=5, long="truncate")
    (whole,) = qa("Who wrote it?", context=CONTEXT, model=qa_model, max_length=32, top_k=5)
    assert cut.truncated is True and whole.truncated is False
    assert all(a.end <= 120 for a in cut.answers)
    assert max(a.end for a in whole.answers) > 120
    (short,) = qa("Who wrote it?", context="John wrote it.", model=qa_model, long="truncate")
    assert short.truncated is False and short.to_dict()["truncated"] is False
