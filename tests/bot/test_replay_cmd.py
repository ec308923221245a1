"""`aitrader replay` end to end on real data: files written, one-line errors, and the LLM path through a
local OpenAI-compatible stand-in whose answers are cached, so a re-run asks nothing and reports the same."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.replay_cmd import CACHE_FILE, run_replay
from core.errors import UserInputError
from tests.fakes.openai_server import FakeOpenAIServer, Reply, answer

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "LLM_MODEL", "LLM_FALLBACK_MODELS", "SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


async def test_rules_replay_writes_the_report(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = env / "out"
    code = await run_replay(DATA, SYMBOLS, utc(2023, 3, 1), utc(2023, 3, 15), "rules", out, 10_000.0)
    assert code == 0
    for name in ("report.json", "trades.csv", "equity.csv", "report.png", "tearsheet.html", "run.json"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    assert report["engine"] == "rules" and report["symbols"] == list(SYMBOLS)
    assert report["start"] == "2023-03-01T00:00:00Z" and report["end"] == "2023-03-15T00:00:00Z"
    assert len((out / "equity.csv").read_text().splitlines()) == 14 * 24 + 2
    assert "final equity" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/nonexistent/folder"], "--data"),
        (["--symbols", "NOPE/USDT:USDT"], "no data for NOPE/USDT:USDT"),
        (["--start", "2019-01-01", "--end", "2019-02-01"], "outside"),
        (["--start", "yesterday"], "--start"),
        (["--engine", "magic"], "--engine"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(env: Path, args: list[str], message: str) -> None:
    base = {"--data": str(DATA), "--symbols": ",".join(SYMBOLS), "--start": "2023-03-01", "--end": "2023-03-02",
            "--out": str(env / "out")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["replay", *[item for pair in base.items() for item in pair]]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def _price(body: dict[str, Any]) -> float:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return float(re.search(r'"price":\s*([0-9.]+)', user).group(1))  # type: ignore[union-attr]


def _long(body: dict[str, Any]) -> Reply:
    price = _price(body)
    decision = {"action": "long", "confidence": 0.7, "stop_loss": round(price * 0.98, 2),
                "take_profit": [round(price * 1.03, 2), round(price * 1.05, 2)], "leverage": 2,
                "invalidation": "close below the stop", "reasoning": "scripted stand-in answer"}
    return answer(json.dumps(decision))


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    yield fake
    fake.stop()


@pytest.mark.slow
async def test_llm_replay_rerun_is_free_and_identical(
    env: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("LLM_API_KEY", "sk-replay-test-0123456789")
    server.script(_long)
    out = env / "llm"
    window = (utc(2023, 3, 6), utc(2023, 3, 7))
    assert await run_replay(DATA, SYMBOLS, *window, "llm", out, 10_000.0) == 0
    first = (out / "report.json").read_bytes()
    asked = len(server.requests)
    assert asked >= 2 * 25 - 2  # one call per symbol-bar (minus any skipped), nothing cached yet
    assert (out / CACHE_FILE).exists()
    report = json.loads(first)
    assert report["engine"] == "llm" and report["engine_stats"]["decisions"] == 2 * 25
    server.requests.clear()
    assert await run_replay(DATA, SYMBOLS, *window, "llm", out, 10_000.0) == 0
    assert server.requests == []  # every decision came from the cache
    assert (out / "report.json").read_bytes() == first
    stats = json.loads((out / "run-stats.json").read_text())
    assert stats["cached_decisions"] == 2 * 25 and stats["prompt_tokens"] == 0
    run = json.loads((out / "run.json").read_text())
    assert run["model"] == "gpt-4o-mini" and run["prompt_version"]
    assert "sk-replay-test" not in (out / "run.json").read_text()  # secrets never reach a file


async def test_run_json_records_what_reproduces_the_run_and_two_runs_are_identical(env: Path) -> None:
    import hashlib

    outs = [env / "a", env / "b"]
    for out in outs:
        assert await run_replay(DATA, SYMBOLS, utc(2023, 3, 1), utc(2023, 3, 8), "rules", out, 10_000.0) == 0
    for name in ("report.json", "trades.csv", "equity.csv", "run.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    run = json.loads((outs[0] / "run.json").read_text())
    assert run["package_version"] and "commit" in run["git"]
    btc = DATA / "BTC_USDT_USDT-1h-futures.feather"
    assert run["data_files_sha256"][btc.name] == hashlib.sha256(btc.read_bytes()).hexdigest()
    assert run["intrabar_resolution"] == {"BTC/USDT:USDT": "5m", "ETH/USDT:USDT": "5m"}
    assert run["settings"]["min_confidence"] == 0.6 and run["engine"] == "rules" and len(run["version"]) == 10
    assert run["prompt_version"] is None and run["model"] is None


async def test_out_must_be_a_folder(env: Path) -> None:
    (env / "file").write_text("x")
    with pytest.raises(UserInputError, match="--out"):
        await run_replay(DATA, SYMBOLS, utc(2023, 3, 1), utc(2023, 3, 2), "rules", env / "file", 10_000.0)


def test_summary_table_shows_win_rate_in_percent_and_funding_sign() -> None:
    """report.json keeps win_rate a fraction; the table says percent, and which way funding went."""
    from types import SimpleNamespace

    from rich.console import Console

    from bot.commands.replay_cmd import summary_table

    metrics = {"final_equity": 10_100.0, "win_rate": 0.375, "funding_paid": -3.5, "fees_paid": 2.0}
    report = {"metrics": metrics, "baselines": {"buy_and_hold": {"win_rate": 0.0, "funding_paid": 1.25}},
              "guard": {"approved": 1, "rejected": 0, "reasons": {}}}
    result = SimpleNamespace(engine="rules", symbols=("BTC/USDT:USDT",))
    console = Console(record=True, width=200)
    console.print(summary_table(result, report))  # type: ignore[arg-type]
    text = console.export_text()
    win = next(line for line in text.splitlines() if "win rate" in line)
    assert "37.50 %" in win and "0.00 %" in win
    funding = next(line for line in text.splitlines() if "funding paid" in line)
    assert "-3.50" in funding and "1.25" in funding


async def test_llm_replay_progress_moves_every_bar_and_the_summary_counts_outcomes(
    env: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # With an LLM the bar moved every 200 steps ("1/4 bars, ETA -:--:--" for a whole run), and the summary
    # hid how many decisions were rejected or failed (#15 defect 7).
    import core.evaluation.replay as replay_module

    seen: list[int] = []
    original = replay_module.run_replay_cycle

    async def spy(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
        def record(done: int, total: int) -> None:
            seen.append(done)
            progress(done, total)

        return await original(*args, progress=record, **kwargs)

    monkeypatch.setattr(replay_module, "run_replay_cycle", spy)
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)  # local: no key needed
    server.script(lambda body: _long(body) if "BTC/USDT" in json.dumps(body["messages"]) else answer("no idea"))
    assert await run_replay(DATA, SYMBOLS, utc(2023, 3, 6), utc(2023, 3, 6, 12), "llm", env / "o", 10_000.0) == 0
    assert seen == list(range(1, 14))  # every one of the 13 bars
    out = capsys.readouterr().out
    assert "decisions: 26 (13 ok, 0 rejected, 13 failed)" in out


async def test_llm_replay_rerun_asks_nothing_even_for_failures_unless_told_to_retry_them(
    env: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The 24-hour real-model replay's second run asked the model again for its 10 failed decisions (#15): a
    # replay folder's cache now records failures too, and --retry-failed asks them again.
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    server.script(lambda body: _long(body) if "BTC/USDT" in json.dumps(body["messages"]) else answer("no idea"))
    window = (utc(2023, 3, 6), utc(2023, 3, 6, 6))
    assert await run_replay(DATA, SYMBOLS, *window, "llm", env / "o", 10_000.0) == 0
    first = (env / "o" / "report.json").read_bytes()
    asked = len(server.requests)
    assert "decisions: 14 (7 ok, 0 rejected, 7 failed)" in capsys.readouterr().out
    assert await run_replay(DATA, SYMBOLS, *window, "llm", env / "o", 10_000.0) == 0
    assert len(server.requests) == asked  # no request at all
    assert "decisions: 14 (7 ok, 0 rejected, 7 failed)" in capsys.readouterr().out
    assert (env / "o" / "report.json").read_bytes() == first
    server.script(lambda body: _long(body))  # the model answers now
    assert await run_replay(DATA, SYMBOLS, *window, "llm", env / "o", 10_000.0, retry_failed=True) == 0
    assert len(server.requests) == asked + 7  # only the failed ones were asked again
    assert "decisions: 14 (14 ok, 0 rejected, 0 failed)" in capsys.readouterr().out
    assert await run_replay(DATA, SYMBOLS, *window, "llm", env / "o", 10_000.0) == 0
    assert len(server.requests) == asked + 7  # the answers replaced the failures in the cache


async def test_llm_replay_closes_the_engines_http_client_on_its_own_loop(
    env: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Left open, the client was closed by the garbage collector later, on whatever loop ran then, logging
    # "Task exception was never retrieved … Event loop is closed" into another command's output.
    from core.decide.llm import LlmEngine

    closed: list[LlmEngine] = []
    original = LlmEngine.close

    async def recording_close(self: LlmEngine) -> None:
        closed.append(self)
        await original(self)

    monkeypatch.setattr(LlmEngine, "close", recording_close)
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    server.script(lambda body: _long(body))
    assert await run_replay(DATA, SYMBOLS, utc(2023, 3, 6), utc(2023, 3, 6, 2), "llm", env / "o", 10_000.0) == 0
    assert len(closed) == 1


def test_the_sdks_request_log_lines_are_quiet() -> None:
    import logging

    from bot.logging_setup import configure_logging

    configure_logging(logging.INFO)
    for name in ("httpx2", "httpx", "openai"):  # openai 3.x sends through httpx2: "HTTP Request: POST …"
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
