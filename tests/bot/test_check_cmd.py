"""`aitrader check`: one line per dependency, and the one-line refusal of live trading without keys."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.check_cmd import NO_KEYS_LINE, run_check
from core.errors import UserInputError
from core.execution.live_gate import Verdict
from tests.core.execution.test_live_gate import fake_factory
from tests.fixtures.exchange.fake_binanceusdm import FakeBinanceUsdm

_ENV_KEYS = (
    "DRY_RUN", "EXCHANGE_API_KEY", "EXCHANGE_SECRET", "TELEGRAM_BOT_TOKEN", "LLM_API_KEY", "ENGINE",
    "MARKET_DATA_DIR", "TELEGRAM_ADMIN_IDS", "EXCHANGE_ID", "SYMBOLS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in _ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_check_live_without_keys_exits_nonzero_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [NO_KEYS_LINE]


def test_check_bad_settings_exit_2_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_ADMIN_IDS", "abc")
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 2 and "TELEGRAM_ADMIN_IDS" in result.output


async def test_check_bad_settings_raise_user_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "perhaps")
    with pytest.raises(UserInputError, match="DRY_RUN"):
        await run_check(None)


async def test_check_without_an_llm_names_the_engine_that_decides(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default without an LLM is trend: check said "the rules engine decides alone" beside "engine trend"."""
    code = await run_check(None, transport=_transport(), exchange_factory=fake_factory(FakeBinanceUsdm()))
    out = capsys.readouterr().out
    assert code == 0 and "engine trend" in out and "✓ llm: no LLM_API_KEY: the trend engine decides alone" in out
    monkeypatch.setenv("ENGINE", "rules")
    await run_check(None, transport=_transport(), exchange_factory=fake_factory(FakeBinanceUsdm()))
    assert "the rules engine decides alone" in capsys.readouterr().out


async def test_check_says_an_unreachable_exchange_is_not_needed_with_market_data_dir(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """With candles from MARKET_DATA_DIR the exchange is optional: check passes, and its ✗ line says why it may."""
    import ccxt.async_support as ccxt

    monkeypatch.setenv("MARKET_DATA_DIR", str(tmp_path))
    fake = FakeBinanceUsdm()

    def unreachable() -> None:  # every attempt of check's retry
        for _ in range(2):
            fake.fail("GET", "/fapi/v1/exchangeInfo", ccxt.ExchangeNotAvailable("binanceusdm GET exchangeInfo"))

    unreachable()
    code = await run_check(None, transport=_transport(), exchange_factory=fake_factory(fake))
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("✗ exchange binanceusdm"))
    assert code == 0 and line.endswith("(not needed in this setup: `aitrader check` still passes)")
    monkeypatch.delenv("MARKET_DATA_DIR")
    unreachable()
    assert await run_check(None, transport=_transport(), exchange_factory=fake_factory(fake)) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("✗ exchange binanceusdm"))
    assert "not needed" not in line


async def _probe_ok(settings: object, key: str | None, required: bool) -> Verdict:
    return Verdict("llm completion", True, "json_schema mode (stand-in)", required)


def _transport() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getMe"):
            return httpx.Response(200, json={"ok": True, "result": {"id": 1, "is_bot": True, "username": "trader_bot"}})
        return httpx.Response(200, json={"data": [{"id": "gpt-4o-mini"}]})

    return httpx.MockTransport(handler)


async def test_check_live_with_keys_reports_each_dependency(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    monkeypatch.setenv("EXCHANGE_API_KEY", "key-123456")
    monkeypatch.setenv("EXCHANGE_SECRET", "secret-123456")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:ABCdefGhIJKlmnoPQRstuVWXyz0123456789")
    monkeypatch.setenv("LLM_API_KEY", "sk-abcdef")
    code = await run_check(None, transport=_transport(), exchange_factory=fake_factory(FakeBinanceUsdm()),
                           llm_probe=_probe_ok)
    out = capsys.readouterr().out
    assert code == 0
    assert "✓ telegram: bot @trader_bot" in out and "✓ llm:" in out and "✓ exchange binanceusdm" in out
    assert "✓ live trading: possible" in out
    assert "secret-123456" not in out and "key-123456" not in out


async def test_check_live_with_refused_keys_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ccxt.async_support as ccxt

    monkeypatch.setenv("DRY_RUN", "false")
    monkeypatch.setenv("EXCHANGE_API_KEY", "key-123456")
    monkeypatch.setenv("EXCHANGE_SECRET", "secret-123456")
    fake = FakeBinanceUsdm()
    fake.fail("GET", "/fapi/v3/account", ccxt.AuthenticationError("Invalid API-key, IP, or permissions"))
    code = await run_check(None, transport=_transport(), exchange_factory=fake_factory(fake))
    out = capsys.readouterr().out
    assert code == 1 and "✗ live trading: impossible" in out and "refused" in out


@pytest.mark.slow  # ~8 s measured (the second check runs against a refused LLM endpoint)
async def test_check_never_prints_a_secret_embedded_in_a_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #12 item 11: `LLM_BASE_URL=http://u:KEY@host/v1` was printed in clear."""
    monkeypatch.setenv("LLM_BASE_URL", "http://u:URLSECRET42@llm.internal/v1")
    monkeypatch.setenv("LLM_API_KEY", "sk-abcdef")
    monkeypatch.setenv("MARKET_DATA_DIR", str(Path.cwd()))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    exchange = fake_factory(FakeBinanceUsdm())
    await run_check(None, transport=_transport(), exchange_factory=exchange)
    await run_check(None, transport=httpx.MockTransport(refuse), exchange_factory=exchange)
    out = capsys.readouterr().out
    assert "llm: http://***@llm.internal/v1 reachable" in out and "cannot reach http://***@llm.internal/v1" in out
    assert "URLSECRET42" not in out


# ---- #15: one real structured completion, and forgetting stored modes ---------------------------


@pytest.fixture
def local_llm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    import json as _json

    from tests.fakes.openai_server import FakeOpenAIServer, answer, error

    fake = FakeOpenAIServer().start()
    hold = {"action": "hold", "confidence": 0.0, "stop_loss": None, "take_profit": [], "leverage": 1,
            "invalidation": "n/a", "reasoning": "test", "note": ""}
    fake.script(lambda body: error(400, "response_format json_schema is not supported")
                if (body.get("response_format") or {}).get("type") == "json_schema"
                else answer(_json.dumps(hold), prompt_tokens=812, completion_tokens=41))
    monkeypatch.setenv("LLM_BASE_URL", fake.base_url)  # local: the LLM engine without a key
    monkeypatch.setenv("LLM_MODEL", "main-model")
    monkeypatch.setenv("MARKET_DATA_DIR", str(tmp_path))  # no exchange needed for data
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "db.sqlite"))
    yield fake
    fake.stop()


async def test_check_sends_one_structured_completion_and_reports_mode_latency_tokens(
    local_llm, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    code = await run_check(None, exchange_factory=fake_factory(FakeBinanceUsdm()))
    out = capsys.readouterr().out
    assert code == 0, out
    line = next(x for x in out.splitlines() if x.startswith("✓ llm completion:"))
    assert "json_object mode" in line and "812+41 tokens" in line and " s, " in line and "answer ok (hold)" in line
    posts = [r for r in local_llm.requests if r.path.endswith("/chat/completions")]
    assert [r.response_format for r in posts] == ["json_schema", "json_object"]
    assert all(r.body["max_tokens"] > 0 for r in posts)
    # The mode is remembered; --reset-llm-capabilities forgets it, and the next check starts from the top.
    local_llm.requests.clear()
    await run_check(None, exchange_factory=fake_factory(FakeBinanceUsdm()))
    assert [r.response_format for r in local_llm.requests if r.body] == ["json_object"]
    local_llm.requests.clear()
    capsys.readouterr()
    await run_check(None, exchange_factory=fake_factory(FakeBinanceUsdm()), reset_llm_capabilities=True)
    assert "forgot 1 stored output mode(s)" in capsys.readouterr().out
    assert next(r.response_format for r in local_llm.requests if r.body) == "json_schema"


async def test_check_reports_a_failing_completion(local_llm, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.openai_server import error

    local_llm.script(error(400, "the request exceeds the available context size, try increasing it"))
    code = await run_check(None, exchange_factory=fake_factory(FakeBinanceUsdm()))
    out = capsys.readouterr().out
    assert code == 1 and "✗ llm completion: failed" in out and "context size" in out


def test_cli_check_has_the_reset_flag() -> None:
    result = CliRunner().invoke(app, ["check", "--help"])
    assert result.exit_code == 0 and "--reset-llm-capabilities" in result.output
