"""Token metering: how many tokens the model ran on, counted where the batches are built.

`batching.run_sorted` already knows every feature's length (the tokenizer's ``input_ids``,
special tokens included, after truncation), so a caller that wants the count opens a
`token_meter` around a library call on its own thread and reads ``meter.tokens`` after,
with no second tokenization. Outside a meter, counting costs one attribute lookup.

Meters are per thread (a server's worker thread meters its own batch) and nest: an inner
meter's tokens are added to the outer one when it closes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

_local = threading.local()


@dataclass
class TokenMeter:
    """Tokens counted on this thread while the meter was open."""

    tokens: int = 0


@contextmanager
def token_meter() -> Iterator[TokenMeter]:
    """Count the tokens of every batch built on this thread inside the ``with`` block."""
    outer: TokenMeter | None = getattr(_local, "meter", None)
    meter = TokenMeter()
    _local.meter = meter
    try:
        yield meter
    finally:
        _local.meter = outer
        if outer is not None:
            outer.tokens += meter.tokens


def count_tokens(n: int) -> None:
    """Add ``n`` tokens to this thread's open meter, if any."""
    meter: TokenMeter | None = getattr(_local, "meter", None)
    if meter is not None:
        meter.tokens += n
