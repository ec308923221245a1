"""report.png of a replay (DESIGN §4.6): the picture a person looks at first.

Panels: equity against buy-and-hold and flat; drawdown of both; then one price panel per symbol with
every entry (triangles: up long, down short), the initial stop of each position, and every exit
coloured by its reason (stop and liquidation red/black, targets green, break-even grey, trailing orange,
stale purple, end of replay blue). matplotlib through its Figure API only (no pyplot state), Agg, imported
when the picture is drawn. Cheap by construction (#18): fixed axes rectangles (no layout solver), the date ticks
computed once for every panel, collections and one scatter per marker style.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.evaluation.metrics import drawdown_series_pct
from core.evaluation.report import ReplayResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

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


# figure geometry in inches: the margins hold the tick labels and titles that constrained layout used to fit
WIDTH_IN, LEFT_IN, RIGHT_IN, TOP_IN, BOTTOM_IN, GAP_IN = 13.0, 0.95, 0.2, 0.35, 0.35, 0.42
DPI = 100


def panel_rects(height_in: float, ratios: list[float], *, width_in: float = WIDTH_IN, top_in: float = TOP_IN,
                bottom_in: float = BOTTOM_IN, gap_in: float = GAP_IN, left_in: float = LEFT_IN,
                right_in: float = RIGHT_IN, y0_in: float = 0.0, fig_height_in: float | None = None,
                fig_width_in: float | None = None) -> list[tuple[float, float, float, float]]:
    """Figure-fraction rectangles of panels stacked top to bottom in a block `height_in` tall whose bottom edge
    is `y0_in` above the figure's (a figure may hold several blocks), heights in `ratios`."""
    fig_h, fig_w = fig_height_in or height_in, fig_width_in or width_in
    room = height_in - top_in - bottom_in - gap_in * (len(ratios) - 1)
    rects, top = [], y0_in + height_in - top_in
    for r in ratios:
        h = room * r / sum(ratios)
        rects.append((left_in / fig_w, (top - h) / fig_h, (width_in - left_in - right_in) / fig_w, h / fig_h))
        top -= h + gap_in
    return rects


def date_axis(ax: Axes, first_ms: float, last_ms: float) -> None:
    """Concise date ticks placed once for the x-axis (and every axes sharing it): matplotlib's own locator and
    formatter, asked one time instead of at every draw of every panel."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num

    low, high = (float(date2num(np.datetime64(int(v), "ms"))) for v in (first_ms, last_ms))
    pad = (high - low) * 0.05 or 0.5
    ax.set_xlim(low - pad, high + pad)
    locator = AutoDateLocator()
    locator.create_dummy_axis()
    locator.axis.set_view_interval(low - pad, high + pad)
    ticks = [t for t in locator() if low - pad <= t <= high + pad]
    ax.set_xticks(ticks, ConciseDateFormatter(locator).format_ticks(ticks))


def render_report_chart(
    result: ReplayResult,
    path: Path,
    prices: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Write report.png. `prices` maps symbol -> (close time ms, close) for the price panels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    prices = prices or {}
    price_symbols = [s for s in result.symbols if s in prices][:MAX_PRICE_PANELS]
    rows = 2 + len(price_symbols)
    height = 4.2 + 2.4 * rows
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(fig)
    rects = panel_rects(height, [3.0, 1.3] + [2.2] * len(price_symbols))
    ax_eq, _ = equity_axes(fig, result, rects[0], rects[1], legend_frame=True)
    bh = next((b for b in result.baselines if b.name == "buy_and_hold"), None)
    final = float(result.equity[-1]) if len(result.equity) else result.initial_equity
    ret = (final / result.initial_equity - 1) * 100
    bh_ret = (float(bh.equity[-1]) / result.initial_equity - 1) * 100 if bh is not None else float("nan")
    ax_eq.set_title(
        f"Replay {', '.join(result.symbols)} · {result.start:%Y-%m-%d} → {result.end:%Y-%m-%d} · "
        f"{result.engine}: {ret:+.1f}% · buy & hold: {bh_ret:+.1f}% · {len(result.trades)} trade legs",
        fontsize=11,
    )
    for rect, symbol in zip(rects[2:], price_symbols, strict=True):
        ax = fig.add_axes(rect, sharex=ax_eq)
        close_ms, close = prices[symbol]
        ax.plot(_dates(close_ms), close, color="#555555", lw=0.6)
        _plot_trades(ax, result, symbol)
        ax.set_ylabel(symbol.split(":")[0], fontsize=9)
        ax.grid(alpha=0.3)
    if price_symbols:
        handles = _trade_legend(result)
        fig.axes[2].legend(handles=handles, loc="upper left", fontsize=7, ncol=min(len(handles), 6))
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def equity_panels_png(report_png: Path) -> bytes:
    """The top of a report.png written by render_report_chart (title, equity and drawdown panels with their date
    labels) as a PNG of its own: the tearsheet shows these panels without drawing them again."""
    from PIL import Image

    with Image.open(report_png) as picture:
        width, height = picture.size
        rows = round((height / DPI - 4.2) / 2.4)
        _, dd_rect = panel_rects(4.2 + 2.4 * rows, [3.0, 1.3] + [2.2] * (rows - 2))[:2]
        bottom = min(height, round((1 - dd_rect[1]) * height + GAP_IN * 0.85 * DPI))
        buffer = io.BytesIO()
        picture.convert("RGB").crop((0, 0, width, bottom)).save(buffer, format="PNG")
    return buffer.getvalue()


def equity_axes(fig: Any, result: ReplayResult, rect: tuple[float, float, float, float],
                dd_rect: tuple[float, float, float, float], *, legend_frame: bool) -> tuple[Axes, Axes]:
    """The equity panel (strategy, buy-and-hold, flat, the kill-switch's marks) and the drawdown panel under it:
    report.png's top and the tearsheet's first chart."""
    ax_eq = fig.add_axes(rect)
    ax_dd = fig.add_axes(dd_rect, sharex=ax_eq)
    times = _dates(result.step_ms)
    if len(result.step_ms):
        date_axis(ax_eq, int(result.step_ms[0]), int(result.step_ms[-1]))
    ax_eq.plot(times, result.equity, color="#1f77b4", lw=1.4, label=f"{result.engine} strategy")
    bh = next((b for b in result.baselines if b.name == "buy_and_hold"), None)
    if bh is not None:
        ax_eq.plot(times, bh.equity, color="#ff7f0e", lw=1.0, alpha=0.9, label="buy & hold (equal weight, 1×)")
    ax_eq.axhline(result.initial_equity, color="#7f7f7f", lw=0.8, ls=":", label="flat")
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
    ax_eq.legend(loc="upper left", fontsize=9, frameon=legend_frame)

    ax_dd.fill_between(
        times, drawdown_series_pct(result.initial_equity, result.equity), 0, color="#1f77b4", alpha=0.35,
        label="strategy", lw=0,
    )
    if bh is not None:
        ax_dd.plot(times, drawdown_series_pct(result.initial_equity, bh.equity), color="#ff7f0e", lw=0.9,
                   label="buy & hold")
    ax_dd.set_ylabel("drawdown %")
    ax_dd.grid(alpha=0.3)
    ax_dd.legend(loc="lower left", fontsize=8, frameon=legend_frame)
    return ax_eq, ax_dd


def _trade_legend(result: ReplayResult) -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], ls="", marker="^", color="#2ca02c", label="long entry"),
        Line2D([], [], ls="", marker="v", color="#d62728", label="short entry"),
        Line2D([], [], color="#d62728", lw=0.8, ls="--", label="initial stop"),
    ] + [
        Line2D([], [], ls="", marker=marker, color=colour, label=f"exit: {reason}")
        for reason, (colour, marker) in EXIT_STYLE.items()
        if any(t.exit_reason == reason for t in result.trades)
    ]


def _plot_trades(ax: Axes, result: ReplayResult, symbol: str) -> None:
    """Every position's entry marker and initial stop, every leg's path and exit marker — as one scatter per
    marker style and one LineCollection per colour (hundreds of `ax.plot` lines took longer than the replay)."""
    from matplotlib.collections import LineCollection

    trades = [t for t in result.trades if t.symbol == symbol]
    if not trades:
        return
    # every leg's entry and exit as matplotlib date numbers, converted in one call (one date2num per moment
    # took longer than drawing the markers)
    entry_x, exit_x = _nums([t.entry_time for t in trades]), _nums([t.exit_time for t in trades])
    entries: dict[str, tuple[float, float, str, float, float]] = {}
    for t, x_in, x_out in zip(trades, entry_x, exit_x, strict=True):
        key = t.position_id or f"{t.entry_time}"
        last_exit = max(x_out, entries[key][4]) if key in entries else x_out
        entries[key] = (x_in, t.entry_price, t.side, t.stop_loss, last_exit)
    for side, colour, marker in (("long", "#2ca02c", "^"), ("short", "#d62728", "v")):
        points = [(x, price) for x, price, s, _, _ in entries.values() if s == side]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(xs, ys, marker=marker, color=colour, s=36, zorder=3)
    stops = [[(x, stop), (last, stop)] for x, _, _, stop, last in entries.values() if stop > 0]
    if stops:
        ax.add_collection(LineCollection(stops, colors="#d62728", linewidths=0.8, linestyles="--"))
    by_style: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for t, x_in, x_out in zip(trades, entry_x, exit_x, strict=True):
        by_style.setdefault(EXIT_STYLE.get(t.exit_reason, ("#17becf", "s")), []).append(
            (x_in, t.entry_price, x_out, t.exit_price))
    for (colour, marker), legs in by_style.items():
        ax.add_collection(LineCollection([[(a, p), (b, q)] for a, p, b, q in legs], colors=colour, linewidths=0.6,
                                         alpha=0.6))
        ax.scatter([leg[2] for leg in legs], [leg[3] for leg in legs], marker=marker, color=colour, s=25, zorder=3)


def _nums(moments: list[datetime]) -> list[float]:
    """matplotlib's date numbers of moments (what datetime64 values on a date axis become)."""
    from matplotlib.dates import date2num

    ms = np.array([round(m.timestamp() * 1000) for m in moments], dtype=np.int64).astype("datetime64[ms]")
    return [float(v) for v in date2num(ms)]
