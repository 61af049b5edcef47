"""``nlu app``: a local Gradio web UI over the library (classify, NER, QA, search, clustering).

Three layers, so the logic is testable without a browser:

- pure helpers turn library results into what the widgets show (highlight segments, table rows;
  `nlu_toolkit.app.tabs`);
- `AppBackend` holds the configuration (`nlu_toolkit.app.config`), the loaded index and a cache of
  loaded models, and has one method per tab that returns plain Python values and raises `NluError`
  (`nlu_toolkit.app.services`);
- `build_app` wires those methods to Gradio widgets, and `launch` serves them (this module, which
  also re-exports the names above).

Everything runs offline: models load lazily once (cached), `offline_environment` turns off
Gradio's analytics and the hub's telemetry before Gradio is imported, the theme uses system
fonts only, and no share link is ever made. Gradio is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nlu_toolkit.app.config import (
    CLUSTER_METHODS,
    DEFAULT_HOST,
    DEFAULT_PORT,
    MODEL_FLAGS,
    AppConfig,
    offline_environment,
    unavailable_message,
)
from nlu_toolkit.app.services import ZERO_SHOT_CACHE, AppBackend
from nlu_toolkit.app.tabs import (
    CLUSTER_HEADERS,
    MAX_CORPUS_DOCS,
    SEARCH_HEADERS,
    Segments,
    answer_segments,
    entity_segments,
    highlight_spans,
    hit_rows,
    label_scores,
    parse_corpus,
    summary_rows,
)
from nlu_toolkit.errors import NluError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr

__all__ = [
    "CLUSTER_HEADERS",
    "CLUSTER_METHODS",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MAX_CORPUS_DOCS",
    "MODEL_FLAGS",
    "MONO_FONTS",
    "SANS_FONTS",
    "SEARCH_HEADERS",
    "ZERO_SHOT_CACHE",
    "AppBackend",
    "AppConfig",
    "Segments",
    "answer_segments",
    "app_theme",
    "build_app",
    "entity_segments",
    "highlight_spans",
    "hit_rows",
    "label_scores",
    "launch",
    "offline_environment",
    "parse_corpus",
    "summary_rows",
    "unavailable_message",
]

#: System font stacks: nothing is fetched from a font CDN (older Gradio themes pull Google Fonts).
SANS_FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Helvetica", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")


def app_theme() -> Any:
    """Gradio's default theme with system fonts, so the page fetches no font from outside."""
    import gradio as gr

    return gr.themes.Default(font=list(SANS_FONTS), font_mono=list(MONO_FONTS))


def _ui(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show our errors as a Gradio error toast instead of a generic 'Error'."""
    import functools

    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except NluError as e:
            raise gr.Error(str(e)) from e

    return wrapper


def build_app(config: AppConfig | None = None, backend: AppBackend | None = None) -> gr.Blocks:
    """The Gradio Blocks of `nlu app`: one tab per task, wired to an `AppBackend`.

    Loading ``config.index`` happens here, so a bad index fails before anything is served.
    """
    offline_environment()
    backend = backend or AppBackend(config)  # first: a bad index fails before Gradio's slow import
    import gradio as gr

    cfg = backend.config
    corpus_hint = "One document per line, or upload a file (txt, csv, jsonl, ...; a `text` column)."

    with gr.Blocks(title="nlu_toolkit", analytics_enabled=False) as demo:
        gr.Markdown("# nlu_toolkit\nClassification, entities, question answering, semantic search and clustering.")

        with gr.Tab("Classify"):
            gr.Markdown(
                "Give labels for zero-shot classification on the "
                + (f"`{cfg.zero_shot_model}` model" if cfg.zero_shot_model else "embedded MiniLM (offline)")
                + "; leave them empty to use the supervised model (`--classify-model`)."
            )
            for task in ("zero_shot", "classify"):
                notice = backend.model_notice(task)
                if notice:
                    gr.Markdown(f"*{notice}*", elem_id=f"{task}-notice")
            cls_text = gr.Textbox(label="Text", lines=4, elem_id="classify-text")
            cls_labels = gr.Textbox(label="Labels (comma-separated)", placeholder="sports, politics, technology")
            cls_button = gr.Button("Classify", variant="primary")
            cls_out = gr.Label(label="Labels", num_top_classes=10)
            cls_button.click(_ui(backend.classify), [cls_text, cls_labels], cls_out, api_name="classify")

        with gr.Tab("NER"):
            notice = backend.model_notice("ner")
            if notice:
                gr.Markdown(f"*{notice}*", elem_id="ner-notice")
            ner_text = gr.Textbox(label="Text", lines=4)
            ner_button = gr.Button("Find entities", variant="primary")
            ner_out = gr.HighlightedText(label="Entities", show_legend=True)
            ner_json = gr.JSON(label="Records")
            ner_button.click(_ui(backend.ner), ner_text, [ner_out, ner_json], api_name="ner")

        with gr.Tab("QA"):
            notice = backend.model_notice("qa")
            if notice:
                gr.Markdown(f"*{notice}*", elem_id="qa-notice")
            qa_question = gr.Textbox(label="Question")
            qa_context = gr.Textbox(label="Context", lines=6)
            qa_button = gr.Button("Answer", variant="primary")
            qa_answer = gr.Markdown()
            qa_out = gr.HighlightedText(label="Answer in context", color_map={"answer": "green"})
            qa_button.click(_ui(backend.qa), [qa_question, qa_context], [qa_out, qa_answer], api_name="qa")

        with gr.Tab("Search"):
            if backend.index is not None:
                gr.Markdown(
                    f"Searching the index `{cfg.index}` ({len(backend.index)} documents, "
                    f"model `{backend.index.model_info.name}`). Paste a corpus below to search it instead."
                )
            else:
                gr.Markdown("No index loaded (start with `--index DIR`). Paste or upload a small corpus to search it.")
            embed_notice = backend.model_notice("embed")
            if embed_notice:
                gr.Markdown(f"*{embed_notice}*", elem_id="embed-notice")
            with gr.Row():
                query = gr.Textbox(label="Query", scale=4, elem_id="search-query")
                top_k = gr.Slider(1, 50, value=5, step=1, label="Top k", scale=1)
            per_document = gr.Checkbox(
                False,
                label="One hit per document (its best passage)",
                visible=getattr(backend.index, "passages", None) is not None,
                elem_id="search-per-document",
            )
            mode = gr.Radio(
                ["dense", "lexical", "hybrid"],
                value="dense",
                label="Mode: vectors, words (BM25), or both fused (lexical and hybrid: an index built with --hybrid)",
                elem_id="search-mode",
            )
            search_button = gr.Button("Search", variant="primary", elem_id="search-button")
            with gr.Accordion("Corpus", open=backend.index is None):
                corpus = gr.Textbox(label="Corpus", lines=6, placeholder=corpus_hint)
                corpus_file = gr.File(label="Corpus file", type="filepath")
            hits = gr.Dataframe(
                headers=SEARCH_HEADERS,
                label="Hits",
                wrap=True,
                interactive=False,
                column_widths=["7%", "10%", "13%", "70%"],
                elem_id="hits",
            )
            search = _ui(backend.search)
            inputs = [query, top_k, corpus, corpus_file, per_document, mode]
            search_button.click(search, inputs, hits, api_name="search")
            query.submit(search, inputs, hits)

        with gr.Tab("Cluster"):
            gr.Markdown(
                "Clusters the pasted or uploaded corpus"
                + (", else the documents of the index" if backend.index is not None else "")
                + "; the map is UMAP when `umap-learn` is installed, else PCA."
            )
            if embed_notice:
                gr.Markdown(f"*{embed_notice}*")
            with gr.Row():
                method = gr.Dropdown(list(CLUSTER_METHODS), value="kmeans", label="Method")
                k = gr.Number(value=0, precision=0, minimum=0, label="k (kmeans/agglomerative; 0 = auto)")
                min_size = gr.Number(value=0, precision=0, minimum=0, label="Min size (community/hdbscan; 0 = default)")
            with gr.Accordion("Corpus", open=backend.index is None):
                cl_corpus = gr.Textbox(label="Corpus", lines=6, placeholder=corpus_hint)
                cl_file = gr.File(label="Corpus file", type="filepath")
            cl_button = gr.Button("Cluster", variant="primary")
            cl_note = gr.Markdown(elem_id="cluster-note")
            cl_map = gr.Image(
                label="Cluster map",
                type="filepath",
                format="png",
                # No "share" button: it uploads to the Hugging Face hub.
                buttons=["download", "fullscreen"],
                elem_id="cluster-map",
            )
            cl_table = gr.Dataframe(
                headers=CLUSTER_HEADERS,
                label="Clusters",
                wrap=True,
                interactive=False,
                column_widths=["9%", "7%", "34%", "50%"],
            )

            def run_cluster(text: str, file: str | None, m: str, kk: float | None, size: float | None) -> Any:
                path, rows, note = backend.cluster(text, file, method=m, k=int(kk or 0), min_size=int(size or 0))
                return path, rows, note

            cl_button.click(
                _ui(run_cluster),
                [cl_corpus, cl_file, method, k, min_size],
                [cl_map, cl_table, cl_note],
                api_name="cluster",
            )
    return demo


def launch(
    config: AppConfig | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> tuple[gr.Blocks, str]:
    """Build the app and serve it on ``host:port`` from a background thread; returns the Blocks and its URL.

    Call ``.block_thread()`` on the Blocks to serve until Ctrl+C, or ``.close()`` to stop. No share
    link, no analytics, no SSR (Node), no MCP server, no run history (it offers to sync to the hub).

    Raises:
        UsageError: the port is taken.
    """
    demo = build_app(config)
    try:
        _, url, _ = demo.launch(
            server_name=host,
            server_port=port,
            share=False,
            inbrowser=False,
            prevent_thread_lock=True,
            quiet=True,
            show_error=True,
            theme=app_theme(),
            ssr_mode=False,
            mcp_server=False,
            run_history=False,
            pwa=False,
            enable_monitoring=False,
            footer_links=["api", "settings"],
            max_file_size="50mb",
        )
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port} ({e})", "pick another port with --port N") from e
    return demo, url
