"""`AppBackend`: the configuration, the loaded index and the cached models behind the tabs of `nlu app`."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu_toolkit.app.config import CLUSTER_METHODS, MODEL_FLAGS, AppConfig, unavailable_message
from nlu_toolkit.app.tabs import (
    Segments,
    answer_segments,
    entity_segments,
    hit_rows,
    label_scores,
    parse_corpus,
    summary_rows,
)
from nlu_toolkit.errors import InputError, ModelNotAvailable, NluError, UsageError
from nlu_toolkit.tasks.zero_shot_cache import ZeroShotCache

if TYPE_CHECKING:  # pragma: no cover
    from nlu_toolkit.search.index import SemanticIndex

#: Zero-shot classifiers kept, one per label set (each holds only its encoded labels).
ZERO_SHOT_CACHE = 32


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
            from nlu_toolkit.search.api import load_index

            # An index folder, or a Lance table (DIR.lance, local or on object storage).
            self.index = load_index(self.config.index, device=self.config.device)  # type: ignore[assignment]
            weakref.finalize(self, _close, self.index)  # at exit too: no nlu-index-* folder left
        self._objects: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        # One zero-shot classifier per label set tried: a classifier encodes its labels once, at
        # construction (the weights are shared: the resolver caches them). Failed loads are kept too.
        self.zero_shot = ZeroShotCache(
            ZERO_SHOT_CACHE, cache_errors=(ModelNotAvailable, UsageError), device=self.config.device
        )
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
        wrap: tuple[type[NluError], ...] = (ModelNotAvailable, UsageError),
    ) -> Any:
        """`_get` for ``task``'s model, turning a load failure into a message that names the task's flag.

        ``wrap`` lists the errors that mean "this model cannot serve the task".
        """
        try:
            return self._get((task,), factory)
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
            label_list = parse_labels(labels)
            try:
                clf = self.zero_shot.get(self.config.zero_shot_model, label_list)
            except ModelNotAvailable as e:  # a UsageError here is about the labels, not the model
                raise ModelNotAvailable(unavailable_message("zero_shot", e)) from e
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
        self,
        query: str,
        top_k: int = 5,
        corpus_text: str | None = None,
        corpus_file: str | None = None,
        per_document: bool = False,
        mode: str = "dense",
    ) -> list[list[Any]]:
        """Hit rows for ``query``: over the pasted/uploaded corpus when one is given, else over ``--index``;
        ``per_document``: one hit per document of a passage index (its best passage); ``mode``: dense, lexical
        or hybrid (the library's default fusion, weighted; a pasted corpus gets its lexical part when first
        searched so, an index needs one)."""
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
        per = {"per_document": True} if per_document else {}
        if mode != "dense":
            per["mode"] = mode
            if index is not self.index and not index.hybrid:
                with self._lock:
                    index.enable_lexical()
        return hit_rows(index.search(query, top_k=int(top_k), **per)[0])

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
