"""The cluster map (`plot_clusters`), checked on the Figure it returns (Agg canvas), not on pixels:
distinct colours, grey noise, readable dots, keywords at each cluster's centre, a legend with sizes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from nlu_toolkit.errors import UsageError
from nlu_toolkit.io.plots import CLUSTER_PALETTE, NOISE_COLOUR, plot_clusters


def grid(n_clusters: int, per: int = 5, noise: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clusters of ``per`` points around (3c, 0), then ``noise`` points labelled -1 near (0, 10)."""
    rng = np.random.default_rng(0)
    labels = np.concatenate([np.repeat(np.arange(n_clusters), per), np.full(noise, -1)])
    centres = np.column_stack([3.0 * labels, np.where(labels < 0, 10.0, 0.0)])
    return centres + rng.normal(scale=0.2, size=centres.shape), labels


def scatters(fig) -> dict[str, object]:
    """The map's point collections by their legend label."""
    return {c.get_label(): c for c in fig.axes[0].collections}


def test_each_cluster_is_named_by_its_keywords_at_its_centre_and_in_the_legend(tmp_path):
    coords, labels = grid(3, per=4, noise=2)
    keywords = {0: ["refund", "order", "money"], 1: ["goal", "match"], 2: []}
    fig = plot_clusters(coords, labels, tmp_path / "map.png", keywords=keywords)
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    names = {t.get_text(): t.xy for t in ax.texts}  # the point each name is attached to
    assert set(names) == {"0: refund, order", "1: goal, match", "2"}  # two keywords each; none known: the number
    for c, name in enumerate(["0: refund, order", "1: goal, match", "2"]):
        np.testing.assert_allclose(names[name], np.median(coords[labels == c], axis=0))
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["noise (2)", "0: refund, order (4)", "1: goal, match (4)", "2 (4)"]


def test_palette_separates_20_clusters_and_noise_is_grey():
    coords, labels = grid(20, per=3, noise=4)
    fig = plot_clusters(coords, labels, None)
    found = scatters(fig)
    noise = found.pop("noise (4)")
    assert np.allclose(noise.get_facecolors()[0][:3], to_rgb(NOISE_COLOUR))
    colours = [tuple(np.round(c.get_facecolors()[0][:3], 3)) for c in found.values()]
    assert len(found) == 20 and len(set(colours)) == 20
    # Every pair of cluster colours, and each against the noise grey, is clearly apart (RGB distance).
    rgb = [np.array(to_rgb(c)) for c in CLUSTER_PALETTE]
    assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(rgb, 2)) > 0.15
    assert min(np.linalg.norm(c - np.array(to_rgb(NOISE_COLOUR))) for c in rgb) > 0.15
    # The first (largest) clusters are further apart still. tab20, whose neighbours are two shades of one
    # hue, scores 0.10 over all 20 and 0.15 over its first 10.
    assert len(CLUSTER_PALETTE) == 20
    assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(rgb[:10], 2)) > 0.2


def test_dots_are_big_enough_to_see():
    coords, labels = grid(3, per=10)
    sizes = [c.get_sizes()[0] for c in plot_clusters(coords, labels, None).axes[0].collections]
    assert min(sizes) >= 30
    big_coords, big_labels = grid(2, per=4_000)
    assert plot_clusters(big_coords, big_labels, None).axes[0].collections[0].get_sizes()[0] >= 4


def test_only_the_20_largest_clusters_are_named():
    coords, labels = grid(25, per=2)
    fig = plot_clusters(coords, labels, None, keywords={c: [f"w{c}"] for c in range(25)})
    ax = fig.axes[0]
    assert len(ax.texts) == 20 and {t.get_text() for t in ax.texts} == {f"{c}: w{c}" for c in range(20)}
    assert len(ax.get_legend().get_texts()) == 20 and "5 more" in ax.get_legend().get_title().get_text()


def test_names_of_crowded_clusters_do_not_overlap():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(8), 5)
    coords = rng.normal(scale=0.05, size=(40, 2))  # eight clusters on one spot, beside a far one
    coords[:5] += 10.0
    fig = plot_clusters(coords, labels, None, keywords={c: ["long keyword", f"more{c}"] for c in range(8)})
    renderer = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, renderer) for t in fig.axes[0].texts]  # without the lines to the centres
    assert len(boxes) == 8
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))


def test_mismatched_coords_are_refused():
    with pytest.raises(UsageError):
        plot_clusters(np.zeros((3, 2)), [0, 0], None)
