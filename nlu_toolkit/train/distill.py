"""``nlu distill``: a static embedding model (Model2Vec) distilled from a sentence-transformers teacher.

Model2Vec embeds every vocabulary token with the teacher, reduces the vectors by PCA (``dims``) and
weights them by Zipf's law; the result is a table of token vectors that embeds a text by a mean of
lookups, with no transformer. The distillation is the ``model2vec`` library's own (the ``static``
extra); this module resolves the teacher offline (the embedded MiniLM or a local folder), checks the
output, seeds the PCA, measures the student against its teacher (`nlu_toolkit.train.distill_quality`:
agreement on built-in sentences, and Spearman against gold scores with ``eval``), and writes the folder
atomically with a model card that records the teacher, its weights checksum, the settings and the measured
quality. The folder loads wherever an embedding model goes (`nlu_toolkit.models.static`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nlu_toolkit._version import __version__
from nlu_toolkit.errors import InputError, UsageError
from nlu_toolkit.extras import require
from nlu_toolkit.io.guard import check_output_folder
from nlu_toolkit.io.readers import read_text_file
from nlu_toolkit.io.swap import replace_folder
from nlu_toolkit.io.writers import output_error
from nlu_toolkit.models.resolver import is_sentence_transformer, locate, weights_sha256
from nlu_toolkit.models.static import is_static_folder
from nlu_toolkit.models.weights import require_safetensors
from nlu_toolkit.train.distill_quality import load_scored_pairs, measure_quality, quality_card

CARD = "README.md"
SETTINGS = "distill.json"
KIND = "static model"


@dataclass
class DistillResult:
    """What `distill` wrote: the folder, the teacher and its checksum, the settings, the model's size, and
    the measured quality (`nlu_toolkit.train.distill_quality`): the student's agreement with the teacher on
    ``agreement_sentences`` built-in sentences (Spearman of the ``agreement_pairs`` pair cosines, share of
    equal nearest neighbours, top-5 neighbour overlap) and, with ``eval``, the student's and the teacher's
    Spearman against the gold scores of ``eval_pairs`` pairs."""

    output: str
    teacher: str
    teacher_sha256: str
    dims: int | None
    seed: int
    vocabulary_file: str | None
    added_words: int
    vocabulary_size: int
    dimension: int
    settings: dict[str, Any] = field(default_factory=dict)
    agreement_spearman: float | None = None
    agreement_nearest: float | None = None
    agreement_top5: float | None = None
    agreement_sentences: int = 0
    agreement_pairs: int = 0
    eval_file: str | None = None
    eval_pairs: int | None = None
    eval_spearman: float | None = None
    eval_teacher_spearman: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_vocabulary(path: str) -> list[str]:
    """Words to add to the teacher's vocabulary: one per line, blank lines and duplicates dropped."""
    words = [line.strip() for line in read_text_file(path, max_chars=None).splitlines()]
    words = list(dict.fromkeys(w for w in words if w))
    if not words:
        raise InputError("holds no words", "give one word per line", path=path)
    return words


def distill(
    output: str | Path,
    model: str | None = None,
    *,
    dims: int | None = 256,
    vocabulary: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    eval: str | Path | None = None,
) -> DistillResult:
    """Distill ``model`` (default: the embedded all-MiniLM-L6-v2) into a static model folder ``output``.

    Args:
        dims: PCA size of the token vectors (None keeps the teacher's dimension; it cannot exceed it).
        vocabulary: a file of words (one per line) added to the teacher's vocabulary.
        seed: seeds the PCA, so the same teacher and settings give the same vectors.
        overwrite: replace ``output`` if it already holds a static model.
        eval: a scored-pairs file (sentence1, sentence2, score; or raw STS Benchmark): the student's and the
            teacher's Spearman against its gold scores are measured and recorded. Without it, only the
            agreement with the teacher on built-in sentences is.

    Raises:
        MissingExtra: ``model2vec`` is not installed (``pip install 'nlu-toolkit[static]'``).
        ModelNotAvailable: the teacher cannot be found offline or is not a sentence-transformers model.
        TrainingDataError: ``eval`` is unreadable or holds no scored pairs (raised before any work).
    """
    if dims is not None and dims < 1:
        raise UsageError(f"{{=dims}} must be at least 1, not {dims}", "give the PCA size, e.g. 256")
    words = read_vocabulary(vocabulary) if vocabulary is not None else None
    pairs = load_scored_pairs(eval) if eval is not None else None
    info = locate(model, "sentence-embedding")
    if not is_sentence_transformer(info.path):
        raise UsageError(
            f"{info.name!r} is not a sentence-transformers model; Model2Vec distils sentence embeddings",
            "give a sentence-transformers model as {=model}, or leave it out for the embedded one",
        )
    require_safetensors(info.path)
    check_output_folder(
        output,
        kind=KIND,
        is_kind=is_static_folder,
        inputs=[info.path, vocabulary, None if eval is None else str(eval)],
        overwrite=overwrite,
        what="{=output}",
    )
    distill_module = require("model2vec.distill", extra="static", package="model2vec")
    teacher_sha = weights_sha256(info)
    dimension = _teacher_dimension(info.path)
    if dims is not None and dimension is not None and dims > dimension:
        raise UsageError(
            f"{{=dims}} is {dims}, more than the teacher's {dimension} dimensions", f"give at most {dimension}"
        )
    _seed(seed)
    with _quiet_model2vec():
        static = distill_module.distill(info.path, vocabulary=words, device="cpu", pca_dims=dims)
    settings = {"pca_dims": dims, "seed": seed, "added_words": len(words or []), "library": _m2v_version()}
    result = DistillResult(
        output=str(output),
        teacher=info.name if info.source != "local" else Path(info.path).name,
        teacher_sha256=teacher_sha,
        dims=dims,
        seed=seed,
        vocabulary_file=vocabulary,
        added_words=len(words or []),
        vocabulary_size=int(static.embedding.shape[0]),
        dimension=int(static.dim),
        settings=settings,
    )
    _write(static, Path(output), result, teacher=model, pairs=pairs)
    return result


def _teacher_dimension(path: str) -> int | None:
    """The teacher transformer's hidden size: the size of the token vectors Model2Vec reduces."""
    try:
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    size = config.get("hidden_size") if isinstance(config, dict) else None
    return int(size) if isinstance(size, int) else None


def _seed(seed: int) -> None:
    """Seed numpy's global generator (scikit-learn's PCA draws from it) and torch."""
    import numpy as np
    import torch

    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _quiet_model2vec() -> Iterator[None]:
    """For the block: no "Encoding tokens" bar from model2vec, no warnings from skeletoken's tokenizer
    conversion, transformers quiet (the library never prints; the CLI reports the result)."""
    from nlu_toolkit.models.quiet import quiet_transformers

    loggers = [logging.getLogger(name) for name in ("model2vec", "skeletoken")]
    levels = [logger.level for logger in loggers]
    inference = sys.modules.get("model2vec.distill.inference")
    bar = getattr(inference, "tqdm", None)
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    if bar is not None:
        inference.tqdm = functools.partial(bar, disable=True)
    try:
        with quiet_transformers():
            yield
    finally:
        if bar is not None:
            inference.tqdm = bar
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _m2v_version() -> str:
    from importlib.metadata import version

    return f"model2vec {version('model2vec')}"


def _write(static: Any, target: Path, result: DistillResult, *, teacher: str | None, pairs: Any) -> None:
    """Save into a folder beside ``target``, measure it against ``teacher`` (filling ``result``'s quality
    fields), add the card and settings, then move it into place."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as e:
        raise output_error(e, target) from e
    try:
        static.save_pretrained(str(tmp))
        # Safetensors only: nothing model2vec or a future version writes may be a pickle.
        for pickle in [*tmp.rglob("*.bin"), *tmp.rglob("*.pt"), *tmp.rglob("*.pkl")]:
            pickle.unlink()
        eval_file = None if pairs is None else str(pairs[3].get("path"))
        for key, value in measure_quality(teacher, str(tmp), pairs, eval_file=eval_file).items():
            setattr(result, key, value)
        (tmp / SETTINGS).write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        (tmp / CARD).write_text(model_card(result), encoding="utf-8")
        replace_folder(tmp, target)
    except OSError as e:
        raise output_error(e, target) from e
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def model_card(result: DistillResult) -> str:
    """The folder's README: what the static model is, its teacher (with checksum), the settings and the
    measured quality."""
    dims = result.dims if result.dims is not None else "none (teacher's dimension)"
    lines = [
        "---",
        "library_name: model2vec",
        "tags: [static-embeddings, model2vec, nlu-toolkit]",
        f"base_model: {result.teacher}",
        "---",
        "",
        f"# Static embedding model distilled from {result.teacher}",
        "",
        "A Model2Vec static model: one precomputed vector per token, a text is the mean of its tokens' vectors.",
        f"Made by `nlu distill` (nlu_toolkit {__version__}, {result.settings.get('library')}).",
        "",
        "| | |",
        "|---|---|",
        f"| teacher | {result.teacher} |",
        f"| teacher weights sha256 | `{result.teacher_sha256}` |",
        f"| PCA dims | {dims} |",
        f"| seed | {result.seed} |",
        f"| added vocabulary | {result.added_words} words ({result.vocabulary_file or 'none'}) |",
        f"| vocabulary size | {result.vocabulary_size} |",
        f"| dimension | {result.dimension} |",
        "",
        *quality_card(result.to_dict()),
        "Load it with `nlu embed --model DIR`, or `Embedder(DIR)` / `StaticModel.from_pretrained(DIR)`.",
        "",
    ]
    return "\n".join(lines)
