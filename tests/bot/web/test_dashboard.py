"""The dashboard in the demo App's process: health, readiness, metrics that move with a cycle, the JSON API
against the book, read-only and headers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.bot.web.helpers import ENV, dashboard_app, free_port
from tests.settings_env import isolate_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path, ENV)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_app_serves_health_metrics_and_the_api_over_the_book(tmp_path: Path) -> None:
    port = free_port()
    app, clock = dashboard_app(tmp_path, port)
    await app.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert app.web is not None and app.web.port == port
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200 and (await r.json())["ok"] is True
            async with http.get(f"{base}/metrics") as r:
                before = samples(await r.text())
            assert before[("aitrader_cycle_duration_seconds_count", ())] == 0

            for _ in range(24):  # the first exit (TP1) comes at 23:00 on this window
                await app.tick(clock.advance(timedelta(hours=1)))
            await app.publisher.wait_idle()

            async with http.get(f"{base}/readyz") as r:
                ready = await r.json()
                assert r.status == 200, ready
            assert set(ready["checks"]) == {"database", "scheduler", "last_cycle", "telegram"}
            assert all(c["ok"] for c in ready["checks"].values())

            async with http.get(f"{base}/metrics") as r:
                assert r.headers["Content-Type"].startswith("text/plain")
                after = samples(await r.text())
            assert after[("aitrader_cycle_duration_seconds_count", ())] == 24
            decided = sum(v for (name, _), v in after.items() if name == "aitrader_decisions_total")
            assert decided == 48  # two symbols, 24 cycles
            status = await app.control.status()
            verdicts = {dict(labels)["reason"]: v for (name, labels), v in after.items()
                        if name == "aitrader_guard_verdicts_total"}
            assert verdicts == {k: float(v) for k, v in status.guard_counts.items()} and verdicts
            assert after[("aitrader_open_positions", ())] == len(status.positions)
            assert after[("aitrader_equity", ())] == pytest.approx(status.equity)
            assert ("aitrader_outbox_depth", ()) in after

            async with http.get(f"{base}/api/track_record") as r:
                record = await r.json()
                assert r.headers["Cache-Control"] == "no-store"
            curve = await app.history.equity_curve()
            assert len(record["equity"]) == len(curve) > 0
            assert record["equity"][-1][1] == pytest.approx(curve[-1][1], abs=0.01)
            stats = await app.control.stats("all")  # the same figures as /stats in chat
            assert record["positions"] == stats.trades and record["win_rate"] == (stats.win_rate if stats.trades else None)
            assert 0 <= record["max_drawdown_pct"] < 100
            assert set(record) >= {"equity", "positions", "win_rate", "profit_factor", "max_drawdown_pct"}

            async with http.get(f"{base}/api/positions") as r:
                served = await r.json()
            book = await app.control.positions()
            assert {p["id"] for p in served} == {p.id for p in book}
            assert all(p["stop_loss"] > 0 for p in served)

            async with http.get(f"{base}/api/trades?limit=1") as r:
                trades = await r.json()
            legs = await app.history.closed_trades()
            assert len(trades) == 1 and trades[0]["position_id"] == legs[-1].position_id

            async with http.get(f"{base}/api/why/{trades[0]['signal_id']}") as r:
                why = await r.json()
                assert r.status == 200 and why["reasoning"]
            async with http.get(f"{base}/api/why/nope") as r:
                assert r.status == 404

            async with http.get(f"{base}/api/leaderboard") as r:
                board = await r.json()
            expected = await app.dp["leaderboard"].board(20)
            assert [row["version"] for row in board["rows"]] == [row.version for row in expected.rows]
            assert board["live_version"] == expected.live_version

            async with http.get(f"{base}/api/decisions?limit=4") as r:
                decisions = await r.json()
            assert len(decisions) == 4 and {d["symbol"] for d in decisions} == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
            assert decisions[0]["as_of"] >= decisions[-1]["as_of"] and all(d["engine"] for d in decisions)
            assert decisions[0]["as_of"].startswith(f"{clock.now():%Y-%m-%dT%H}")

            for bad in ("abc", "0", "-1", "100000"):
                for path in ("trades", "decisions"):
                    async with http.get(f"{base}/api/{path}?limit={bad}") as r:
                        assert r.status == 400 and "limit" in (await r.json())["error"]
            async with http.post(f"{base}/api/positions") as r:
                assert r.status == 405
            async with http.get(f"{base}/") as r:
                assert r.status == 200 and "equity-chart" in await r.text()
                assert "frame-ancestors" in r.headers["Content-Security-Policy"]
                assert r.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        await app.stop()
    assert app.web is None
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{base}/healthz")


async def test_readyz_is_503_when_the_scheduler_is_down(tmp_path: Path) -> None:
    port = free_port()
    app, _ = dashboard_app(tmp_path, port)
    await app.start()
    try:
        assert app.scheduler is not None
        app.scheduler.shutdown(wait=False)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as r:
            body = await r.json()
        assert r.status == 503
        assert body["checks"]["scheduler"]["ok"] is False and body["checks"]["database"]["ok"] is True
    finally:
        app.scheduler = None
        await app.stop()


async def test_clients_over_the_rate_limit_get_429_but_probes_do_not(tmp_path: Path) -> None:
    from bot.web.attach import sources_of
    from bot.web.server import RateLimit, WebServer

    app, _ = dashboard_app(tmp_path, free_port())
    await app.build()
    server = WebServer(sources_of(app), rate_limit=RateLimit(limit=3, window_s=60))
    port = await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            codes = []
            for _ in range(5):
                async with http.get(f"http://127.0.0.1:{port}/api/positions") as r:
                    codes.append(r.status)
                    if r.status == 429:
                        assert int(r.headers["Retry-After"]) >= 1
            assert codes == [200, 200, 200, 429, 429]
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                assert r.status == 200 and r.headers["Server"] == "aitrader"
    finally:
        await server.stop()
        await app.stop()


def test_the_rate_limit_window_slides() -> None:
    from bot.web.server import RateLimit

    now = [0.0]
    limit = RateLimit(limit=2, window_s=10, clock=lambda: now[0])
    assert limit.retry_after("a") is None and limit.retry_after("a") is None
    assert limit.retry_after("a") == 10 and limit.retry_after("b") is None
    now[0] = 10.0
    assert limit.retry_after("a") is None


async def test_a_port_in_use_is_one_clear_error_and_nothing_is_left_running(tmp_path: Path) -> None:
    import socket

    from core.errors import UserInputError

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app, _ = dashboard_app(tmp_path, port)
        with pytest.raises(UserInputError, match=f"WEB_PORT={port}: cannot listen"):
            await app.start()
    assert app.web is None and app.scheduler is None
