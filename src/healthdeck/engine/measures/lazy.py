"""A module imported when first used, not when named: Ibis costs a third of a second to import
and a health check whose SQL is already compiled never needs it (see templates.py)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule(ModuleType):
    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later look-ups no longer come through here
        return getattr(module, attribute)


def lazy_module(name: str) -> ModuleType:
    """A stand-in for `import name` that imports it on its first attribute access."""
    return _LazyModule(name)
