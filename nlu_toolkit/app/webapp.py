"""``nlu app``: a local Gradio web UI over the library (classify, NER, QA, search, clustering).

Three layers, so the logic is testable without a browser:

- pure helpers turn library results into what the widgets show (highlight segments, table rows);
- `AppBackend` holds the configuration, the loaded index and a cache of loaded models, and
  has one method per tab that returns plain Python values and raises `NluError`;
- `build_app` wires those methods to Gradio widgets, and `launch` serves them.

Everything runs offline: models load lazily once (cached), `offline_environment` turns off
Gradio's analytics and the hub's telemetry before Gradio is imported, the theme uses system
fonts only, and no share link is ever made. Gradio is imported inside functions only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu_toolkit.errors import InputError, ModelNotAvailable, NluError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import gradio as gr

    from nlu_toolkit.records import Classification, NerResult, QAResult
    from nlu_toolkit.search.index import SearchResult, SemanticIndex

Segments = list[tuple[str, str | None]]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Pasted or uploaded corpora are encoded in the request; beyond this, build an index once instead.
MAX_CORPUS_DOCS = 5_000
#: Zero-shot classifiers kept, one per label set (each holds only its encoded labels).
ZERO_SHOT_CACHE = 32
CLUSTER_METHODS = ("kmeans", "agglomerative", "community", "hdbscan")
#: System font stacks: nothing is fetched from a font CDN (older Gradio themes pull Google Fonts).
SANS_FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Helvetica", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")


def offline_environment() -> None:
    """Turn off Gradio analytics and hub telemetry, and keep the hub offline unless the user said otherwise.

    Must run before ``import gradio``: some of these are read at import time.
    ``HF_HUB_OFFLINE`` is only defaulted, so ``HF_HUB_OFFLINE=0 nlu app ...`` still allows downloads.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["GRADIO_SHARE"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


# ---------------------------------------------------------------------------- pure helpers


def highlight_spans(text: str, spans: Iterable[tuple[int, int, str]]) -> Segments:
    """Split ``text`` into ``(piece, label or None)`` segments for ``gr.HighlightedText``.

    ``spans`` are ``(start, end, label)`` character offsets. Spans are clamped to the
    text, empty ones dropped, and a span overlapping an earlier one is skipped, so
    the pieces always join back to ``text`` exactly.
    """
    segments: Segments = []
    cursor = 0
    for start, end, label in sorted(spans, key=lambda s: (s[0], -s[1])):
        start, end = max(start, 0), min(end, len(text))
        if start < cursor or end <= start:
            continue
        if start > cursor:
            segments.append((text[cursor:start], None))
        segments.append((text[start:end], label))
        cursor = end
    if cursor < len(text) or not segments:
        segments.append((text[cursor:], None))
    return segments


def entity_segments(result: NerResult) -> Segments:
    """Highlight segments of an NER result: each entity labelled with its type (PER, ORG, ...)."""
    return highlight_spans(result.text, [(e.start, e.end, e.label) for e in result.entities])


def answer_segments(context: str, result: QAResult) -> Segments:
    """Highlight segments of a QA context: the best answer labelled ``answer`` (nothing when impossible)."""
    if result.impossible or result.end <= result.start:
        return highlight_spans(context, [])
    return highlight_spans(context, [(result.start, result.end, "answer")])


def label_scores(result: Classification) -> dict[str, float]:
    """``{label: score}`` of a classification, as ``gr.Label`` takes it."""
    return {x.label: float(x.score) for x in result.labels}


SEARCH_HEADERS = ["rank", "score", "id", "text"]


def hit_rows(result: SearchResult) -> list[list[Any]]:
    """One ``[rank, score, id, text]`` row per search hit (scores rounded for display)."""
    return [[h.rank, round(h.score, 4), str(h.doc.get("id", "")), str(h.doc.get("text", ""))] for h in result.hits]


CLUSTER_HEADERS = ["cluster", "size", "keywords", "representative"]


def summary_rows(summary: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """One ``[cluster, size, keywords, representative]`` row per cluster summary (noise is cluster -1)."""
    return [
        [
            int(c["cluster"]),
            int(c["size"]),
            ", ".join(c["keywords"]),
            c["representatives"][0] if c["representatives"] else "",
        ]
        for c in summary
    ]


def parse_corpus(text: str | None = None, file: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Records from an uploaded file (txt, csv, tsv, jsonl, json, parquet; ``text`` column) or pasted
    text (one document per line). The file wins when both are given.

    Raises:
        InputError: no documents, or more than `MAX_CORPUS_DOCS`.
    """
    from nlu_toolkit.io.readers import iter_records, records_from_texts

    empty = InputError("the corpus is empty", "paste one document per line, or upload a file")
    if file:
        records = iter_records(file)
    else:
        lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if not lines:  # checked here: the reader's own message speaks of command-line arguments
            raise empty
        records = records_from_texts(lines)
    out: list[dict[str, Any]] = []
    for record in records:
        out.append(record)
        if len(out) > MAX_CORPUS_DOCS:
            raise InputError(
                f"the corpus holds more than {MAX_CORPUS_DOCS:,} documents",
                "build an index once (nlu index build FILE --out DIR) and start the app with --index DIR",
            )
    if not out:
        raise empty
    return out


# ---------------------------------------------------------------------------- the backend


@dataclass
class AppConfig:
    """What `nlu app` serves. Model fields take what ``--model`` takes (folder, cached hub id, preset).

    Attributes:
        index: a saved index folder for the search tab (and the default corpus for clustering).
        classify_model: supervised classifier, used when no labels are given
            (default: the sentiment preset, if it is in the local HF cache).
        zero_shot_model: used when labels are given (default: the embedded MiniLM; an NLI model works too).
        ner_model: token-classification model (default: the ner preset, if cached).
        qa_model: extractive-QA model (default: the qa preset, if cached).
        embed_model: sentence-transformers model for pasted corpora and clustering (default: embedded MiniLM).
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.
    """

    index: str | None = None
    classify_model: str | None = None
    zero_shot_model: str | None = None
    ner_model: str | None = None
    qa_model: str | None = None
    embed_model: str | None = None
    device: str = "auto"


#: task -> (name shown in messages, the `nlu app` flag, resolver task); the key is also the AppConfig field prefix.
MODEL_FLAGS = {
    "classify": ("Supervised classification", "--classify-model", "text-classification"),
    "zero_shot": ("Zero-shot classification", "--zero-shot-model", "zero-shot"),
    "ner": ("NER", "--ner-model", "token-classification"),
    "qa": ("Question answering", "--qa-model", "question-answering"),
    "embed": ("Search and clustering of a pasted corpus", "--embed-model", "sentence-embedding"),
}


def unavailable_message(task: str, error: NluError) -> str:
    """The tab notice for a task whose model cannot load: what failed, and the flag that fixes it."""
    name, flag, _ = MODEL_FLAGS[task]
    return (
        f"{name} has no usable model here: {error.message}. "
        f"Start the app with `nlu app {flag} PATH` (a local model folder, or a hub id already in the HF cache; "
        "`nlu models pull` fetches the presets on a connected machine)."
    )


class AppBackend:
    """One method per tab; each returns plain values and raises `NluError` for the UI to show.

    Models load on first use and stay cached (the resolver caches the weights, this caches the
    task objects), so each is loaded once per process. A model that failed to load is not
    retried on every click: its error is cached too.
    """

    def __init__(self, config: AppConfig | None = None) -> None:
        self.config = config or AppConfig()
        self.index: SemanticIndex | None = None
        if self.config.index:
            from nlu_toolkit.search.index import SemanticIndex

            self.index = SemanticIndex.load(self.config.index, device=self.config.device)
            weakref.finalize(self, _close, self.index)  # at exit too: no nlu-index-* folder left
        self._objects: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        self._workdir = Path(tempfile.mkdtemp(prefix="nlu-app-"))
        weakref.finalize(self, shutil.rmtree, self._workdir, True)
        self._plots = 0

    # -- model cache ------------------------------------------------------------------

    def _get(self, key: tuple[Any, ...], factory: Callable[[], Any]) -> Any:
        with self._lock:  # one load at a time: two clicks must not load the same model twice
            if key not in self._objects:
                try:
                    self._objects[key] = factory()
                except (ModelNotAvailable, UsageError) as e:
                    self._objects[key] = e
            found = self._objects[key]
        if isinstance(found, NluError):
            raise found
        return found

    def _task_model(
        self,
        task: str,
        factory: Callable[[], Any],
        key: tuple[Any, ...] = (),
        wrap: tuple[type[NluError], ...] = (ModelNotAvailable, UsageError),
    ) -> Any:
        """`_get` for ``task``'s model, turning a load failure into a message that names the task's flag.

        ``wrap`` lists the errors that mean "this model cannot serve the task" (a UsageError from
        a zero-shot factory may be about the labels instead, so that task wraps fewer).
        """
        try:
            return self._get((task, *key), factory)
        except wrap as e:
            raise ModelNotAvailable(unavailable_message(task, e)) from e

    def model_notice(self, task: str) -> str | None:
        """A notice for the tab when ``task``'s model is not available offline; None when it is (or may be).

        Only checks where the model lives (no loading); with the hub online (``HF_HUB_OFFLINE=0``)
        it says nothing, since the model may still download on first use.
        """
        from nlu_toolkit.models.resolver import is_offline, locate

        _, _, resolver_task = MODEL_FLAGS[task]
        spec = getattr(self.config, f"{task}_model")
        if spec is None and task in ("zero_shot", "embed"):
            return None  # the embedded MiniLM ships with the package
        if not is_offline():
            return None
        try:
            locate(spec, resolver_task)
        except NluError as e:
            return unavailable_message(task, e)
        return None

    # -- tabs -------------------------------------------------------------------------

    def classify(self, text: str, labels: str | None = None) -> dict[str, float]:
        """Scores per label: zero-shot when ``labels`` (``"a, b, c"``) are given, else the supervised model."""
        from nlu_toolkit.tasks.classify import Classifier, parse_labels

        text = _required(text, "text")
        device = self.config.device
        if labels and labels.strip():
            label_list = tuple(parse_labels(labels) or ())
            model = self.config.zero_shot_model
            # Labels are part of the key: a classifier encodes its labels once, at construction.
            # The weights are shared (the resolver caches them); keep the label sets tried last.
            with self._lock:
                others = [k for k in self._objects if k[0] == "zero_shot" and k[1:] != label_list]
                for stale in others[: max(0, len(others) - (ZERO_SHOT_CACHE - 1))]:
                    del self._objects[stale]
            clf = self._task_model(
                "zero_shot",
                lambda: Classifier(model, labels=list(label_list), device=device),
                key=label_list,
                wrap=(ModelNotAvailable,),
            )
        else:
            clf = self._task_model("classify", lambda: Classifier(self.config.classify_model, device=device))
        return label_scores(next(clf.predict([text])))

    def ner(self, text: str) -> tuple[Segments, list[dict[str, Any]]]:
        """Highlight segments of ``text`` and the entity records."""
        from nlu_toolkit.tasks.ner import EntityRecognizer

        text = _required(text, "text")
        device = self.config.device
        recognizer = self._task_model("ner", lambda: EntityRecognizer(self.config.ner_model, device=device))
        result = next(recognizer.predict([text]))
        return entity_segments(result), [e.to_dict() for e in result.entities]

    def qa(self, question: str, context: str) -> tuple[Segments, str]:
        """Highlight segments of ``context`` (the answer marked) and a one-line summary."""
        from nlu_toolkit.tasks.qa import QuestionAnswerer

        question, context = _required(question, "question"), _required(context, "context")
        device = self.config.device
        answerer = self._task_model("qa", lambda: QuestionAnswerer(self.config.qa_model, device=device))
        result = next(answerer.predict([{"id": 0, "question": question, "context": context}]))
        if result.impossible or not result.answer:
            return answer_segments(context, result), "No answer found in the context."
        return answer_segments(context, result), f"**{result.answer}** (score {result.score:.3f})"

    def embedder(self) -> Any:
        """The `Embedder` for pasted corpora and clustering (``--embed-model``, default the embedded MiniLM)."""
        from nlu_toolkit.tasks.embed import Embedder

        model, device = self.config.embed_model, self.config.device
        return self._task_model(
            "embed", lambda: Embedder(model, normalize=True, device=device), wrap=(ModelNotAvailable,)
        )

    def corpus_index(self, text: str | None = None, file: str | None = None) -> SemanticIndex:
        """An in-memory index of a pasted or uploaded corpus, built once per distinct corpus (the last one is kept)."""
        from nlu_toolkit.search.index import SemanticIndex

        records = parse_corpus(text, file)
        embedder = self.embedder()
        digest = hashlib.sha256(repr([(r["id"], r["text"]) for r in records]).encode("utf-8")).hexdigest()
        key = ("corpus", digest)
        with self._lock:
            # Keep one pasted corpus: they are small, and a stale one would only hold memory.
            for old in [k for k in self._objects if k[0] == "corpus" and k != key]:
                _close(self._objects.pop(old))

        def build() -> SemanticIndex:
            index = SemanticIndex(embedder)
            weakref.finalize(self, _close, index)
            index.add(records)
            return index

        return self._get(key, build)

    def search(
        self, query: str, top_k: int = 5, corpus_text: str | None = None, corpus_file: str | None = None
    ) -> list[list[Any]]:
        """Hit rows for ``query``: over the pasted/uploaded corpus when one is given, else over ``--index``."""
        query = _required(query, "query")
        if corpus_file or (corpus_text and corpus_text.strip()):
            index = self.corpus_index(corpus_text, corpus_file)
        elif self.index is not None:
            index = self.index
        else:
            raise UsageError(
                "there is no index to search",
                "paste or upload a corpus in this tab, or start the app with --index DIR (from nlu index build)",
            )
        return hit_rows(index.search(query, top_k=int(top_k))[0])

    def cluster(
        self,
        corpus_text: str | None = None,
        corpus_file: str | None = None,
        *,
        method: str = "kmeans",
        k: int | None = None,
        min_size: int | None = None,
        seed: int = 0,
    ) -> tuple[str, list[list[Any]], str]:
        """Cluster the pasted/uploaded corpus (else the index's documents, with their stored vectors).

        Returns the path of the cluster-map PNG (UMAP if installed, else PCA), the summary rows,
        and a one-line description. ``k`` (kmeans, agglomerative; None or 0: auto for kmeans) and
        ``min_size`` (community, hdbscan) are passed only to the methods that take them.
        """
        from nlu_toolkit.tasks.cluster import cluster

        if method not in CLUSTER_METHODS:
            raise UsageError(f"unknown clustering method {method!r}", f"use one of: {', '.join(CLUSTER_METHODS)}")
        options: dict[str, Any] = {}
        if method in ("kmeans", "agglomerative"):
            options["k"] = int(k) if k else ("auto" if method == "kmeans" else None)
        elif min_size:
            options["min_size"] = int(min_size)
        if corpus_file or (corpus_text and corpus_text.strip()):
            records = parse_corpus(corpus_text, corpus_file)
            vectors, _ = self.embedder().encode([r["text"] for r in records])
            result = cluster(records, embeddings=vectors, method=method, seed=seed, **options)
            source = f"the {len(records)} documents of the corpus"
        elif self.index is not None:
            # The index already holds every document's vector: nothing is encoded.
            records = list(self.index.documents())
            result = cluster(records, embeddings=self.index.embeddings, method=method, seed=seed, **options)
            source = f"the {len(records)} documents of the index"
        else:
            raise UsageError(
                "there is nothing to cluster",
                "paste or upload a corpus in this tab, or start the app with --index DIR",
            )
        # One map at a time: Gradio copies the file when the handler returns, so the previous one can go.
        for old in self._workdir.glob("clusters-*.png"):
            old.unlink(missing_ok=True)
        self._plots += 1
        path = self._workdir / f"clusters-{self._plots}.png"
        projection = result.plot(path, seed=seed)
        n_clusters = sum(1 for c in result.summary if c["cluster"] != -1)
        return (
            str(path),
            summary_rows(result.summary),
            f"{n_clusters} clusters in {source} ({method}, {projection} map)",
        )


def _close(index: Any) -> None:
    close = getattr(index, "close", None)  # SemanticIndex.close removes its nlu-index-* staging folder
    if close is not None:
        close()


def _required(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise InputError(f"the {name} is empty", f"type a {name}")
    return value


# ---------------------------------------------------------------------------- the Gradio app


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
            search_button.click(search, [query, top_k, corpus, corpus_file], hits, api_name="search")
            query.submit(search, [query, top_k, corpus, corpus_file], hits)

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
