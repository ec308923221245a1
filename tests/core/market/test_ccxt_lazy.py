"""ccxt with one exchange class at a time (core.market.ccxt_lazy, #19): checked in fresh interpreters, since
this test process imported ccxt long ago (tests/conftest.py imports `core` first, so the whole suite runs on
the lazy path: every ccxt test here goes through it)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import ccxt.async_support

from core.market.ccxt_lazy import LazyExchangePackage

ROOT = Path(__file__).resolve().parents[3]


def _fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ccxt_lazy_imports_only_the_configured_exchange_and_what_it_builds_on() -> None:
    seen = _fresh("""
        import json, sys
        import core  # as every entry point does
        from core.execution.exchange_client import ExchangeCredentials, make_exchange
        import ccxt, ccxt.async_support as ca
        exchange = make_exchange(ExchangeCredentials("binanceusdm", "k", "s"))
        loaded = sorted(m for m in sys.modules  # exchange modules of either package (ccxt.abstract.* are their APIs)
                        if m.rpartition(".")[0] in ("ccxt", "ccxt.async_support") and m.rpartition(".")[2] in ca.exchanges)
        print(json.dumps({
            "loaded": loaded, "class": type(exchange).__name__, "exchanges": len(ca.exchanges),
            "binance_is_class": isinstance(ca.binance, type), "errors_shared": ca.NetworkError is ccxt.NetworkError,
            "unknown": getattr(ca, "nonsense", None), "version": ca.__version__ == ccxt.__version__,
            "bybit_on_demand": ca.bybit.__name__,
        }))
    """)
    assert seen["loaded"] == ["ccxt.async_support.binance", "ccxt.async_support.binanceusdm"]  # not ~200 others
    assert seen["class"] == "binanceusdm" and seen["exchanges"] > 90
    assert seen["binance_is_class"] and seen["errors_shared"] and seen["version"]
    assert seen["unknown"] is None  # `make_exchange` and `CcxtMarketData.from_id` refuse unknown ids through this
    assert seen["bybit_on_demand"] == "bybit"


def test_ccxt_lazy_leaves_an_already_imported_ccxt_as_shipped() -> None:
    seen = _fresh("""
        import json, sys
        import ccxt.async_support as ca
        from core.market import ccxt_lazy
        print(json.dumps({"installed": ccxt_lazy.install(), "type": type(ca).__name__,
                          "loaded": sum(m.startswith("ccxt.async_support.") for m in sys.modules)}))
    """)
    assert seen["installed"] is False and seen["type"] == "module" and seen["loaded"] > 90


def test_ccxt_lazy_is_what_this_suite_runs_on() -> None:
    assert isinstance(ccxt.async_support, LazyExchangePackage)
