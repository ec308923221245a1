from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.decide_cmd import print_decision
from core.errors import UserInputError
from tests.fakes.openai_server import FakeOpenAIServer, answer, error

SNAPSHOT = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "eth_2024-03-01T12.json"
KEY = "sk-decide-cmd-Yh27Kq0PzW"
ANSWER = {
    "action": "short", "confidence": 0.64, "stop_loss": 3480.0, "take_profit": [3310.0, 3250.0],
    "leverage": 3, "invalidation": "4h close above 3480", "reasoning": "rejection at the range high",
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "LLM_MODEL", "LLM_FALLBACK_MODELS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite"))
    return tmp_path


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer().start()
    yield fake
    fake.stop()


async def test_rules_from_file_prints_the_record(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await print_decision(str(SNAPSHOT), "rules") == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record) == {"status", "engine", "model", "attempts", "decision", "error", "usage", "cached",
                           "latency_ms", "mode"}
    assert record["status"] == "ok" and record["engine"] == "rules"
    decision = record["decision"]
    assert decision["action"] == "long" and decision["stop_loss"] < 3414.27 < decision["take_profit"][0]


async def test_default_engine_without_key_is_trend_from_stdin(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(SNAPSHOT.read_text()))
    assert await print_decision("-", None) == 0
    assert json.loads(capsys.readouterr().out)["engine"] == "trend"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"symbol": "BTC/USDT:USDT", "as_of": "2024-03-01T12:00:00Z", "price": -1, "timeframes": {}}',
         "timeframes"),
        ('{"symbol": "BTC/USDT:USDT", "as_of": "yesterday", "price": 1, "timeframes": {"1h": {}}}', "as_of"),
        ('{"symbol": "BTC/USDT:USDT", "as_of": "2024-03-01T12:00:00Z", "price": 1, "timeframes": {"1h": {}}}',
         "timeframes.1h.open is required"),
        ("[1, 2]", "JSON object"),
    ],
)
async def test_bad_snapshot_is_one_line_user_error(env: Path, content: str, message: str) -> None:
    path = env / "bad.json"
    path.write_text(content)
    with pytest.raises(UserInputError, match=message) as caught:
        await print_decision(str(path), "rules")
    assert "\n" not in str(caught.value)


async def test_missing_file(env: Path) -> None:
    with pytest.raises(UserInputError, match="--snapshot: no such file"):
        await print_decision(str(env / "nope.json"), "rules")


async def test_llm_engine_needs_a_key_for_a_remote_endpoint(env: Path) -> None:
    with pytest.raises(UserInputError, match="LLM_API_KEY"):
        await print_decision(str(SNAPSHOT), "llm")


async def test_llm_through_a_local_server_remembers_the_downgrade(
    env: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("LLM_API_KEY", KEY)
    monkeypatch.setenv("LLM_MODEL", "deepseek-chat")
    server.script(lambda body: error(400, "response_format unavailable")
                  if (body.get("response_format") or {}).get("type") == "json_schema"
                  else answer(json.dumps(ANSWER)))
    assert await print_decision(str(SNAPSHOT), "llm") == 0
    out = capsys.readouterr().out
    record = json.loads(out)
    assert record["status"] == "ok" and record["model"] == "deepseek-chat" and record["decision"]["action"] == "short"
    assert record["usage"] == {"prompt_tokens": 900, "completion_tokens": 80}
    assert record["cached"] is False and record["latency_ms"] > 0 and record["mode"] == "json_object"
    assert KEY not in out
    assert [r.response_format for r in server.requests] == ["json_schema", "json_object"]
    # Another run with another account: the capability comes from the database, the downgrade is not paid.
    monkeypatch.setenv("INITIAL_EQUITY", "9000")
    server.requests.clear()
    assert await print_decision(str(SNAPSHOT), "llm") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "ok"
    assert [r.response_format for r in server.requests] == ["json_object"]
    # The same question again: answered from the decision cache, identical, nothing sent.
    server.requests.clear()
    assert await print_decision(str(SNAPSHOT), "llm") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["decision"] == record["decision"] and again["cached"] is True and again["latency_ms"] == 0.0
    assert server.requests == []


async def test_a_local_server_is_the_default_engine_without_a_key(
    env: Path, server: FakeOpenAIServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    server.script(answer(json.dumps(ANSWER)))
    assert await print_decision(str(SNAPSHOT), None) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["engine"] == "llm" and record["status"] == "ok" and record["mode"] == "json_schema"
    assert "authorization" not in server.requests[0].headers or "no-key" in server.requests[0].headers["authorization"]


_BAR = '{"bar_time": "2024-03-01T10:00:00Z", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}'


@pytest.mark.parametrize(
    "content",
    [
        "[" * 100_000,  # RecursionError in json
        '{"symbol": "BTC/USDT:USDT", "as_of": "2024-03-01T12:00:00Z", "price": 1, '
        '"timeframes": {"99999999999999999999d": ' + _BAR + "}}",  # OverflowError in the timeframe
        '{"symbol": "BTC/USDT:USDT", "as_of": "0001-01-01T00:00:00+05:00", "price": 1, '
        '"timeframes": {"1h": ' + _BAR + "}}",  # date out of range in UTC
        '{"symbol": "BTC/USDT:USDT", "as_of": "2024-03-01T12:00:00Z", "price": 1, "timeframes": {"1h": '
        + _BAR.replace('"volume": 1', '"volume": ' + "9" * 400) + "}}",  # int too large for a float
        "",
    ],
)
async def test_odd_snapshots_are_one_line_user_errors(env: Path, content: str) -> None:
    path = env / "odd.json"
    path.write_text(content)
    with pytest.raises(UserInputError, match="--snapshot") as caught:
        await print_decision(str(path), "rules")
    assert "\n" not in str(caught.value)


async def test_undecodable_stdin_is_a_user_error(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe{"), encoding="utf-8"))
    with pytest.raises(UserInputError, match="UTF-8"):
        await print_decision("-", "rules")


async def test_a_denormal_price_still_gives_a_record(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bar = _BAR[:-1] + ', "ema_20": 0.5, "ema_50": 0.4, "ema_200": 0.3, "macd": 1, "rsi_14": 60, "macd_hist": 1}'
    path = env / "tiny.json"
    path.write_text('{"symbol": "X/USDT:USDT", "as_of": "2024-03-01T12:00:00Z", "price": 5e-324, '
                    '"timeframes": {"1h": ' + bar + "}}")
    assert await print_decision(str(path), "rules") == 0
    assert json.loads(capsys.readouterr().out)["decision"]["action"] == "hold"
