"""``nlu cluster``: group texts (or saved embeddings) by meaning, with keywords per cluster."""

from __future__ import annotations

from typing import Annotated

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.render import short, stderr_console
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import UsageError
from nlu_toolkit.io.guard import PLOT_SUFFIXES

task_opt = o.panel("Clustering")


Method = o.choices("Method", "kmeans", "agglomerative", "community", "hdbscan")


@output_options("fmt", "output", "verbose", "manifest")
@input_options()
@run_options("device", "batch_size", "backend", "quantize", "threads")
def cluster_cli(
    texts: o.TextsArg = None,
    input_file: o.InputOpt = None,
    embeddings: Annotated[
        str | None,
        o.input_opt(
            "--embeddings",
            help="Cluster saved vectors (.npy or .parquet from nlu embed); "
            "add --input with the same texts for keywords.",
        ),
    ] = None,
    model: o.ModelOpt = None,
    long: o.LongOpt = "truncate",
    stride: o.StrideOpt = None,
    method: Annotated[Method, task_opt("--method", help="Clustering method.")] = Method.kmeans,
    k: Annotated[
        str | None,
        task_opt(
            "--k", help="Clusters for kmeans/agglomerative: a number, or 'auto' (k-means, by silhouette; the default)."
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        task_opt(
            "--threshold",
            help="Cosine similarity in [-1, 1], higher = tighter clusters. community: every member is this "
            "similar to its centre (0.75, near-paraphrases; ~0.3-0.5 for topics); agglomerative: merge clusters "
            "while their mean similarity is above it (0.5). Was a distance for agglomerative: "
            "distance d = similarity 1 - d.",
        ),
    ] = None,
    min_size: Annotated[int | None, task_opt("--min-size", min=1, help="Smallest community / HDBSCAN cluster.")] = None,
    seed: Annotated[int, task_opt("--seed", help="Seed for k-means, sampling and the map.")] = 0,
    summary: Annotated[
        str | None,
        o.output_opt(
            "--summary",
            help="Write the per-cluster summary (size, keywords, representative "
            "texts) to FILE (.json/.jsonl/.csv); else it is shown on stderr.",
        ),
    ] = None,
    plot: Annotated[
        str | None,
        o.output_opt("--plot", help="Draw a 2-D map coloured by cluster to this PNG (UMAP if installed, else PCA)."),
    ] = None,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Cluster texts by meaning: k-means, agglomerative, community detection or HDBSCAN.

    Examples:
      nlu cluster --input data/corpus.jsonl --method kmeans --k auto --plot clusters.png
      nlu cluster --embeddings vectors.npy --input data/corpus.jsonl --method community --threshold 0.3 --min-size 2
    """
    out.start(
        input_file, embeddings, outputs={"--summary": summary, "--plot": plot}, suffixes={"--plot": PLOT_SUFFIXES}
    )
    from nlu_toolkit.io.writers import format_for_output, write_records
    from nlu_toolkit.tasks.cluster import cluster, load_embeddings

    k_value: int | str | None = None if k is None else (k if k == "auto" else _int_k(k))
    records = None
    if texts or input_file:
        records = source.read(texts, input_file)
    elif not embeddings:  # the library would name its own parameters (inputs, embeddings)
        raise UsageError("nothing to cluster", "pass texts, --input FILE or --embeddings FILE")
    vectors = load_embeddings(embeddings) if embeddings else None
    result = cluster(
        records,
        model,
        embeddings=vectors,
        method=method.value,
        k=k_value,
        threshold=threshold,
        min_size=min_size,
        seed=seed,
        long=long,
        stride=stride,
        run=run,
    )
    out.note_model(result)
    if plot:
        result.plot(plot, seed=seed)
    out.emit(
        result.records,
        [
            ("id", lambda r: str(r["id"])),
            ("cluster", lambda r: str(r["cluster"])),
            ("text", lambda r: short(r.get("text", ""), 70)),
        ],
        passthrough=(),
    )
    if summary:
        write_records(result.summary, format_for_output(summary, None, isatty=False), summary)
    else:
        from rich.table import Table

        table = Table("cluster", "size", "keywords", "representative", title="clusters")
        for c in result.summary:
            table.add_row(
                str(c["cluster"]),
                str(c["size"]),
                ", ".join(c["keywords"]),
                short(c["representatives"][0] if c["representatives"] else "", 60),
            )
        stderr_console().print(table)


def _int_k(k: str) -> int:
    try:
        value = int(k)
    except ValueError:
        raise UsageError(f"--k must be a number or 'auto', got {k!r}", "e.g. --k 8 or --k auto") from None
    if value < 2:
        raise UsageError(f"--k must be at least 2, got {value}", "e.g. --k 8 or --k auto")
    return value
