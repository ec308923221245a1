"""report.png of a replay (DESIGN §4.6): the picture a person looks at first.

Panels: equity against buy-and-hold and flat; drawdown of both; then one price panel per symbol with
every entry (triangles: up long, down short), the initial stop of each position, and every exit
coloured by its reason (stop and liquidation red/black, targets green, break-even grey, trailing orange,
stale purple, end of replay blue). matplotlib through its Figure API only (no pyplot state), Agg.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from core.evaluation.metrics import drawdown_series_pct
from core.evaluation.report import ReplayResult
from core.models import ClosedTrade

EXIT_STYLE: Mapping[str, tuple[str, str]] = {  # reason -> (colour, marker)
    "stop": ("#d62728", "X"),
    "liquidation": ("#000000", "X"),
    "tp1": ("#2ca02c", "o"),
    "tp2": ("#1a7f1a", "o"),
    "tp3": ("#0b5e0b", "o"),
    "breakeven": ("#7f7f7f", "s"),
    "trailing": ("#ff7f0e", "D"),
    "stale": ("#9467bd", "s"),
    "signal": ("#17becf", "D"),
    "manual": ("#17becf", "s"),
    "end": ("#1f77b4", "s"),
}
MAX_PRICE_PANELS = 4


def _dates(ms: np.ndarray) -> np.ndarray:
    return np.asarray(ms, dtype="datetime64[ms]")


def render_report_chart(
    result: ReplayResult,
    path: Path,
    prices: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Write report.png. `prices` maps symbol -> (close time ms, close) for the price panels."""
    prices = prices or {}
    price_symbols = [s for s in result.symbols if s in prices][:MAX_PRICE_PANELS]
    rows = 2 + len(price_symbols)
    fig = Figure(figsize=(13, 4.2 + 2.4 * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, 1, height_ratios=[3.0, 1.3] + [2.2] * len(price_symbols))
    ax_eq = fig.add_subplot(grid[0])
    ax_dd = fig.add_subplot(grid[1], sharex=ax_eq)
    times = _dates(result.step_ms)

    ax_eq.plot(times, result.equity, color="#1f77b4", lw=1.4, label=f"{result.engine} strategy")
    bh = next((b for b in result.baselines if b.name == "buy_and_hold"), None)
    if bh is not None:
        ax_eq.plot(times, bh.equity, color="#ff7f0e", lw=1.0, alpha=0.9, label="buy & hold (equal weight, 1×)")
    ax_eq.axhline(result.initial_equity, color="#7f7f7f", lw=0.8, ls=":", label="flat")
    final = float(result.equity[-1]) if len(result.equity) else result.initial_equity
    ret = (final / result.initial_equity - 1) * 100
    bh_ret = (float(bh.equity[-1]) / result.initial_equity - 1) * 100 if bh is not None else float("nan")
    ax_eq.set_title(
        f"Replay {', '.join(result.symbols)} · {result.start:%Y-%m-%d} → {result.end:%Y-%m-%d} · "
        f"{result.engine}: {ret:+.1f}% · buy & hold: {bh_ret:+.1f}% · {len(result.trades)} trade legs",
        fontsize=11,
    )
    span_ms = (int(result.step_ms[-1]) - int(result.step_ms[0])) if len(result.step_ms) > 1 else 0
    for ms, label in result.markers:
        moment = np.datetime64(int(ms), "ms")
        ax_eq.axvline(moment, color="#d62728", lw=1.0, ls="--")
        # in the right third the label goes left of its line, or it would run out of the picture
        right = span_ms > 0 and (int(ms) - int(result.step_ms[0])) > span_ms * 2 / 3
        ax_eq.annotate(label, (moment, 0.02), xycoords=("data", "axes fraction"), xytext=(-4 if right else 4, 0),
                       textcoords="offset points", color="#d62728", fontsize=9, ha="right" if right else "left")
    ax_eq.set_ylabel("equity")
    ax_eq.grid(alpha=0.3)
    ax_eq.legend(loc="upper left", fontsize=9)

    ax_dd.fill_between(
        times, drawdown_series_pct(result.initial_equity, result.equity), 0, color="#1f77b4", alpha=0.35,
        label="strategy",
    )
    if bh is not None:
        ax_dd.plot(times, drawdown_series_pct(result.initial_equity, bh.equity), color="#ff7f0e", lw=0.9,
                   label="buy & hold")
    ax_dd.set_ylabel("drawdown %")
    ax_dd.grid(alpha=0.3)
    ax_dd.legend(loc="lower left", fontsize=8)

    for row, symbol in enumerate(price_symbols, start=2):
        ax = fig.add_subplot(grid[row], sharex=ax_eq)
        close_ms, close = prices[symbol]
        ax.plot(_dates(close_ms), close, color="#555555", lw=0.6)
        _plot_trades(ax, result, symbol)
        ax.set_ylabel(symbol.split(":")[0], fontsize=9)
        ax.grid(alpha=0.3)

    locator = AutoDateLocator()
    for ax in fig.axes:
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    handles = [
        Line2D([], [], ls="", marker="^", color="#2ca02c", label="long entry"),
        Line2D([], [], ls="", marker="v", color="#d62728", label="short entry"),
        Line2D([], [], color="#d62728", lw=0.8, ls="--", label="initial stop"),
    ] + [
        Line2D([], [], ls="", marker=marker, color=colour, label=f"exit: {reason}")
        for reason, (colour, marker) in EXIT_STYLE.items()
        if any(t.exit_reason == reason for t in result.trades)
    ]
    if price_symbols:
        fig.axes[2].legend(handles=handles, loc="upper left", fontsize=7, ncol=min(len(handles), 6))
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def _plot_trades(ax: Axes, result: ReplayResult, symbol: str) -> None:
    """Every position's entry marker and initial stop, every leg's path and exit marker — as one scatter per
    marker style and one LineCollection per colour (hundreds of `ax.plot` lines took longer than the replay)."""
    trades = [t for t in result.trades if t.symbol == symbol]
    if not trades:
        return
    entries: dict[str, tuple[float, float, str, float, float]] = {}
    for t in trades:
        key = t.position_id or f"{t.entry_time}"
        exit_x = _num(t.exit_time)
        last_exit = max(exit_x, entries[key][4]) if key in entries else exit_x
        entries[key] = (_num(t.entry_time), t.entry_price, t.side, t.stop_loss, last_exit)
    for side, colour, marker in (("long", "#2ca02c", "^"), ("short", "#d62728", "v")):
        points = [(x, price) for x, price, s, _, _ in entries.values() if s == side]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(xs, ys, marker=marker, color=colour, s=36, zorder=3)
    stops = [[(x, stop), (last, stop)] for x, _, _, stop, last in entries.values() if stop > 0]
    if stops:
        ax.add_collection(LineCollection(stops, colors="#d62728", linewidths=0.8, linestyles="--"))
    by_style: dict[tuple[str, str], list[ClosedTrade]] = {}
    for t in trades:
        by_style.setdefault(EXIT_STYLE.get(t.exit_reason, ("#17becf", "s")), []).append(t)
    for (colour, marker), legs in by_style.items():
        ax.add_collection(LineCollection(
            [[(_num(t.entry_time), t.entry_price), (_num(t.exit_time), t.exit_price)] for t in legs],
            colors=colour, linewidths=0.6, alpha=0.6,
        ))
        ax.scatter([_num(t.exit_time) for t in legs], [t.exit_price for t in legs], marker=marker, color=colour,
                   s=25, zorder=3)


def _num(moment: datetime) -> float:
    """matplotlib's date number of a moment (what datetime64 values on a date axis become)."""
    return float(date2num(moment.astimezone(UTC).replace(tzinfo=None)))
