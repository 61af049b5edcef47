"""`qa` / `QuestionAnswerer` on the tiny QA model: exact spans, top-k, long contexts, no-answer."""

from __future__ import annotations

import pytest

import nlu_toolkit.tasks.qa as qa_mod
from nlu_toolkit import QuestionAnswerer, qa
from nlu_toolkit.errors import InputError, UsageError

CONTEXT = "Charles Babbage designed the engine in London; Ada Lovelace programmed it in 1843."
#: About 200 tokens: several 64-token windows.
LONG_CONTEXT = "The river runs through the city. " * 20 + "John wrote the story in Paris."


def check_spans(result, context):
    assert result.answer == context[result.start : result.end]
    for a in result.answers:
        assert a.answer == context[a.start : a.end]
        assert 0 <= a.start <= a.end <= len(context)


def test_answers_are_exact_substrings(qa_model):
    results = qa(["Who designed the engine?", "When?", "Where?"], context=CONTEXT, model=qa_model)
    assert [r.id for r in results] == [0, 1, 2]
    assert [r.question for r in results] == ["Who designed the engine?", "When?", "Where?"]
    for r in results:
        check_spans(r, CONTEXT)
        assert r.answer and r.start < r.end
        assert r.impossible is False
        assert (r.answer, r.score, r.start, r.end) == (
            r.answers[0].answer,
            r.answers[0].score,
            r.answers[0].start,
            r.answers[0].end,
        )
        assert set(r.to_dict()) == {
            "id",
            "question",
            "answer",
            "score",
            "start",
            "end",
            "answers",
            "impossible",
            "truncated",
        }


def test_single_question_string(qa_model):
    (r,) = qa("Who?", context=CONTEXT, model=qa_model)
    check_spans(r, CONTEXT)


@pytest.mark.parametrize("top_k", [1, 3, 7])
def test_top_k_count_and_descending_scores(qa_model, top_k):
    (r,) = qa("Who designed it?", context=CONTEXT, model=qa_model, top_k=top_k)
    assert len(r.answers) == top_k
    scores = [a.score for a in r.answers]
    assert scores == sorted(scores, reverse=True)
    assert len({(a.start, a.end) for a in r.answers}) == top_k  # no span twice
    check_spans(r, CONTEXT)


def test_max_answer_len_in_tokens(qa_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qa_model)
    (r,) = qa("Who?", context=CONTEXT, model=qa_model, top_k=10, max_answer_len=2)
    for a in r.answers:
        assert len(tok.tokenize(a.answer)) <= 2


def _first_window_end(qa_model, question, context, max_length):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(qa_model)
    enc = tok(question, context, truncation="only_second", max_length=max_length, return_offsets_mapping=True)
    ids = enc.sequence_ids()
    return max(end for (_, end), s in zip(enc["offset_mapping"], ids, strict=True) if s == 1)


def test_long_context_answers_come_from_anywhere(qa_model):
    question = "Who wrote the story?"
    first_end = _first_window_end(qa_model, question, LONG_CONTEXT, 64)
    assert first_end < len(LONG_CONTEXT) // 2
    (r,) = qa(question, context=LONG_CONTEXT, model=qa_model, max_length=64, top_k=30)
    check_spans(r, LONG_CONTEXT)
    assert any(a.start >= first_end for a in r.answers), "every answer came from the first window"
    scores = [a.score for a in r.answers]
    assert scores == sorted(scores, reverse=True)
    assert len({(a.start, a.end) for a in r.answers}) == len(r.answers)


def test_doc_stride_options(qa_model):
    for stride in (0, 8, 15):
        (r,) = qa("Who?", context=LONG_CONTEXT, model=qa_model, max_length=32, doc_stride=stride, top_k=3)
        check_spans(r, LONG_CONTEXT)
    with pytest.raises(UsageError, match="stride must be between"):
        QuestionAnswerer(qa_model, max_length=32, doc_stride=16)


@pytest.fixture
def null_wins(monkeypatch):
    """Make the [CLS] (no-answer) logits dominate, as a SQuAD-v2 model does on unanswerable questions."""
    real = qa_mod.torch_forward

    def patched_torch_forward(model, device, pick, **kwargs):
        forward = real(model, device, pick, **kwargs)

        def patched(batch):
            logits = forward(batch)
            logits[:, 0, :] = 50.0
            return logits

        return patched

    monkeypatch.setattr(qa_mod, "torch_forward", patched_torch_forward)


def test_allow_impossible_gives_no_answer(qa_model, null_wins):
    (r,) = qa("Who?", context=CONTEXT, model=qa_model, allow_impossible=True, top_k=3)
    assert r.impossible is True
    assert r.answer == "" and r.start == r.end == 0
    assert r.answers[0].answer == "" and len(r.answers) == 3
    assert r.to_dict()["impossible"] is True
    # without allow_impossible, the best span is returned even though the null score is higher
    (r2,) = qa("Who?", context=CONTEXT, model=qa_model)
    assert r2.impossible is False and r2.answer != ""
    check_spans(r2, CONTEXT)


def test_impossible_is_always_present(qa_model):
    for allow in (False, True):
        (r,) = qa("Who?", context=CONTEXT, model=qa_model, allow_impossible=allow)
        assert r.to_dict()["impossible"] is False
    # with the random model, the null score loses: the null answer ranks among real spans
    (r,) = qa("Who?", context=CONTEXT, model=qa_model, allow_impossible=True, top_k=100)
    assert sum(a.answer == "" for a in r.answers) <= 1


def test_records_mode_with_passthrough(qa_model):
    records = [
        {"id": "a", "question": "Who designed it?", "context": CONTEXT, "source": "wiki"},
        {"id": "b", "question": "  Where?  ", "context": LONG_CONTEXT, "source": "news", "n": 2},
        {"question": "When?", "context": CONTEXT},
    ]
    results = qa(records=records, model=qa_model, max_length=64)
    assert [r.id for r in results] == ["a", "b", 2]
    assert [r.extra for r in results] == [{"source": "wiki"}, {"source": "news", "n": 2}, {}]
    assert results[1].question == "Where?"
    for r, rec in zip(results, records, strict=True):
        check_spans(r, rec["context"])
    d = results[0].to_dict()
    assert d["source"] == "wiki" and "context" not in d


def test_many_records_keep_order(qa_model):
    n = qa_mod.QA_WINDOW + 20
    contexts = [CONTEXT, LONG_CONTEXT, "John lives in Paris."]
    records = ({"id": i, "question": "Who?", "context": contexts[i % 3]} for i in range(n))
    results = list(QuestionAnswerer(qa_model, max_length=64, batch_size=128).predict(records))
    assert [r.id for r in results] == list(range(n))
    for i, r in enumerate(results):
        check_spans(r, contexts[i % 3])


def test_bad_records(qa_model):
    answerer = QuestionAnswerer(qa_model)
    with pytest.raises(InputError, match="no context"):
        list(answerer.predict([{"question": "Who?", "context": "  "}]))
    with pytest.raises(InputError, match="no question"):
        list(answerer.predict([{"context": CONTEXT}]))
    with pytest.raises(InputError, match="no questions"):
        list(answerer.predict([]))
    with pytest.raises(UsageError):
        qa("Who?", model=qa_model)


def test_question_too_long_for_the_window(qa_model):
    with pytest.raises(InputError, match="too long"):
        qa("who " * 40, context=CONTEXT, model=qa_model, max_length=32)


def test_qa_on_a_classifier_is_a_usage_error(cls_model):
    with pytest.raises(UsageError, match="question-answering"):
        QuestionAnswerer(cls_model)


def test_unicode_offsets(qa_model):
    context = "Zoë 🙂 lives in Paris with José 北京 and Megatron. " * 5
    (r,) = qa("Who lives in Paris?", context=context, model=qa_model, top_k=10, max_length=48)
    check_spans(r, context)


def test_question_leaving_less_room_than_the_stride(qa_model):
    with pytest.raises(InputError, match="too long"):
        qa("who " * 40 + "?", context=LONG_CONTEXT, model=qa_model, max_length=48)


def test_run_options_and_qa_defaults(qa_model):
    from nlu_toolkit import RunOptions

    # Without run=, QA's own defaults: 16 windows per pass, windows of up to 384 tokens.
    default = QuestionAnswerer(qa_model, device="cpu")
    assert default.batch_size == 16 and default.limit == min(384, 64)
    by_run = QuestionAnswerer(qa_model, run=RunOptions(device="cpu", batch_size=4, max_length=48))
    assert (by_run.batch_size, by_run.limit) == (4, 48)
    assert QuestionAnswerer(qa_model, run=RunOptions(max_length=48), max_length=32).limit == 32
    by_keywords = QuestionAnswerer(qa_model, device="cpu", batch_size=4, max_length=48)
    rows = [{"question": "Who?", "context": LONG_CONTEXT}]
    assert [r.to_dict() for r in by_run.predict(rows)] == [r.to_dict() for r in by_keywords.predict(rows)]
    with pytest.raises(UsageError, match="top_k"):
        QuestionAnswerer(qa_model, top_k=0)
