"""uvicorn's HTTP protocol, answering a request it cannot parse with the API's JSON error.

A request whose head is not valid HTTP/1.1 (a ``Content-Length`` that is not a number, a
broken request line or header) is refused by the HTTP parser (httptools or h11) before
any ASGI app sees it, so no FastAPI handler or middleware can answer it: uvicorn writes
a plain-text 400 itself. This subclass of the protocol uvicorn would pick writes the
``{"error", "hint"}`` shape instead, then closes the connection as uvicorn does.
"""

from __future__ import annotations

import json
from typing import Any

#: The one error every unparseable request gets (the parser does not say what was wrong).
BAD_HTTP = {
    "error": "the request is not valid HTTP/1.1 (a malformed request line or header, "
    "such as a Content-Length that is not a number)",
    "hint": "send a well-formed request, e.g. with curl or an HTTP library",
}


def json_error_protocol(name: str = "auto") -> type[Any]:
    """uvicorn's HTTP protocol class ``name`` (as ``--http``), with a JSON 400 for unparseable requests."""
    from uvicorn.config import HTTP_PROTOCOLS
    from uvicorn.importer import import_from_string

    base = import_from_string(HTTP_PROTOCOLS[name])

    class JsonErrorProtocol(base):  # type: ignore[misc, valid-type]
        def send_400_response(self, msg: str) -> None:
            body = json.dumps(BAD_HTTP).encode("utf-8")
            head = (
                "HTTP/1.1 400 Bad Request\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(body)}\r\n"
                "connection: close\r\n\r\n"
            )
            self.transport.write(head.encode("ascii") + body)
            self.transport.close()

    JsonErrorProtocol.__name__ = JsonErrorProtocol.__qualname__ = f"JsonError{base.__name__}"
    return JsonErrorProtocol
