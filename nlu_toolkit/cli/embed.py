"""``nlu embed``: texts to vectors, and semantic search (``--search``) over a corpus or a saved index."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.distributed import DistributedOptions, distributed_options, run_distributed
from nlu_toolkit.cli.render import emit, num, short, short_lines
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import UsageError

embed_opt = o.panel("Embedding")
search_opt = o.panel("Search")


Precision = o.choices("Precision", "float32", "int8", "ubinary")


Backend = o.choices("Backend", "exact", "usearch")
SearchMode = o.choices("SearchMode", "dense", "lexical", "hybrid")
Fusion = o.choices("Fusion", "rrf", "weighted")


NormalizeOpt = Annotated[bool, embed_opt("--normalize/--no-normalize", help="Scale vectors to unit length.")]
PrecisionOpt = Annotated[
    Precision, embed_opt("--precision", help="float32, or int8/ubinary through sentence-transformers' quantization.")
]


#: The run options every command with an index takes from the bundle. ``--backend`` and ``--quantize``
#: stay the command's own: ``--backend exact|usearch`` is the old spelling of ``--index-backend``
#: (`options.split_backend`), which the bundle's backend refuses, and a RunOptions with ``--quantize``
#: but no backend yet would be refused as quantizing torch.
INDEX_RUN_FIELDS = ("device", "batch_size", "max_length", "trust_remote_code", "threads")


def with_backend(run: RunOptions, backend: str, quantize: str | None, kind: str) -> tuple[RunOptions, str]:
    """``run`` with the command's own ``--backend`` and ``--quantize``, and the index kind.

    ``--backend exact|usearch`` is the old spelling of ``--index-backend`` (`options.split_backend`).
    """
    runtime, index_kind = o.split_backend(backend, kind)
    return dataclasses.replace(run, backend=runtime, quantize=quantize), index_kind


def reading_of(source: InputOptions) -> dict[str, Any]:
    """The `iter_records` keywords that read a corpus file as ``source`` says."""
    return {
        "fields": {"text": source.text_column},
        "id_column": source.id_column,
        "fmt": source.input_format,
        "encoding": source.encoding,
        "max_chars": source.max_chars,
    }


# --format is the command's own: it also names the embedding formats (npy, parquet).
@output_options("output", "verbose", "quiet", "manifest")
@input_options()
@run_options(*INDEX_RUN_FIELDS)
@distributed_options()
def embed_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    model: o.ModelOpt = None,
    normalize: NormalizeOpt = False,
    precision: PrecisionOpt = Precision.float32,
    long: o.LongOpt = "truncate",
    stride: o.StrideOpt = None,
    search: Annotated[
        list[str] | None,
        search_opt("--search", "-s", help="Search mode: a query (repeatable). Needs --corpus FILE or --index DIR."),
    ] = None,
    queries: Annotated[
        str | None,
        search_opt(
            "--queries", help="Search mode: queries from FILE (a query per line, or csv/jsonl with a text column)."
        ),
    ] = None,
    corpus: Annotated[
        str | None, search_opt("--corpus", help="Search this file (encoded once per call; build an index to reuse it).")
    ] = None,
    index: Annotated[
        str | None, search_opt("--index", help="Search a saved index (nlu index build); only queries are encoded.")
    ] = None,
    top_k: Annotated[int, search_opt("--top-k", "-k", min=1, help="Hits per query.")] = 10,
    rerank: Annotated[
        str | None,
        search_opt(
            "--rerank", help="Re-score the top candidates with this cross-encoder (hub id, folder or preset 'rerank')."
        ),
    ] = None,
    where: Annotated[
        str | None,
        search_opt(
            "--where",
            help="Search mode, Lance index (--index DIR.lance): an SQL filter on its passthrough columns, "
            "e.g. \"topic = 'shipping'\".",
        ),
    ] = None,
    mode: Annotated[
        SearchMode,
        search_opt(
            "--mode",
            help="dense (vectors), lexical (BM25 on the words) or hybrid (both rankings fused); lexical and "
            "hybrid need an index built with --hybrid (a --corpus gets one for the call).",
        ),
    ] = SearchMode.dense,
    fusion: Annotated[
        Fusion,
        search_opt(
            "--fusion",
            help="--mode hybrid: weighted (each ranker's scores min-max normalised, then alpha * dense + "
            "(1 - alpha) * lexical; the default) or rrf (reciprocal rank fusion, --rrf-k).",
        ),
    ] = Fusion.weighted,
    rrf_k: Annotated[
        float, search_opt("--rrf-k", min=0.0, help="--fusion rrf: k in score = sum over rankers of 1 / (k + rank).")
    ] = 60.0,
    alpha: Annotated[
        float,
        search_opt(
            "--alpha",
            min=0.0,
            max=1.0,
            help="--fusion weighted: the weight of the dense ranker (chosen on train data).",
        ),
    ] = 0.9,
    per_document: Annotated[
        bool,
        search_opt(
            "--per-document",
            help="One hit per document of a passage index (nlu index build --passages): its best passage; "
            "--top-k counts documents.",
        ),
    ] = False,
    kind: Annotated[
        Backend,
        search_opt(
            "--index-backend", help="Search backend for --corpus: exact, or usearch (approximate, needs the ann extra)."
        ),
    ] = Backend.exact,
    fmt: Annotated[
        str | None,
        o.output_opt(
            "--format",
            "-f",
            help="Output format: npy, parquet, jsonl, json, csv (default: from --output's "
            "extension, else jsonl); search results: table, json, jsonl, csv.",
        ),
    ] = None,
    backend: o.BackendOpt = "torch",
    quantize: o.QuantizeOpt = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
    dist: DistributedOptions,
) -> None:
    """Embed texts to vectors (.npy, .parquet or .jsonl), or search a corpus with --search.

    Examples:
      nlu embed --input data/corpus.jsonl -o vectors.npy --normalize
      nlu embed --search "how do I get a refund" --corpus data/corpus.jsonl
      nlu index build data/corpus.jsonl --out corpus.idx && nlu embed --search "refund" --index corpus.idx
    """
    out = dataclasses.replace(out, fmt=fmt)
    if dist.engine == "ray":  # files to a Parquet folder or a .lance index on Ray Data (cli/distributed.py)
        run_distributed("embed", dist, texts=texts, input_file=input_file, model=model, out=out, source=source,
                        run=with_backend(run, backend, quantize, kind.value)[0],
                        task_options={"normalize": normalize, "long": long, "stride": stride},
                        not_with={"--search": search, "--queries": queries, "--corpus": corpus, "--index": index,
                                  "--rerank": rerank, "--precision": precision != Precision.float32})  # fmt: skip
        return
    dist.check_local()
    out.start(input_file, queries, corpus, index)
    run, index_kind = with_backend(run, backend, quantize, kind.value)
    if search or queries:
        if stride is not None:  # an index's windows are its own (nlu index build); a corpus is encoded as one
            raise UsageError("--stride is not taken in search mode", "drop --stride, or embed the corpus with it")
        request = _SearchRequest(
            search=list(search or []),
            queries_file=queries,
            corpus=corpus,
            index=index,
            model=model,
            top_k=top_k,
            rerank=rerank,
            kind=index_kind,
            long=long,
            out=out,
            source=source,
            run=run,
            where=where,
            per_document=per_document,
            ranking={"mode": mode.value, "fusion": fusion.value, "rrf_k": rrf_k, "alpha": alpha},
        )
        _search(request, texts, input_file)
        return
    if corpus or index or rerank or where:
        raise UsageError(
            "--corpus, --index, --rerank and --where are for search mode", "add --search QUERY or --queries FILE"
        )
    from nlu_toolkit.io.writers import embedding_format, write_embeddings
    from nlu_toolkit.records import with_fields
    from nlu_toolkit.tasks.embed import Embedder, quantize

    chosen = embedding_format(out.output, out.fmt)
    with out.progress(input_file is not None, "embedding") as progress:
        records = source.read(texts, input_file, progress=progress)
        embedder = Embedder(model, normalize=normalize, long=long, stride=stride, run=run)
        out.note_model(embedder)
        kept: list[dict[str, Any]] = []
        parts = []
        for window, vectors, truncated in embedder.embed(records):
            kept.extend(
                {"id": r["id"], "truncated": t, **{k: v for k, v in r.items() if k not in ("id", "text")}}
                for r, t in zip(window, truncated, strict=True)
            )
            parts.append(vectors)
    import numpy as np

    matrix = quantize(np.concatenate(parts), precision.value)
    if chosen == "table":  # only when asked for (--format table): the terminal, whatever --output says
        emit(
            (with_fields(r, embedding=v) for r, v in zip(kept, matrix.tolist(), strict=True)),
            fmt="table",
            output=None,
            columns=[
                ("id", lambda r: str(r["id"])),
                ("dims", lambda r: str(len(r["embedding"]))),
                ("embedding", lambda r: short(", ".join(f"{x:.3f}" for x in r["embedding"][:6]), 50)),
                ("truncated", lambda r: "yes" if r["truncated"] else ""),
            ],
            title=f"model: {embedder.model_info.describe()}",
        )
        return
    write_embeddings(kept, matrix, chosen, out.output)


@dataclass
class _SearchRequest:
    """What `embed_cli` hands to `_search`: the search-mode options, already parsed."""

    search: list[str]
    queries_file: str | None
    corpus: str | None
    index: str | None
    model: str | None
    top_k: int
    rerank: str | None
    kind: str
    long: str
    out: OutputOptions
    source: InputOptions
    run: RunOptions
    where: str | None = None  # an SQL filter, for Lance indexes
    per_document: bool = False  # one hit per parent document (passage indexes)
    ranking: dict[str, Any] = dataclasses.field(default_factory=dict)  # mode, fusion, rrf_k, alpha


def _search(req: _SearchRequest, texts: list[str] | None, input_file: str | None) -> None:
    from nlu_toolkit.io.readers import check_text, iter_records
    from nlu_toolkit.search.api import open_index

    if texts or input_file:
        raise UsageError(
            "in search mode, give queries with --search/--queries and the corpus with --corpus/--index",
            "drop the text arguments and --input",
        )
    if (req.corpus is None) == (req.index is None):
        raise UsageError("search needs exactly one of --corpus FILE or --index DIR", "build an index: nlu index build")
    if req.out.fmt not in (None, "table", "json", "jsonl", "csv"):
        raise UsageError(f"--format {req.out.fmt} is not a search output format", "use table, json, jsonl or csv")
    query_texts = list(req.search)
    if req.queries_file:
        query_texts += [
            r["text"]
            for r in iter_records(
                req.queries_file,
                fields={"text": req.source.text_column},
                encoding=req.source.encoding,
                max_chars=req.source.max_chars,
            )
        ]
    if any(not text.strip() for text in query_texts):
        raise UsageError("the query is empty", "give a query with some words, e.g. --search 'refund policy'")
    for text in query_texts:  # before any model loads
        check_text(text, req.source.max_chars, what="--search query")
    if req.index is not None and req.kind != "exact":
        raise UsageError("--index-backend applies when building an index", "pass it to nlu index build")
    if req.where is not None:
        from nlu_toolkit.search.api import check_where
        from nlu_toolkit.search.lance_index import is_lance_uri

        if req.index is None or not is_lance_uri(req.index):
            check_where(None, req.where)  # refused before any model loads: only Lance indexes filter
    from nlu_toolkit.search.hybrid import check_lexical_part

    ranked = check_lexical_part(req.index, **req.ranking)  # before any model loads
    with (
        req.out.progress(req.corpus is not None, "indexing") as progress,
        open_index(
            corpus=req.corpus,
            index=req.index,
            model=req.model,
            kind=req.kind,
            long=req.long,
            progress=progress,
            reading=reading_of(req.source),
            hybrid=bool(ranked),
            run=req.run,
        ) as idx,
    ):
        req.out.note_model(idx.embedder)
        filtering = {} if req.where is None else {"where": req.where}
        if req.per_document:
            filtering["per_document"] = True
        results = idx.search(query_texts, top_k=req.top_k, rerank=req.rerank, **filtering, **ranked)
        req.out.emit(
            (r.to_dict() for r in results),
            [
                ("query", lambda r: short(r["query"], 30)),
                ("rank", lambda r: "\n".join(str(h["rank"]) for h in r["hits"])),
                ("score", lambda r: "\n".join(num(h["score"]) for h in r["hits"])),
                ("id", lambda r: "\n".join(str(h["id"]) for h in r["hits"])),
                ("text", lambda r: short_lines(h.get("text", "") for h in r["hits"])),
                *([("found by", lambda r: "\n".join(_rankers(h) for h in r["hits"]))] if ranked else []),
            ],
            title=f"model: {idx.model_info.describe()}",
        )


def _rankers(hit: dict[str, Any]) -> str:
    """Which ranker found a hit, at what rank: ``dense 3, lexical 1``."""
    return ", ".join(f"{name} {rank}" for name, rank in (hit.get("rankers") or {}).items())
