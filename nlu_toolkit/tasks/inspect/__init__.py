"""How a transformer sees a text: its tokens, attention maps and contextual token vectors.

`Inspector` loads any transformers encoder (by default the transformer inside the embedded
all-MiniLM-L6-v2) with eager attention; `inspect_text` is what `nlu inspect` does, as records.

- `tokens`: the tokenization view (token spans, word grouping, finding a word's tokens)
- `attention`: layer and head checks, head averaging and the attention heatmap
- `vectors`: mean pooling, cosine and saving token vectors
- `loading`: loading a model with eager attention, and the inspection model cache
- `inspector`: the `Inspector` class; `entry`: `inspect_text`

The pure helpers need no model.
"""

from __future__ import annotations

from nlu_toolkit.tasks.inspect.attention import PLOT_FORMATS, check_index, draw_heatmap, head_matrix, plot_format
from nlu_toolkit.tasks.inspect.entry import inspect_text
from nlu_toolkit.tasks.inspect.inspector import Inspector
from nlu_toolkit.tasks.inspect.loading import clear_cache
from nlu_toolkit.tasks.inspect.tokens import find_word, group_words, token_spans, token_words, tokens_in_span
from nlu_toolkit.tasks.inspect.vectors import cosine, mean_pool, save_vectors

__all__ = [
    "PLOT_FORMATS",
    "Inspector",
    "check_index",
    "clear_cache",
    "cosine",
    "draw_heatmap",
    "find_word",
    "group_words",
    "head_matrix",
    "inspect_text",
    "mean_pool",
    "plot_format",
    "save_vectors",
    "token_spans",
    "token_words",
    "tokens_in_span",
]
