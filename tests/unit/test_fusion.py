"""Fusion of a dense and a lexical ranking (`nlu_toolkit.search.fusion`): RRF and the weighted score (the
default) checked against their formulas on hand-made rankings, ties, one-ranker modes and the settings' checks."""

from __future__ import annotations

import pytest

from nlu_toolkit.errors import UsageError
from nlu_toolkit.search.fusion import ALPHA, FUSION, MIN_POOL, Ranking, fuse

DENSE = [("a", 0.9), ("b", 0.8), ("c", 0.7)]
LEXICAL = [("c", 12.0), ("d", 5.0), ("a", 1.0)]


def test_rrf_is_the_sum_of_reciprocal_ranks():
    fused = fuse(DENSE, LEXICAL, Ranking("hybrid", fusion="rrf", rrf_k=60))
    want = {
        "a": 1 / (60 + 1) + 1 / (60 + 3),
        "b": 1 / (60 + 2),
        "c": 1 / (60 + 3) + 1 / (60 + 1),
        "d": 1 / (60 + 2),
    }
    assert {f.key: f.score for f in fused} == pytest.approx(want)
    assert {f.key: f.rankers for f in fused} == {
        "a": {"dense": 1, "lexical": 3},
        "b": {"dense": 2},
        "c": {"dense": 3, "lexical": 1},
        "d": {"lexical": 2},
    }
    # a and c tie on score (ranks 1 and 3 each): the better dense rank wins; b and d tie too (rank 2 once each).
    assert [f.key for f in fused] == ["a", "c", "b", "d"]


def test_rrf_k_changes_the_weight_of_the_first_ranks():
    # A small k favours a first rank: with k = 1 one first rank (1/2) loses to two second ranks (2/3) all the same.
    dense, lexical = [("x", 1.0), ("y", 0.5)], [("z", 3.0), ("y", 2.0)]
    low = {f.key: f.score for f in fuse(dense, lexical, Ranking("hybrid", fusion="rrf", rrf_k=1))}
    assert low == pytest.approx({"x": 1 / 2, "y": 2 / 3, "z": 1 / 2})
    high = {f.key: f.score for f in fuse(dense, lexical, Ranking("hybrid", fusion="rrf", rrf_k=1000))}
    assert high["y"] == pytest.approx(2 / 1002)


def test_the_default_fusion_is_weighted_with_a_dense_weight_above_one_half():
    assert Ranking().fusion == FUSION == "weighted" and 0.5 < Ranking().alpha == ALPHA < 1
    assert fuse(DENSE, LEXICAL, Ranking("hybrid")) == fuse(DENSE, LEXICAL, Ranking("hybrid", "weighted", alpha=ALPHA))


def test_weighted_is_alpha_times_dense_plus_the_rest_lexical_normalised_over_the_union():
    fused = fuse(DENSE, LEXICAL, Ranking("hybrid", fusion="weighted", alpha=0.25))
    # dense over the union {a, b, c, d}: d unlisted takes the worst dense score 0.7, so a 1, b 0.5, c 0, d 0;
    # lexical: b unlisted has BM25 0 (no shared term), so over 12..0: c 1, d 5/12, a 1/12, b 0.
    want = {
        "a": 0.25 * 1.0 + 0.75 / 12,
        "b": 0.25 * 0.5,
        "c": 0.25 * 0.0 + 0.75 * 1.0,
        "d": 0.75 * 5 / 12,
    }
    assert {f.key: f.score for f in fused} == pytest.approx(want)
    assert [f.key for f in fused] == ["c", "a", "d", "b"]  # a and d tie (0.3125): a's best rank (1) wins


def test_weighted_takes_the_true_scores_of_candidates_one_ranker_did_not_list():
    # d (BM25 only) has a true cosine 0.5, below every listed one; b (dense only) a true BM25 of 3.
    fill = {"dense": {"d": 0.5}, "lexical": {"b": 3.0}}
    fused = fuse(DENSE, LEXICAL, Ranking("hybrid", fusion="weighted", alpha=0.5), fill)
    # dense over 0.9..0.5: a 1, b 0.75, c 0.5, d 0; lexical over 12..1: c 1, d 4/11, b 2/11, a 0.
    want = {"a": 0.5, "b": 0.5 * 0.75 + 0.5 * 2 / 11, "c": 0.5 * 0.5 + 0.5, "d": 0.5 * 4 / 11}
    assert {f.key: f.score for f in fused} == pytest.approx(want)
    # A filled score counts in the fused score only: rankers still say who found the document.
    assert {f.key: f.rankers for f in fused}["d"] == {"lexical": 2}
    # Fills for keys neither ranker listed are ignored (they are not candidates).
    assert fuse(DENSE, LEXICAL, Ranking("hybrid"), {"dense": {"z": 0.0}}) == fuse(DENSE, LEXICAL, Ranking("hybrid"))


def test_weighted_with_one_candidate_or_equal_scores_counts_them_as_best():
    fused = fuse([("a", 0.3)], [("b", 2.0), ("c", 2.0)], Ranking("hybrid", fusion="weighted", alpha=0.5))
    # dense: one score (b, c take it, as the worst listed): all 1; lexical: b, c 1, a (BM25 0) 0.
    assert {f.key: f.score for f in fused} == pytest.approx({"a": 0.5, "b": 1.0, "c": 1.0})
    only = fuse([("a", 0.3), ("b", 0.3)], [], Ranking("hybrid", fusion="weighted", alpha=0.5))
    assert {f.key: f.score for f in only} == pytest.approx({"a": 0.5, "b": 0.5})


@pytest.mark.parametrize("mode", ["dense", "lexical"])
def test_one_ranker_modes_keep_its_order_and_scores(mode):
    fused = fuse(DENSE, LEXICAL, Ranking(mode))
    own = DENSE if mode == "dense" else LEXICAL
    assert [(f.key, f.score) for f in fused] == own
    assert [f.rankers for f in fused] == [{mode: 1}, {mode: 2}, {mode: 3}]


def test_a_key_listed_twice_by_one_ranker_counts_once_at_its_best_rank():
    fused = fuse([("a", 0.9), ("a", 0.8)], [], Ranking("hybrid", fusion="rrf"))
    assert [(f.key, f.rankers) for f in fused] == [("a", {"dense": 1})]
    assert fused[0].score == pytest.approx(1 / 61)
    weighted = fuse([("a", 0.9), ("a", 0.1), ("b", 0.5)], [], Ranking("hybrid", alpha=0.5))
    assert {f.key: f.score for f in weighted} == pytest.approx({"a": 0.5, "b": 0.0})  # a counts at 0.9


def test_empty_rankings_fuse_to_nothing():
    assert fuse([], [], Ranking("hybrid")) == []
    assert fuse([], [], Ranking("hybrid", fusion="rrf")) == []


def test_pool_takes_enough_from_each_ranker_for_hybrid_only():
    assert Ranking("hybrid").pool(5) == MIN_POOL
    assert Ranking("hybrid").pool(100) == 400
    assert Ranking("lexical").pool(5) == 5


@pytest.mark.parametrize(
    ("settings", "param"),
    [
        ({"mode": "sparse"}, "mode"),
        ({"fusion": "max"}, "fusion"),
        ({"rrf_k": -1}, "rrf_k"),
        ({"rrf_k": float("nan")}, "rrf_k"),
        ({"rrf_k": True}, "rrf_k"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": "0.5"}, "alpha"),
    ],
)
def test_bad_settings_are_usage_errors_naming_the_parameter(settings, param):
    with pytest.raises(UsageError) as caught:
        Ranking(**settings)
    assert f"{{={param}}}" in caught.value.args[0] or param in str(caught.value)


def test_the_cli_and_the_server_default_to_the_library_fusion():
    import inspect

    from nlu_toolkit.cli.embed import embed_cli
    from nlu_toolkit.search.api import search

    params = inspect.signature(embed_cli).parameters
    assert params["fusion"].default.value == FUSION and params["alpha"].default == ALPHA
    assert inspect.signature(search).parameters["fusion"].default == FUSION
    pytest.importorskip("pydantic")
    from nlu_toolkit.serve.schemas import SearchBody

    body = SearchBody(query="x", mode="hybrid")
    assert (body.fusion, body.alpha, body.rrf_k) == (FUSION, ALPHA, 60.0)
