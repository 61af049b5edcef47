"""Unit tests for nlu_toolkit.train.data: every format, task schema and data error, on small files.

The tests marked slow read the public datasets in ``../shared/data`` and skip when it is absent.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from nlu_toolkit.errors import NluError, TrainingDataError, UsageError
from nlu_toolkit.train.data import TASKS, TaskData, load_eval_data, load_task_data, read_conll, to_iob2

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the Arrow files `datasets` writes for each loaded file out of the user's cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.getbasetemp() / "hf-datasets"))


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def write_jsonl(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    return write(tmp_path, name, "".join(json.dumps(row) + "\n" for row in rows))


def write_parquet(tmp_path: Path, name: str, rows: list[dict]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@contextlib.contextmanager
def raises(*fragments: str, error: type[NluError] = TrainingDataError) -> Iterator[pytest.ExceptionInfo]:
    """The block raises ``error``, with a hint, and a message that holds every fragment."""
    with pytest.raises(error) as info:
        yield info
    assert info.value.hint, "every error carries a hint"
    for fragment in fragments:
        assert fragment in info.value.message, (fragment, info.value.message)


def rows(ds) -> list[dict]:
    return ds.to_list()


# --------------------------------------------------------------------------- classification


CLS_CSV = 'text,label\ngreat film,pos\nawful,neg\n"fine, I guess",pos\nNA,neg\n'


def test_classification_csv_schema_and_sorted_labels(tmp_path):
    data = load_task_data("classification", write(tmp_path, "train.csv", CLS_CSV))
    assert isinstance(data, TaskData)
    assert data.task == "classification"
    assert data.labels == ["neg", "pos"]
    assert set(data.train.column_names) == {"text", "label"}
    assert rows(data.train) == [
        {"text": "great film", "label": 1},
        {"text": "awful", "label": 0},
        {"text": "fine, I guess", "label": 1},
        {"text": "NA", "label": 0},  # a text, not a missing value
    ]
    assert data.eval is None
    info = data.info
    assert info["train"] == str(tmp_path / "train.csv")
    assert info["eval"] is None
    assert (info["train_rows"], info["eval_rows"]) == (4, 0)
    assert info["format"] == "csv"
    assert info["columns"] == {"text": "text", "label": "label"}
    assert info["warnings"] == []


def test_integer_labels_sort_numerically_and_name_as_strings(tmp_path):
    path = write_jsonl(
        tmp_path, "t.jsonl", [{"text": f"t{i}", "label": label} for i, label in enumerate([10, 2, 1, 2])]
    )
    data = load_task_data("classification", path)
    assert data.labels == ["1", "2", "10"]
    assert data.train["label"][:] == [2, 1, 0, 1]
    assert data.info["format"] == "jsonl"


def test_labels_option_fixes_order_and_refuses_unknown(tmp_path):
    path = write(tmp_path, "t.csv", CLS_CSV)
    data = load_task_data("classification", path, labels=["pos", "neg", "meh"])
    assert data.labels == ["pos", "neg", "meh"]
    assert data.train["label"][:] == [0, 1, 0, 1]
    with raises("'neg'", "not in the labels given"):
        load_task_data("classification", path, labels=["pos", "other"])


def test_labels_option_names_integer_classes(tmp_path):
    path = write(tmp_path, "t.tsv", "sentence\tlabel\nbad\t0\ngood\t1\n")
    data = load_task_data("classification", path, labels=["negative", "positive"])
    assert data.labels == ["negative", "positive"]
    assert data.train["label"][:] == [0, 1]
    assert any("read as ids" in w for w in data.info["warnings"])


def test_text_pair_column(tmp_path):
    path = write_jsonl(
        tmp_path,
        "nli.jsonl",
        [
            {"premise": "A man sleeps.", "hypothesis": "A man rests.", "label": "entailment"},
            {"premise": "A dog runs.", "hypothesis": "A cat sleeps.", "label": "contradiction"},
        ],
    )
    data = load_task_data("classification", path, text_column="premise", text_pair_column="hypothesis")
    assert rows(data.train)[0] == {"text": "A man sleeps.", "text_pair": "A man rests.", "label": 1}
    assert data.info["columns"] == {"text": "premise", "text_pair": "hypothesis", "label": "label"}


def test_tsv_with_sentence_column_uses_defaults(tmp_path):
    # SST-2 layout: a header "sentence<TAB>label", bare quote characters, no quoting.
    path = write(tmp_path, "train.tsv", 'sentence\tlabel\nit \'s a "charming" film \t1\n" dull\t0\n')
    data = load_task_data("classification", path)
    assert data.info["columns"]["text"] == "sentence"
    assert data.info["format"] == "tsv"
    assert rows(data.train) == [{"text": 'it \'s a "charming" film ', "label": 1}, {"text": '" dull', "label": 0}]


@pytest.mark.parametrize("column", ["review", "content", "document"])
def test_text_column_fallbacks(tmp_path, column):
    path = write(tmp_path, "t.csv", f"id,{column},label\n1,good,1\n2,bad,0\n")
    assert load_task_data("classification", path).info["columns"]["text"] == column


def test_json_list_and_parquet(tmp_path):
    records = [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}]
    json_file = write(tmp_path, "t.json", json.dumps(records))
    parquet_file = write_parquet(tmp_path, "t.parquet", records)
    for path, fmt in ((json_file, "json"), (parquet_file, "parquet")):
        data = load_task_data("classification", path)
        assert data.info["format"] == fmt
        assert data.labels == ["neg", "pos"]
        assert rows(data.train) == [{"text": "good", "label": 1}, {"text": "bad", "label": 0}]


def test_parquet_class_label_names_are_kept_in_order(tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])})
    path = tmp_path / "t.parquet"
    datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0]}, features=features).to_parquet(str(path))
    data = load_task_data("classification", path)
    assert data.labels == ["neg", "pos"]
    assert data.train["label"][:] == [1, 0]


def test_missing_text_column_lists_columns(tmp_path):
    path = write(tmp_path, "t.csv", "body,label\nx,1\ny,0\n")
    with raises("'text'", "'body', 'label'") as info:
        load_task_data("classification", path)
    assert "text_column" in info.value.hint


def test_missing_label_and_pair_columns(tmp_path):
    path = write(tmp_path, "t.csv", "text,target\nx,1\ny,0\n")
    with raises("'label'", "'text', 'target'") as info:
        load_task_data("classification", path)
    assert "label_column" in info.value.hint
    with raises("'second'") as info:
        load_task_data("classification", path, text_pair_column="second", label_column="target")
    assert "text_pair_column" in info.value.hint


@pytest.mark.parametrize("cell", ["", '""', "   "])
def test_empty_text_names_the_row(tmp_path, cell):
    path = write(tmp_path, "t.csv", f"text,label\ngood,1\n{cell},0\n")
    with raises("row 2", "empty text"):
        load_task_data("classification", path)


def test_null_text_in_jsonl_names_the_row(tmp_path):
    path = write_jsonl(
        tmp_path, "t.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 0}, {"text": None, "label": 1}]
    )
    with raises("row 3", "empty text"):
        load_task_data("classification", path)


def test_empty_label_and_float_label(tmp_path):
    with raises("row 2", "empty label"):
        load_task_data("classification", write(tmp_path, "a.csv", "text,label\ngood,1\nbad,\n"))
    with raises("0.5", "not a class name"):
        load_task_data("classification", write(tmp_path, "b.csv", "text,label\ngood,1\nbad,0.5\n"))


def test_single_class_training_data(tmp_path):
    with raises("'pos'", "at least two labels"):
        load_task_data("classification", write(tmp_path, "t.csv", "text,label\na,pos\nb,pos\n"))


def test_missing_empty_and_unreadable_files(tmp_path):
    with raises("no such file"):
        load_task_data("classification", tmp_path / "nope.csv")
    with raises("folder"):
        load_task_data("classification", tmp_path)
    with raises("has no rows"):
        load_task_data("classification", write(tmp_path, "empty.csv", ""))
    with raises("has no rows"):
        load_task_data("classification", write(tmp_path, "header.csv", "text,label\n"))
    with raises("has no rows"):
        load_task_data("classification", write(tmp_path, "empty.jsonl", "\n\n"))
    with raises("unsupported file type", "'.xlsx'"):
        load_task_data("classification", write(tmp_path, "t.xlsx", "x"))


def test_parse_errors_become_training_data_errors(tmp_path):
    bad_jsonl = write(tmp_path, "bad.jsonl", '{"text": "a", "label": 1}\n{"text": oops}\n')
    with raises("cannot read", "bad.jsonl", "JSONL") as info:
        load_task_data("classification", bad_jsonl)
    assert info.value.__cause__ is not None
    with raises("cannot read", "PARQUET"):
        load_task_data("classification", write(tmp_path, "fake.parquet", "text,label\na,1\n"))
    with raises("cannot read", "bad.csv"):
        load_task_data("classification", write(tmp_path, "bad.csv", "text,label\na,1\nb,0,extra,fields\n"))
    with raises("more fields than the header"):
        load_task_data("classification", write(tmp_path, "wide.csv", "text,label\na,1,x,y\nb,0,x,y\n"))
    with raises("not UTF-8"):
        load_task_data("classification", write(tmp_path, "latin.csv", "text,label\ncaf\xe9,1\n".encode("latin-1")))


# --------------------------------------------------------------------------- eval files and splits


def test_eval_file_and_warning_for_absent_training_labels(tmp_path):
    train = write(tmp_path, "train.csv", "text,label\na,pos\nb,neg\nc,meh\n")
    dev = write(tmp_path, "dev.jsonl", '{"text": "d", "label": "pos"}\n')
    data = load_task_data("classification", train, dev)
    assert data.eval is not None
    assert rows(data.eval) == [{"text": "d", "label": 2}]
    assert data.info["eval"] == str(dev)
    assert data.info["eval_rows"] == 1
    assert data.info["eval_format"] == "jsonl"
    [warning] = data.info["warnings"]
    assert "'meh'" in warning and "'neg'" in warning


def test_eval_label_unknown_to_training_data(tmp_path):
    train = write(tmp_path, "train.csv", "text,label\na,pos\nb,neg\n")
    dev = write(tmp_path, "dev.csv", "text,label\nc,pos\nd,surprise\n")
    with raises("'surprise'", "training labels"):
        load_task_data("classification", train, dev)


def test_eval_split(tmp_path):
    lines = "".join(f"text {i},{'pos' if i % 2 else 'neg'}\n" for i in range(20))
    train = write(tmp_path, "train.csv", "text,label\n" + lines)
    data = load_task_data("classification", train, eval_split=0.25, seed=3)
    assert (data.train.num_rows, data.eval.num_rows) == (15, 5)
    assert data.info["eval"] == "25% split of train (seed 3)"
    assert (data.info["train_rows"], data.info["eval_rows"]) == (15, 5)
    texts = set(data.train["text"][:]) | set(data.eval["text"][:])
    assert len(texts) == 20
    again = load_task_data("classification", train, eval_split=0.25, seed=3)
    assert again.eval["text"][:] == data.eval["text"][:]


def test_eval_split_too_small(tmp_path):
    with raises("too few"):
        load_task_data("classification", write(tmp_path, "t.csv", "text,label\na,1\nb,0\n"), eval_split=0.9)


@pytest.mark.parametrize("value", [0, 1, 1.5, -0.1, True])
def test_eval_split_out_of_range(tmp_path, value):
    path = write(tmp_path, "t.csv", CLS_CSV)
    with raises("eval_split", error=UsageError):
        load_task_data("classification", path, eval_split=value)


def test_eval_file_and_split_together(tmp_path):
    path = write(tmp_path, "t.csv", CLS_CSV)
    with raises("both", error=UsageError):
        load_task_data("classification", path, path, eval_split=0.1)


def test_unknown_task_and_bad_options(tmp_path):
    path = write(tmp_path, "t.csv", CLS_CSV)
    with raises("'sentiment'", error=UsageError):
        load_task_data("sentiment", path)
    with raises("same column", error=UsageError):
        load_task_data("classification", path, text_pair_column="text")
    with raises("repeated", error=UsageError):
        load_task_data("classification", path, labels=["pos", "pos"])
    assert TASKS == ("classification", "multilabel", "ner", "qa", "embedding", "seq2seq")


# --------------------------------------------------------------------------- load_eval_data


def test_load_eval_data_with_model_labels(tmp_path):
    path = write(tmp_path, "dev.csv", "text,label\na,POSITIVE\nb,NEGATIVE\n")
    ds, info = load_eval_data("classification", path, labels=["NEGATIVE", "NEUTRAL", "POSITIVE"])
    assert rows(ds) == [{"text": "a", "label": 2}, {"text": "b", "label": 0}]
    assert info["labels"] == ["NEGATIVE", "NEUTRAL", "POSITIVE"]
    assert (info["path"], info["rows"], info["format"]) == (str(path), 2, "csv")
    assert any("'NEUTRAL'" in w for w in info["warnings"])


def test_load_eval_data_unknown_gold_label(tmp_path):
    path = write(tmp_path, "dev.csv", "text,label\na,positive\nb,sarcastic\n")
    with raises("'sarcastic'", "the model's labels", "'negative'"):
        load_eval_data("classification", path, labels=["negative", "positive"])


def test_load_eval_data_integer_gold_labels_as_ids(tmp_path):
    path = write(tmp_path, "dev.tsv", "sentence\tlabel\nbad\t0\ngood\t1\n")
    ds, info = load_eval_data("classification", path, labels=["NEGATIVE", "POSITIVE"])
    assert ds["label"][:] == [0, 1]
    assert any("0=NEGATIVE" in w for w in info["warnings"])
    # Integers that are partly names of the model's labels are not guessed at.
    with raises("'0'"):
        load_eval_data("classification", path, labels=["1", "2"])


def test_load_eval_data_without_labels(tmp_path):
    ds, info = load_eval_data("classification", write(tmp_path, "dev.csv", CLS_CSV))
    assert info["labels"] == ["neg", "pos"]
    assert ds.num_rows == 4


# --------------------------------------------------------------------------- multilabel


def test_multilabel_comma_separated_and_lists(tmp_path):
    csv_path = write(
        tmp_path, "t.csv", 'text,label\nhelp,"billing, urgent"\nhi,\nbug,technical\nmore,"urgent,urgent"\n'
    )
    data = load_task_data("multilabel", csv_path)
    assert data.labels == ["billing", "technical", "urgent"]
    assert data.train["label"][:] == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    jsonl = write_jsonl(
        tmp_path,
        "t.jsonl",
        [{"text": "a", "label": ["x", " y"]}, {"text": "b", "label": []}, {"text": "c", "label": "y"}],
    )
    data = load_task_data("multilabel", jsonl)
    assert data.labels == ["x", "y"]
    assert data.train["label"][:] == [[1.0, 1.0], [0.0, 0.0], [0.0, 1.0]]


def test_multilabel_labels_option_and_unknown(tmp_path):
    path = write(tmp_path, "t.csv", 'text,label\nhelp,"billing, urgent"\nbug,technical\n')
    data = load_task_data("multilabel", path, labels=["urgent", "billing", "technical", "spam"])
    assert data.labels == ["urgent", "billing", "technical", "spam"]
    assert data.train["label"][:] == [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    with raises("'technical'"):
        load_task_data("multilabel", path, labels=["urgent", "billing"])


def test_multilabel_eval_and_errors(tmp_path):
    train = write(tmp_path, "train.csv", 'text,label\na,"x, y"\nb,z\n')
    dev = write(tmp_path, "dev.csv", "text,label\nc,x\n")
    data = load_task_data("multilabel", train, dev)
    assert data.eval["label"][:] == [[1.0, 0.0, 0.0]]
    assert any("'y'" in w and "'z'" in w for w in data.info["warnings"])
    with raises("'w'", "training labels"):
        load_task_data("multilabel", train, write(tmp_path, "bad_dev.csv", "text,label\nc,w\n"))
    with raises("no row has a label"):
        load_task_data("multilabel", write(tmp_path, "none.csv", "text,label\na,\nb,\n"))
    with raises("row 1", "cannot read labels"):
        load_task_data("multilabel", write(tmp_path, "repr.csv", "text,label\na,\"['x', 'y']\"\n"))


# --------------------------------------------------------------------------- NER

CONLL_IOB1 = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
"""


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
        (["O", "I-LOC", "I-LOC", "O", "I-LOC"], ["O", "B-LOC", "I-LOC", "O", "B-LOC"]),
        (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"]),  # IOB1: B- only between same-type entities
        (["I-ORG", "I-LOC", "I-LOC"], ["B-ORG", "B-LOC", "I-LOC"]),
        (["B-PER", "I-PER", "O", "B-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # IOB2 unchanged
        (["B-creative-work", "I-creative-work"], ["B-creative-work", "I-creative-work"]),
        (["S-PER", "B-LOC", "E-LOC", "O"], ["B-PER", "B-LOC", "I-LOC", "O"]),  # BIOES
        (["PER", "PER", "O", "LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),  # bare IO tags
        ([], []),
        (["O", "O"], ["O", "O"]),
    ],
)
def test_to_iob2(tags, expected):
    assert to_iob2(tags) == expected
    assert to_iob2(expected) == expected  # idempotent on IOB2


def test_read_conll_iob1_without_trailing_newline(tmp_path):
    path = write(tmp_path, "eng.train", CONLL_IOB1.rstrip("\n"))
    assert read_conll(path) == [
        (["EU", "rejects", "German", "call"], ["B-ORG", "O", "B-MISC", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]


def test_read_conll_tab_separated_with_whitespace_separator_lines(tmp_path):
    path = write(tmp_path, "w.conll", "@paul\tO\nEmpire State\tB-location\n\t\nhi\tO\n")
    assert read_conll(path) == [(["@paul", "Empire State"], ["O", "B-location"]), (["hi"], ["O"])]


def test_read_conll_single_column_line(tmp_path):
    path = write(tmp_path, "bad.conll", "EU B-ORG\nrejects\n")
    with raises(f"{path}:2", "'rejects'"):
        read_conll(path)


def test_ner_conll_dataset_and_labels(tmp_path):
    data = load_task_data("ner", write(tmp_path, "train.txt", CONLL_IOB1))
    assert data.labels == ["O", "B-MISC", "B-ORG", "B-PER", "I-MISC", "I-ORG", "I-PER"]
    assert rows(data.train) == [
        {"tokens": ["EU", "rejects", "German", "call"], "tags": [2, 0, 1, 0]},
        {"tokens": ["Peter", "Blackburn"], "tags": [3, 6]},
    ]
    assert data.info["format"] == "conll"


@pytest.mark.parametrize("name", ["train.conll", "train.iob", "train.bio", "train", "eng.testa", "train.tsv"])
def test_ner_conll_detected_by_extension(tmp_path, name):
    data = load_task_data("ner", write(tmp_path, name, "Ada B-PER\nLovelace I-PER\n"))
    assert data.info["format"] == "conll"
    assert data.train["tags"][:] == [[1, 2]]


def test_ner_jsonl(tmp_path):
    path = write_jsonl(
        tmp_path,
        "ner.jsonl",
        [
            {"tokens": ["Ada", "Lovelace", "wrote"], "tags": ["I-PER", "I-PER", "O"]},
            {"tokens": ["Paris"], "tags": ["B-LOC"]},
        ],
    )
    data = load_task_data("ner", path)
    assert data.labels == ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
    assert data.train["tags"][:] == [[2, 4, 0], [1]]
    assert data.info["columns"] == {"tokens": "tokens", "tags": "tags"}
    assert data.info["format"] == "jsonl"


def test_ner_parquet_with_class_label_ids(tmp_path):
    import datasets

    list_of = getattr(datasets, "List", datasets.Sequence)
    features = datasets.Features(
        {
            "tokens": list_of(datasets.Value("string")),
            "ner_tags": list_of(datasets.ClassLabel(names=["O", "B-PER", "I-PER"])),
        }
    )
    path = tmp_path / "ner.parquet"
    datasets.Dataset.from_dict({"tokens": [["Ada", "Lovelace"]], "ner_tags": [[1, 2]]}, features=features).to_parquet(
        str(path)
    )
    data = load_task_data("ner", path)
    assert data.info["columns"]["tags"] == "ner_tags"
    assert data.labels == ["O", "B-PER", "I-PER"]
    assert data.train["tags"][:] == [[1, 2]]


def test_ner_row_errors(tmp_path):
    path = write_jsonl(
        tmp_path,
        "bad.jsonl",
        [{"tokens": ["a"], "tags": ["O"]}, {"tokens": ["a", "b", "c", "d", "e"], "tags": ["O"] * 4}],
    )
    with raises("row 2", "5 tokens but 4 tags"):
        load_task_data("ner", path)
    with raises("'tags'"):
        load_task_data("ner", write_jsonl(tmp_path, "cols.jsonl", [{"tokens": ["a"], "labels": ["O"]}]))
    with raises("row 1", "no tokens"):
        load_task_data("ner", write_jsonl(tmp_path, "empty.jsonl", [{"tokens": [], "tags": []}]))
    with raises("row 1", "tags are integer ids"):
        load_task_data("ner", write_jsonl(tmp_path, "ids.jsonl", [{"tokens": ["a"], "tags": [1]}]))
    with raises("no entity"):
        load_task_data("ner", write(tmp_path, "o.conll", "a O\nb O\n"))
    with raises("has no rows"):
        load_task_data("ner", write(tmp_path, "doc.conll", "-DOCSTART- O\n\n"))


def test_ner_eval_tags_and_model_labels(tmp_path):
    train = write(tmp_path, "train.conll", "Ada B-PER\nin O\nParis B-LOC\n")
    dev = write(tmp_path, "dev.conll", "Bob B-PER\nLovelace I-PER\n")
    data = load_task_data("ner", train, dev)
    assert data.eval["tags"][:] == [[2, 4]]
    assert any("'LOC'" in w for w in data.info["warnings"])
    with raises("'B-ORG'", "training labels"):
        load_task_data("ner", train, write(tmp_path, "org.conll", "IBM B-ORG\n"))
    ds, info = load_eval_data("ner", dev, labels=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    assert ds["tags"][:] == [[1, 2]]
    assert info["labels"] == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    with raises("'I-PER'", "the model's labels"):
        load_eval_data("ner", dev, labels=["O", "B-PER"])


# --------------------------------------------------------------------------- QA

CONTEXT = "The Eiffel Tower is in Paris. It was built in 1889."


def squad(questions: list[dict]) -> dict:
    return {"version": "v2.0", "data": [{"title": "Tower", "paragraphs": [{"context": CONTEXT, "qas": questions}]}]}


def test_qa_squad_nested_with_v2_no_answer(tmp_path):
    doc = squad(
        [
            {"id": "a1", "question": "Where is it?", "answers": [{"text": "Paris", "answer_start": 23}]},
            {
                "id": "a2",
                "question": "Who painted it?",
                "answers": [],
                "plausible_answers": [{"text": "It", "answer_start": 30}],
                "is_impossible": True,
            },
        ]
    )
    data = load_task_data("qa", write(tmp_path, "train.json", json.dumps(doc)))
    assert data.labels == []
    assert data.info["format"] == "squad"
    assert data.info["unanswerable"] == 1
    assert rows(data.train) == [
        {
            "id": "a1",
            "question": "Where is it?",
            "context": CONTEXT,
            "answers": {"text": ["Paris"], "answer_start": [23]},
        },
        {"id": "a2", "question": "Who painted it?", "context": CONTEXT, "answers": {"text": [], "answer_start": []}},
    ]


def test_qa_flat_rows_both_answer_shapes_and_generated_ids(tmp_path):
    flat = [
        {"id": "x", "question": "When?", "context": CONTEXT, "answers": {"text": ["1889"], "answer_start": [46]}},
        {"question": "Where?", "context": CONTEXT, "answers": [{"text": "Paris", "answer_start": 23}]},
        {"id": "z", "question": "Who?", "context": CONTEXT, "answers": {"text": [], "answer_start": []}},
    ]
    for path, fmt in (
        (write_jsonl(tmp_path, "qa.jsonl", flat), "jsonl"),
        (write(tmp_path, "qa.json", json.dumps(flat)), "json"),
    ):
        data = load_task_data("qa", path)
        assert data.info["format"] == fmt
        assert data.train["id"][:] == ["x", "q1", "z"]
        assert data.train["answers"][:] == [
            {"text": ["1889"], "answer_start": [46]},
            {"text": ["Paris"], "answer_start": [23]},
            {"text": [], "answer_start": []},
        ]


def test_qa_parquet(tmp_path):
    path = write_parquet(
        tmp_path,
        "qa.parquet",
        [{"id": "p", "question": "Where?", "context": CONTEXT, "answers": {"text": ["Paris"], "answer_start": [23]}}],
    )
    data = load_task_data("qa", path)
    assert rows(data.train)[0]["answers"] == {"text": ["Paris"], "answer_start": [23]}


def test_qa_answer_offset_mismatch(tmp_path):
    doc = squad([{"id": "off1", "question": "Where?", "answers": [{"text": "Paris", "answer_start": 22}]}])
    with raises("'off1'", "'Paris'", "' Pari'") as info:
        load_task_data("qa", write(tmp_path, "bad.json", json.dumps(doc)))
    assert "character offset" in info.value.hint


def test_qa_errors(tmp_path):
    with raises("invalid JSON"):
        load_task_data("qa", write(tmp_path, "broken.json", '{"data": ['))
    good = json.dumps({"question": "q", "context": CONTEXT, "answers": []})
    with raises(f"{tmp_path / 'bad.jsonl'}:2", "invalid JSON"):
        load_task_data("qa", write(tmp_path, "bad.jsonl", good + "\n{oops\n"))
    with raises("neither SQuAD"):
        load_task_data("qa", write(tmp_path, "odd.json", '{"questions": []}'))
    with raises("line 1", "'question'"):
        load_task_data("qa", write_jsonl(tmp_path, "noq.jsonl", [{"id": "a", "context": CONTEXT, "answers": []}]))
    with raises("no 'answers'"):
        load_task_data("qa", write_jsonl(tmp_path, "noa.jsonl", [{"question": "q", "context": CONTEXT}]))
    with raises("repeated"):
        row = {"id": "d", "question": "q", "context": CONTEXT, "answers": []}
        load_task_data("qa", write_jsonl(tmp_path, "dup.jsonl", [row, row]))
    with raises("cannot be read from CSV"):
        load_task_data("qa", write(tmp_path, "qa.csv", "question,context\nq,c\n"))
    with raises("has no rows"):
        load_task_data("qa", write(tmp_path, "empty.json", json.dumps({"data": []})))


def test_qa_ignores_labels_with_a_warning(tmp_path):
    row = {"id": "a", "question": "q", "context": CONTEXT, "answers": []}
    data = load_task_data("qa", write_jsonl(tmp_path, "qa.jsonl", [row]), labels=["x"])
    assert data.labels == []
    assert data.info["warnings"] == ["labels is ignored for task qa"]


# --------------------------------------------------------------------------- embedding

STS_LINES = (
    "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n"
    'main-news\theadlines\t2013\t0002\t0.500\tHe said "no.\tShe left.\tlicence\tsource\n'
    'main-forums\tdeft\t2014\t0003\t2.500\tA cat.\tA "dog".\n'
)


def test_sts_layout_with_extra_fields(tmp_path):
    data = load_task_data("embedding", write(tmp_path, "sts-train.csv", STS_LINES))
    assert data.info["format"] == "sts"
    assert data.info["pair_kind"] == "scored"
    assert data.info["score_scale"] == 5
    assert data.labels == []
    assert rows(data.train) == [
        {"sentence1": "A plane is taking off.", "sentence2": "An air plane is taking off.", "score": 1.0},
        {"sentence1": 'He said "no.', "sentence2": "She left.", "score": pytest.approx(0.1)},
        {"sentence1": "A cat.", "sentence2": 'A "dog".', "score": 0.5},
    ]


def test_sts_layout_errors(tmp_path):
    with raises(":2", "7"):
        load_task_data(
            "embedding", write(tmp_path, "short.csv", STS_LINES.splitlines()[0] + "\nmain\tx\t2012\t4\t1.0\tonly one\n")
        )
    bad_score = STS_LINES.replace("2.500", "high") + "main\tx\t2012\t4\tnan-ish\ta\tb\n"
    with raises("'high'", "not a number"):
        load_task_data("embedding", write(tmp_path, "score.csv", bad_score))


def test_embedding_scored_csv(tmp_path):
    path = write(tmp_path, "pairs.csv", "sentence1,sentence2,score\na,b,0.8\nc,d,0.1\n")
    data = load_task_data("embedding", path)
    assert data.info["pair_kind"] == "scored"
    assert data.info["score_scale"] == 1
    assert data.train["score"][:] == pytest.approx([0.8, 0.1])
    assert data.info["columns"] == {"sentence1": "sentence1", "sentence2": "sentence2", "score": "score"}


def test_embedding_glue_style_label_column_and_pair_options(tmp_path):
    glue = write(tmp_path, "stsb.tsv", "sentence1\tsentence2\tlabel\na\tb\t4.0\nc\td\t1.0\n")
    data = load_task_data("embedding", glue)
    assert data.info["columns"]["score"] == "label"
    assert data.train["score"][:] == pytest.approx([0.8, 0.2])
    custom = write_jsonl(tmp_path, "custom.jsonl", [{"q": "a", "doc": "b", "sim": 1}, {"q": "c", "doc": "d", "sim": 0}])
    data = load_task_data("embedding", custom, text_column="q", text_pair_column="doc", label_column="sim")
    assert rows(data.train)[0] == {"sentence1": "a", "sentence2": "b", "score": 1.0}
    data = load_task_data("embedding", custom, text_column="q", text_pair_column="doc")
    assert data.info["pair_kind"] == "pairs"
    assert rows(data.train)[0] == {"anchor": "a", "positive": "b"}
    with raises("'similarity'"):
        load_task_data("embedding", custom, text_column="q", text_pair_column="doc", label_column="similarity")


def test_embedding_pairs_with_negatives(tmp_path):
    path = write_parquet(tmp_path, "triples.parquet", [{"anchor": "q", "positive": "p", "negative": "n"}])
    data = load_task_data("embedding", path)
    assert data.info["pair_kind"] == "pairs"
    assert rows(data.train) == [{"anchor": "q", "positive": "p", "negative": "n"}]
    path = write_jsonl(tmp_path, "pairs.jsonl", [{"anchor": "q", "positive": "p"}])
    assert load_task_data("embedding", path).train.column_names == ["anchor", "positive"]


def test_embedding_errors(tmp_path):
    with raises("no sentence-pair columns", "'left', 'right'"):
        load_task_data("embedding", write(tmp_path, "cols.csv", "left,right\na,b\n"))
    with raises("scores go up to 10") as info:
        load_task_data("embedding", write(tmp_path, "ten.csv", "sentence1,sentence2,score\na,b,10\n"))
    assert "rescale" in info.value.hint
    with raises("row 2", "-0.5"):
        load_task_data("embedding", write(tmp_path, "neg.csv", "sentence1,sentence2,score\na,b,0.5\nc,d,-0.5\n"))
    with raises("row 1", "'x'"):
        load_task_data("embedding", write(tmp_path, "nan.csv", "sentence1,sentence2,score\na,b,x\n"))
    with raises("row 2", "empty text", "'positive'"):
        load_task_data(
            "embedding",
            write_jsonl(tmp_path, "e.jsonl", [{"anchor": "a", "positive": "b"}, {"anchor": "c", "positive": ""}]),
        )


def test_embedding_eval_must_match_pair_kind(tmp_path):
    train = write(tmp_path, "train.csv", "sentence1,sentence2,score\na,b,0.5\nc,d,1\n")
    dev = write(tmp_path, "dev.csv", "anchor,positive\na,b\n")
    with raises("anchor/positive pairs", "scored pairs"):
        load_task_data("embedding", train, dev)
    ds, info = load_eval_data("embedding", dev, labels=["LABEL_0"])
    assert info["pair_kind"] == "pairs"
    assert "labels" not in info
    assert ds.num_rows == 1


def test_load_eval_data_qa_ignores_model_labels(tmp_path):
    row = {"id": "a", "question": "Where?", "context": CONTEXT, "answers": {"text": ["Paris"], "answer_start": [23]}}
    ds, info = load_eval_data("qa", write_jsonl(tmp_path, "dev.jsonl", [row]), labels=["LABEL_0", "LABEL_1"])
    assert rows(ds) == [row]
    assert info["unanswerable"] == 0
    assert "labels" not in info


def test_import_stays_light():
    # `nlu --help` imports the CLI, which imports this module: it must not pull in datasets or torch.
    code = "import sys, nlu_toolkit.train.data; print(sorted(m for m in ('datasets', 'torch', 'transformers', 'pandas') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- the real data sets (slow)


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.mark.slow
def test_conll2003_train():
    path = shared("conll2003", "eng.train")
    sentences = read_conll(path)
    assert len(sentences) == 14041
    assert sum(len(tokens) for tokens, _ in sentences) == 203621
    data = load_task_data("ner", path)
    assert data.train.num_rows == 14041
    assert len(data.labels) == 9
    assert data.labels[0] == "O"
    assert set(data.labels[1:]) == {f"{p}-{t}" for p in ("B", "I") for t in ("PER", "ORG", "LOC", "MISC")}
    # IOB2 after conversion: no I- tag starts an entity.
    for tags in data.train["tags"][:200]:
        names = ["O", *[data.labels[t] for t in tags]]
        for before, tag in pairwise(names):
            assert not tag.startswith("I-") or before[2:] == tag[2:]


@pytest.mark.slow
def test_wnut17_train():
    data = load_task_data("ner", shared("wnut17", "wnut17train.conll"))
    assert data.train.num_rows == 3394
    assert len(data.labels) == 13 and data.labels[0] == "O"
    assert "B-creative-work" in data.labels


@pytest.mark.slow
def test_sts_benchmark_train():
    data = load_task_data("embedding", shared("stsbenchmark", "sts-train.csv"))
    assert data.train.num_rows == 5749
    assert data.info["format"] == "sts"
    scores = data.train["score"][:]
    assert min(scores) >= 0 and max(scores) <= 1
    assert max(scores) == pytest.approx(1.0)


@pytest.mark.slow
def test_sst2_with_defaults():
    data = load_task_data("classification", shared("sst2", "train.tsv"), shared("sst2", "dev.tsv"))
    assert data.train.num_rows == 67349
    assert data.eval.num_rows == 872
    assert data.labels == ["0", "1"]
    assert data.info["columns"] == {"text": "sentence", "label": "label"}
    assert sum(data.train["label"][:]) == 37569


def test_a_labels_column_is_used_when_there_is_no_label_column(tmp_path):
    path = tmp_path / "tickets.jsonl"
    path.write_text(
        '{"text": "refund please", "labels": ["billing"]}\n{"text": "app crashes", "labels": "technical, urgent"}\n',
        encoding="utf-8",
    )
    data = load_task_data("multilabel", path)
    assert data.labels == ["billing", "technical", "urgent"]
    assert data.train["label"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]


# --------------------------------------------------------------------------- seq2seq

PAIRS = [
    {"source": "The river rose overnight and closed the lower road.", "target": "Flooding closed the road."},
    {"source": "A new bakery opened on the high street this week.", "target": "A bakery opened."},
    {"source": "The library now lends tools as well as books.", "target": "The library lends tools."},
]


def test_seq2seq_jsonl_source_target(tmp_path):
    path = write_jsonl(tmp_path, "train.jsonl", PAIRS)
    data = load_task_data("seq2seq", path)
    assert data.train.column_names == ["source", "target"]
    assert data.train.to_list() == PAIRS
    assert data.labels == []
    assert data.eval is None
    assert data.info["columns"] == {"source": "source", "target": "target"}
    assert data.info["format"] == "jsonl" and data.info["train_rows"] == 3 and data.info["warnings"] == []


@pytest.mark.parametrize(
    ("name", "source", "target"),
    [
        ("pairs.csv", "text", "summary"),
        ("pairs.tsv", "document", "summary"),
        ("pairs.parquet", "article", "highlights"),
    ],
)
def test_seq2seq_falls_back_to_common_column_pairs(tmp_path, name, source, target):
    rows = [{source: r["source"], target: r["target"]} for r in PAIRS]
    if name.endswith(".parquet"):
        path = write_parquet(tmp_path, name, rows)
    else:
        sep = "," if name.endswith(".csv") else "\t"
        lines = [f"{source}{sep}{target}"] + [f'"{r[source]}"{sep}"{r[target]}"' for r in rows]
        if sep == "\t":  # TSV has no quoting
            lines = [f"{source}\t{target}"] + [f"{r[source]}\t{r[target]}" for r in rows]
        path = write(tmp_path, name, "\n".join(lines) + "\n")
    data = load_task_data("seq2seq", path)
    assert data.info["columns"] == {"source": source, "target": target}
    assert data.train.to_list() == PAIRS


def test_seq2seq_two_language_columns_are_not_guessed(tmp_path):
    path = write(tmp_path, "en-de.csv", "en,de\nGood morning,Guten Morgen\nThank you,Danke\n")
    with raises("no source/target columns", "'en', 'de'") as info:
        load_task_data("seq2seq", path)
    assert "text_column" in info.value.hint and "label_column" in info.value.hint
    data = load_task_data("seq2seq", path, text_column="en", label_column="de")
    assert data.train.to_list() == [
        {"source": "Good morning", "target": "Guten Morgen"},
        {"source": "Thank you", "target": "Danke"},
    ]
    assert data.info["columns"] == {"source": "en", "target": "de"}


def test_seq2seq_one_column_named_the_other_found(tmp_path):
    path = write_jsonl(tmp_path, "t.jsonl", [{"body": r["source"], "summary": r["target"], "id": 1} for r in PAIRS])
    data = load_task_data("seq2seq", path, text_column="body")
    assert data.info["columns"] == {"source": "body", "target": "summary"}
    path = write_jsonl(tmp_path, "u.jsonl", [{"text": r["source"], "short": r["target"]} for r in PAIRS])
    data = load_task_data("seq2seq", path, label_column="short")
    assert data.info["columns"] == {"source": "text", "target": "short"}
    with raises("no target column", "'body'"):
        load_task_data("seq2seq", write_jsonl(tmp_path, "v.jsonl", [{"body": "x", "other": "y"}]), text_column="body")
    with raises("same column", error=UsageError):
        load_task_data("seq2seq", path, text_column="short", label_column="short")


def test_seq2seq_wrong_column_lists_the_file_columns(tmp_path):
    path = write_jsonl(tmp_path, "train.jsonl", PAIRS)
    with raises("'src'", "'source', 'target'") as info:
        load_task_data("seq2seq", path, text_column="src")
    assert "text_column" in info.value.hint
    with raises("'tgt'", "'source', 'target'") as info:
        load_task_data("seq2seq", path, label_column="tgt")
    assert "label_column" in info.value.hint


@pytest.mark.parametrize("empty", ["source", "target"])
def test_seq2seq_empty_text_names_the_row(tmp_path, empty):
    rows = [dict(r) for r in PAIRS]
    rows[1][empty] = "  "
    with raises("row 2", repr(empty)):
        load_task_data("seq2seq", write_jsonl(tmp_path, "train.jsonl", rows))
    rows[1][empty] = None
    with raises("row 2", repr(empty)):
        load_task_data("seq2seq", write_jsonl(tmp_path, "train.jsonl", rows))


def test_seq2seq_missing_cell_in_csv_names_the_row(tmp_path):
    path = write(tmp_path, "t.csv", "source,target\na text,a summary\nanother text,\n")
    with raises("row 2", "'target'"):
        load_task_data("seq2seq", path)


def test_seq2seq_eval_file_split_and_eval_data(tmp_path):
    train = write_jsonl(tmp_path, "train.jsonl", PAIRS * 4)
    dev = write(tmp_path, "dev.csv", "text,summary\nA dog walked home.,The dog came back.\n")
    data = load_task_data("seq2seq", train, dev)
    assert data.eval.to_list() == [{"source": "A dog walked home.", "target": "The dog came back."}]
    assert data.info["eval_rows"] == 1 and data.info["eval_columns"] == {"source": "text", "target": "summary"}
    split = load_task_data("seq2seq", train, eval_split=0.25, seed=1)
    assert (split.train.num_rows, split.eval.num_rows) == (9, 3)
    ds, info = load_eval_data("seq2seq", dev, labels=["ignored"])
    assert ds.to_list() == data.eval.to_list()
    assert info["rows"] == 1 and "labels" not in info
    assert info["columns"] == {"source": "text", "target": "summary"}


def test_seq2seq_labels_and_pair_column_are_ignored_with_a_warning(tmp_path):
    path = write_jsonl(tmp_path, "train.jsonl", PAIRS)
    data = load_task_data("seq2seq", path, labels=["a", "b"], text_pair_column="other")
    assert data.labels == []
    assert any("labels is ignored" in w for w in data.info["warnings"])
    assert any("text_pair_column is ignored" in w for w in data.info["warnings"])


def test_seq2seq_numbers_are_read_as_text(tmp_path):
    path = write(tmp_path, "t.csv", "source,target\n42,forty-two\n")
    assert load_task_data("seq2seq", path).train.to_list() == [{"source": "42", "target": "forty-two"}]


@pytest.mark.parametrize(
    ("task", "name", "content"),
    [
        ("classification", "c.jsonl", '{"text": "ok \\ud800 x", "label": "a"}\n{"text": "fine", "label": "b"}\n'),
        ("ner", "n.jsonl", '{"tokens": ["A\\ud800"], "tags": ["B-PER"]}\n{"tokens": ["b"], "tags": ["O"]}\n'),
        ("classification", "c.json", '[{"text": "fine", "label": "a"}, {"text": "\\udfff", "label": "b"}]'),
        (
            "qa",
            "q.json",
            '[{"id": "1", "question": "who \\ud800", "context": "Ada wrote",'
            ' "answers": {"text": ["Ada"], "answer_start": [0]}}]',
        ),
    ],
)
def test_a_lone_surrogate_in_training_data_is_named_with_its_row(tmp_path, task, name, content):
    from nlu_toolkit.errors import TrainingDataError
    from nlu_toolkit.train.data import load_task_data

    path = tmp_path / name
    path.write_text(content, encoding="ascii")
    with pytest.raises(TrainingDataError, match=r"lone surrogate|invalid character") as err:
        load_task_data(task, path)
    assert "ArrowInvalid" not in str(err.value) and "UTF-8" in err.value.hint
    if name.endswith(".jsonl"):  # line-delimited: the row is known (pyarrow names no row in a JSON array)
        assert ": row 1: " in str(err.value)
