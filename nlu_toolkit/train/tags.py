"""The check every NER tag passes where it is read (CoNLL lines, tag columns of tables).

Valid tags are ``O``, a known scheme prefix and a type (``B-``/``I-`` IOB, ``E-``/``S-``
BIOES, ``L-``/``U-`` BILOU: ``B-PER``), or a bare type (IO scheme: ``PER``). A tag whose
head looks like a prefix but is not one (``X-FOO``, ``b-PER``, ``O-LOC``) was read as the
entity type ``X-FOO``: a typo became a label the model learned. It is refused instead,
as is a prefix with no type (``B-``).
"""

from __future__ import annotations

import re

from nlu_toolkit.errors import TrainingDataError

#: The prefixes `nlu_toolkit.train.data.to_iob2` maps to IOB2.
PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")
_PREFIX_LIKE = re.compile(r"^[A-Za-z]-")
_HINT = (
    "use the IOB scheme: O outside entities, B-TYPE to begin one and I-TYPE inside it "
    "(BIOES/BILOU E-, S-, L-, U- also work), e.g. B-PER I-PER O"
)


def check_tag(tag: str, where: str) -> None:
    """Raise `TrainingDataError` (``where`` is ``file:line`` or ``file: row N``) for an invalid tag."""
    if tag == "O":
        return
    if tag[:2] in PREFIXES:
        if not tag[2:].strip():
            raise TrainingDataError(f"{where}: tag {tag!r} has a prefix but no entity type", _HINT)
        return
    if _PREFIX_LIKE.match(tag):
        raise TrainingDataError(
            f"{where}: tag {tag!r} has an unknown prefix {tag[:2]!r} (valid: O, {', '.join(PREFIXES)})", _HINT
        )
