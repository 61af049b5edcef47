"""One schemathesis run over one operation of a live server: the checks every fuzz test of the server makes.

Used by tests/test_serve_fuzz.py (the native routes), test_serve_openai.py and test_serve_tei.py.
"""

from __future__ import annotations

from typing import Any


def fuzz_operation(
    operation: Any, base: str, mode: str, *, examples: int, headers: dict[str, str] | None = None, shrink: bool = True
) -> None:
    """Send ``examples`` derandomized requests generated for ``operation`` (``positive``: valid by the schema,
    ``negative``: invalid) to the server at ``base``; every answer must be no 5xx, with a status code, content
    type and body the published schema declares. ``shrink``: minimise a failing request before reporting it."""
    import requests
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )
    from schemathesis.generation import GenerationMode

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    session = requests.Session()
    session.headers.update(headers or {})
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if shrink else [])]

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(GenerationMode(mode)))
    def fuzz(case: Any) -> None:
        case.call_and_validate(base_url=base, session=session, checks=checks, timeout=60)

    try:
        fuzz()
    finally:
        session.close()
