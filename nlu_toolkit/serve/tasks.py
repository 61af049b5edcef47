"""What each served task runs: one class per task, built once at start-up, run on its model's worker.

A served task is an object with four methods (the `Task` protocol): ``model_keys`` (the workers
it needs: one per model, shared by every task on the same weights and device), ``route`` (which
of them runs a group), ``run`` (one library call for a group of payloads, records back in order)
and ``describe`` (what ``/models`` says). ``close``, when present, is called at shut-down.

A new served task is a class here; `nlu_toolkit.serve.service.Service` decides when it loads
(``_load_task``) and runs it, `nlu_toolkit.serve.api` gives it a route.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable
from typing import Any, Protocol

from nlu_toolkit.errors import ModelNotAvailable, NluError
from nlu_toolkit.serve.sequence_scores import PREDICT, SequenceScorer, classifier_scorer

#: Classifiers kept per (labels, multi_label); an LRU bound, since clients choose the labels.
CLASSIFIER_CACHE = 64


class Task(Protocol):
    """A loaded task: which worker runs a group, how a group runs, what /models says."""

    def model_keys(self) -> list[str]: ...

    def route(self, group: Hashable) -> str: ...

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]: ...

    def describe(self) -> dict[str, Any]: ...


def _key(info: Any) -> str:
    # One worker per model: the same weights on the same device share a thread,
    # whatever task loaded them (embed, similarity, search and zero-shot classify
    # all run on the embedded MiniLM by default).
    return f"{info.path}@{info.device}"


def _model(info: Any) -> dict[str, Any]:
    from nlu_toolkit.models.resolver import weights_sha256

    return {**info.to_dict(), "weights_sha256": weights_sha256(info)}


def default_cached(task: str) -> bool:
    """Whether the hub default of a resolver task is in the local HF cache (never asks the hub)."""
    from nlu_toolkit.models.presets import PRESETS, TASK_DEFAULTS
    from nlu_toolkit.models.resolver import cached_snapshot

    return cached_snapshot(PRESETS[TASK_DEFAULTS[task]].model) is not None


class _OneModel:
    """A task run by one model: its worker, and what /models says about it."""

    info: Any
    _described: dict[str, Any]

    def model_keys(self) -> list[str]:
        return [_key(self.info)]

    def route(self, group: Hashable) -> str:
        return _key(self.info)

    def describe(self) -> dict[str, Any]:
        return self._described


class EmbedTask(_OneModel):
    """``/embed``: ``{"id", "truncated", ...passthrough, "embedding"}`` per text, as ``nlu embed`` writes."""

    def __init__(self, spec: str, options: dict[str, Any]) -> None:
        from nlu_toolkit.tasks.embed import Embedder

        # Two views of one loaded model (the resolver caches it): raw and unit-length vectors.
        self.embedders = {flag: Embedder(spec, normalize=flag, **options) for flag in (False, True)}
        self.info = self.embedders[False].model_info
        self._described = {"model": _model(self.info), "dimension": self.embedders[False].dimension}

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        from nlu_toolkit.records import with_fields
        from nlu_toolkit.tasks.common import passthrough

        vectors, truncated = self.embedders[bool(group)].encode([r["text"] for r in payloads])
        # A sent field named "truncated" or "embedding" comes back as input_<name>, never over the answer.
        return [
            with_fields({"id": r["id"], **passthrough(r, ["text"])}, truncated=t, embedding=v.tolist())
            for r, v, t in zip(payloads, vectors, truncated, strict=True)
        ]


class SimilarityTask(_OneModel):
    """``/similarity``: ``{"a", "b", "score"}`` per pair, from `nlu_toolkit.similarity`."""

    def __init__(self, spec: str, options: dict[str, Any]) -> None:
        from nlu_toolkit.tasks.embed import Embedder

        # One embedder for the life of the server: building one per batch would re-run the ONNX probe check.
        self.embedder = Embedder(spec, normalize=True, **options)
        self.info = self.embedder.model_info
        self._described = {"model": _model(self.info)}

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        from nlu_toolkit.tasks.embed import pair_scores

        return pair_scores(self.embedder, [a for a, _ in payloads], [b for _, b in payloads])


#: The mark of a ``/search`` batch group whose requests want one hit per document (``per_document``).
PER_DOCUMENT = "per_document"
#: The marker of a search group with a mode other than dense: (RANKED, its settings as pairs, the group without them).
RANKED = "ranked"


class SearchTask(_OneModel):
    """``/search``: one ``{"query_index", "query", "hits"}`` record per query, on a saved index."""

    def __init__(self, path: str, spec: str | None, options: dict[str, Any]) -> None:
        from nlu_toolkit.search.api import open_index

        self.path = path
        # Opened for the life of the server (every request searches it); `close` closes it.
        self._open = contextlib.ExitStack()
        self.index = self._open.enter_context(open_index(index=path, model=spec, **options))
        self.info = self.index.model_info
        manifest = self.index.manifest
        self._described = {
            "model": _model(self.info),
            "index": {
                "path": path,
                "count": len(self.index),
                **{k: manifest.get(k) for k in ("dimension", "precision", "backend", "created", "corpus_fingerprint")},
            },
        }

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        options: dict[str, Any] = {}
        if isinstance(group, tuple) and group[0] == PER_DOCUMENT:  # (PER_DOCUMENT, the group without it)
            options, group = {"per_document": True}, group[1]
        if isinstance(group, tuple) and group[0] == RANKED:  # mode, fusion, rrf_k, alpha
            options, group = {**options, **dict(group[1])}, group[2]
        if not isinstance(group, tuple):
            return [r.to_dict() for r in self.index.search(payloads, top_k=int(group), **options)]  # type: ignore
        top_k, where = group
        return [r.to_dict() for r in self.index.search(payloads, top_k=int(top_k), where=where, **options)]  # type: ignore

    def check_where(self, where: str) -> None:
        """Refuse a ``where`` this index cannot apply, before the request joins a batch (an error there
        would fail the other requests of the batch too)."""
        from nlu_toolkit.search.api import check_where

        check_where(self.index, where)

    def close(self) -> None:
        """Close the index: its staging folder (``nlu-index-*`` in the temp dir) is removed."""
        self._open.close()


def ranking_of(task: Any, body: Any) -> tuple[tuple[str, Any], ...]:
    """A ``/search`` body's mode, fusion, rrf_k and alpha, checked (the index must have its lexical part for mode
    lexical or hybrid) before the request joins a batch; as pairs, so they can be part of the batch's group."""
    from nlu_toolkit.search.fusion import Ranking
    from nlu_toolkit.search.hybrid import require_lexical_part

    ranking = Ranking(body.mode, body.fusion, body.rrf_k, body.alpha)
    require_lexical_part(task.index)
    return tuple(sorted(vars(ranking).items()))


class PredictTask(_OneModel):
    """``/ner`` and ``/qa``: a loaded predictor whose ``predict(records)`` yields records in order."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.info = predictor.model_info
        self._described = {"model": _model(self.info)}

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.predictor.predict(payloads)]


class ClassifyTask:
    """``/classify``: a supervised model for requests without labels, zero-shot for requests with them.

    Zero-shot follows `Classifier`: a sentence-transformers model (the embedded MiniLM
    when no classify model is given) scores by embedding similarity, an NLI model by
    entailment. Requests are grouped by ``(labels, multi_label)``; each group gets a
    `Classifier` (cached, LRU), so the records equal ``Classifier(...).predict``'s.
    """

    def __init__(self, spec: str | None, *, must: bool, options: dict[str, Any]) -> None:
        from nlu_toolkit.models.head import has_head
        from nlu_toolkit.models.resolver import is_nli, is_sentence_transformer, load_model, locate
        from nlu_toolkit.tasks.classify import Classifier
        from nlu_toolkit.tasks.zero_shot_cache import ZeroShotCache

        self.spec = spec
        self.supervised: Any = None
        self.zero_shot_spec: str | None = None
        self.reason = ""
        # Thread-safe: the supervised and the zero-shot model may have different worker threads.
        self._cache = ZeroShotCache(CLASSIFIER_CACHE, **options)
        # An encoder with a linear head (nlu finetune --task fewshot) has labels of its own: supervised first.
        headed = spec is not None and has_head(locate(spec, "zero-shot").path)
        if spec is not None and not headed and is_sentence_transformer(locate(spec, "zero-shot").path):
            self.zero_shot_spec = spec
            self.reason = f"classify model {spec!r} is a sentence-transformers model, with no labels of its own"
        else:
            if spec is not None or must or default_cached("text-classification"):
                try:
                    self.supervised = Classifier(spec, **options)
                except NluError as e:
                    if must and spec is None and isinstance(e, ModelNotAvailable):
                        # The resolver's hint speaks of `nlu classify`; say how the server classifies offline.
                        hint = (
                            f"{e.hint_template}; or serve zero-shot classification offline: --model classify=embedded"
                        )
                        raise ModelNotAvailable(e.template, hint) from e
                    if must:
                        raise
                    self.reason = f"its default model failed to load ({e.message})"
            else:
                self.reason = "no model was given and the default sentiment model is not in the local HF cache"
            if spec is None:
                self.zero_shot_spec = "embedded"  # the spec embed uses, so the resolver loads the model once
            elif headed:
                self.zero_shot_spec = spec  # requests with labels: its encoder scores them by similarity
            elif is_nli(load_model(spec, "text-classification", device=options.get("device")).model.config):
                self.zero_shot_spec = spec
        self.zero_shot_info = None
        if self.zero_shot_spec is not None:
            # Loads the zero-shot model now rather than on the first request.
            self.zero_shot_info = self._classifier((("yes", "no"), None)).model_info
            self._cache.clear()
        self._described = {
            "model": _model(self.supervised.model_info) if self.supervised else None,
            "labels": list(self.supervised.labels) if self.supervised else None,
            "zero_shot_model": _model(self.zero_shot_info) if self.zero_shot_info else None,
        }
        #: TEI's ``/predict`` on the supervised model (`nlu_toolkit.serve.tei_routes`), group ``(PREDICT, raw)``.
        self.predictor = None if self.supervised is None else classifier_scorer(spec, options)

    def model_keys(self) -> list[str]:
        infos = [self.supervised.model_info if self.supervised else None, self.zero_shot_info]
        return [_key(i) for i in infos if i is not None]

    def route(self, group: Hashable) -> str:
        labels, _ = group  # type: ignore[misc]
        if labels == PREDICT and self.supervised is not None:
            return _key(self.supervised.model_info)
        if labels is None:
            if self.supervised is None:
                raise ModelNotAvailable(
                    f"this server classifies zero-shot only: {self.reason}",
                    'send "labels": [...], or restart nlu serve with --model classify=PATH',
                )
            return _key(self.supervised.model_info)
        if self.zero_shot_info is None:
            raise ModelNotAvailable(
                f"classify model {self.supervised.model_info.name!r} is neither an NLI nor a sentence-transformers "
                "model, so it cannot score labels of your choice",
                'drop "labels" to use the model\'s own labels, or restart nlu serve with --model classify=embedded',
            )
        return _key(self.zero_shot_info)

    def _classifier(self, group: Hashable) -> Any:
        labels, multi_label = group  # type: ignore[misc]
        spec = self.spec if labels is None else self.zero_shot_spec
        return self._cache.get(spec, labels, multi_label=multi_label)

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        if group[0] == PREDICT:  # type: ignore[index]
            return self.predictor.scores(payloads, raw=bool(group[1]))  # type: ignore[index, union-attr]
        classifier = self.supervised if group == (None, None) else self._classifier(group)
        return [r.to_dict() for r in classifier.predict(payloads)]

    def describe(self) -> dict[str, Any]:
        return self._described


class RerankTask(_OneModel):
    """``/rerank``, ``/v1/rerank`` and ``/predict``: a sequence-classification model loaded as a cross-encoder.

    A group is ``(kind, raw)``. ``("rerank", raw)``: payloads ``(query, text)``, one ``{"score"}`` each, the
    score of search's reranker (`nlu_toolkit.search.rerank`): the logit with ``raw``, else its sigmoid.
    ``("predict", raw)``: payloads ``(text,)`` or ``(text, text_pair)``, one ``{"scores"}`` (one per label)
    each: the logits with ``raw``, else their softmax (sigmoid for a one-label model), as TEI's ``/predict``.
    """

    def __init__(self, spec: str, options: dict[str, Any]) -> None:
        from nlu_toolkit.search.rerank import load_cross_encoder

        self.loaded = load_cross_encoder(spec, device=options.get("device"), param="model")
        self.info = self.loaded.info
        self.batch_size = int(options.get("batch_size") or 32)
        max_length = int(self.loaded.model.max_length or self.loaded.tokenizer.model_max_length)
        #: ``/predict`` on this model; its labels, token limit and counts serve ``/rerank``'s checks too.
        self.scorer = SequenceScorer(self.loaded.model.model, self.loaded.tokenizer, max_length, self.batch_size)
        self.labels, self.max_length = self.scorer.labels, max_length
        self._described = {"model": _model(self.info), "labels": self.labels, "max_length": self.max_length}

    def run(self, group: Hashable, payloads: list[Any]) -> list[dict[str, Any]]:
        from nlu_toolkit.search.rerank import cross_encoder_scores

        kind, raw = group  # type: ignore[misc]
        if kind == "rerank":
            scores = cross_encoder_scores(self.loaded.model, payloads, raw=bool(raw), batch_size=self.batch_size)
            return [{"score": float(s)} for s in scores]
        return self.scorer.scores(payloads, raw=bool(raw))
