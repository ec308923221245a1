"""report.png of a replay (DESIGN §4.6): the picture a person looks at first.

Panels: equity against buy-and-hold and flat; drawdown of both; then one price panel per symbol with
every entry (triangles: up long, down short), the initial stop of each position, and every exit
coloured by its reason (stop and liquidation red/black, targets green, break-even grey, trailing orange,
stale purple, end of replay blue). Drawn with bot.reports.raster (Pillow), not matplotlib: see there why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from bot.reports.raster import (
    Canvas,
    Entry,
    Panel,
    date_ticks,
    limits,
    number_labels,
    number_ticks,
    pt,
    stack,
    tick_count,
    tick_width,
)
from core.evaluation.metrics import drawdown_series_pct
from core.evaluation.report import ReplayResult

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
BLUE, ORANGE, GREY, RED = "#1f77b4", "#ff7f0e", "#7f7f7f", "#d62728"
DOTTED, DASHED = (0.8, 1.3), (3.0, 1.3)  # matplotlib's ':' and '--' at these widths, in points


def render_report_chart(
    result: ReplayResult,
    path: Path,
    prices: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> Path:
    """Write report.png. `prices` maps symbol -> (close time ms, close) for the price panels."""
    prices = prices or {}
    price_symbols = [s for s in result.symbols if s in prices][:MAX_PRICE_PANELS]
    rows = 2 + len(price_symbols)
    canvas = Canvas(1300, round(420 + 240 * rows))
    bh = next((b for b in result.baselines if b.name == "buy_and_hold"), None)
    final = float(result.equity[-1]) if len(result.equity) else result.initial_equity
    ret = (final / result.initial_equity - 1) * 100
    bh_ret = (float(bh.equity[-1]) / result.initial_equity - 1) * 100 if bh is not None else float("nan")
    title = (f"Replay {', '.join(result.symbols)} · {result.start:%Y-%m-%d} → {result.end:%Y-%m-%d} · "
             f"{result.engine}: {ret:+.1f}% · buy & hold: {bh_ret:+.1f}% · {len(result.trades)} trade legs")
    spans = stack(pt(24), canvas.height - pt(26), [3.0, 1.3] + [2.2] * len(price_symbols), gap=pt(30))
    xlim = limits([np.asarray(result.step_ms, dtype=float)])
    panels = equity_panels(canvas, result, spans[:2], xlim, extra_left=[
        (_price_ylim(result, s, prices[s]), tick_count(b - t)) for (t, b), s in zip(spans[2:], price_symbols,
                                                                                      strict=True)],
        markers=True, legend_frame=True)
    panels[0].title(title, size=11)
    left = panels[0].left
    xticks, xlabels = date_ticks(int(xlim[0]), int(xlim[1]))
    for (top, bottom), symbol in zip(spans[2:], price_symbols, strict=True):
        close_ms, close = prices[symbol]
        ylim = _price_ylim(result, symbol, prices[symbol])
        ax = Panel(canvas, (left, top, canvas.width - pt(12), bottom), xlim, ylim)
        yticks = number_ticks(*ylim, target=tick_count(bottom - top))
        ylabels = number_labels(yticks)
        ax.grid(xticks, yticks)
        ax.plot(np.asarray(close_ms, dtype=float), np.asarray(close, dtype=float), "#555555", 0.6)
        _plot_trades(ax, result, symbol)
        ax.frame(xticks, xlabels, yticks, ylabels)
        ax.ylabel(symbol.split(":")[0], size=9, offset=tick_width(canvas, ylabels))
        if symbol == price_symbols[0]:
            ax.legend(_trade_legend(result), size=7, ncol=6)
    canvas.save(path)
    return path


def equity_panels(canvas: Canvas, result: ReplayResult, spans: Sequence[tuple[float, float]],
                  xlim: tuple[float, float], *, extra_left: Sequence[tuple[tuple[float, float], int]] = (),
                  markers: bool,
                  legend_frame: bool) -> list[Panel]:
    """The equity panel (strategy, buy-and-hold, flat, the kill-switch's marks) and the drawdown panel below it
    (report.png's top, and the tearsheet's first chart). `extra_left`: (y limits, tick count) of panels drawn
    below with the same left edge, whose tick labels take room too."""
    bh = next((b for b in result.baselines if b.name == "buy_and_hold"), None)
    times = np.asarray(result.step_ms, dtype=float)
    curves = [np.asarray(result.equity, dtype=float), np.array([result.initial_equity])]
    if bh is not None:
        curves.append(np.asarray(bh.equity, dtype=float))
    dd = drawdown_series_pct(result.initial_equity, result.equity)
    dd_curves = [np.asarray(dd, dtype=float), np.zeros(1)]
    bh_dd = drawdown_series_pct(result.initial_equity, bh.equity) if bh is not None else None
    if bh_dd is not None:
        dd_curves.append(np.asarray(bh_dd, dtype=float))
    (top, bottom), (dd_top, dd_bottom) = spans
    axes = [(limits(curves), tick_count(bottom - top)), (limits(dd_curves), tick_count(dd_bottom - dd_top)),
            *extra_left]
    ylims = [lim for lim, _ in axes]
    labels = [number_labels(number_ticks(*lim, target=n)) for lim, n in axes]
    left = max(tick_width(canvas, ls) for ls in labels) + pt(3.5 + 3.5 + 4 + 10 * 1.3 + 6)
    right = canvas.width - pt(12)
    xticks, xlabels = date_ticks(int(xlim[0]), int(xlim[1]))

    ax = Panel(canvas, (left, top, right, bottom), xlim, ylims[0])
    yticks = number_ticks(*ylims[0], target=axes[0][1])
    ax.grid(xticks, yticks)
    ax.hline(result.initial_equity, GREY, 0.8, dash=DOTTED)
    if bh is not None:
        ax.plot(times, np.asarray(bh.equity, dtype=float), ORANGE, 1.0, alpha=0.9)
    ax.plot(times, np.asarray(result.equity, dtype=float), BLUE, 1.4)
    span_ms = (int(result.step_ms[-1]) - int(result.step_ms[0])) if len(result.step_ms) > 1 else 0
    for ms, label in result.markers if markers else ():
        ax.vline(float(ms), RED, 1.0, dash=DASHED)
        # in the right third the label goes left of its line, or it would run out of the picture
        right_third = span_ms > 0 and (int(ms) - int(result.step_ms[0])) > span_ms * 2 / 3
        x = float(ax.x(float(ms))) + (-pt(4) if right_third else pt(4))
        canvas.text(x, ax.bottom - (ax.bottom - ax.top) * 0.02, label, 9, RED, "rs" if right_third else "ls")
    ax.frame(xticks, xlabels, yticks, labels[0])
    ax.ylabel("equity", offset=tick_width(canvas, labels[0]))
    ax.legend([Entry(f"{result.engine} strategy", BLUE, width=1.4)]
              + ([Entry("buy & hold (equal weight, 1×)", ORANGE, width=1.0, alpha=0.9)] if bh is not None else [])
              + [Entry("flat", GREY, width=0.8, dash=DOTTED)], size=9, frame=legend_frame)

    ax_dd = Panel(canvas, (left, dd_top, right, dd_bottom), xlim, ylims[1])
    yticks = number_ticks(*ylims[1], target=axes[1][1])
    dd_labels = number_labels(yticks)
    ax_dd.grid(xticks, yticks)
    ax_dd.fill_to_zero(times, np.asarray(dd, dtype=float), BLUE, 0.35)
    if bh_dd is not None:
        ax_dd.plot(times, np.asarray(bh_dd, dtype=float), ORANGE, 0.9)
    ax_dd.frame(xticks, xlabels, yticks, dd_labels)
    ax_dd.ylabel("drawdown %", offset=tick_width(canvas, labels[1]))
    ax_dd.legend([Entry("strategy", BLUE, kind="patch", alpha=0.35)]
                 + ([Entry("buy & hold", ORANGE, width=0.9)] if bh_dd is not None else []), where="lower left", size=8,
                 frame=legend_frame)
    return [ax, ax_dd]


def _price_ylim(result: ReplayResult, symbol: str, series: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    trades = [t for t in result.trades if t.symbol == symbol]
    points = [t.entry_price for t in trades] + [t.exit_price for t in trades] + [t.stop_loss for t in trades
                                                                                 if t.stop_loss > 0]
    return limits([np.asarray(series[1], dtype=float), np.asarray(points, dtype=float)])


def _trade_legend(result: ReplayResult) -> list[Entry]:
    return [
        Entry("long entry", "#2ca02c", kind="marker", marker="^"),
        Entry("short entry", RED, kind="marker", marker="v"),
        Entry("initial stop", RED, width=0.8, dash=DASHED),
    ] + [
        Entry(f"exit: {reason}", colour, kind="marker", marker=marker)
        for reason, (colour, marker) in EXIT_STYLE.items()
        if any(t.exit_reason == reason for t in result.trades)
    ]


def _plot_trades(ax: Panel, result: ReplayResult, symbol: str) -> None:
    """Every position's entry marker and initial stop, every leg's path and exit marker."""
    trades = [t for t in result.trades if t.symbol == symbol]
    if not trades:
        return
    entries: dict[str, tuple[float, float, str, float, float]] = {}
    for t in trades:
        key = t.position_id or f"{t.entry_time}"
        exit_x = _ms(t.exit_time)
        last_exit = max(exit_x, entries[key][4]) if key in entries else exit_x
        entries[key] = (_ms(t.entry_time), t.entry_price, t.side, t.stop_loss, last_exit)
    stops = [(x, stop, last, stop) for x, _, _, stop, last in entries.values() if stop > 0]
    ax.segments(stops, RED, 0.8, dash=DASHED)
    by_style: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    for t in trades:
        by_style.setdefault(EXIT_STYLE.get(t.exit_reason, ("#17becf", "s")), []).append(
            (_ms(t.entry_time), t.entry_price, _ms(t.exit_time), t.exit_price))
    for (colour, _), legs in by_style.items():
        ax.segments(legs, colour, 0.6, alpha=0.6)
    for side, colour, marker in (("long", "#2ca02c", "^"), ("short", RED, "v")):
        points = [(x, price) for x, price, s, _, _ in entries.values() if s == side]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.scatter(xs, ys, marker, colour, 6)
    for (colour, marker), legs in by_style.items():
        ax.scatter([leg[2] for leg in legs], [leg[3] for leg in legs], marker, colour, 5)


def _ms(moment: datetime) -> float:
    return moment.timestamp() * 1000.0
