"""The request limits, checked in the route before any work is queued.

* every string in a body (texts, labels, questions, contexts, queries, pairs, the
  fields and keys of passed-through records) passes `nlu_toolkit.io.readers.check_text`:
  at most ``max_chars`` characters and valid Unicode (a lone surrogate such as the JSON
  escape ``"\\ud800"`` cannot be tokenized or written back) -> 422, naming the field;
* every number is finite: ``NaN`` and ``Infinity`` (JSON literals Python accepts) -> 422;
* a list of items holds at most ``max_items`` -> 413;
* a record's passed-through fields may not carry the name of a field the answer writes
  (``label``, ``score``, ``start``, ...): the copy would replace the answer's value -> 422;
* a zero-shot request names at most ``max_labels`` labels, and its texts x labels (the
  number of pairs an NLI model scores) is at most ``max_work`` -> 413.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nlu_toolkit.errors import InputError
from nlu_toolkit.serve.config import ServeConfig
from nlu_toolkit.serve.errors import ApiError


def check_strings(value: Any, config: ServeConfig, where: str) -> None:
    """Check every string (and that every number is finite) in ``value`` (a request field, walked through lists and objects).

    ``where`` names the field in the message: ``texts.2.text``, ``labels.0``, ``pairs.1.b``.
    """
    from nlu_toolkit.io.readers import check_text

    if isinstance(value, str):
        check_text(value, config.max_chars, what=where)
    elif isinstance(value, float) and not math.isfinite(value):
        # Python's JSON parser takes NaN and Infinity literals; no field means them.
        raise InputError(f"{where} is {value}, not a finite number", f"give {where} a finite number")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            key = str(key)
            check_text(key, config.max_chars, what=f"a field name in {where}")
            check_strings(item, config, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_strings(item, config, f"{where}.{i}")


def check_body(body: Any, config: ServeConfig) -> None:
    """Check every text-carrying field of a request body (a pydantic model) as `check_strings` does."""
    for name in type(body).model_fields:
        value = getattr(body, name)
        if value is not None:
            check_strings(_plain(value), config, name)
    for name, value in (body.model_extra or {}).items():
        check_strings({name: value}, config, "body")


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def check_count(n: int, config: ServeConfig) -> None:
    """413 when a request holds more than ``max_items`` items."""
    if n > config.max_items:
        raise ApiError(
            413,
            f"the request holds {n} items, more than the limit of {config.max_items}",
            "split it into smaller requests, or restart nlu serve with a larger --max-items",
        )


def check_labels(labels: list[str], n_texts: int, config: ServeConfig) -> None:
    """413 when a zero-shot request has too many labels, or too many texts x labels."""
    if len(labels) > config.max_labels:
        raise ApiError(
            413,
            f"the request names {len(labels)} labels, more than the limit of {config.max_labels}",
            "send fewer labels, or restart nlu serve with a larger --max-labels",
        )
    work = n_texts * len(labels)
    if work > config.max_work:
        raise ApiError(
            413,
            f"the request asks for {n_texts} texts x {len(labels)} labels = {work:,} scores, "
            f"more than the limit of {config.max_work:,}",
            "split the texts over several requests, or restart nlu serve with a larger --max-work",
        )


def text_records(texts: list[Any], config: ServeConfig, field: str = "text") -> list[dict[str, Any]]:
    """The records of a ``text``/``texts`` request, counted and checked."""
    from nlu_toolkit.io.readers import records_from_texts

    check_count(len(texts), config)
    return list(records_from_texts(texts, field=field, max_chars=config.max_chars))


def check_qa(items: list[dict[str, Any]]) -> None:
    """422 for an empty question or context (their length and characters are checked with the body)."""
    for item in items:
        for key in ("question", "context"):
            if not item[key].strip():
                raise InputError(f"record {item['id']!r} has an empty {key}", f"give every record a non-empty {key!r}")
