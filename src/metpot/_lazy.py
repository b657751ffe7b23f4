"""Packages whose names are imported from their submodules on first use (PEP 562)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]], namespace: dict
) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of a package exporting ``exports``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping
        Submodule name -> the names the package exports from it.
    namespace : dict
        The package's ``globals()``: a name, once imported, is kept there.
    """
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(module_of))

    return __getattr__, __dir__
