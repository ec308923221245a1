"""Settings from the environment / `.env` (DESIGN §4.5), validated once at start-up.

Nothing reads the environment at import time: `load_settings()` is called by the composition root and
the CLI. Validation errors name the variable and what is allowed, in one line each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.config import CostModel, LlmConfig, RiskLimits
from core.errors import UserInputError
from core.models import HARD_MAX_LEVERAGE

EngineName = Literal["llm", "rules", "ensemble"]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_channel_id: str | None = None
    telegram_admin_ids: Annotated[tuple[int, ...], NoDecode] = ()

    # LLM
    llm_base_url: str = "https://api.openai.com/v1"
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_fallback_models: Annotated[tuple[str, ...], NoDecode] = ()
    llm_timeout_s: float = Field(30.0, gt=0, le=600)
    llm_max_retries: int = Field(3, ge=0, le=10)
    llm_daily_token_budget: int = Field(2_000_000, ge=0)
    llm_price_prompt_per_mtok: float = Field(0.15, ge=0)
    llm_price_completion_per_mtok: float = Field(0.60, ge=0)
    engine: EngineName | None = None

    # Exchange
    exchange_id: str = "binanceusdm"
    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None
    exchange_testnet: bool = False
    symbols: Annotated[tuple[str, ...], NoDecode] = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    dry_run: bool = True

    # Storage, data, schedule
    database_path: Path = Path("./data/aitrader.sqlite")
    market_data_dir: Path | None = None
    cycle_cron: str = "0 * * * *"
    pulse_cron: str = "0 */4 * * *"
    daily_summary_cron: str = "5 0 * * *"
    monitor_interval_s: int = Field(60, ge=5)
    initial_equity: float = Field(10_000.0, gt=0)

    # Risk (DESIGN §5)
    max_leverage: int = Field(5, ge=1, le=HARD_MAX_LEVERAGE)
    risk_per_trade_pct: float = Field(1.5, gt=0, le=10)
    max_open_positions: int = Field(3, ge=1, le=50)
    min_reward_risk: float = Field(1.5, gt=0)
    min_confidence: float = Field(0.6, ge=0, le=1)
    max_spread_bps: float = Field(15.0, gt=0)
    min_quote_volume_24h: float = Field(5_000_000.0, ge=0)
    extreme_funding_rate: float = Field(0.001, gt=0)
    daily_loss_limit_pct: float = Field(5.0, gt=0, le=100)
    max_drawdown_pct: float = Field(20.0, gt=0, le=100)
    cooldown_after_stop_h: float = Field(4.0, ge=0)
    stale_exit_h: float = Field(48.0, gt=0)
    correlation_groups: str = "BTC/USDT:USDT,ETH/USDT:USDT"  # groups separated by ';'
    taker_fee_bps: float = Field(5.0, ge=0)
    slippage_bps: float = Field(2.0, ge=0)

    # Evaluation lab (#13): replay's kill-switch policy — 0 stays paused to the end, N resumes after N days
    replay_resume_after_days: float = Field(0.0, ge=0, le=3650)

    # Channel presentation (#16): the charts' colours
    chart_theme: Literal["dark", "light"] = "dark"

    @field_validator("telegram_admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list):
            bad = [v for v in value if not str(v).lstrip("-").isdigit()]
            if bad:
                raise ValueError(f"must be comma-separated numeric Telegram user ids, got {', '.join(map(str, bad))}")
            return tuple(int(v) for v in value)
        return value

    @field_validator("symbols", "llm_fallback_models", mode="before")
    @classmethod
    def _parse_csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("symbols")
    @classmethod
    def _check_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if "/" not in s]
        if bad:
            raise ValueError(f"must be ccxt symbols like BTC/USDT:USDT, got {', '.join(bad)}")
        if not value:
            raise ValueError("needs at least one symbol")
        return value

    @field_validator("telegram_bot_token", "llm_api_key", "exchange_api_key", "exchange_secret", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("telegram_channel_id", "market_data_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("telegram_channel_id")
    @classmethod
    def _check_channel(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith("@") or value.lstrip("-").isdigit()):
            raise ValueError(f"must be @channelname or a numeric chat id like -100123, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_engine(self) -> Settings:
        if self.engine in ("llm", "ensemble") and self.llm_api_key is None and not _is_local(self.llm_base_url):
            raise ValueError(f"ENGINE={self.engine} needs LLM_API_KEY (or a local LLM_BASE_URL)")
        return self

    # ---- derived values -----------------------------------------------------------------------

    @property
    def effective_engine(self) -> EngineName:
        if self.engine is not None:
            return self.engine
        return "llm" if self.llm_api_key is not None else "rules"

    @property
    def live_requested(self) -> bool:
        return not self.dry_run

    def risk_limits(self) -> RiskLimits:
        groups = tuple(
            tuple(s.strip() for s in group.split(",") if s.strip())
            for group in self.correlation_groups.split(";")
            if group.strip()
        )
        return RiskLimits(
            risk_per_trade_pct=self.risk_per_trade_pct,
            max_open_positions=self.max_open_positions,
            min_reward_risk=self.min_reward_risk,
            min_confidence=self.min_confidence,
            max_spread_bps=self.max_spread_bps,
            min_quote_volume_24h=self.min_quote_volume_24h,
            extreme_funding_rate=self.extreme_funding_rate,
            daily_loss_limit_pct=self.daily_loss_limit_pct,
            max_drawdown_pct=self.max_drawdown_pct,
            cooldown_after_stop_h=self.cooldown_after_stop_h,
            stale_exit_h=self.stale_exit_h,
            correlation_groups=groups,
        )

    def cost_model(self) -> CostModel:
        return CostModel(taker_fee_bps=self.taker_fee_bps, slippage_bps=self.slippage_bps)

    def llm_config(self) -> LlmConfig:
        return LlmConfig(
            base_url=self.llm_base_url,
            model=self.llm_model,
            fallback_models=self.llm_fallback_models,
            timeout_s=self.llm_timeout_s,
            max_retries=self.llm_max_retries,
            daily_token_budget=self.llm_daily_token_budget,
            price_prompt_per_mtok=self.llm_price_prompt_per_mtok,
            price_completion_per_mtok=self.llm_price_completion_per_mtok,
        )


def _is_local(url: str) -> bool:
    return any(host in url for host in ("://127.", "://localhost", "://[::1]", "://0.0.0.0"))


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the environment variable, e.g.
    `TELEGRAM_ADMIN_IDS: must be comma-separated numeric Telegram user ids, got abc`."""
    lines = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"] if not isinstance(part, int)).upper() or "SETTINGS"
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read settings; raise UserInputError with a one-line message naming each bad variable."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as error:
        raise UserInputError(f"invalid settings: {format_validation_error(error)}") from None
