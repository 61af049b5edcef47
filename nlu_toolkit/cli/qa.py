"""``nlu qa``: extractive question answering over contexts of any length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from nlu_toolkit.cli import options as o
from nlu_toolkit.cli.bundles import InputOptions, OutputOptions, input_options, output_options, run_options
from nlu_toolkit.cli.render import num, short
from nlu_toolkit.engine.options import RunOptions
from nlu_toolkit.errors import UsageError

task_opt = o.panel("Question answering")


# No --text-column (questions and contexts have their own columns); --max-length is QA's own
# (a window of question + context, 384 by default), so the run bundle leaves it out.
@output_options()
@input_options("id_column", "input_format", "encoding", "max_chars")
@run_options("device", "batch_size", "trust_remote_code", "backend", "quantize", "threads", batch_size=16)
def qa_cli(
    question: Annotated[
        list[str] | None, o.input_opt("--question", "-Q", help="A question; repeat for several.")
    ] = None,
    questions_file: Annotated[
        str | None,
        o.input_opt(
            "--questions", help="Questions from FILE: a question per line, or csv/jsonl with a question column."
        ),
    ] = None,
    context: Annotated[str | None, o.input_opt("--context", "-c", help="The context to answer from.")] = None,
    context_file: Annotated[
        str | None, o.input_opt("--context-file", help="Read the context from FILE ('-' for stdin).")
    ] = None,
    input_file: Annotated[
        str | None,
        o.input_opt("--input", "-i", help="Batch mode: csv/tsv/jsonl/parquet rows with question and context columns."),
    ] = None,
    question_column: Annotated[str, o.input_opt("--question-column")] = "question",
    context_column: Annotated[str, o.input_opt("--context-column")] = "context",
    model: o.ModelOpt = None,
    top_k: Annotated[int, task_opt("--top-k", "-k", min=1, help="Answers per question.")] = 1,
    max_answer_len: Annotated[int, task_opt("--max-answer-len", min=1, help="Longest answer, in tokens.")] = 30,
    long: o.LongOpt = "chunk",
    stride: o.StrideOpt = None,
    doc_stride: Annotated[
        int | None, task_opt("--doc-stride", min=0, hidden=True, help="Old name of --stride.")
    ] = None,
    allow_impossible: Annotated[
        bool, task_opt("--allow-impossible", help="Allow 'no answer' (SQuAD v2 style).")
    ] = False,
    max_length: Annotated[
        int, o.model_opt("--max-length", min=16, help="Tokens per window (question + context).")
    ] = 384,
    *,
    out: OutputOptions,
    source: InputOptions,
    run: RunOptions,
) -> None:
    """Answer questions from a context, or from question/context rows of a file.

    Examples:
      nlu qa -Q "Who wrote it?" -Q "When?" --context "It was written by Ada in 1843."
      nlu qa --questions questions.txt --context-file report.txt --top-k 3
      nlu qa --input squad_rows.jsonl --allow-impossible --format json
    """
    out.start(questions_file, context_file, input_file)
    if doc_stride is not None:  # the old spelling of --stride
        if stride is not None and stride != doc_stride:
            raise UsageError("--stride and --doc-stride disagree", "give --stride only")
        stride = doc_stride
    from nlu_toolkit.tasks.qa import QuestionAnswerer

    with out.progress(input_file is not None, "answering") as progress:
        records = _records(
            question,
            questions_file,
            context,
            context_file,
            input_file,
            question_column,
            context_column,
            source,
            progress,
        )
        # Inputs are checked (file exists, format, columns) before the slow model load.
        answerer = QuestionAnswerer(
            model,
            top_k=top_k,
            max_answer_len=max_answer_len,
            long=long,
            stride=stride,
            allow_impossible=allow_impossible,
            run=run,
            max_length=max_length,
        )
        out.note_model(answerer)
        out.emit(
            (r.to_dict() for r in answerer.predict(records)),
            [
                ("id", lambda r: str(r["id"])),
                ("question", lambda r: short(r["question"], 40)),
                ("answer", lambda r: "(no answer)" if r["impossible"] else short(r["answer"], 40)),
                ("score", lambda r: num(r["score"])),
                ("span", lambda r: f"{r['start']}-{r['end']}"),
                ("truncated", lambda r: "yes" if r["truncated"] else ""),
            ],
            title=f"model: {answerer.model_info.describe()}",
            passthrough=("context", "start", "end", "impossible"),
        )


def _records(
    question: list[str] | None,
    questions_file: str | None,
    context: str | None,
    context_file: str | None,
    input_file: str | None,
    question_column: str,
    context_column: str,
    source: InputOptions,
    progress: Any,
) -> Iterator[dict[str, Any]]:
    """The question/context records: rows of ``input_file``, or the questions paired with one context."""
    from nlu_toolkit.io.readers import read_text_file

    if input_file is not None:
        if question or questions_file or context is not None or context_file:
            raise UsageError("--input takes questions and contexts from the file", "drop --question/--context options")
        return source.read(
            None, input_file, fields={"question": question_column, "context": context_column}, progress=progress
        )
    if (context is None) == (context_file is None):
        raise UsageError("give exactly one of --context or --context-file", "or use --input FILE for batch mode")
    if not question and not questions_file:
        raise UsageError("no question", "pass --question TEXT (repeatable) or --questions FILE")
    if question and questions_file:
        raise UsageError("give --question or --questions FILE, not both", "put every question in the file")
    text = context
    if text is None:
        text = read_text_file(context_file, encoding=source.encoding, max_chars=source.max_chars)

    if questions_file:
        rows = source.read(None, questions_file, fields={"question": question_column})
        return ({**r, "context": text} for r in rows)
    return ({"id": i, "question": q, "context": text} for i, q in enumerate(question))
