import pytest

from bot.settings import load_settings
from core.errors import UserInputError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("TELEGRAM_", "LLM_", "EXCHANGE_", "ENGINE", "SYMBOLS", "DRY_RUN", "MAX_LEVERAGE")):
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
