"""How a value reads in a table or a model card: one function, `show_value`, for the CLI and the library.

A number is shown as what it is, by its kind: an integer as an integer (``3``, not ``3.0000``), a
duration with one decimal (``192.5``), a setting exactly as it reads back (``5e-05``, not ``0.0001``),
a score with four decimals (``0.4344``). Files meant for programs (JSON, CSV) keep the raw values.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

#: Keys whose values count whole things: a whole float there (the Trainer's epoch 3.0) reads as ``3``.
COUNT_KEYS = frozenset(
    {"epoch", "epochs", "best_epoch", "step", "steps", "max_steps", "tp", "fp", "fn", "support", "n"}
)
#: Scores and losses below this lose their digits at four decimals (5e-05 would read 0.0001): they get
#: four significant digits instead.
_SMALL = 1e-3


def show_value(value: Any, key: str = "", *, setting: bool = False) -> str:
    """``value`` as a person reads it; ``key`` is its name, ``setting`` says it was chosen, not measured.

    - None: empty; anything not a number: ``str``; booleans: ``True``/``False``.
    - integers: as integers; a whole float under a counting key (``epoch``, ``steps``, ``tp``...)
      or given as a setting: as an integer too (``3``).
    - durations and rates (keys ending in ``seconds`` or ``per_second``): one decimal (``192.5``).
    - settings (``setting=True``: a learning rate, a weight decay): the shortest form that reads
      back as the same value (``5e-05``, ``0.01``).
    - other floats (scores, losses): four decimals (``0.4344``), or four significant digits when
      four decimals would round them away (``3.2e-05``). A fractional epoch: up to four decimals.
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if key.endswith(("seconds", "per_second")):
        return f"{number:.1f}"
    counted = key in COUNT_KEYS
    if number.is_integer() and (counted or setting):
        return str(int(number))
    if setting:
        return repr(number)
    if counted:
        return f"{round(number, 4):g}"
    if number != 0 and abs(number) < _SMALL:
        return f"{number:.4g}"
    return f"{number:.4f}"
