"""`nlu app`: the pure helpers, the per-tab backend on tiny models, the Gradio wiring, the CLI,
and (slow) a real headless Chromium driving the app on the embedded MiniLM.

The browser test uses the system Chromium (``chromium`` on PATH) through Playwright for Python;
it never downloads a browser and skips when either is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlparse

import pytest
from typer.testing import CliRunner

from nlu_toolkit.app.webapp import (
    AppBackend,
    AppConfig,
    answer_segments,
    entity_segments,
    highlight_spans,
    offline_environment,
    parse_corpus,
)
from nlu_toolkit.cli.app import app
from nlu_toolkit.errors import InputError, ModelNotAvailable, UsageError
from nlu_toolkit.models.testing import CONLL_LABELS
from nlu_toolkit.records import Answer, Entity, NerResult, QAResult
from nlu_toolkit.search.index import SemanticIndex

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DOCS = [
    "the river bank in paris",
    "money in the bank",
    "john loved the film",
    "mary hated the boring plot",
    "berlin is a city in germany",
    "london is the capital of england",
]


def joined(segments) -> str:
    return "".join(piece for piece, _ in segments)


def labelled(segments) -> list[tuple[str, str]]:
    return [(piece, label) for piece, label in segments if label is not None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- pure helpers


def test_highlight_spans_mark_each_span_and_join_back_to_the_text():
    text = "Ada Lovelace lives in London."
    segments = highlight_spans(text, [(22, 28, "LOC"), (0, 12, "PER")])
    assert segments == [("Ada Lovelace", "PER"), (" lives in ", None), ("London", "LOC"), (".", None)]
    assert joined(segments) == text


def test_highlight_spans_skip_overlaps_and_clamp_out_of_range_spans():
    text = "abcdefghij"
    segments = highlight_spans(text, [(2, 6, "A"), (4, 8, "B"), (8, 99, "C"), (-3, 1, "D"), (5, 5, "E")])
    assert labelled(segments) == [("a", "D"), ("cdef", "A"), ("ij", "C")]
    assert joined(segments) == text


def test_highlight_spans_of_an_empty_text_or_no_spans():
    assert highlight_spans("", []) == [("", None)]
    assert highlight_spans("plain", []) == [("plain", None)]


def test_entity_segments_label_entities_by_type():
    text = "John works at Acme Corp."
    result = NerResult(
        0, text, [Entity("PER", 0.9, 0, 4, "John"), Entity("ORG", 0.8, 14, 23, "Acme Corp")], truncated=False
    )
    assert labelled(entity_segments(result)) == [("John", "PER"), ("Acme Corp", "ORG")]
    assert joined(entity_segments(result)) == text


def test_answer_segments_mark_the_answer_and_nothing_when_impossible():
    context = "It was written by Ada in 1843."
    found = QAResult(0, "Who?", "Ada", 0.9, 18, 21, [Answer("Ada", 0.9, 18, 21)], impossible=False)
    assert labelled(answer_segments(context, found)) == [("Ada", "answer")]
    none = QAResult(0, "Who?", "", 0.9, 0, 0, [], impossible=True)
    assert answer_segments(context, none) == [(context, None)]


def test_parse_corpus_reads_pasted_lines_and_uploaded_files(tmp_path, monkeypatch):
    assert [r["text"] for r in parse_corpus("first\n\n  second  \n")] == ["first", "second"]
    upload = tmp_path / "docs.jsonl"
    upload.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(DOCS)), encoding="utf-8")
    records = parse_corpus("ignored when a file is given", upload)
    assert [r["id"] for r in records] == [f"d{i}" for i in range(len(DOCS))]
    with pytest.raises(InputError, match="empty"):
        parse_corpus(" \n ")
    monkeypatch.setattr("nlu_toolkit.app.tabs.MAX_CORPUS_DOCS", 3)
    with pytest.raises(InputError, match="more than 3 documents") as e:
        parse_corpus("\n".join(DOCS))
    assert "--index" in str(e.value)


def test_offline_environment_turns_telemetry_off_but_respects_an_explicit_hub_setting(monkeypatch):
    for name in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY", "GRADIO_SHARE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    offline_environment()
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "1"
    assert os.environ["GRADIO_SHARE"] == "False"
    assert os.environ["HF_HUB_OFFLINE"] == "0"


# ---------------------------------------------------------------------------- the backend, on tiny models


@pytest.fixture(scope="module")
def backend(ner_model, qa_model, cls_model, st_model) -> AppBackend:
    return AppBackend(
        AppConfig(
            classify_model=cls_model,
            zero_shot_model=st_model,
            ner_model=ner_model,
            qa_model=qa_model,
            embed_model=st_model,
            device="cpu",
        )
    )


def test_ner_tab_highlights_the_entities_it_returns(backend):
    text = "John lives in Paris and works at Acme Corp in London."
    segments, entities = backend.ner(text)
    assert entities, "the tiny NER model tags something in this text"
    assert joined(segments) == text
    assert labelled(segments) == [(e["word"], e["label"]) for e in entities]
    types = {label.split("-")[-1] for label in CONLL_LABELS if label != "O"}
    assert {e["label"] for e in entities} <= types


def test_qa_tab_highlights_the_answer_in_the_context(backend):
    context = "It was written by John in London."
    segments, summary = backend.qa("Who wrote it?", context)
    assert joined(segments) == context
    [(answer, _)] = labelled(segments)
    assert answer and answer in context
    assert answer in summary


def test_classify_tab_zero_shot_with_labels_and_supervised_without(backend):
    scores = backend.classify("I loved this film", "good, bad, boring")
    assert set(scores) == {"good", "bad", "boring"}
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-4)
    assert set(backend.classify("I loved this film", "")) == {"NEGATIVE", "POSITIVE"}


def test_zero_shot_classifiers_are_cached_per_label_set_and_bounded(backend, monkeypatch):
    monkeypatch.setattr(backend.zero_shot, "max_entries", 2)
    for labels in ("a, b", "c, d", "e, f", "a, b"):
        backend.classify("a text", labels)
    assert backend.zero_shot.label_sets() == [("e", "f"), ("a", "b")]


def test_tabs_refuse_empty_inputs(backend):
    with pytest.raises(InputError, match="text"):
        backend.ner("   ")
    with pytest.raises(InputError, match="question"):
        backend.qa("", "some context")
    with pytest.raises(UsageError, match="repeats"):
        backend.classify("a text", "x, x")


def test_search_tab_over_a_pasted_corpus_finds_the_same_text_first(backend):
    rows = backend.search(DOCS[3], 3, "\n".join(DOCS))
    assert [r[0] for r in rows] == [1, 2, 3]
    assert rows[0][2:] == ["3", DOCS[3], ""]  # a dense search: no "found by"
    assert rows[0][1] == pytest.approx(1.0, abs=1e-3)
    # The corpus is encoded once: the same text gives the same index; another text replaces it.
    index = backend.corpus_index("\n".join(DOCS))
    assert backend.corpus_index("\n".join(DOCS)) is index
    backend.corpus_index("\n".join(DOCS[:2]))
    assert sum(1 for key in backend._objects if key[0] == "corpus") == 1


@pytest.fixture(scope="module")
def index_dir(st_model, data_dir, tmp_path_factory) -> Path:
    from nlu_toolkit.io.readers import iter_records

    index = SemanticIndex.build(iter_records(data_dir / "corpus.jsonl"), st_model)
    return index.save(tmp_path_factory.mktemp("webapp") / "corpus.idx")


def test_search_tab_over_a_loaded_index(index_dir, data_dir):
    first = json.loads((data_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[0])
    backend = AppBackend(AppConfig(index=str(index_dir), device="cpu"))
    rows = backend.search(first["text"], 5)
    assert len(rows) == 5
    assert rows[0][2:] == [first["id"], first["text"], ""]


def test_search_tab_without_index_or_corpus_says_what_to_do(st_model):
    with pytest.raises(UsageError) as e:
        AppBackend(AppConfig(embed_model=st_model)).search("anything")
    assert "--index" in str(e.value)


def test_a_bad_index_fails_at_start_up(tmp_path):
    with pytest.raises(InputError, match="no such index folder"):
        AppBackend(AppConfig(index=str(tmp_path / "missing.idx")))


def test_cluster_tab_on_a_pasted_corpus_draws_one_map(backend):
    path, rows, note = backend.cluster("\n".join(DOCS), method="kmeans", k=2)
    assert Path(path).read_bytes()[:8] == PNG_MAGIC
    assert [r[0] for r in rows] == [0, 1]
    assert sum(r[1] for r in rows) == len(DOCS)
    assert note.startswith("2 clusters in the 6 documents of the corpus")
    second, _, _ = backend.cluster("\n".join(DOCS), method="agglomerative", k=3)
    # Only the latest map is kept on disk (Gradio has copied the earlier one).
    assert not Path(path).exists()
    assert Path(second).is_file()


def test_cluster_tab_on_the_index_uses_its_stored_vectors(index_dir, monkeypatch):
    backend = AppBackend(AppConfig(index=str(index_dir), device="cpu"))

    def no_encoding(*args, **kwargs):
        raise AssertionError("the index's vectors must be reused, not re-encoded")

    monkeypatch.setattr(backend.index.embedder, "encode", no_encoding)
    _, rows, note = backend.cluster(method="community", min_size=2)
    assert sum(r[1] for r in rows) == len(backend.index)
    assert "documents of the index (community" in note


def test_cluster_tab_refuses_unknown_methods(backend):
    with pytest.raises(UsageError, match="unknown clustering method"):
        backend.cluster("\n".join(DOCS), method="spectral")


def test_tabs_without_a_usable_model_name_their_flag(empty_hf_cache, tmp_path):
    missing = str(tmp_path / "no-such-model")
    backend = AppBackend(AppConfig(zero_shot_model=missing, embed_model=missing))
    flags = {"ner": "--ner-model", "qa": "--qa-model", "classify": "--classify-model"}
    flags |= {"zero_shot": "--zero-shot-model", "embed": "--embed-model"}
    for task, flag in flags.items():
        notice = backend.model_notice(task)
        assert notice is not None and flag in notice
    for _ in range(2):  # the failure is cached, and raised again on every click
        with pytest.raises(ModelNotAvailable, match="--ner-model"):
            backend.ner("John lives in Paris.")
    with pytest.raises(ModelNotAvailable, match="--qa-model"):
        backend.qa("Who?", "John.")
    with pytest.raises(ModelNotAvailable, match="--classify-model"):
        backend.classify("a text")
    with pytest.raises(ModelNotAvailable, match="--zero-shot-model"):
        backend.classify("a text", "a, b")
    with pytest.raises(ModelNotAvailable, match="--embed-model"):
        backend.search("a query", 3, "first doc\nsecond doc")
    with pytest.raises(ModelNotAvailable, match="--embed-model"):
        backend.cluster("first doc\nsecond doc\nthird doc")


def test_the_embedded_defaults_need_no_notice():
    backend = AppBackend(AppConfig())
    assert backend.model_notice("zero_shot") is None
    assert backend.model_notice("embed") is None


# ---------------------------------------------------------------------------- the Gradio app


def test_build_app_has_one_tab_per_task_and_notices_for_missing_models(empty_hf_cache, st_model):
    gr = pytest.importorskip("gradio", reason="the app extra is not installed: pip install 'nlu-toolkit[app]'")
    from nlu_toolkit.app.webapp import build_app

    demo = build_app(AppConfig(embed_model=st_model))
    assert isinstance(demo, gr.Blocks)
    blocks = list(demo.blocks.values())
    assert [b.label for b in blocks if isinstance(b, gr.Tab)] == ["Classify", "NER", "QA", "Search", "Cluster"]
    notices = " ".join(str(b.value) for b in blocks if isinstance(b, gr.Markdown))
    assert "--ner-model" in notices and "--qa-model" in notices and "--classify-model" in notices
    assert sum(isinstance(b, gr.HighlightedText) for b in blocks) == 2  # NER and QA
    assert demo.analytics_enabled is False


def test_app_theme_uses_system_fonts_only():
    gr = pytest.importorskip("gradio", reason="the app extra is not installed")
    from nlu_toolkit.app.webapp import app_theme

    theme = app_theme()
    assert theme._stylesheets == []
    assert not any(isinstance(f, (gr.themes.GoogleFont, gr.themes.LocalFont)) for f in theme._font + theme._font_mono)


def test_launch_serves_on_loopback_without_share_or_analytics(st_model):
    pytest.importorskip("gradio", reason="the app extra is not installed")
    from urllib.request import urlopen

    from nlu_toolkit.app.webapp import launch

    demo, url = launch(AppConfig(embed_model=st_model), port=free_port())
    try:
        assert urlparse(url).hostname == "127.0.0.1"
        assert demo.share_url is None
        with urlopen(url + "config", timeout=10) as response:
            config = json.loads(response.read())
        assert config["analytics_enabled"] is False
        assert "googleapis" not in json.dumps(config)
    finally:
        demo.close()


# ---------------------------------------------------------------------------- the CLI


def test_app_help_lists_the_options():
    result = CliRunner().invoke(app, ["app", "--help"])
    assert result.exit_code == 0
    for flag in ("--index", "--host", "--port", "--classify-model", "--zero-shot-model", "--ner-model", "--qa-model"):
        assert flag in result.output


def test_app_without_the_extra_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    result = CliRunner().invoke(app, ["app"])
    assert result.exit_code == 2
    assert "pip install 'nlu-toolkit[app]'" in result.stderr


def test_app_with_a_missing_index_fails_before_serving(tmp_path):
    pytest.importorskip("gradio", reason="the app extra is not installed")
    result = CliRunner().invoke(app, ["app", "--index", str(tmp_path / "missing.idx")])
    assert result.exit_code == 2
    assert "no such index folder" in result.stderr
    assert "nlu index build" in result.stderr


def test_app_on_a_taken_port_is_a_usage_error(st_model):
    pytest.importorskip("gradio", reason="the app extra is not installed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["app", "--port", str(port), "--embed-model", st_model])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_app_help_imports_neither_gradio_nor_torch():
    code = textwrap.dedent(
        """
        import sys
        from nlu_toolkit.cli.app import app
        try:
            app(["app", "--help"], prog_name="nlu")
        except SystemExit as e:
            assert e.code in (0, None), e.code
        heavy = [m for m in ("gradio", "torch", "transformers") if m in sys.modules]
        assert not heavy, heavy
        print("LIGHT")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("LIGHT")


# ---------------------------------------------------------------------------- a real browser


@pytest.mark.slow
def test_browser_search_on_the_embedded_model_stays_on_loopback(tmp_path, data_dir):
    pytest.importorskip("gradio", reason="the app extra is not installed: pip install 'nlu-toolkit[app]'")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no system Chromium on PATH (apt-get install chromium); the test never downloads a browser")
    from nlu_toolkit.app.webapp import launch
    from nlu_toolkit.io.readers import iter_records

    index_dir = SemanticIndex.build(iter_records(data_dir / "corpus.jsonl")).save(tmp_path / "corpus.idx")
    demo, url = launch(AppConfig(index=str(index_dir)), port=free_port())
    requests: list[str] = []
    shot = tmp_path / "app-search.png"
    try:
        with sync_api.sync_playwright() as p:
            # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 860})
                page.on("request", lambda request: requests.append(request.url))
                page.goto(url)
                page.get_by_role("tab", name="Search").click()
                page.locator("#search-query textarea").fill("I forgot my password")
                page.locator("#search-button").click()
                hits = page.locator("#hits")
                hits.get_by_text("faq-01").wait_for(timeout=30_000)
                assert "Forgot password" in hits.inner_text()
                page.screenshot(path=str(shot), full_page=True)

                page.get_by_role("tab", name="Cluster").click()
                page.get_by_role("button", name="Cluster", exact=True).click()
                page.locator("#cluster-map img").wait_for(timeout=30_000)
                assert "documents of the index" in page.locator("#cluster-note").inner_text()
            finally:
                browser.close()
    finally:
        demo.close()
    assert shot.read_bytes()[:8] == PNG_MAGIC
    assert requests, "the page made no request at all"
    outside = sorted({u for u in requests if urlparse(u).hostname not in LOOPBACK and not u.startswith("data:")})
    assert not outside, f"requests left the machine: {outside}"
