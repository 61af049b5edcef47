"""Request bodies, answers and the error of the TEI routes (`nlu_toolkit.serve.tei_routes`).

Shapes follow Hugging Face text-embeddings-inference's OpenAPI document (docs/openapi.json, 1.6) and its
router's types (router/src/http/types.rs); /v1/rerank's follow Cohere's and Jina's rerank APIs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nlu_toolkit.serve.schemas import ERRORS, Count

# -- errors -------------------------------------------------------------------------------------

#: TEI's ``ErrorType`` and the status each gets (``impl From<&ErrorType> for StatusCode`` in its router).
TEI_STATUS = {"Empty": 400, "Validation": 413, "Tokenizer": 422, "Backend": 424, "Overloaded": 429, "Unhealthy": 503}


class TeiError(Exception):
    """An error answered in TEI's shape: ``{"error", "error_type", "hint"}`` with the type's status."""

    def __init__(self, error: str, error_type: str, hint: str | None = None) -> None:
        super().__init__(error)
        self.error, self.error_type, self.hint = error, error_type, hint
        self.status = TEI_STATUS[error_type]


class TeiErrorBody(BaseModel):
    """TEI's ``ErrorResponse`` with our hint; a body that does not parse gets ``{"error", "hint"}`` only."""

    error: str
    error_type: Literal["Empty", "Validation", "Tokenizer", "Backend", "Overloaded", "Unhealthy"] | None = None
    hint: str | None = None


TEI_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    **{
        code: {"model": TeiErrorBody, "description": text}
        for code, text in (
            (400, "The batch is empty (TEI's Empty), or the body is not valid JSON."),
            (413, "A batch or a text is too large (TEI's Validation), or the body is."),
            (424, "The model this route needs is not served (TEI's Backend)."),
        )
    },
}


# -- request bodies -----------------------------------------------------------------------------


class _TeiBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


Direction = Literal["Right", "right"]


class TeiRerankBody(_TeiBody):
    query: str = Field(examples=["What is Deep Learning?"])
    texts: list[str] = Field(examples=[["Deep Learning is ..."]])
    raw_scores: bool = Field(False, description="The logits, not their sigmoid.")
    return_text: bool = Field(False, description="Each rank carries its text.")
    truncate: bool | None = Field(None, description="Cut a pair over the model's token limit (default: refuse it).")
    truncation_direction: Direction | None = None


class TeiPredictBody(_TeiBody):
    inputs: str | list[str] | list[list[str]] = Field(
        description="A text, a pair [a, b], or a batch of texts and pairs [[a], [a, b], ...]."
    )
    raw_scores: bool = Field(False, description="The logits, not their softmax (sigmoid for one label).")
    truncate: bool | None = Field(None, description="Cut an input over the model's token limit (default: refuse it).")
    truncation_direction: Direction | None = None


class TeiTokenizeBody(_TeiBody):
    inputs: str | list[str]
    add_special_tokens: bool = True


class RerankDocument(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    text: str


class CohereRerankBody(BaseModel):
    # Cohere's and Jina's clients send fields of their own (rank_fields, max_chunks_per_doc): ignored.
    model_config = ConfigDict(extra="ignore", strict=True)
    query: str
    documents: list[str | RerankDocument] = Field(description='Texts, or objects {"text": ...}.')
    top_n: Count | None = Field(None, ge=1, description="Results kept, best first (default: all).")
    return_documents: bool = Field(False, description='Each result carries {"text": ...}.')
    model: str | None = Field(None, description="Ignored: the served rerank model answers.")


# -- responses (what /openapi.json publishes; TEI's Rank, Prediction, SimpleToken, Info) ---------------


class Rank(BaseModel):
    index: int
    score: float
    text: str | None = Field(None, description="With return_text.")


class Prediction(BaseModel):
    label: str
    score: float


class SimpleToken(BaseModel):
    id: int
    text: str
    special: bool
    start: int | None
    stop: int | None


class Info(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    model_id: str
    model_sha: str | None
    model_dtype: str
    model_type: dict[str, Any] = Field(
        description='{"embedding": {"pooling"}}, {"reranker": ...} or {"classifier": ...}'
    )
    max_concurrent_requests: int
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int | None
    max_client_batch_size: int
    auto_truncate: bool
    tokenization_workers: int
    version: str
    sha: str | None
    docker_label: str | None


class RerankResult(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, str] | None = Field(None, description='{"text": ...}, with return_documents.')


class RerankResults(BaseModel):
    results: list[RerankResult]
    model: str
