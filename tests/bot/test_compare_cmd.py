"""`aitrader compare` and `aitrader leaderboard` end to end on real data (DESIGN §4.8), the LLM entry through
the local OpenAI-compatible stand-in, and walk-forward (`--folds`) reporting only out-of-sample parts."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_replay_cmd import DATA, _long
from tests.fakes.openai_server import FakeOpenAIServer

SYMBOLS = "BTC/USDT:USDT,ETH/USDT:USDT"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "LLM_MODEL", "LLM_FALLBACK_MODELS", "SYMBOLS",
                 "DATABASE_PATH", "REPLAY_RESUME_AFTER_DAYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "lab.sqlite"))
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def compare(out: Path, engines: str, *extra: str, start: str = "2023-03-01", end: str = "2023-03-15") -> tuple[int, str]:
    return invoke("compare", "--data", str(DATA), "--symbols", SYMBOLS, "--start", start, "--end", end,
                  "--engines", engines, "--out", str(out), *extra)


def test_compare_writes_one_folder_per_entry_the_json_the_picture_and_the_table(env: Path) -> None:
    out = env / "cmp"
    code, output = compare(out, "rules,strict=rules,baseline:buy_and_hold,baseline:tsmom,baseline:ema_cross",
                           "--set", "strict:MIN_CONFIDENCE=0.8")
    assert code == 0, output
    document = json.loads((out / "compare.json").read_text())
    assert document["symbols"] == SYMBOLS.split(",") and document["start"] == "2023-03-01T00:00:00Z"
    names = [e["name"] for e in document["entries"]]
    assert names == ["rules", "strict", "buy_and_hold", "tsmom", "ema_cross"]
    by_name = {e["name"]: e for e in document["entries"]}
    assert by_name["strict"]["settings"] == {"MIN_CONFIDENCE": "0.8"} and by_name["rules"]["settings"] == {}
    assert by_name["strict"]["version"] != by_name["rules"]["version"]  # a decision setting changes the version
    for entry in document["entries"]:
        folder = out / entry["dir"]
        for name in ("report.json", "trades.csv", "equity.csv", "report.png", "run.json"):
            assert (folder / name).stat().st_size > 0, (entry["name"], name)
        report = json.loads((folder / "report.json").read_text())
        assert report["metrics"]["final_equity"] == entry["metrics"]["final_equity"]
        for key in ("calmar", "exposure_pct", "positions", "trades", "avg_hold_hours", "max_drawdown_duration_days"):
            assert key in entry["metrics"], key
        equity = [float(line.split(",")[1]) for line in (folder / "equity.csv").read_text().splitlines()[1:]]
        assert min(equity) >= 0.0
    assert by_name["buy_and_hold"]["engine"] == "baseline:buy_and_hold"
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Calmar" in output and "strict" in output and "trades (legs)" in output

    code, listing = invoke("leaderboard", "--json")
    assert code == 0, listing
    rows = json.loads(listing)
    assert {r["version"] for r in rows} >= {e["version"] for e in document["entries"]}
    for row in rows:
        assert set(row) >= {"version", "engine", "model", "window", "oos", "trades", "total_return_pct", "sharpe",
                            "max_drawdown_pct", "profit_factor"}
    sharpes = [r["sharpe"] for r in rows if r["sharpe"] is not None]
    assert sharpes == sorted(sharpes, reverse=True)
    # re-running the same comparison replaces its rows rather than counting them twice
    assert compare(out, "rules", "--set", "rules:MIN_CONFIDENCE=0.6")[0] == 0
    assert len(json.loads(invoke("leaderboard", "--json")[1])) == len(rows)


@pytest.mark.parametrize(
    ("engines", "extra", "message"),
    [
        ("rules,magic", (), "unknown engine 'magic'"),
        ("rules,rules", (), "used twice"),
        ("rules", ("--set", "nobody:MIN_CONFIDENCE=0.7"), "names no entry"),
        ("rules", ("--set", "rules:MIN_CONFIDENCE=7"), "MIN_CONFIDENCE"),
        ("rules", ("--set", "rules:NOT_A_SETTING=1"), "not a setting"),
        ("baseline:tsmom", ("--set", "tsmom:lookback_days=abc"), "lookback_days"),
        ("baseline:nope", (), "unknown baseline"),
        ("rules", ("--folds", "1"), "--folds"),
    ],
)
def test_bad_compare_arguments_exit_2_with_one_line(env: Path, engines: str, extra: tuple[str, ...], message: str) -> None:
    code, output = compare(env / "cmp", engines, *extra)
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in output


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    yield fake
    fake.stop()


def test_llm_entry_is_served_from_the_cache_on_the_second_run(
    env: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("LLM_API_KEY", "sk-compare-test-0123456789")
    server.script(_long)
    out = env / "cmp"
    args = ("rules,llm:stand-in-model,ensemble", "--start", "2023-03-06", "--end", "2023-03-07")
    code, output = compare(out, args[0], start=args[2], end=args[4])
    assert code == 0, output
    first = (out / "compare.json").read_bytes()
    assert len(server.requests) > 0 and {r.model for r in server.requests} >= {"stand-in-model", "gpt-4o-mini"}
    server.requests.clear()
    code, output = compare(out, args[0], start=args[2], end=args[4])
    assert code == 0, output
    assert server.requests == []  # every LLM decision of both entries came from their caches
    assert (out / "compare.json").read_bytes() == first
    document = json.loads(first)
    llm = next(e for e in document["entries"] if e["engine"] == "llm:stand-in-model")
    run = json.loads((out / llm["dir"] / "run.json").read_text())
    assert run["model"] == "stand-in-model" and run["prompt_version"]
    assert "sk-compare-test" not in (out / llm["dir"] / "run.json").read_text()


def test_walk_forward_reports_only_out_of_sample_parts(env: Path) -> None:
    out = env / "wf"
    code, output = compare(out, "rules,baseline:ema_cross", "--folds", "4", start="2023-02-01", end="2023-06-01")
    assert code == 0, output
    document = json.loads((out / "compare.json").read_text())
    assert document["oos"] is True
    for entry in document["entries"]:
        block = entry["walk_forward"]
        assert block["scheme"] == "anchored" and len(block["folds"]) == 4
        tests = [f["test"] for f in block["folds"]]
        for fold in block["folds"]:
            assert fold["train"][0] == "2023-02-01T00:00:00Z" and fold["train"][1] < fold["test"][0]
        assert all(a[1] < b[0] for a, b in itertools.pairwise(tests))  # consecutive, no overlap
        report = json.loads((out / entry["dir"] / "report.json").read_text())
        assert report["start"] == tests[0][0] and report["end"] == tests[-1][1]  # the training part left out
        assert report["metrics"] == entry["metrics"]
        for key in ("total_return_pct", "sharpe", "max_drawdown_pct", "positions", "trades", "fees_paid"):
            assert report["metrics"][key] == pytest.approx(block["oos"][key], rel=1e-6), key
        equity = (out / entry["dir"] / "equity.csv").read_text().splitlines()
        assert equity[1].startswith(tests[0][0])
        # per fold: parameters chosen on the training part (a grid for both engines)
        assert all(fold["params"] for fold in block["folds"]) and all(len(f["train_grid"]) > 1 for f in block["folds"])
    assert "return per fold" in output
