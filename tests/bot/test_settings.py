import pytest

from bot.settings import load_settings
from core.errors import UserInputError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("TELEGRAM_", "LLM_", "EXCHANGE_", "ENGINE", "SYMBOLS", "DRY_RUN", "MAX_LEVERAGE", "MARKET_DATA_DIR", "DATABASE_PATH")):
            monkeypatch.delenv(key, raising=False)


def test_defaults_need_no_keys() -> None:
    settings = load_settings(env_file=None)
    assert settings.dry_run is True
    assert settings.effective_engine == "trend"  # the researched default (docs/strategy.md)
    assert settings.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    assert settings.telegram_bot_token is None


def test_admin_ids_must_be_numeric_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_ADMIN_IDS", "abc")
    with pytest.raises(UserInputError) as error:
        load_settings(env_file=None)
    message = str(error.value)
    assert "TELEGRAM_ADMIN_IDS" in message and "abc" in message and "\n" not in message


def test_lists_and_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_ADMIN_IDS", "11, 22")
    monkeypatch.setenv("SYMBOLS", "BTC/USDT:USDT")
    monkeypatch.setenv("LLM_API_KEY", "sk-test")
    monkeypatch.setenv("LLM_FALLBACK_MODELS", "a,b")
    settings = load_settings(env_file=None)
    assert settings.telegram_admin_ids == (11, 22)
    assert settings.symbols == ("BTC/USDT:USDT",)
    assert settings.llm_fallback_models == ("a", "b")
    assert settings.effective_engine == "llm"
    assert "sk-test" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("MAX_LEVERAGE", "50", "MAX_LEVERAGE"),
        ("ENGINE", "magic", "ENGINE"),
        ("SYMBOLS", "BTCUSDT", "SYMBOLS"),
        ("TELEGRAM_CHANNEL_ID", "my channel", "TELEGRAM_CHANNEL_ID"),
        ("DRY_RUN", "maybe", "DRY_RUN"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(UserInputError, match=needle):
        load_settings(env_file=None)


def test_llm_engine_without_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE", "llm")
    with pytest.raises(UserInputError, match="LLM_API_KEY"):
        load_settings(env_file=None)


def test_env_example_mirrors_every_setting() -> None:
    from pathlib import Path

    from bot.settings import Settings

    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert {field.upper() for field in Settings.model_fields} == names


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("INITIAL_EQUITY", "inf", "a finite number above 0 up to 1e+12"),
        ("INITIAL_EQUITY", "nan", "a finite number above 0 up to 1e+12"),
        ("RISK_PER_TRADE_PCT", "inf", "up to 10"),
        ("MIN_REWARD_RISK", "inf", "up to 100"),
        ("MAX_SPREAD_BPS", "inf", "up to 10000"),
        ("STALE_EXIT_H", "inf", "up to 8760"),
        ("TAKER_FEE_BPS", "1e9", "from 0 up to 100"),
        ("SLIPPAGE_BPS", "-1", "from 0 up to 1000"),
    ],
)
def test_absurd_numbers_are_refused_with_the_allowed_range(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, allowed: str
) -> None:
    """Issue #12 item 10: INITIAL_EQUITY=inf was accepted (the kill-switch then tripped on inf vs inf)."""
    monkeypatch.setenv(name, value)
    with pytest.raises(UserInputError) as error:
        load_settings(env_file=None)
    message = str(error.value)
    assert f"{name}: " in message and allowed in message and value in message and "\n" not in message


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("TELEGRAM_ADMIN_IDS", "-5", "positive"),
        ("TELEGRAM_ADMIN_IDS", "12,-1001234", "-1001234"),
        ("CORRELATION_GROUPS", "nonsense", "groups of two or more ccxt symbols"),
        ("CORRELATION_GROUPS", "BTC/USDT:USDT;ETH/USDT:USDT", "groups of two or more"),
        ("TELEGRAM_API_BASE", "nonsense", "http(s) URL"),
        ("TELEGRAM_API_BASE", "ftp://host", "http(s) URL"),
        ("LLM_BASE_URL", "localhost:11434", "http(s) URL"),
        ("CYCLE_CRON", "bad", "5-field cron"),
        ("PULSE_CRON", "61 * * * *", "5-field cron"),
        ("DAILY_SUMMARY_CRON", "* * *", "5-field cron"),
        ("MARKET_DATA_DIR", "/nonexistent", "existing folder"),
        ("DATABASE_PATH", "", "SQLite file"),
        ("DATABASE_PATH", "/tmp", "got the folder /tmp"),
        ("TELEGRAM_BOT_TOKEN", "abc def", "@BotFather"),
    ],
)
def test_unusable_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(UserInputError) as error:
        load_settings(env_file=None)
    message = str(error.value)
    assert f"{name}: " in message and needle in message and "\n" not in message


def test_a_token_is_never_echoed_in_its_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "sekrit token value")
    with pytest.raises(UserInputError) as error:
        load_settings(env_file=None)
    assert "sekrit" not in str(error.value)


def test_url_in_an_error_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "gopher://u:URLKEY99@host/v1")
    with pytest.raises(UserInputError) as error:
        load_settings(env_file=None)
    assert "URLKEY99" not in str(error.value) and "LLM_BASE_URL" in str(error.value)


# ---- #15: local servers first-class, LLM knobs --------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/v1", "http://localhost:11434/v1", "http://192.168.1.20:8000/v1",
     "http://10.0.0.5:11434/v1", "http://ollama:11434/v1", "http://gpu-box.local:8000/v1", "http://[::1]:8080/v1"],
)
def test_a_local_or_lan_endpoint_selects_the_llm_without_a_key(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("LLM_BASE_URL", url)
    settings = load_settings(env_file=None)
    assert settings.effective_engine == "llm"
    config = settings.llm_config()
    assert config.timeout_s == 300.0  # a CPU model's first answer took 38 s; 30 s was too short
    from core.decide.prices import price_per_mtok

    assert price_per_mtok(config, config.model) == (0.0, 0.0)  # not gpt-4o-mini's prices


@pytest.mark.parametrize("url", ["https://api.openai.com/v1", "https://openrouter.ai/api/v1", "http://8.8.8.8/v1"])
def test_a_public_endpoint_still_needs_a_key(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("LLM_BASE_URL", url)
    settings = load_settings(env_file=None)
    assert settings.effective_engine == "trend" and settings.llm_config().timeout_s == 60.0


def test_llm_knobs_reach_the_engine_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-test")
    monkeypatch.setenv("LLM_TEMPERATURE", "0.7")
    monkeypatch.setenv("LLM_MAX_TOKENS", "256")
    monkeypatch.setenv("LLM_TIMEOUT_S", "45")
    monkeypatch.setenv("LLM_PRICES", "my-model=1/2, openai/gpt-4o=2.5/10")
    config = load_settings(env_file=None).llm_config()
    assert (config.temperature, config.max_tokens, config.timeout_s) == (0.7, 256, 45.0)
    from core.decide.prices import price_per_mtok

    assert price_per_mtok(config, "my-model") == (1.0, 2.0)
    assert price_per_mtok(config, "openai/gpt-4o") == (2.5, 10.0)
    assert price_per_mtok(config, "gpt-4o-mini") == (0.15, 0.60)  # a published list price
    assert price_per_mtok(config, "some-new-model") == (0.0, 0.0)  # never an invented one


@pytest.mark.parametrize(("name", "value"), [("LLM_PRICES", "gpt-4o-mini=cheap"), ("LLM_TEMPERATURE", "5"),
                                             ("LLM_MAX_TOKENS", "0")])
def test_bad_llm_knobs_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(UserInputError, match=name):
        load_settings(env_file=None)


def test_arena_setting_is_read_and_a_bad_one_names_the_part() -> None:
    assert load_settings(None, arena="rules, llm:m1,llm:m2", llm_api_key="sk-test").arena_contestants == ("rules", "llm:m1", "llm:m2")
    assert load_settings(None).arena_contestants == ()
    with pytest.raises(UserInputError, match=r"^invalid settings: ARENA: 'magic' is not one of llm, rules"):
        load_settings(None, arena="rules,magic")
    with pytest.raises(UserInputError, match="ARENA: a contestant is listed twice"):
        load_settings(None, arena="rules,rules")
