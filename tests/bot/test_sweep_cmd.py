"""`aitrader sweep` on real Binance perps: a 3×3 grid over 2 windows on local processes and on Dask's local
cluster (the same cells, the same numbers), a sweep killed halfway that a re-run finishes by running only
the missing cells, and one-line errors for bad input."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.sweep_cmd import run_sweep
from bot.leaderboard import ranked_results
from bot.wiring import CycleFactory, EngineEntry
from core.evaluation.report import build_report
from core.evaluation.sweep import parse_grid
from core.market.offline import OfflineMarketData

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SYMBOLS = ("BTC/USDT:USDT",)
GRID = ["MIN_CONFIDENCE=0.55,0.6,0.7", "RISK_PER_TRADE_PCT=1,1.5,2"]
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "LLM_MODEL", "SYMBOLS", "MIN_CONFIDENCE",
                 "RISK_PER_TRADE_PCT", "MAX_LEVERAGE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def sweep(out: Path, **kw: object) -> tuple[int, str]:
    console = Console(file=(buffer := __import__("io").StringIO()), width=200)
    args = {"data": DATA, "symbols": SYMBOLS, "start": utc(2023, 3, 1), "end": utc(2023, 3, 11), "engine": "rules",
            "grid": parse_grid(GRID), "out": out, "windows": 2, "workers": 2, "console": console}
    args.update(kw)
    code = run_sweep(**args)  # type: ignore[arg-type]
    return code, buffer.getvalue()


def cells_by_key(out: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}


def test_a_3x3_grid_over_2_windows_on_local_processes(env: Path) -> None:
    out = env / "sweep"
    code, log = sweep(out)
    assert code == 0, log
    assert "running 18 on 2 local processes" in log
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert len(rows) == 18
    assert {(r["min_confidence"], r["risk_per_trade_pct"]) for r in rows} == {
        (c, r) for c in ("0.55", "0.6", "0.7") for r in ("1", "1.5", "2")}
    assert len({(r["start"], r["end"]) for r in rows}) == 2
    sharpes = [float(r["sharpe"]) for r in rows if r["sharpe"]]
    assert sharpes == sorted(sharpes, reverse=True) and sharpes, "ranked by Sharpe, best first"
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["cells"] == 18 and summary["best"]["key"] == rows[0]["key"]
    assert "deflated_sharpe" in summary and "Bailey" in summary["deflated_sharpe_detail"]["method"]

    # a cell is exactly the replay of its settings through the factory: reused indicators change nothing
    best = summary["best"]
    start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in best["window"])
    factory = CycleFactory.from_environment()
    entry = EngineEntry("best", "rules", tuple(sorted(best["settings"].items())))
    assert best["version"] == factory.version(entry).id
    result = asyncio.run(factory.replay(OfflineMarketData(DATA), entry, SYMBOLS, start, end, 10_000.0))
    metrics = build_report(result)["metrics"]
    for key in ("final_equity", "sharpe", "max_drawdown_pct", "trades", "positions", "fees_paid"):
        assert best["metrics"][key] == metrics[key], key

    # every cell is on the leaderboard under its version
    board = asyncio.run(ranked_results(factory))
    assert {r.version for r in board if r.source == "sweep"} == {c["version"] for c in cells_by_key(out).values()}
    assert len({c["version"] for c in cells_by_key(out).values()}) == 9  # 9 settings × 2 windows


@pytest.mark.slow  # SIGKILL and a resumed sweep
def test_a_killed_sweep_resumes_with_only_the_missing_cells(env: Path) -> None:
    out = env / "sweep"
    argv = [sys.executable, "-m", "bot", "sweep", "--data", str(DATA), "--symbols", ",".join(SYMBOLS),
            "--start", "2023-03-01", "--end", "2023-03-11", "--windows", "2", "--workers", "1", "--out", str(out)]
    for item in GRID:
        argv += ["--grid", item]
    proc = subprocess.Popen(argv, cwd=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    try:
        while len(list((out / "cells").glob("*.json"))) < 3:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no cell finished in time"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes, mid-flight
        proc.wait()
    first = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "cells").glob("*.json")}
    assert 3 <= len(first) < 18, f"killed after {len(first)} cells"
    assert not (out / "sweep.json").exists()

    code, log = sweep(out, workers=1)
    assert code == 0, log
    assert f"{len(first)} finished earlier, running {18 - len(first)}" in log
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "cells").glob("*.json")}
    assert len(after) == 18
    assert all(after[name] == first[name] for name in first), "a finished cell was recomputed"
    assert json.loads((out / "sweep.json").read_text())["cells"] == 18

    code, log = sweep(out, workers=1)  # nothing left to do
    assert code == 0 and "all 18 cells finished earlier" in log


@pytest.mark.slow  # starts a Dask cluster
def test_the_same_sweep_on_a_dask_local_cluster_gives_the_same_cells(env: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask distributed is the test extra's cluster engine")
    local = env / "local"
    assert sweep(local)[0] == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  dashboard_address=None) as cluster:
        remote = env / "dask"
        code, log = sweep(remote, cluster=cluster.scheduler_address)
    assert code == 0, log
    assert f"Dask cluster {cluster.scheduler_address} (2 workers)" in log
    a, b = cells_by_key(local), cells_by_key(remote)
    assert len(a) == 18 and a.keys() == b.keys()
    assert all(a[k]["metrics"] == b[k]["metrics"] for k in a)
    assert (local / "sweep.csv").read_text() == (remote / "sweep.csv").read_text()


def test_a_worker_whose_settings_make_another_version_refuses_its_cells(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask distributed is the test extra's cluster engine")
    from bot.commands import sweep_worker

    monkeypatch.setenv("MAX_LEVERAGE", "3")
    other = CycleFactory.from_environment()  # a worker started with another .env
    monkeypatch.delenv("MAX_LEVERAGE")
    out = env / "sweep"
    grid = parse_grid(["MIN_CONFIDENCE=0.6,0.7"])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                  dashboard_address=None) as cluster:
        # in-process workers run this very module, so the patched factory is the worker's
        monkeypatch.setattr(sweep_worker, "_factory", lambda: other)
        code, log = sweep(out, grid=grid, windows=1, cluster=cluster.scheduler_address)
        assert code == 1
        assert "2 of 2 cells failed" in log and "this worker's settings make strategy version" in log
        assert not list((out / "cells").glob("*.json")), "a refused cell is never filed"
        monkeypatch.undo()
        code, log = sweep(out, grid=grid, windows=1, cluster=cluster.scheduler_address)
    assert code == 0 and "running 2 on Dask" in log, log
    assert len(list((out / "cells").glob("*.json"))) == 2


def test_symbol_sets_are_a_grid_dimension(env: Path) -> None:
    out = env / "sets"
    code, log = sweep(out, symbols=(("BTC/USDT:USDT",), ("ETH/USDT:USDT",), ("BTC/USDT:USDT", "ETH/USDT:USDT")),
                      grid=parse_grid(["MIN_CONFIDENCE=0.6,0.7"]), windows=1, workers=1)
    assert code == 0, log
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert sorted(r["symbols"] for r in rows) == sorted(["BTC/USDT:USDT", "ETH/USDT:USDT",
                                                         "BTC/USDT:USDT,ETH/USDT:USDT"] * 2)


@pytest.mark.slow
def test_an_llm_sweep_asks_the_model_once_per_decision_and_keeps_no_secret(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask distributed is the test extra's cluster engine")
    from tests.bot.test_replay_cmd import _long
    from tests.fakes.openai_server import FakeOpenAIServer

    server = FakeOpenAIServer().start()
    try:
        monkeypatch.setenv("LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("LLM_API_KEY", "sk-sweep-test-0123456789")
        server.script(_long)
        out = env / "llm"
        window = {"start": utc(2023, 3, 6), "end": utc(2023, 3, 7), "windows": 1, "engine": "llm"}
        # in-process workers read this test's environment (local processes would too, from a fresh CLI run)
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                                      dashboard_address=None) as cluster:
            code, log = sweep(out, grid=parse_grid(["MIN_CONFIDENCE=0.6"]), cluster=cluster.scheduler_address,
                              **window)
            assert code == 0, log
            asked = len(server.requests)
            assert asked >= 24, "one model call per symbol-bar"
            server.requests.clear()
            # a new cell whose guard threshold the scripted 0.7 confidence clears either way: same decisions,
            # all from the decision cache the first cell filled
            code, log = sweep(out, grid=parse_grid(["MIN_CONFIDENCE=0.6,0.65"]), cluster=cluster.scheduler_address,
                              **window)
        assert code == 0 and "1 finished earlier, running 1" in log, log
        assert server.requests == []
    finally:
        server.stop()
    cells = cells_by_key(out)
    assert len(cells) == 2 and all(c["identity"]["descriptor"]["model"] for c in cells.values())
    assert len({c["metrics"]["final_equity"] for c in cells.values()}) == 1
    for path in out.rglob("*.json*"):
        assert "sk-sweep-test" not in path.read_text(), path


def test_walk_forward_cells_are_ranked_and_recorded_out_of_sample(env: Path) -> None:
    out = env / "wf"
    code, log = sweep(out, grid=parse_grid(["MIN_CONFIDENCE=0.6,0.7"]), windows=1, folds=2, workers=1)
    assert code == 0, log
    cells = list(cells_by_key(out).values())
    assert len(cells) == 2 and all(c["identity"]["folds"] == 2 for c in cells)
    for cell in cells:  # the cell's metrics are the stitched out-of-sample parts, nothing of the training parts
        wf = cell["walk_forward"]
        assert wf["scheme"] == "anchored" and len(wf["folds"]) == 2
        assert cell["metrics"]["sharpe"] == wf["oos"]["sharpe"]
        assert cell["start"] == wf["folds"][0]["test"][0]
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["best"]["ranked_by"] == "oos_sharpe"
    board = asyncio.run(ranked_results(CycleFactory.from_environment()))
    assert {r.oos for r in board if r.source == "sweep"} == {True}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "nope=1,2"], "--grid: nope is not a setting"),
        (["--grid", "min_confidence=0.6,abc"], "--grid: MIN_CONFIDENCE: Input should be a valid number"),
        (["--engine", "magic"], "--engine"),
        (["--grid", "min_confidence"], "KEY=V1,V2"),
        (["--windows", "0"], "--windows"),
        (["--folds", "1"], "--folds"),
        (["--workers", "0"], "--workers"),
        (["--symbols", "NOPE/USDT:USDT"], "no data for NOPE/USDT:USDT"),
        (["--cluster", "tcp://127.0.0.1:9"], "cannot reach a Dask scheduler"),
        (["--symbols", "BTC/USDT:USDT;BTC/USDT:USDT"], "the same set of symbols is given twice"),
        (["--symbols", ";"], "give at least one symbol"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(env: Path, extra: list[str], message: str) -> None:
    if "--cluster" in extra:
        pytest.importorskip("distributed")
    args = {"--data": str(DATA), "--symbols": ",".join(SYMBOLS), "--start": "2023-03-01", "--end": "2023-03-03",
            "--out": str(env / "out")}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[flag] = value
    argv = ["sweep", *[item for pair in args.items() for item in pair]]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output, result.output
