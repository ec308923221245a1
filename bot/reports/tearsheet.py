"""tearsheet.html of a replay (DESIGN §4.6): one self-contained page with every breakdown of report.json.

Charts are drawn with bot.reports.raster (the equity chart by report.png's own function) and embedded as base64 PNG
`data:` URIs, styles are inline, and
nothing refers to the network, so the file opens offline and can be mailed as it is. Every chart is an
`<img data-chart="NAME">`; CHARTS lists them (the browser test checks each one decodes).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.reports.raster import (
    TEXT,
    Canvas,
    Entry,
    Panel,
    limits,
    number_labels,
    number_ticks,
    pt,
    rgba,
    stack,
    tick_width,
)
from bot.reports.report_chart import equity_panels
from core.evaluation.report import ReplayResult

CHARTS = ("equity", "monthly_heatmap", "calibration", "by_symbol", "by_side", "by_exit_reason", "by_regime")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GREEN, RED, GREY = "#2ca02c", "#d62728", "#7f7f7f"


def _png(canvas: Canvas) -> str:
    return base64.b64encode(canvas.png()).decode("ascii")


def _equity_chart(result: ReplayResult) -> Canvas:
    """report.png's top two panels (the same function draws both), at the page's width."""
    canvas = Canvas(1100, 520)
    spans = stack(pt(12), canvas.height - pt(26), [3.0, 1.2], gap=pt(30))
    equity_panels(canvas, result, spans, limits([np.asarray(result.step_ms, dtype=float)]), markers=True,
                  legend_frame=False)
    return canvas


# matplotlib's RdYlGn (ColorBrewer), sampled at 11 even steps
RDYLGN = ("#a50026", "#d62f27", "#f46d43", "#fdad60", "#fee08b", "#feffbe", "#d9ef8b", "#a5d86a", "#66bd63",
          "#199750", "#006837")


def _diverging(share: float) -> str:
    """The colour of `share` in [0, 1] on RDYLGN, interpolated."""
    pos = min(max(share, 0.0), 1.0) * (len(RDYLGN) - 1)
    k = min(int(pos), len(RDYLGN) - 2)
    a, b = rgba(RDYLGN[k]), rgba(RDYLGN[k + 1])
    f = pos - k
    return "#" + "".join(f"{round(a[i] + (b[i] - a[i]) * f):02x}" for i in range(3))


def _heatmap(months: Mapping[str, Mapping[str, Any]]) -> Canvas:
    years = sorted({m[:4] for m in months})
    grid = np.full((max(len(years), 1), 12), np.nan)
    for label, row in months.items():
        value = row.get("return_pct")
        if value is not None:
            grid[years.index(label[:4]), int(label[5:7]) - 1] = value
    canvas = Canvas(1100, round(120 + 55 * max(len(years), 1)))
    finite = grid[np.isfinite(grid)]
    bound = max(float(np.max(np.abs(finite))) if finite.size else 1.0, 1e-9)
    ylabels = years or ["—"]
    left = tick_width(canvas, ylabels) + pt(14)
    bar_w = pt(14)
    box = (left, pt(24), canvas.width - pt(60) - bar_w, canvas.height - pt(26))
    ax = Panel(canvas, box, (-0.5, 11.5), (len(ylabels) - 0.5, -0.5))
    for (i, j), value in np.ndenumerate(grid):
        x0, x1 = float(ax.x(j - 0.5)), float(ax.x(j + 0.5))
        y0, y1 = float(ax.y(i - 0.5)), float(ax.y(i + 0.5))
        if np.isfinite(value):
            canvas.rect(x0, y0, x1, y1, _diverging((value + bound) / (2 * bound)))
            canvas.text((x0 + x1) / 2, (y0 + y1) / 2, f"{value:+.1f}", 8, TEXT, "mm")
    ax.frame(list(range(12)), MONTHS, list(range(len(ylabels))), ylabels)
    ax.title("monthly return % (from the equity curve)", size=10)
    # colour bar: the scale from -bound (red) to +bound (green)
    bx0, bx1 = box[2] + pt(12), box[2] + pt(12) + bar_w
    bar = Panel(canvas, (bx0, box[1], bx1, box[3]), (0, 1), (-bound, bound))
    steps = 64
    for k in range(steps):
        v0, v1 = -bound + 2 * bound * k / steps, -bound + 2 * bound * (k + 1) / steps
        canvas.rect(bx0, float(bar.y(v1)), bx1, float(bar.y(v0)), _diverging((k + 0.5) / steps))
    ticks = number_ticks(-bound, bound, target=4)
    labels = number_labels(ticks)
    w = max(1, round(pt(0.8)))
    canvas.draw.rectangle((bx0, box[1], bx1, box[3]), outline=rgba("#000000"), width=w)
    for t, label in zip(ticks, labels, strict=True):
        y = float(bar.y(t))
        canvas.draw.line([bx1, y, bx1 + pt(3.5), y], fill=rgba("#000000"), width=w)
        canvas.text(bx1 + pt(6), y, label, 10, "#000000", "lm")
    canvas.text(bx1 + pt(10) + tick_width(canvas, labels), (box[1] + box[3]) / 2, "%", 10, rotate=True)
    return canvas


def _calibration_chart(calibration: Mapping[str, Any]) -> Canvas:
    canvas = Canvas(560, 460)
    ticks = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    labels = number_labels(ticks)
    box = (tick_width(canvas, labels) + pt(30), pt(10), canvas.width - pt(34), canvas.height - pt(42))
    ax = Panel(canvas, box, (0, 1), (0, 1))
    ax.grid(ticks, ticks, alpha=0.25)
    ax.plot(np.array([0.0, 1.0]), np.array([0.0, 1.0]), "#bbbbbb", 1.0, dash=(3.0, 1.3))
    buckets = calibration.get("buckets", {})
    for b in buckets.values():
        x, y = b["stated_confidence"], b["win_rate"]
        low, high = b["win_rate_95"] or (y, y)
        ax.segments([(x, low, x, high)], "#1f77b4", 1.5)
        for end in (low, high):
            cx, cy = float(ax.x(x)), float(ax.y(end))
            canvas.line(np.array([cx - pt(3), cx + pt(3)]), np.array([cy, cy]), "#1f77b4", 1.5)
        ax.scatter([x], [y], "o", "#1f77b4", 4 + 1.5 * np.sqrt(b["positions"]) - 1.5)
        canvas.text(float(ax.x(x)) + pt(8), float(ax.y(y)) + pt(3), f"n={b['positions']}", 8, TEXT, "ls")
    if not buckets:
        canvas.text((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, "no positions", 10, GREY, "mm")
    ax.frame(ticks, labels, ticks, labels)
    ax.xlabel("stated confidence (bucket mean)")
    ax.ylabel("realised win rate (95 % Wilson interval)", offset=tick_width(canvas, labels))
    ax.legend([Entry("perfectly calibrated", "#bbbbbb", width=1.0, dash=(3.0, 1.3))], size=8, frame=False)
    return canvas


def _bars(groups: Mapping[str, Mapping[str, Any]], title: str) -> Canvas:
    labels = list(groups)
    values = [float(groups[k]["net_pnl"]) for k in labels]
    canvas = Canvas(560, round(90 + 42 * max(len(labels), 1)))
    names = [f"{k} ({groups[k]['positions']})" for k in labels]
    box = (tick_width(canvas, names) + pt(14), pt(24), canvas.width - pt(14), canvas.height - pt(26))
    xlim = limits([np.array([*values, 0.0])])
    ax = Panel(canvas, box, xlim, (len(labels) - 0.5, -0.5) if labels else (0, 1))
    xticks = number_ticks(*xlim, target=5)
    ax.grid(xticks, (), alpha=0.25)
    if labels:
        for row, value in enumerate(values):
            canvas.rect(float(ax.x(0.0)), float(ax.y(row - 0.4)), float(ax.x(value)), float(ax.y(row + 0.4)),
                        GREEN if value > 0 else RED)
        ax.vline(0.0, "#444444", 0.8)
    else:
        canvas.text((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, "no positions", 10, GREY, "mm")
    ax.frame(xticks, number_labels(xticks), list(range(len(labels))), names)
    ax.title(f"net P&L by {title} (positions)", size=10)
    return canvas


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


def _img(name: str, chart: Canvas, alt: str) -> str:
    return f'<img data-chart="{name}" alt="{html.escape(alt)}" src="data:image/png;base64,{_png(chart)}">'


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


def render_tearsheet(result: ReplayResult, report: Mapping[str, Any], path: Path) -> Path:
    """Write tearsheet.html from a replay and its report (build_report's dict)."""
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
    cal_rows = {k: v for k, v in cal.get("buckets", {}).items()}
    bench = b.get("benchmark", {})
    sections = [
        "<h2>Equity and drawdown</h2>",
        _img("equity", _equity_chart(result), "equity against buy-and-hold, drawdown below"),
        _table(summary_rows, (("strategy", result.engine), ("buy & hold", "buy & hold")), "metric"),
        "<h2>Per month</h2>",
        _img("monthly_heatmap", _heatmap(b["by_month"]), "monthly returns heatmap"),
        _table(b["by_month"], (("return_pct", "return %"), *GROUP_COLUMNS), "month (positions by exit month)"),
        "<h2>Calibration</h2>",
        '<div class="row">' + _img("calibration", _calibration_chart(cal), "realised win rate against stated confidence")
        + _table(cal_rows, (("positions", "positions"), ("stated_confidence", "stated"), ("win_rate", "realised"),
                            ("win_rate_95", "95 % interval"), ("avg_net_pnl", "avg P&L")), "confidence")
        + "</div>",
        f"<p>Brier score {_fmt(cal.get('brier_score'), 3)} · win rate rises with confidence: "
        f"{_fmt(cal.get('monotonic'))}</p>",
    ]
    for name, title in (("by_symbol", "symbol"), ("by_side", "side"), ("by_exit_reason", "exit reason"),
                        ("by_regime", "regime at entry")):
        sections += [f"<h2>Per {title}</h2>", '<div class="row">' + _img(name, _bars(b[name], title), f"P&L by {title}")
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
