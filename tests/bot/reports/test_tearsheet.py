"""tearsheet.html: self-contained (no URL but data: images), every chart present, and — opened in a real
headless Chromium from the OS packages, driven by Playwright, with the network cut — every chart decodes
to a picture with a non-zero size. Skips with the reason when Chromium or Playwright is not installed
(`./dev test` installs Chromium through apt when it can)."""

from __future__ import annotations

import asyncio
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from bot.reports.tearsheet import CHARTS, render_tearsheet
from core.decide.rules import RulesEngine
from core.evaluation.baselines import flat
from core.evaluation.replay import ReplaySpec, run_replay_cycle
from core.evaluation.report import ReplayResult, build_report
from core.market.offline import OfflineMarketData

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)


@pytest.fixture(scope="module")
def real_tearsheet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA}")
    spec = ReplaySpec(symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"), start=datetime(2023, 2, 1, tzinfo=UTC),
                      end=datetime(2023, 6, 1, tzinfo=UTC), engine="rules")
    result = asyncio.run(run_replay_cycle(OfflineMarketData(DATA), spec, RulesEngine()))
    path = tmp_path_factory.mktemp("tearsheet") / "tearsheet.html"
    return render_tearsheet(result, build_report(result), path)


def test_the_page_is_self_contained_and_holds_every_chart(real_tearsheet: Path) -> None:
    page = real_tearsheet.read_text(encoding="utf-8")
    charts = re.findall(r'<img data-chart="([a-z_]+)"[^>]* src="data:image/png;base64,[A-Za-z0-9+/=]{200,}"', page)
    assert charts == list(CHARTS)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(u.startswith("data:") for u in urls), [u[:40] for u in urls if not u.startswith("data:")]
    assert "http://" not in page and "https://" not in page
    assert "Policy: stay paused to the end" in page  # what the kill-switch did is on the page
    for heading in ("Per month", "Calibration", "Per symbol", "Per side", "Per exit reason", "Per regime at entry",
                    "Against buy-and-hold", "Drawdown kill-switch"):
        assert f"<h2>{heading}</h2>" in page


def test_a_run_without_a_single_trade_still_renders_every_chart(tmp_path: Path) -> None:
    steps = np.arange(0, 49 * 3_600_000, 3_600_000, dtype=np.int64) + 1_700_000_000_000 // 3_600_000 * 3_600_000
    idle = flat(steps, 1000.0)
    result = ReplayResult(engine="rules", symbols=("BTC/USDT:USDT",), start=datetime.fromtimestamp(steps[0] / 1000, UTC),
                          end=datetime.fromtimestamp(steps[-1] / 1000, UTC), initial_equity=1000.0, bar_seconds=3600,
                          step_ms=steps, equity=idle.equity, exposure=idle.exposure, trades=(), baselines=(idle,))
    page = render_tearsheet(result, build_report(result), tmp_path / "t.html").read_text()
    assert re.findall(r'data-chart="([a-z_]+)"', page) == list(CHARTS)
    assert "<td>0</td>" in page  # the tables say zero positions rather than vanish


def test_a_walk_forward_run_shows_each_fold_beside_the_stitched_result(tmp_path: Path) -> None:
    steps = np.arange(0, 49 * 3_600_000, 3_600_000, dtype=np.int64) + 1_700_000_000_000 // 3_600_000 * 3_600_000
    idle = flat(steps, 1000.0)
    folds = [{"train": ["2023-01-01T00:00:00Z", "2023-02-01T00:00:00Z"], "test": ["2023-02-01T01:00:00Z", "2023-03-01T00:00:00Z"],
              "params": {"entry_threshold": 0.45}, "metrics": {"total_return_pct": 12.5, "sharpe": 2.1,
                                                              "max_drawdown_pct": 3.0, "positions": 9}},
             {"train": ["2023-01-01T00:00:00Z", "2023-03-01T00:00:00Z"], "test": ["2023-03-01T01:00:00Z", "2023-04-01T00:00:00Z"],
              "params": {"entry_threshold": 0.55}, "metrics": {"total_return_pct": -8.25, "sharpe": -1.4,
                                                              "max_drawdown_pct": 9.0, "positions": 7}}]
    result = ReplayResult(engine="rules", symbols=("BTC/USDT:USDT",), start=datetime.fromtimestamp(steps[0] / 1000, UTC),
                          end=datetime.fromtimestamp(steps[-1] / 1000, UTC), initial_equity=1000.0, bar_seconds=3600,
                          step_ms=steps, equity=idle.equity, exposure=idle.exposure, trades=(), baselines=(idle,),
                          walk_forward={"scheme": "anchored", "folds": folds,
                                        "oos": {"total_return_pct": 3.2, "sharpe": 0.4, "max_drawdown_pct": 9.5,
                                                "positions": 16}})
    page = render_tearsheet(result, build_report(result), tmp_path / "t.html").read_text()
    assert "Walk-forward (anchored" in page
    for text in ("entry_threshold=0.45", "entry_threshold=0.55", "12.50", "-8.25", "out-of-sample, stitched", "3.20"):
        assert text in page, text


def test_every_chart_renders_in_headless_chromium_offline(real_tearsheet: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; ./dev test tries it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    requested: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(real_tearsheet.as_uri(), wait_until="load")
            images = page.evaluate(
                """() => Promise.all(Array.from(document.querySelectorAll('img[data-chart]')).map(
                       img => img.decode().then(() => [img.dataset.chart, img.naturalWidth, img.naturalHeight,
                                                        img.getBoundingClientRect().width])))"""
            )
        finally:
            browser.close()
    assert [name for name, *_ in images] == list(CHARTS)
    for name, width, height, shown in images:
        assert width > 100 and height > 100 and shown > 0, (name, width, height, shown)
    assert all(u.startswith(("file:", "data:")) for u in requested), requested
