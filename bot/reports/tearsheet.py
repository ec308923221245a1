"""tearsheet.html of a replay (DESIGN §4.6): one self-contained page with every breakdown of report.json.

Charts are matplotlib (Figure API, Agg, imported when drawn; all on one figure, cut apart) embedded as base64 PNG
`data:` URIs, styles are inline, and
nothing refers to the network, so the file opens offline and can be mailed as it is. Every chart is an
`<img data-chart="NAME">`; CHARTS lists them (the browser test checks each one decodes).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.evaluation.report import ReplayResult

CHARTS = ("equity", "monthly_heatmap", "calibration", "by_symbol", "by_side", "by_exit_reason", "by_regime")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GREEN, RED, GREY = "#2ca02c", "#d62728", "#7f7f7f"


DPI = 90
HALF_IN = 5.6  # width of the small charts, two to a row


class _Board:
    """Every chart of the page on one Figure, each in its own region (inches from the top left), drawn in one
    pass and cut apart into one PNG each: one canvas and one render instead of seven figures with a layout
    solver each (#18)."""

    def __init__(self, regions: dict[str, tuple[float, float, float, float]]) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.regions = regions
        self.width = max(x + w for x, _, w, _ in regions.values())
        self.height = max(y + h for _, y, _, h in regions.values())
        self.fig = Figure(figsize=(self.width, self.height), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.fig)

    def rect(self, name: str, left: float, bottom: float, right: float, top: float) -> tuple[float, float, float, float]:
        """Figure-fraction rectangle of an axes inside region `name`, with margins in inches."""
        x, y, w, h = self.regions[name]
        return ((x + left) / self.width, (self.height - y - h + bottom) / self.height,
                (w - left - right) / self.width, (h - bottom - top) / self.height)

    def axes(self, name: str, left: float, bottom: float, right: float, top: float) -> Any:
        return self.fig.add_axes(self.rect(name, left, bottom, right, top))

    def label_width(self, labels: Sequence[str], size: float = 10.0) -> float:
        """Inches the widest of `labels` takes at `size` points (matplotlib's own text metrics)."""
        from matplotlib.font_manager import FontProperties

        renderer, font = self.canvas.get_renderer(), FontProperties(size=size)
        widest = max((renderer.get_text_width_height_descent(s, font, ismath=False)[0] for s in labels), default=0.0)
        return widest / DPI

    def pngs(self) -> dict[str, str]:
        from PIL import Image

        self.canvas.draw()
        pixels = np.asarray(self.canvas.buffer_rgba())
        out = {}
        for name, (x, y, w, h) in self.regions.items():
            crop = pixels[round(y * DPI):round((y + h) * DPI), round(x * DPI):round((x + w) * DPI), :3]
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(crop)).save(buffer, format="PNG")
            out[name] = base64.b64encode(buffer.getvalue()).decode("ascii")
        return out


def _layout(report: Mapping[str, Any], *, equity: bool) -> dict[str, tuple[float, float, float, float]]:
    b = report["breakdowns"]
    years = max(len({m[:4] for m in b["by_month"]}), 1)
    regions: dict[str, tuple[float, float, float, float]] = {"equity": (0.0, 0.0, 2 * HALF_IN, 5.2)} if equity else {}
    y = 5.2 if equity else 0.0
    regions["monthly_heatmap"] = (0.0, y, 2 * HALF_IN, 1.2 + 0.55 * years)
    y += 1.2 + 0.55 * years
    small = [("calibration", 4.6)] + [(name, 0.9 + 0.42 * max(len(b[name]), 1))
                                      for name in ("by_symbol", "by_side", "by_exit_reason", "by_regime")]
    for k in range(0, len(small), 2):
        pair = small[k:k + 2]
        for col, (name, h) in enumerate(pair):
            regions[name] = (col * HALF_IN, y, HALF_IN, h)
        y += max(h for _, h in pair)
    return regions


def _equity_chart(board: _Board, result: ReplayResult) -> None:
    """report.png's top two panels (the same function draws both)."""
    from bot.reports.report_chart import equity_axes, panel_rects

    _, y, w, h = board.regions["equity"]
    rect, dd_rect = panel_rects(h, [3.0, 1.2], width_in=w, top_in=0.15, y0_in=board.height - y - h,
                                fig_height_in=board.height, fig_width_in=board.width)
    equity_axes(board.fig, result, rect, dd_rect, legend_frame=False)


def _heatmap(board: _Board, months: Mapping[str, Mapping[str, Any]]) -> None:
    years = sorted({m[:4] for m in months})
    grid = np.full((max(len(years), 1), 12), np.nan)
    for label, row in months.items():
        value = row.get("return_pct")
        if value is not None:
            grid[years.index(label[:4]), int(label[5:7]) - 1] = value
    ax = board.axes("monthly_heatmap", 0.6, 0.35, 1.2, 0.3)
    finite = grid[np.isfinite(grid)]
    bound = float(np.max(np.abs(finite))) if finite.size else 1.0
    image = ax.imshow(grid, cmap="RdYlGn", vmin=-max(bound, 1e-9), vmax=max(bound, 1e-9), aspect="auto")
    for (i, j), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(12), MONTHS)
    ax.set_yticks(range(len(years)), years or ["—"])
    ax.set_title("monthly return % (from the equity curve)", fontsize=10)
    _, _, w, h = board.regions["monthly_heatmap"]
    bar = board.axes("monthly_heatmap", w - 1.0, 0.35 + 0.1 * (h - 0.65), 0.85, 0.3 + 0.1 * (h - 0.65))
    board.fig.colorbar(image, cax=bar, label="%")


def _calibration_chart(board: _Board, calibration: Mapping[str, Any]) -> None:
    ax = board.axes("calibration", 0.8, 0.6, 0.45, 0.15)
    ax.plot([0, 1], [0, 1], color="#bbbbbb", ls="--", lw=1, label="perfectly calibrated")
    buckets = calibration.get("buckets", {})
    for b in buckets.values():
        x, y = b["stated_confidence"], b["win_rate"]
        low, high = b["win_rate_95"] or (y, y)
        ax.errorbar([x], [y], yerr=[[y - low], [high - y]], fmt="o", color="#1f77b4", capsize=3,
                    markersize=4 + 1.5 * np.sqrt(b["positions"]))
        ax.annotate(f"n={b['positions']}", (x, y), textcoords="offset points", xytext=(8, -3), fontsize=8)
    if not buckets:
        ax.text(0.5, 0.5, "no positions", ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("stated confidence (bucket mean)")
    ax.set_ylabel("realised win rate (95 % Wilson interval)")
    ax.legend(loc="upper left", frameon=False, fontsize=8)
    ax.grid(alpha=0.25)


def _bars(board: _Board, name: str, groups: Mapping[str, Mapping[str, Any]], title: str) -> None:
    labels = list(groups)
    values = [float(groups[k]["net_pnl"]) for k in labels]
    names = [f"{k} ({groups[k]['positions']})" for k in labels]
    ax = board.axes(name, min(board.label_width(names) + 0.2, HALF_IN - 1.5), 0.35, 0.25, 0.3)  # long labels clip
    if labels:
        ax.barh(range(len(labels)), values, color=[GREEN if v > 0 else RED for v in values])
        ax.set_yticks(range(len(labels)), names)
        ax.invert_yaxis()
        ax.axvline(0, color="#444444", lw=0.8)
    else:
        ax.text(0.5, 0.5, "no positions", ha="center", va="center", transform=ax.transAxes, color=GREY)
        ax.set_yticks([])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))  # fewer, wider-spaced labels (they ran into each other at 8)
    ax.set_title(f"net P&L by {title} (positions)", fontsize=10)
    ax.grid(alpha=0.25, axis="x")


def _charts(result: ReplayResult, report: Mapping[str, Any], report_png: Path | None) -> dict[str, str]:
    """{chart name: base64 PNG} of every chart in CHARTS; the equity chart cut from `report_png` when given."""
    b = report["breakdowns"]
    board = _Board(_layout(report, equity=report_png is None))
    if report_png is None:
        _equity_chart(board, result)
    _heatmap(board, b["by_month"])
    _calibration_chart(board, b["calibration"])
    for name, title in BAR_CHARTS:
        _bars(board, name, b[name], title)
    charts = board.pngs()
    if report_png is not None:
        from bot.reports.report_chart import equity_panels_png

        charts["equity"] = base64.b64encode(equity_panels_png(report_png)).decode("ascii")
    return charts


BAR_CHARTS = (("by_symbol", "symbol"), ("by_side", "side"), ("by_exit_reason", "exit reason"),
              ("by_regime", "regime at entry"))


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, (list, tuple)):
        return "–".join(_fmt(v, digits) for v in value)
    return html.escape(str(value))


def _table(rows: Mapping[str, Mapping[str, Any]], columns: Sequence[tuple[str, str]], first: str) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in columns)
    body = "".join(
        f"<tr><td>{html.escape(str(name))}</td>" + "".join(f"<td>{_fmt(row.get(key))}</td>" for key, _ in columns)
        + "</tr>"
        for name, row in rows.items()
    )
    return f"<table><tr><th>{html.escape(first)}</th>{head}</tr>{body or ''}</table>"


GROUP_COLUMNS = (("positions", "positions"), ("legs", "legs"), ("win_rate", "win rate"), ("net_pnl", "net P&L"),
                 ("avg_net_pnl", "avg P&L"), ("profit_factor", "PF"), ("avg_hold_hours", "avg hold h"))


def _img(name: str, png: str, alt: str) -> str:
    return f'<img data-chart="{name}" alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'


def _walk_forward(block: Mapping[str, Any] | None) -> list[str]:
    """With --folds: one row per fold (its test part, the parameters chosen on its training part, its
    figures) and the stitched out-of-sample line, so one good fold among bad ones shows at a glance."""
    if not block:
        return []
    rows: dict[str, dict[str, object]] = {}
    for i, fold in enumerate(block.get("folds", []), start=1):
        m = fold.get("metrics", {})
        params = ", ".join(f"{k}={v}" for k, v in fold.get("params", {}).items()) or "—"
        rows[f"fold {i}"] = {"test": f"{fold['test'][0][:10]} → {fold['test'][1][:10]}", "params": params,
                             **{k: m.get(k) for k in ("total_return_pct", "sharpe", "max_drawdown_pct", "positions")}}
    oos = block.get("oos", {})
    rows["out-of-sample, stitched"] = {"test": "", "params": "",
                                       **{k: oos.get(k) for k in ("total_return_pct", "sharpe", "max_drawdown_pct",
                                                                  "positions")}}
    columns = (("test", "test part"), ("params", "chosen in-sample"), ("total_return_pct", "return %"),
               ("sharpe", "Sharpe"), ("max_drawdown_pct", "max DD %"), ("positions", "positions"))
    return [f"<h2>Walk-forward ({html.escape(str(block.get('scheme', '')))}; every figure above is out-of-sample)</h2>",
            _table(rows, columns, "fold")]


def _kill_switch(kill: Mapping[str, Any] | None) -> str:
    if not kill:
        return "<p>Not recorded for this run.</p>"
    paused = kill.get("bars_paused", 0)
    bars = kill.get("bars") or 0
    share = f" ({paused / bars * 100:.1f} % of the window)" if bars else ""
    events = "".join(f"<li>{html.escape(str(e))}</li>" for e in kill.get("events", []))
    return (f"<p>Policy: {html.escape(str(kill.get('policy', 'n/a')))}. Fired {_fmt(kill.get('fired', 0))} time(s); "
            f"{_fmt(paused)} bars paused{share}.</p>" + (f"<ul>{events}</ul>" if events else ""))


def render_tearsheet(result: ReplayResult, report: Mapping[str, Any], path: Path, *,
                     report_png: Path | None = None) -> Path:
    """Write tearsheet.html from a replay and its report (build_report's dict). `report_png`: the run's report.png,
    whose equity and drawdown panels the page shows (drawn here when not given)."""
    metrics, b = report["metrics"], report["breakdowns"]
    bh = report["baselines"].get("buy_and_hold", {})
    summary_rows = {
        label: {"strategy": metrics.get(key), "buy & hold": bh.get(key)}
        for label, key in (("total return %", "total_return_pct"), ("CAGR %", "cagr_pct"),
                           ("max drawdown %", "max_drawdown_pct"), ("Sharpe", "sharpe"), ("Sortino", "sortino"),
                           ("Calmar", "calmar"), ("positions", "positions"), ("legs", "trades"), ("win rate (positions)", "win_rate"),
                           ("profit factor", "profit_factor"), ("exposure %", "exposure_pct"),
                           ("fees paid", "fees_paid"), ("funding paid", "funding_paid"))
    }
    cal = b["calibration"]
    charts = _charts(result, report, report_png)
    cal_rows = {k: v for k, v in cal.get("buckets", {}).items()}
    bench = b.get("benchmark", {})
    sections = [
        "<h2>Equity and drawdown</h2>",
        _img("equity", charts["equity"], "equity against buy-and-hold, drawdown below"),
        _table(summary_rows, (("strategy", result.engine), ("buy & hold", "buy & hold")), "metric"),
        "<h2>Per month</h2>",
        _img("monthly_heatmap", charts["monthly_heatmap"], "monthly returns heatmap"),
        _table(b["by_month"], (("return_pct", "return %"), *GROUP_COLUMNS), "month (positions by exit month)"),
        "<h2>Calibration</h2>",
        '<div class="row">' + _img("calibration", charts["calibration"], "realised win rate against stated confidence")
        + _table(cal_rows, (("positions", "positions"), ("stated_confidence", "stated"), ("win_rate", "realised"),
                            ("win_rate_95", "95 % interval"), ("avg_net_pnl", "avg P&L")), "confidence")
        + "</div>",
        f"<p>Brier score {_fmt(cal.get('brier_score'), 3)} · win rate rises with confidence: "
        f"{_fmt(cal.get('monotonic'))}</p>",
    ]
    for name, title in BAR_CHARTS:
        sections += [f"<h2>Per {title}</h2>", '<div class="row">' + _img(name, charts[name], f"P&L by {title}")
                     + _table(b[name], GROUP_COLUMNS, title) + "</div>"]
    sections += [
        "<h2>Against buy-and-hold</h2>",
        _table({k: {"value": v} for k, v in bench.items()}, (("value", "value"),), "figure"),
        "<p>Exposure-matched: buy-and-hold scaled to the strategy's average exposure, and buy-and-hold over "
        "only the bars the strategy held a position.</p>",
        *_walk_forward(report.get("walk_forward")),
        "<h2>Drawdown kill-switch</h2>",
        _kill_switch(report.get("kill_switch")),
        "<h2>Risk guard</h2>",
        _table({k: {"count": v} for k, v in report["guard"]["reasons"].items()}, (("count", "rejections"),), "reason"),
    ]
    alerts = "".join(f"<li>{html.escape(a)}</li>" for a in result.alerts)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Tearsheet · {html.escape(result.engine)} · {html.escape(', '.join(result.symbols))}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: 8px 0; font-size: 12px; }}
td, th {{ border: 1px solid #ddd; padding: 3px 7px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} .row {{ display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }}
</style></head><body>
<h1>{html.escape(result.engine)} · {html.escape(', '.join(result.symbols))} · {html.escape(report['start'])} → {html.escape(report['end'])}</h1>
<p>Initial equity {_fmt(report['initial_equity'])}; trades counted per position (partial exits are legs).
One history, one window: read the breakdowns as description, not as a forecast.</p>
{"<ul>" + alerts + "</ul>" if alerts else ""}
{"".join(sections)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["CHARTS", "render_tearsheet"]
