"""Search: the saved index (vectors, documents, manifest, ANN) and the library `search()`.

``from nlu_toolkit import search`` must give the function, but Python binds a subpackage to its
parent's attribute of the same name once it is imported. So this package is itself callable:
``search(...)`` and ``nlu_toolkit.search(...)`` both run `nlu_toolkit.search.api.search`, whichever was
imported first. Importing it stays cheap (the api module loads on the first call).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableSearch(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from nlu_toolkit.search.api import search

        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableSearch
