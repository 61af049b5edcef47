"""``nlu distill``: a static embedding model (Model2Vec) from a sentence-transformers teacher."""

from __future__ import annotations

from typing import Annotated

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import OutputOptions, output_options

distill_opt = o.panel("Distillation")


@output_options("fmt", "verbose")
def distill_cli(
    output: Annotated[
        str, o.output_opt("--output", "-o", help="Folder for the static model (safetensors, config, model card).")
    ],
    model: Annotated[
        str | None, o.model_opt("--model", "-m", help="The teacher: a sentence-transformers folder or 'embedded'.")
    ] = None,
    dims: Annotated[int, distill_opt("--dims", min=1, help="PCA size of the token vectors.")] = 256,
    vocabulary: Annotated[
        str | None, distill_opt("--vocabulary", help="FILE of words (one per line) added to the teacher's vocabulary.")
    ] = None,
    seed: Annotated[int, distill_opt("--seed", help="Seed of the PCA (same seed, same vectors).")] = 0,
    overwrite: Annotated[bool, distill_opt("--overwrite", help="Replace a static model already in OUTPUT.")] = False,
    eval_file: Annotated[
        str | None,
        distill_opt(
            "--eval",
            help="Scored pairs (sentence1, sentence2, score; or raw STS Benchmark): the student's and the "
            "teacher's Spearman against the gold scores are measured and recorded.",
        ),
    ] = None,
    *,
    out: OutputOptions,
) -> None:
    """Distill a static embedding model (Model2Vec) from a sentence transformer: no transformer at inference.

    The folder loads wherever an embedding model goes (nlu embed, index build, cluster, similarity).
    Every run measures the student against its teacher (agreement of their similarities on built-in
    sentences; with --eval, Spearman against gold scores) and records it in distill.json and the model card.
    Needs the static extra: pip install 'nlu-toolkit\\[static]'.

    Examples:
      nlu distill --output static-model
      nlu distill --model embedded --output static-model --dims 128 --vocabulary words.txt
      nlu distill --output static-model --eval sts-test.csv
    """
    from nlu_toolkit.cli.render import print_summary
    from nlu_toolkit.train.distill import distill

    out.start()
    result = distill(output, model, dims=dims, vocabulary=vocabulary, seed=seed, overwrite=overwrite, eval=eval_file)
    summary = {k: v for k, v in result.to_dict().items() if k != "settings"}
    print_summary(summary, fmt=out.fmt, title="distilled: " + result.output)
