"""Hybrid search on the embedded MiniLM (slow): a query whose answer shares a rare word but little meaning is
found by lexical and hybrid search, not by dense alone; a paraphrase sharing no word with its answer is found by
dense and hybrid search, not by lexical alone (issue 17's two hybrid tests)."""

from __future__ import annotations

import pytest

from nlu_toolkit.search.index import SemanticIndex

pytest.importorskip("bm25s")
pytestmark = pytest.mark.slow

DOCS = [
    {"id": "cat", "text": "Zorblax is the name of the grey cat that sleeps in our office."},
    {"id": "p1", "text": "To change your login credentials, open the account settings page."},
    {"id": "p2", "text": "Forgot your passphrase? Follow the recovery link we email you to sign in again."},
    {"id": "p3", "text": "Locked out of your account? Our support team can restore access."},
    {"id": "p4", "text": "You can choose a new secret phrase for signing in from your profile."},
    {"id": "car", "text": "The engine of the car fails to turn over on freezing mornings."},
    {"id": "w1", "text": "The weather forecast says it will be cold and windy tomorrow."},
    {"id": "x1", "text": "The museum opens at nine on weekdays."},
    {"id": "x2", "text": "Bake the bread for forty minutes."},
    {"id": "x3", "text": "The river flooded the old town last spring."},
]
TOP_K = 3


@pytest.fixture(scope="module")
def index():
    with SemanticIndex.build(DOCS, "embedded", hybrid=True) as built:
        yield built


def found(index: SemanticIndex, query: str, mode: str) -> list[str]:
    return [h.doc["id"] for h in index.search(query, top_k=TOP_K, mode=mode)[0].hits]


def test_a_rare_shared_word_is_found_by_lexical_and_hybrid_not_dense(index):
    query = "How do I reset my Zorblax password?"  # the answer shares "Zorblax" and nothing of its meaning
    assert "cat" not in found(index, query, "dense")  # dense ranks the sign-in texts first
    assert found(index, query, "lexical")[0] == "cat"
    assert "cat" in found(index, query, "hybrid")


def test_a_paraphrase_without_shared_words_is_found_by_dense_and_hybrid_not_lexical(index):
    query = "automobile won't start in cold weather"  # no word in common with the car text
    assert found(index, query, "dense")[0] == "car"
    assert "car" not in found(index, query, "lexical")
    assert "car" in found(index, query, "hybrid")
