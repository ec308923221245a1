"""Sweep planning without running anything: grid parsing onto typed settings, windows, stable cell keys,
atomic cell files, ranking, and the deflated Sharpe ratio against the paper's worked example."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserInputError
from core.evaluation.deflated_sharpe import (
    ReturnStats,
    deflated_sharpe_given,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    expected_max_sharpe_of,
)
from core.evaluation.sweep import CellStore, parse_grid, plan_cells, ranked, split_windows, sweep_summary


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_grid_is_keys_and_values_in_order_and_bad_ones_say_how_to_write_it() -> None:
    grid = parse_grid(["MIN_CONFIDENCE=0.55,0.6", "risk_per_trade_pct=1, 2", "max_leverage=3"])
    assert grid == {"min_confidence": ("0.55", "0.6"), "risk_per_trade_pct": ("1", "2"), "max_leverage": ("3",)}
    with pytest.raises(UserInputError, match="KEY=V1,V2"):
        parse_grid(["min_confidence"])
    with pytest.raises(UserInputError, match="KEY=V1,V2"):
        parse_grid(["min_confidence="])
    with pytest.raises(UserInputError, match="given twice"):
        parse_grid(["min_confidence=0.6", "MIN_CONFIDENCE=0.7"])
    with pytest.raises(UserInputError, match="repeats a value"):
        parse_grid(["min_confidence=0.6,0.6"])


def test_windows_are_consecutive_on_bar_boundaries_without_a_shared_bar() -> None:
    windows = split_windows(utc(2023, 3, 1), utc(2023, 3, 11), 2)
    assert windows == [(utc(2023, 3, 1), utc(2023, 3, 6)), (utc(2023, 3, 6, 1), utc(2023, 3, 11))]
    with pytest.raises(UserInputError, match="too short"):
        split_windows(utc(2023, 3, 1), utc(2023, 3, 1, 3), 2)


def describe(base: str = "") -> object:
    """A stand-in for the factory's versions: the descriptor is the settings, the id their hash."""
    def inner(engine: str, overrides: tuple[tuple[str, str], ...]) -> tuple[str, dict, dict]:  # type: ignore[type-arg]
        descriptor = {"engine": engine, "settings": dict(overrides), "base": base}
        return str(abs(hash(json.dumps(descriptor, sort_keys=True)))), descriptor, {}
    return inner


def _cells(**kw: object) -> list:  # type: ignore[type-arg]
    base = {"engine": "rules", "grid": parse_grid(["min_confidence=0.55,0.6,0.7", "risk_per_trade_pct=1,1.5,2"]),
            "symbol_sets": [("BTC/USDT:USDT",)], "windows": split_windows(utc(2023, 3, 1), utc(2023, 3, 11), 2),
            "describe": describe(), "data": "/data", "initial_equity": 10_000.0}
    base.update(kw)
    return plan_cells(**base)  # type: ignore[arg-type]


def test_cell_keys_are_stable_distinct_and_follow_every_input() -> None:
    cells = _cells()
    assert len(cells) == 18 and len({c.key for c in cells}) == 18
    assert [c.key for c in cells] == [c.key for c in _cells()]  # same command, same keys
    # anything that changes the result changes the key: the strategy's settings, the data, the equity
    assert cells[0].key not in {c.key for c in _cells(describe=describe("MAX_LEVERAGE=3"))}
    assert cells[0].key not in {c.key for c in _cells(data="/other")}
    assert cells[0].key not in {c.key for c in _cells(initial_equity=5_000.0)}
    # grouped by window so a worker reuses one window's indicators
    assert [c.start for c in cells[:9]] == [cells[0].start] * 9


def test_two_grid_values_that_make_one_strategy_are_refused() -> None:
    def same(engine: str, overrides: tuple[tuple[str, str], ...]) -> tuple[str, dict, dict]:  # type: ignore[type-arg]
        return "v1", {"engine": engine}, {}

    with pytest.raises(UserInputError, match="same strategy"):
        _cells(describe=same)


def test_cell_store_writes_atomically_and_ignores_torn_foreign_or_partial_files(tmp_path: Path) -> None:
    store = CellStore(tmp_path / "cells")
    whole = {**_row("abc", 1.0, 0.02), "version": "v1"}
    store.write(whole)
    assert store.load("abc") == whole
    assert [p.name for p in (tmp_path / "cells").iterdir()] == ["abc.json"]  # no temporary left behind
    (tmp_path / "cells" / "torn.json").write_text('{"key": "torn", "metr')
    (tmp_path / "cells" / "other.json").write_text(json.dumps({**whole, "key": "abc"}))
    (tmp_path / "cells" / "partial.json").write_text(json.dumps({"key": "partial", "metrics": {}}))
    (tmp_path / "cells" / "odd.json").write_text(json.dumps({**whole, "key": "odd", "return_stats": []}))
    (tmp_path / "cells" / "list.json").write_text("[1, 2]")
    assert set(store.finished(["abc", "torn", "other", "partial", "odd", "list", "missing"])) == {"abc"}


def _row(key: str, sharpe: float | None, per_bar: float | None) -> dict:  # type: ignore[type-arg]
    return {"key": key, "engine": "rules", "overrides": {}, "symbols": ["BTC/USDT:USDT"], "start": "s", "end": "e",
            "metrics": {"sharpe": sharpe}, "return_stats": {"sharpe_per_bar": per_bar, "skew": 0.0, "kurtosis": 3.0,
                                                              "n": 500}}


def test_ranking_puts_undefined_sharpe_last_and_the_summary_names_its_measure() -> None:
    rows = ranked([_row("a", 0.5, 0.01), _row("b", None, None), _row("c", 2.0, 0.04), _row("d", -1.0, -0.02)])
    assert [r["key"] for r in rows] == ["c", "a", "d", "b"]
    summary = sweep_summary(rows, {"risk.min_confidence": (0.6,)})
    assert summary["cells"] == 4 and summary["best"]["key"] == "c"
    detail = summary["deflated_sharpe_detail"]
    assert "Bailey & López de Prado" in detail["method"] and detail["trials"] == 3
    stats = ReturnStats(0.04, 0.0, 3.0, 500)
    assert summary["deflated_sharpe"] == pytest.approx(deflated_sharpe_ratio(stats, [0.01, 0.04, -0.02]))


def test_deflated_sharpe_reproduces_the_papers_worked_example() -> None:
    # Bailey & López de Prado (2014), section "A numerical example": N = 100 trials, V[SR] = 0.5 (annualised),
    # SR = 2.5 annualised over T = 1250 daily returns, skewness -3, kurtosis 10 → SR* ≈ 1.79 (annualised), DSR ≈ 0.9004
    days = 250
    sr_star = expected_max_sharpe_of(100, math.sqrt(0.5 / days))
    assert sr_star * math.sqrt(days) == pytest.approx(1.7894, abs=1e-3)
    dsr = deflated_sharpe_given(ReturnStats(2.5 / math.sqrt(days), -3.0, 10.0, 1250), sr_star)
    assert dsr == pytest.approx(0.9004, abs=1e-3)


def test_the_more_cells_tried_the_higher_the_bar() -> None:
    rng = np.random.default_rng(7)
    few, many = rng.normal(0, 0.02, 5), rng.normal(0, 0.02, 200)
    assert expected_max_sharpe(list(many)) > expected_max_sharpe(list(few)) > 0
    assert expected_max_sharpe([0.1]) == 0.0  # one trial: nothing was selected


def test_return_stats_match_the_textbook_moments() -> None:
    rng = np.random.default_rng(3)
    r = rng.standard_t(5, 5000) * 0.01 + 0.001
    stats = ReturnStats.of(r)
    from scipy import stats as sp  # a test dependency, via empyrical-reloaded

    assert stats.sharpe == pytest.approx(r.mean() / r.std(ddof=1))
    assert stats.skew == pytest.approx(sp.skew(r))
    assert stats.kurtosis == pytest.approx(sp.kurtosis(r, fisher=False))
    assert ReturnStats.of(np.zeros(10)).sharpe is None
    assert ReturnStats.of(np.ones(1)).n == 1


def test_windows_keep_a_cell_inside_its_span() -> None:
    (a0, a1), (b0, b1) = split_windows(utc(2023, 1, 1), utc(2023, 1, 31), 2)
    assert a0 == utc(2023, 1, 1) and b1 == utc(2023, 1, 31) and b0 - a1 == timedelta(hours=1)
