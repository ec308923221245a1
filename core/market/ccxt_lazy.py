"""ccxt with each exchange class imported when first used, instead of all ~100 at `import ccxt` (#19).

`ccxt/__init__.py` and `ccxt/async_support/__init__.py` import every exchange module ccxt ships (≈ 70 MB
resident for the async package alone; upstream ccxt/ccxt#29573, open). A bot talks to one venue. Here an
import hook runs those two files as shipped except for their `from ccxt.<pkg>.<id> import <id>` lines, and
the package hands out an exchange class on first access (`ccxt.async_support.binanceusdm`, `getattr(ccxt,
EXCHANGE_ID)`), importing just that module and what it imports itself (binanceusdm → binance). Everything
else — `exchanges`, `Exchange`, the error classes, `__version__`, precision helpers — is defined by ccxt's
own code, so callers cannot tell the difference; `from ccxt import *` still loads everything.

`install()` runs when `core` is imported (core/__init__.py), before anything imports ccxt. If ccxt was
already imported, or its package files no longer have that shape (no literal `exchanges` list), ccxt is
left to import as shipped.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from typing import Any

LAZY_PACKAGES = ("ccxt", "ccxt.async_support")


class LazyExchangePackage(types.ModuleType):
    """A ccxt package whose exchange classes are imported on first access."""

    _exchange_ids: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:  # only for names not yet defined
        if name in self._exchange_ids:
            importlib.import_module(f"{self.__name__}.{name}")
            return self.__dict__[name]
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing `ccxt.async_support.binance` (binanceusdm does) binds the submodule on the package; ccxt's
        # own __init__ rebinds that name to the class straight after, and so does this.
        if name in self._exchange_ids and isinstance(value, types.ModuleType):
            value = getattr(value, name, value)
        super().__setattr__(name, value)


def _without_exchange_imports(tree: ast.Module, package: str) -> tuple[ast.Module, frozenset[str]] | None:
    exchanges: frozenset[str] = frozenset()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "exchanges" for t in node.targets):
            try:
                exchanges = frozenset(ast.literal_eval(node.value))
            except ValueError:
                return None
    if not exchanges:
        return None

    def exchange_import(node: ast.stmt) -> bool:
        return (
            isinstance(node, ast.ImportFrom) and len(node.names) == 1 and node.names[0].name in exchanges
            and node.module == f"{package}.{node.names[0].name}" and node.names[0].asname is None
        )

    tree.body = [node for node in tree.body if not exchange_import(node)]
    return tree, exchanges


class _LazyInitLoader(importlib.abc.Loader):
    def __init__(self, shipped: importlib.machinery.SourceFileLoader) -> None:
        self._shipped = shipped

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None  # the default module; its class is swapped in exec_module

    def exec_module(self, module: types.ModuleType) -> None:
        source = self._shipped.get_source(module.__name__)
        stripped = _without_exchange_imports(ast.parse(source or ""), module.__name__) if source else None
        if stripped is None:
            self._shipped.exec_module(module)  # not the shape we know: import as shipped
            return
        tree, exchanges = stripped
        module.__class__ = LazyExchangePackage
        object.__setattr__(module, "_exchange_ids", exchanges)
        exec(compile(tree, self._shipped.get_filename(module.__name__), "exec"), module.__dict__)


class _LazyCcxtFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in LAZY_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _LazyInitLoader(spec.loader)
        return spec


def install() -> bool:
    """Put the hook in front of the import system (once); False when ccxt is already imported."""
    if any(isinstance(finder, _LazyCcxtFinder) for finder in sys.meta_path):
        return True
    if "ccxt" in sys.modules:
        return False
    sys.meta_path.insert(0, _LazyCcxtFinder())
    return True
