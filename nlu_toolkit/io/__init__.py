"""Streaming readers and atomic writers: the one place that touches input and output files."""

from nlu_toolkit.io.readers import check_text, count_chars_limit, detect_format, iter_records, records_from_texts
from nlu_toolkit.io.writers import atomic_output, write_records

__all__ = [
    "atomic_output",
    "check_text",
    "count_chars_limit",
    "detect_format",
    "iter_records",
    "records_from_texts",
    "write_records",
]
