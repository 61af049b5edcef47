"""The web UI (``nlu app``): Gradio tabs over the library.

`AppConfig`, `build_app` and `launch` are loaded on first access, so ``import nlu_toolkit.app``
stays cheap (Gradio is imported only inside functions anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from nlu_toolkit.app.webapp import AppConfig, build_app, launch

__all__ = ["AppConfig", "build_app", "launch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from nlu_toolkit.app import webapp

        return getattr(webapp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
