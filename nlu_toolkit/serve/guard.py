"""The API key check (401) and the body size limit (413), before any body is parsed."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from fastapi.responses import Response

from nlu_toolkit.serve.errors import error_response as _error
from nlu_toolkit.serve.protocol import BAD_HTTP

#: Paths that stay open when an API key is set: liveness and the API's own docs.
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
#: Where /docs finds Swagger UI's scripts when the swagger-ui-bundle package is installed (the
#: serve extra has it): served from here, so the docs page works offline, not from a CDN.
DOCS_ASSETS = "/docs-assets"

# -- guard: API key and body size, before any body is parsed ---------------------------------------


class Guard:
    """Pure ASGI middleware: the API key check (401), then the body size limit (413).

    The body is read here, counted as it arrives (a chunked upload names no length),
    and handed on whole, so no route ever sees more than ``max_body_bytes``. It is
    parsed as JSON whatever the Content-Type header says.
    """

    def __init__(self, app: Any, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.limit = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        path = scope["path"]
        open_path = path in OPEN_PATHS or path.startswith(DOCS_ASSETS + "/")
        if self.key is not None and not open_path and not self._authorized(headers):
            response = _error(
                401,
                "missing or wrong API key",
                "send the header Authorization: Bearer <key>",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.limit:
                    await self._too_large()(scope, receive, send)
                    return
            except ValueError:
                await _error(400, "the Content-Length header is not a number", BAD_HTTP["hint"])(scope, receive, send)
                return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False
        if scope["method"] in ("POST", "PUT", "PATCH"):
            # Every body is JSON, whatever its Content-Type says: `curl -d '{...}'` sends
            # application/x-www-form-urlencoded, and should work without -H.
            kept = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*kept, (b"content-type", b"application/json")]}

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as the server's own would

        await self.app(scope, replay, send)

    def _too_large(self) -> Response:
        return _error(
            413,
            f"the request body is larger than {self.limit:,} bytes",
            "send fewer or shorter texts per request, or restart nlu serve with a larger --max-body-bytes",
        )

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        # compare_digest takes the same time whatever the first wrong byte, so timing leaks nothing.
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key or b"")
