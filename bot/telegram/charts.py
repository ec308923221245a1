"""PNG charts for the channel and chat, drawn with matplotlib's Figure API (no pyplot, no global state,
so they can render in worker threads via `asyncio.to_thread`). Candles are bars and vlines; no
mplfinance. Drawn for a phone first: 6 inches at 200 dpi (1200 px wide, twice a phone's 390 pt), every
label at least 10 pt so that it reads ≥ 10 pt tall when the picture is shown 390 pt wide; the Market Pulse
near-square. Dark by default; `use_theme("light")` (setting CHART_THEME) for a light one, process-wide.
"""

from __future__ import annotations

import functools
import gc
import io
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.models import DomainError, Side

THEMES: dict[str, dict[str, str]] = {
    "dark": {"BG": "#0e1117", "PANEL": "#161b22", "GRID": "#2a313c", "TEXT": "#d0d7de", "MUTED": "#8b949e",
             "ENTRY": "#f0f6fc", "TARGET": "#00e676", "LIQ": "#d500f9"},
    "light": {"BG": "#ffffff", "PANEL": "#f6f8fa", "GRID": "#d0d7de", "TEXT": "#1f2328", "MUTED": "#57606a",
              "ENTRY": "#1f2328", "TARGET": "#1a7f37", "LIQ": "#8250df"},
}
BG = "#0e1117"
PANEL = "#161b22"
GRID = "#2a313c"
TEXT = "#d0d7de"
MUTED = "#8b949e"
UP = "#26a69a"
DOWN = "#ef5350"
ENTRY = "#f0f6fc"
STOP = "#ff5252"
TARGET = "#00e676"
LIQ = "#d500f9"
EMA_COLOURS = ("#ffb74d", "#4fc3f7", "#ba68c8")
SIZE_IN = (6.0, 4.5)
DPI = 200  # 1200 px wide: twice a phone's 390 pt, sharp on its 2-3x screen
LABEL_PT = 11.5  # level labels, legends, ticks: digits alone read ≥ 10 pt tall at 390 pt wide (measured)
TITLE_PT = 13.0


def use_theme(name: str) -> None:
    """Switch every chart drawn from now on to `name` ("dark" or "light")."""
    if name not in THEMES:
        raise DomainError(f"chart theme must be one of {', '.join(THEMES)}, got {name!r}")
    globals().update(THEMES[name])

_REQUIRED = ("open", "high", "low", "close")


def _collected[**P](render: Callable[P, bytes]) -> Callable[P, bytes]:
    """Run the cyclic collector as soon as a chart is PNG bytes. A Figure is a web of reference cycles that
    holds its pixel buffers (~4 MB at 1000×600) until the collector gets to it, which in a long-running bot
    can be many charts later: bench/bot.py measured ~15 MB more resident without this. Cheap once the app has
    frozen its startup objects (`gc.freeze()` in `App.start`)."""

    @functools.wraps(render)
    def collected(*args: P.args, **kwargs: P.kwargs) -> bytes:
        try:
            return render(*args, **kwargs)
        finally:
            gc.collect()

    return collected


def _figure(size: tuple[float, float] = SIZE_IN) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, facecolor=BG)
    FigureCanvasAgg(fig)
    return fig


def _style(ax: Axes) -> None:
    ax.set_facecolor(PANEL)
    ax.grid(True, color=GRID, linewidth=0.6, alpha=0.8)
    ax.tick_params(colors=MUTED, labelsize=LABEL_PT)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.yaxis.tick_right()


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", facecolor=fig.get_facecolor(), pil_kwargs={"optimize": True})
    return buffer.getvalue()


def _check_candles(candles: pd.DataFrame, name: str = "candles") -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in candles.columns]
    if missing:
        raise DomainError(f"{name} lacks columns {missing}; has {list(candles.columns)}")
    if candles.empty:
        raise DomainError(f"{name} is empty: nothing to draw")
    return candles


def _time_labels(ax: Axes, index: pd.Index, count: int = 4) -> None:
    n = len(index)
    ticks = np.linspace(0, n - 1, num=min(count, n), dtype=int)
    span = (index[-1] - index[0]) if n > 1 and isinstance(index, pd.DatetimeIndex) else pd.Timedelta(0)
    fmt = "%m-%d %H:%M" if span <= pd.Timedelta(days=3) else "%m-%d"
    ax.set_xticks(ticks)
    if isinstance(index, pd.DatetimeIndex):
        ax.set_xticklabels([index[i].strftime(fmt) for i in ticks])
    ax.set_xlim(-1, n + max(4, n // 6))  # room on the right for the level labels


def _draw_candles(ax: Axes, candles: pd.DataFrame) -> None:
    x = np.arange(len(candles))
    o = candles["open"].to_numpy(float)
    h = candles["high"].to_numpy(float)
    low = candles["low"].to_numpy(float)
    c = candles["close"].to_numpy(float)
    colours = np.where(c >= o, UP, DOWN)
    ax.vlines(x, low, h, colors=colours, linewidth=0.8)
    body = np.abs(c - o)
    # a doji still gets a visible body
    body = np.maximum(body, (np.nanmax(h) - np.nanmin(low)) * 0.0015)
    ax.bar(x, body, bottom=np.minimum(o, c), width=0.7, color=colours, edgecolor=colours, linewidth=0)


def _hline(ax: Axes, y: float, colour: str, label: str, style: str = "-") -> None:
    ax.axhline(y, color=colour, linestyle=style, linewidth=1.1, alpha=0.9)
    ax.annotate(
        label,
        xy=(1.0, y),
        xycoords=("axes fraction", "data"),
        xytext=(-4, 3),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=LABEL_PT,
        color=colour,
        fontweight="bold",
        bbox={"facecolor": PANEL, "alpha": 0.75, "edgecolor": "none", "pad": 1.5},  # readable over candles
    )


def _fmt(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return str(value)
    digits = max(2, 5 - math.floor(math.log10(abs(value))))
    return f"{value:,.{min(digits, 10)}f}" if abs(value) < 1000 else f"{value:,.2f}"


@_collected
def entry_chart(
    candles: pd.DataFrame,
    *,
    entry: float,
    stop: float,
    targets: Sequence[float],
    side: Side,
    liquidation: float | None = None,
    ema_spans: Sequence[int] = (20, 50),
    title: str = "",
    bars: int = 120,
) -> bytes:
    """Candles with EMAs and the trade's entry, stop, target and liquidation lines, as PNG bytes.

    A liquidation price far outside the candles would squash them, so it is drawn only when it lies near
    the plotted range; otherwise a marker at the edge names it.
    """
    frame = _check_candles(candles)
    closes = frame["close"].astype(float)
    emas = {span: closes.ewm(span=span, adjust=False).mean() for span in ema_spans}
    frame = frame.iloc[-bars:]
    fig = _figure()
    ax = fig.add_axes((0.06, 0.09, 0.76, 0.79))
    _style(ax)
    _draw_candles(ax, frame)
    x = np.arange(len(frame))
    for colour, (span, ema) in zip(EMA_COLOURS, emas.items(), strict=False):
        ax.plot(x, ema.iloc[-bars:].to_numpy(float), color=colour, linewidth=1.2, label=f"EMA {span}")
    levels = [entry, stop, *targets]
    lo = min(float(frame["low"].min()), *levels)
    hi = max(float(frame["high"].max()), *levels)
    pad = (hi - lo) * 0.06 or hi * 0.01
    if liquidation is not None and lo - (hi - lo) * 0.35 <= liquidation <= hi + (hi - lo) * 0.35:
        lo, hi = min(lo, liquidation), max(hi, liquidation)
        _hline(ax, liquidation, LIQ, f"LIQ {_fmt(liquidation)}", ":")
    elif liquidation is not None:
        below = liquidation < lo
        ax.annotate(
            f"LIQ {_fmt(liquidation)} {'↓' if below else '↑'}",
            xy=(0.99, 0.02 if below else 0.97),
            xycoords="axes fraction",
            ha="right",
            va="bottom" if below else "top",
            fontsize=LABEL_PT,
            color=LIQ,
            fontweight="bold",
        )
    ax.set_ylim(lo - pad, hi + pad)
    _hline(ax, entry, ENTRY, f"ENTRY {_fmt(entry)}", "--")
    _hline(ax, stop, STOP, f"STOP {_fmt(stop)}")
    for n, target in enumerate(targets, start=1):
        _hline(ax, target, TARGET, f"TP{n} {_fmt(target)}")
    # shade risk and reward between entry and stop / last target
    ax.axhspan(min(entry, stop), max(entry, stop), color=STOP, alpha=0.07)
    if targets:
        ax.axhspan(min(entry, targets[-1]), max(entry, targets[-1]), color=TARGET, alpha=0.05)
    _time_labels(ax, frame.index)
    colour = UP if side == "long" else DOWN
    fig.text(0.03, 0.93, title or "Entry", color=TEXT, fontsize=TITLE_PT, fontweight="bold")
    fig.text(0.82, 0.93, side.upper(), color=colour, fontsize=TITLE_PT, fontweight="bold", ha="right")
    legend = ax.legend(loc="upper left", fontsize=LABEL_PT, frameon=False)
    for text in legend.get_texts():
        text.set_color(MUTED)
    return _png(fig)


@_collected
def symbol_chart(candles: pd.DataFrame, timeframe: str, *, symbol: str = "", bars: int = 150) -> bytes:
    """`/chart SYM tf`: candles with EMA 20/50/200 and volume underneath."""
    frame = _check_candles(candles)
    closes = frame["close"].astype(float)
    emas = {span: closes.ewm(span=span, adjust=False).mean().iloc[-bars:] for span in (20, 50, 200)}
    frame = frame.iloc[-bars:]
    fig = _figure()
    ax = fig.add_axes((0.06, 0.30, 0.76, 0.58))
    vol_ax = fig.add_axes((0.06, 0.09, 0.76, 0.17), sharex=ax)
    _style(ax)
    _style(vol_ax)
    _draw_candles(ax, frame)
    x = np.arange(len(frame))
    for colour, (span, ema) in zip(EMA_COLOURS, emas.items(), strict=False):
        if len(closes) >= span:
            ax.plot(x, ema.to_numpy(float), color=colour, linewidth=1.1, label=f"EMA {span}")
    if "volume" in frame.columns:
        up = frame["close"].to_numpy(float) >= frame["open"].to_numpy(float)
        vol_ax.bar(x, frame["volume"].to_numpy(float), width=0.7, color=np.where(up, UP, DOWN), alpha=0.6)
    ax.tick_params(labelbottom=False)
    _time_labels(vol_ax, frame.index)
    last = float(frame["close"].iloc[-1])
    first = float(frame["close"].iloc[0])
    change = (last / first - 1) * 100 if first else 0.0
    fig.text(0.03, 0.93, f"{symbol.split(':')[0]} · {timeframe}", color=TEXT, fontsize=TITLE_PT, fontweight="bold")
    fig.text(0.82, 0.93, f"{_fmt(last)}  {change:+.2f}%", color=UP if change >= 0 else DOWN, fontsize=LABEL_PT + 1,
             ha="right")
    if ax.get_legend_handles_labels()[0]:
        legend = ax.legend(loc="upper left", fontsize=LABEL_PT, frameon=False)
        for text in legend.get_texts():
            text.set_color(MUTED)
    return _png(fig)


@_collected
def pulse_chart(closes: Mapping[str, pd.Series], *, title: str = "Market Pulse", columns: int = 2) -> bytes:
    """A compact grid of sparklines, one per symbol, with last price and change over the window."""
    series = {symbol: s.dropna().astype(float) for symbol, s in closes.items() if len(s.dropna()) >= 2}
    if not series:
        raise DomainError("pulse_chart needs at least one series with two or more closes")
    # a phone shows it full width: one column up to three symbols, and about as tall as it is wide
    columns = 1 if len(series) <= 3 else max(1, min(columns, len(series)))
    rows = math.ceil(len(series) / columns)
    height = max(4.8, min(7.2, 1.2 + 2.4 * rows))  # ten symbols stay one readable, < 150 KB picture
    fig = _figure((6.0, height))
    fig.text(0.03, 1 - 0.35 / height, title, color=TEXT, fontsize=TITLE_PT, fontweight="bold", va="center")
    top = 1 - 0.7 / height
    cell_h = (top - 0.04) / rows
    cell_w = 0.96 / columns
    for i, (symbol, s) in enumerate(series.items()):
        row, col = divmod(i, columns)
        ax = fig.add_axes((0.02 + col * cell_w, top - (row + 1) * cell_h + 0.02, cell_w - 0.03, cell_h - 0.06))
        values = s.to_numpy()
        change = (values[-1] / values[0] - 1) * 100 if values[0] else 0.0
        colour = UP if change >= 0 else DOWN
        x = np.arange(len(values))
        ax.plot(x, values, color=colour, linewidth=1.4)
        ax.fill_between(x, values, values.min(), color=colour, alpha=0.12)
        ax.set_facecolor(PANEL)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlim(0, len(values) - 1)
        ax.text(
            0.02,
            0.92,
            symbol.split(":")[0],
            transform=ax.transAxes,
            color=TEXT,
            fontsize=LABEL_PT + 1,
            fontweight="bold",
            va="top",
        )
        ax.text(
            0.98,
            0.92,
            f"{_fmt(values[-1])}  {change:+.2f}% 24h",
            transform=ax.transAxes,
            color=colour,
            fontsize=LABEL_PT + 1,
            ha="right",
            va="top",
        )
    return _png(fig)


@_collected
def equity_chart(points: Sequence[tuple[datetime, float]], *, title: str = "Equity") -> bytes:
    """`/stats` and the daily summary: the equity curve with its drawdown shaded underneath."""
    if len(points) < 2:
        raise DomainError(f"equity_chart needs at least two points, got {len(points)}")
    times = pd.DatetimeIndex([t for t, _ in points])
    equity = np.array([v for _, v in points], dtype=float)
    peak = np.maximum.accumulate(equity)
    drawdown = (equity / peak - 1) * 100
    fig = _figure()
    ax = fig.add_axes((0.06, 0.33, 0.76, 0.52))
    dd_ax = fig.add_axes((0.06, 0.09, 0.76, 0.19), sharex=ax)
    _style(ax)
    _style(dd_ax)
    x = np.arange(len(equity))
    colour = UP if equity[-1] >= equity[0] else DOWN
    ax.plot(x, equity, color=colour, linewidth=1.6)
    ax.fill_between(x, equity, equity.min(), color=colour, alpha=0.1)
    dd_ax.fill_between(x, drawdown, 0, color=DOWN, alpha=0.5)
    dd_ax.text(0.01, 0.08, "drawdown %", transform=dd_ax.transAxes, color=MUTED, fontsize=LABEL_PT)
    ax.tick_params(labelbottom=False)
    _time_labels(dd_ax, times)
    change = (equity[-1] / equity[0] - 1) * 100 if equity[0] else 0.0
    fig.text(0.03, 0.94, title, color=TEXT, fontsize=TITLE_PT, fontweight="bold")
    fig.text(
        0.03,
        0.885,
        f"{equity[-1]:,.2f}  {change:+.2f}%  max DD {drawdown.min():.2f}%",
        color=colour,
        fontsize=LABEL_PT + 0.5,
    )
    return _png(fig)


ARENA_COLOURS = ("#4fc3f7", "#ffb74d", "#ba68c8", "#26a69a", "#f06292", "#aed581", "#90a4ae", "#fff176")


@_collected
def arena_chart(curves: Mapping[str, Sequence[tuple[datetime, float]]], *, initial_equity: float,
                title: str = "Arena") -> bytes:
    """`/arena` and the daily arena post: every contestant's equity on one time axis, each line named with
    its return, so a phone shows who leads at a glance."""
    drawn = {name: list(points) for name, points in curves.items() if len(points) >= 2}
    if not drawn:
        raise DomainError("arena_chart needs a contestant with at least two equity marks")
    times = pd.DatetimeIndex(sorted({t for points in drawn.values() for t, _ in points}))
    position = {t: i for i, t in enumerate(times)}
    fig = _figure()
    ax = fig.add_axes((0.09, 0.1, 0.73, 0.62))  # the first date label stays inside the picture
    _style(ax)
    ax.axhline(initial_equity, color=MUTED, linewidth=0.8, linestyle=":")
    ranked = sorted(drawn.items(), key=lambda item: -item[1][-1][1])
    for i, (name, points) in enumerate(ranked):
        colour = ARENA_COLOURS[i % len(ARENA_COLOURS)]
        x = [position[pd.Timestamp(t)] for t, _ in points]
        values = [v for _, v in points]
        ax.plot(x, values, color=colour, linewidth=1.6)
        change = (values[-1] / initial_equity - 1) * 100
        column, row = divmod(i, 3)
        fig.text(0.03 + 0.4 * column, 0.86 - 0.05 * row, f"{name}  {change:+.2f}%", color=colour,
                 fontsize=LABEL_PT, fontweight="bold")
    _time_labels(ax, times)
    fig.text(0.03, 0.94, title, color=TEXT, fontsize=TITLE_PT, fontweight="bold")
    return _png(fig)
