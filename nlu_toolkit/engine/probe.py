"""Probe texts and the agreement a fast backend must reach with torch.

Exported graphs (ONNX, OpenVINO) are checked against torch on these inputs before they
are used, and `nlu bench` times the backends on `default_texts`.
"""

from __future__ import annotations

import numpy as np

#: The least agreement with torch a backend must reach, on the probe inputs before it is used
#: (the share of equal labels, token tags or answer boundaries) and on the bench texts before it
#: is recommended (the mean cosine per vector for embeddings, equal labels or entity lists otherwise).
MIN_AGREEMENT = 0.99

#: Sentences the exported classification and NER graphs must reproduce: varied length,
#: sentiment, entities, numbers and non-ASCII text.
PROBE_SENTENCES = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog near the river bank on a sunny afternoon in May.",
    "Refunds take 5-7 business days; contact support@example.com if yours has not arrived.",
    "Ünïcödé, emoji 🙂 and numbers 3.14159 in one sentence.",
    "I loved this film, the acting was wonderful and the ending made me cry.",
    "Dull, far too long, and the dialogue is painful.",
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the European Union budget.",
    "Apple opened a new office in Berlin, hiring 200 engineers from Google and Microsoft.",
    "The service was slow but the food was excellent.",
    "Not bad at all.",
    "My parcel never arrived and nobody answers the phone.",
    "The United Nations met in New York.",
    "It is what it is.",
    "Barcelona beat Real Madrid 3-1 at the Camp Nou, with two goals from Lewandowski.",
    "Worst purchase I have made this year; it broke after two days.",
    "A thoughtful, beautifully shot documentary about life on the Amazon river.",
]
#: (question, context) pairs for the QA probe.
PROBE_QUESTIONS = [
    ("Where did they meet?", "Angela Merkel met Emmanuel Macron in Paris on Tuesday to discuss the budget."),
    ("How many engineers were hired?", "Apple opened a new office in Berlin, hiring 200 engineers from Google."),
    ("How long do refunds take?", "Refunds take 5-7 business days; contact support if yours has not arrived."),
    ("Who scored?", "Barcelona beat Real Madrid 3-1 at the Camp Nou, with two goals from Lewandowski."),
    ("What broke?", "Worst purchase I have made this year: the blender broke after two days."),
    ("Where is the river?", "A thoughtful documentary about life on the Amazon river in Brazil."),
]


def default_texts(n: int = 256, seed: int = 0) -> list[str]:
    """``n`` varied texts of one to four sentences, made from the probe sentences (deterministic)."""
    rng = np.random.default_rng(seed)
    return [
        " ".join(rng.choice(PROBE_SENTENCES, size=int(rng.integers(1, 5)), replace=False).tolist()) for _ in range(n)
    ]
