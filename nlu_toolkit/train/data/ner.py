"""NER data: CoNLL column files and token/tag tables, with tags normalised to IOB2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlu_toolkit.errors import TrainingDataError
from nlu_toolkit.train.data import tables as t
from nlu_toolkit.train.data.labels import _label_index
from nlu_toolkit.train.tags import check_tag

#: Tag prefixes `to_iob2` understands: IOB1/IOB2, plus BIOES/BILOU ends and singles.
_INSIDE_PREFIXES = ("I-", "E-", "L-")
_BEGIN_PREFIXES = ("B-", "S-", "U-")


def read_conll(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """Read a CoNLL column file into ``(tokens, IOB2 tags)`` per sentence.

    The token is the first column and the tag the last; columns are split on tabs when the line
    has any, else on whitespace. Blank lines end sentences and ``-DOCSTART-`` lines are skipped.
    IOB1 (CoNLL-2003) and BIOES tags are converted to IOB2.
    """
    return [(tokens, to_iob2(tags)) for tokens, tags in _iter_conll(t._check_file(path))]


def to_iob2(tags: list[str]) -> list[str]:
    """Convert IOB1 tags to IOB2: an ``I-X`` that starts an entity becomes ``B-X``.

    An entity starts at the first token, after ``O`` or after a tag of another type. IOB2 input
    comes back unchanged. BIOES/BILOU tags map too (``S-``/``U-`` to ``B-``, ``E-``/``L-`` to
    ``I-``), and a bare type (IO scheme, ``PER``) reads as ``I-PER``.
    """
    out: list[str] = []
    previous: str | None = None  # entity type of the previous tag; None after "O"
    for tag in tags:
        if tag == "O":
            out.append(tag)
            previous = None
            continue
        head = tag[:2]
        if head in _BEGIN_PREFIXES:
            kind, begins = tag[2:], True
        else:
            kind = tag[2:] if head in _INSIDE_PREFIXES else tag
            begins = kind != previous
        out.append(("B-" if begins else "I-") + kind)
        previous = kind
    return out


def _iter_conll(path: Path) -> Iterator[tuple[list[str], list[str]]]:
    """Yield ``(tokens, raw tags)`` per sentence of a CoNLL column file, reading line by line."""
    tokens: list[str] = []
    tags: list[str] = []
    try:
        with path.open(encoding="utf-8-sig") as f:
            for number, line in enumerate(f, 1):
                # Tab-separated files split on tabs only, so a token may hold other spaces.
                fields = line.rstrip("\r\n").split("\t") if "\t" in line else line.split()
                if not any(field.strip() for field in fields):
                    if tokens:
                        yield tokens, tags
                        tokens, tags = [], []
                    continue
                if fields[0] == "-DOCSTART-":
                    continue
                tag = fields[-1].strip()
                if len(fields) < 2 or not fields[0] or not tag:
                    raise TrainingDataError(
                        f"{path}:{number}: expected a token and a tag, found {line.strip()!r}",
                        "CoNLL files hold the token in the first column and its tag in the last, "
                        "separated by spaces or tabs, with a blank line between sentences",
                    )
                check_tag(tag, f"{path}:{number}")
                tokens.append(fields[0])
                tags.append(tag)
    except UnicodeDecodeError as e:
        raise TrainingDataError(f"{path}: not UTF-8 text ({e.reason})", "save the file as UTF-8") from e
    if tokens:
        yield tokens, tags


def _load_ner(path: Path, fmt: str, columns: t._Columns, labels: list[str] | None, role: str | None) -> t._Part:
    if fmt == "conll":
        tokens_col: list[list[str]] = []
        tags_col: list[Any] = []
        for tokens, tags in _iter_conll(path):
            tokens_col.append(tokens)
            tags_col.append(to_iob2(tags))
        if not tokens_col:
            raise TrainingDataError(f"{path} has no rows (no sentence found)", "give a CoNLL file: token ... tag")
        used = {"tokens": "first column", "tags": "last column"}
    else:
        tokens_col, tags_col, used = _ner_table(path, fmt, columns, labels)

    seen = {tag for tags in tags_col for tag in tags}
    if labels is None:
        # Every entity type gets both B- and I-, so the model can tag entities of any length.
        kinds = {tag[2:] for tag in seen if tag != "O"}
        label_names = ["O", *sorted(f"{prefix}{kind}" for kind in kinds for prefix in ("B-", "I-"))]
        index = {name: i for i, name in enumerate(label_names)}
    else:
        label_names, index, _ = _label_index(seen, labels, role, path, ids_ok=False)
    for i, tags in enumerate(tags_col):
        tags_col[i] = [index[tag] for tag in tags]

    datasets = t._datasets()
    features = t._features(tokens=t._list_of(t._string()), tags=t._list_of(datasets.Value("int64")))
    info = {"format": fmt, "columns": used, "warnings": []}
    return t._Part(t._from_dict({"tokens": tokens_col, "tags": tags_col}, features), label_names, info)


def _ner_table(
    path: Path, fmt: str, columns: t._Columns, labels: list[str] | None
) -> tuple[list[Any], list[Any], dict[str, str]]:
    """Token and tag lists from a table with a tokens column and a tags column."""
    ds = t._read_table(path, fmt)
    names = ds.column_names
    # The generic text_column/label_column defaults ("text", "label") mean "the usual NER names".
    tokens_name = columns.text if columns.text != "text" else "tokens"
    if columns.label != "label":
        tags_name = columns.label
    else:
        tags_name = "ner_tags" if "tags" not in names and "ner_tags" in names else "tags"
    t._need_column(path, names, tokens_name, "{=text_column}")
    t._need_column(path, names, tags_name, "{=label_column}")
    tag_names = t._classlabel_names(ds.features[tags_name]) or labels
    tokens_col = t._column(ds, tokens_name)
    tags_col = t._column(ds, tags_name)
    del ds
    for i, (tokens, tags) in enumerate(zip(tokens_col, tags_col, strict=True)):
        row = i + 1
        if not isinstance(tokens, list) or not isinstance(tags, list):
            raise TrainingDataError(
                f"{path}: row {row}: {tokens_name!r} and {tags_name!r} must be lists",
                'write e.g. {"tokens": ["Ada", "Lovelace"], "tags": ["B-PER", "I-PER"]}',
            )
        if not tokens:
            raise TrainingDataError(f"{path}: row {row}: no tokens", "remove the row")
        if len(tokens) != len(tags):
            raise TrainingDataError(
                f"{path}: row {row}: {len(tokens)} tokens but {len(tags)} tags", "give every token exactly one tag"
            )
        if any(not isinstance(token, str) for token in tokens):
            raise TrainingDataError(f"{path}: row {row}: a token is not a string", "tokens are words (strings)")
        for token in tokens:
            t._valid_text(token, path, f"row {row}", "a token")
        for j, tag in enumerate(tags):
            if isinstance(tag, int) and not isinstance(tag, bool):
                if tag_names is None:
                    raise TrainingDataError(
                        f"{path}: row {row}: tags are integer ids but no tag names are known",
                        "write the tags as names (B-PER, I-PER, O) or pass the names with {=labels}",
                    )
                if not 0 <= tag < len(tag_names):
                    raise TrainingDataError(
                        f"{path}: row {row}: tag id {tag} is out of range for {len(tag_names)} tags",
                        f"ids run from 0 to {len(tag_names) - 1}",
                    )
                tags[j] = tag_names[tag]
            elif not isinstance(tag, str) or not tag.strip():
                raise TrainingDataError(f"{path}: row {row}: tag {tag!r} is not a tag name", "use tags like B-PER or O")
            else:
                tags[j] = tag.strip()
            check_tag(tags[j], f"{path}: row {row}")
        tags_col[i] = to_iob2(tags)
    return tokens_col, tags_col, {"tokens": tokens_name, "tags": tags_name}
