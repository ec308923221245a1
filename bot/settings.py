"""Settings from the environment / `.env` (DESIGN §4.5), validated once at start-up.

Nothing reads the environment at import time: `load_settings()` is called by the composition root and
the CLI. Validation errors name the variable and what is allowed, in one line each.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import annotated_types
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.config import CostModel, LlmConfig, RiskLimits
from core.decide.endpoints import is_local_endpoint
from core.decide.prices import parse_prices
from core.decide.trend import TrendParams
from core.errors import UserInputError
from core.execution.exchange_client import ExchangeCredentials
from core.market.scan import ScanFilters
from core.models import HARD_MAX_LEVERAGE
from core.urls import scrub_url

EngineName = Literal["llm", "rules", "trend", "ensemble"]
_TOKEN_SHAPE = re.compile(r"\d+:[A-Za-z0-9_-]+")  # what aiogram accepts (aiogram.utils.token)
REMOTE_LLM_TIMEOUT_S = 60.0
LOCAL_LLM_TIMEOUT_S = 300.0


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False,
        allow_inf_nan=False,  # INITIAL_EQUITY=inf tripped the kill-switch on "inf is 20 % below inf"
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
    llm_timeout_s: float | None = Field(None, gt=0, le=3600)  # one decision's budget; None: 60 s, 300 s local
    llm_max_retries: int = Field(3, ge=0, le=10)
    llm_daily_token_budget: int = Field(2_000_000, ge=0)
    llm_price_prompt_per_mtok: float | None = Field(None, ge=0, le=10_000)
    llm_price_completion_per_mtok: float | None = Field(None, ge=0, le=10_000)
    llm_prices: str = ""  # model=PROMPT/COMPLETION,… USD per million tokens
    llm_max_tokens: int = Field(800, ge=16, le=65_536)
    llm_temperature: float = Field(0.2, ge=0, le=2)
    engine: EngineName | None = None

    # Exchange
    exchange_id: str = "binanceusdm"
    exchange_api_key: SecretStr | None = None
    exchange_secret: SecretStr | None = None
    exchange_testnet: bool = False
    # Hyperliquid (#19): a wallet signs instead of an API key; optionally trade for a vault or subaccount
    exchange_wallet_address: str | None = None
    exchange_private_key: SecretStr | None = None
    exchange_vault_address: str | None = None
    symbols: Annotated[tuple[str, ...], NoDecode] = ("BTC/USDT:USDT", "ETH/USDT:USDT")
    dry_run: bool = True

    # Storage, data, schedule
    database_path: Path = Path("./data/aitrader.sqlite")
    market_data_dir: Path | None = None
    cycle_cron: str = "0 * * * *"
    pulse_cron: str = "0 */4 * * *"
    daily_summary_cron: str = "5 0 * * *"
    monitor_interval_s: int = Field(60, ge=5, le=3600)
    initial_equity: float = Field(10_000.0, gt=0, le=1e12)

    # Risk (DESIGN §5)
    max_leverage: int = Field(5, ge=1, le=HARD_MAX_LEVERAGE)
    risk_per_trade_pct: float = Field(0.5, gt=0, le=10)  # docs/strategy.md: 0.5 with the 20 % kill-switch
    max_open_positions: int = Field(3, ge=1, le=50)
    min_reward_risk: float = Field(1.5, gt=0, le=100)
    min_confidence: float = Field(0.6, ge=0, le=1)
    max_spread_bps: float = Field(15.0, gt=0, le=10_000)
    min_quote_volume_24h: float = Field(5_000_000.0, ge=0, le=1e15)
    extreme_funding_rate: float = Field(0.001, gt=0, le=1)
    daily_loss_limit_pct: float = Field(5.0, gt=0, le=100)
    max_drawdown_pct: float = Field(20.0, gt=0, le=100)
    cooldown_after_stop_h: float = Field(4.0, ge=0, le=8760)
    stale_exit_h: float = Field(720.0, gt=0, le=8760)  # docs/strategy.md: 48 h churned the trend engine's entries
    correlation_groups: str = "BTC/USDT:USDT,ETH/USDT:USDT"  # groups separated by ';'
    taker_fee_bps: float = Field(5.0, ge=0, le=100)
    slippage_bps: float = Field(2.0, ge=0, le=1000)
    # BTC filter (#17): no new longs while BTC_FILTER_SYMBOL fell more than this % over 4 h (0 = off)
    btc_filter_drop_pct: float = Field(2.0, ge=0, le=100)
    btc_filter_symbol: str = "BTC/USDT:USDT"
    # Coin hunter (#17, `aitrader scan`, /scan): markets below this 24 h quote volume or above this spread are left out
    scan_min_volume_usd: float = Field(10_000_000.0, ge=0, le=1e15)
    scan_max_spread_pct: float = Field(0.2, gt=0, le=100)

    # Evaluation lab (#13): replay's kill-switch policy — 0 stays paused to the end, N resumes after N days
    replay_resume_after_days: float = Field(0.0, ge=0, le=3650)

    # Trend engine (ENGINE=trend, the default without an LLM; docs/strategy.md)
    max_stop_pct: float = Field(15.0, gt=1.5, le=50)  # widest stop the guard accepts, % of price
    trend_min_spread_atr: float = Field(0.5, ge=0, le=10)
    trend_atr_stop_multiple: float = Field(2.0, gt=0, le=10)
    trend_tp1_r: float = Field(6.0, gt=0, le=50)
    trend_tp2_r: float = Field(20.0, gt=0, le=100)
    # Round 2 of the research (docs/strategy.md): the shipped default is the 30-day TSMOM direction, long and
    # short, entered only while the snapshot's regime trends the same way and funding is not at its own extreme
    trend_allow_shorts: bool = True
    trend_signal: Literal["ema", "tsmom"] = "tsmom"
    trend_funding_veto_quantile: float = Field(0.9, ge=0, lt=1)  # 0 = off; 0.9 = no long in funding's top decile
    trend_regime_filter: bool = True
    # The seed's two-phase trailing (exit ladder; 0 = off): stop to entry + offset once the profit reaches
    # the trigger, and after TP1 a trail at this % of the best price instead of the initial stop distance
    lock_profit_trigger_pct: float = Field(0.0, ge=0, le=100)
    lock_profit_offset_pct: float = Field(0.15, ge=0, le=10)
    trail_after_tp1_pct: float = Field(0.0, ge=0, le=50)

    # Channel presentation (#16): the charts' colours
    chart_theme: Literal["dark", "light"] = "dark"

    # Ops alerts (#16): admins hear when the exchange, the LLM or Telegram stays unreachable this long (0: never)
    unreachable_alert_min: float = Field(5.0, ge=0, le=1440)

    # Dashboard (#20, DESIGN §4.9): read-only web server on this port (none: off); its public https URL
    # opens it as a Telegram Mini App from the bot's menu button (none: no menu button)
    web_port: int | None = Field(None, ge=1, le=65535)
    web_public_url: str | None = None
    # plain web access to the admin views: `Authorization: Bearer <token>` (none: only through Mini App initData)
    web_admin_token: SecretStr | None = None

    @field_validator("web_admin_token", mode="before")
    @classmethod
    def _empty_admin_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("web_admin_token")
    @classmethod
    def _check_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 24:
            raise ValueError("must be at least 24 characters (e.g. `openssl rand -hex 24`), or empty for none")
        return value

    # News and sentiment (#17, DESIGN §4.3 `sentiment`): every effect off by default
    news_feeds: Annotated[tuple[str, ...], NoDecode] = ()  # RSS/Atom feed URLs
    fear_greed: bool = False  # alternative.me's Fear & Greed index
    fear_greed_url: str = "https://api.alternative.me/fng/"
    news_api_key: SecretStr | None = None  # CryptoPanic's posts API (optional)
    news_api_url: str = "https://cryptopanic.com/api/v1/posts/"
    news_fetch_interval_s: int = Field(900, ge=60, le=86400)
    news_analyst: Literal["auto", "llm", "keywords"] = "auto"  # auto: the LLM when one is configured
    news_veto_hours: float = Field(0.0, ge=0, le=168)  # critical negative news vetoes entries this long (0 = off)
    news_veto_close: bool = False  # with NEWS_VETO_HOURS: such a headline also closes open longs
    news_regime: bool = False  # PANIC/DIGESTING scale leverage down and widen stops

    @field_validator("news_feeds", mode="before")
    @classmethod
    def _parse_feeds(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("news_feeds")
    @classmethod
    def _check_feeds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [u for u in value if urlsplit(u).scheme not in ("http", "https") or not urlsplit(u).hostname]
        if bad:
            raise ValueError(f"must be comma-separated http(s) feed URLs, got {', '.join(bad)}")
        return value

    @field_validator("fear_greed_url", "news_api_url")
    @classmethod
    def _check_news_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @property
    def news_enabled(self) -> bool:
        return bool(self.news_feeds or self.fear_greed or self.news_api_key)

    # Arena (#15): contestants that trade their own paper books beside the primary engine, never posting
    # (rules,llm:MODEL_A,llm:MODEL_B; empty: off); a daily standings post to the channel
    arena: str = ""
    arena_daily_post: bool = False

    @field_validator("arena")
    @classmethod
    def _check_arena(cls, value: str) -> str:
        from core.services.arena import parse_arena

        try:
            parse_arena(value)
        except UserInputError as error:
            raise ValueError(str(error).removeprefix("ARENA: ")) from None
        return value

    @property
    def arena_contestants(self) -> tuple[str, ...]:
        from core.services.arena import parse_arena

        return parse_arena(self.arena)

    @field_validator("web_port", "web_public_url", mode="before")
    @classmethod
    def _empty_web_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("web_public_url")
    @classmethod
    def _check_web_url(cls, value: str | None) -> str | None:
        if value is not None and (urlsplit(value).scheme != "https" or not urlsplit(value).hostname):
            raise ValueError(f"must be an https URL (Telegram opens Mini Apps over https only), got {value!r}")
        return value

    @field_validator("telegram_admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list):
            bad = [v for v in value if not str(v).isdecimal() or not 0 < int(str(v)) < 2**53]
            if bad:
                raise ValueError(
                    "must be comma-separated numeric Telegram user ids (positive, below 2^53; group and channel "
                    f"ids are negative and cannot steer), got {', '.join(map(str, bad))}"
                )
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

    @field_validator("telegram_bot_token", "llm_api_key", "exchange_api_key", "exchange_secret", "news_api_key",
                     mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("exchange_wallet_address", "exchange_vault_address", "exchange_private_key", mode="before")
    @classmethod
    def _wallet_shape(cls, value: object, info: ValidationInfo) -> object:
        if value in ("", None):
            return None
        digits = 64 if info.field_name == "exchange_private_key" else 40
        if not isinstance(value, str) or not re.fullmatch(rf"0x[0-9a-fA-F]{{{digits}}}", value.strip()):
            shown = "something else (not shown: a key is secret)" if digits == 64 else repr(value)[:60]
            raise ValueError(f"must be 0x and {digits} hex digits, got {shown}")
        return value.strip()

    @field_validator("llm_timeout_s", "llm_price_prompt_per_mtok", "llm_price_completion_per_mtok", mode="before")
    @classmethod
    def _empty_number_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("llm_prices")
    @classmethod
    def _check_prices(cls, value: str) -> str:
        parse_prices(value)
        return value

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

    # ---- issue #12: start-up refuses what would fail later, naming the variable and what is allowed ----

    @field_validator("telegram_bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN_SHAPE.fullmatch(value.get_secret_value()):
            raise ValueError("must be a bot token as @BotFather gives it, <digits>:<letters, digits, _ or ->")
        return value

    @field_validator("telegram_api_base", "llm_base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL like https://api.example.com, got {scrub_url(value)!r}")
        return value

    @field_validator("cycle_cron", "pulse_cron", "daily_summary_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as error:
            raise ValueError(f"must be a 5-field cron expression like '0 * * * *', got {value!r} ({error})") from None
        return value

    @field_validator("database_path", mode="before")
    @classmethod
    def _check_database_path(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must be the path of an SQLite file, e.g. ./data/aitrader.sqlite; got an empty value")
        return value

    @field_validator("database_path")
    @classmethod
    def _check_database_file(cls, value: Path) -> Path:
        if value.is_dir():
            raise ValueError(f"must be the path of an SQLite file, got the folder {value}")
        return value

    @field_validator("market_data_dir")
    @classmethod
    def _check_market_data_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"must be an existing folder of candle files (DESIGN §4.2), got {value}")
        return value

    @field_validator("correlation_groups")
    @classmethod
    def _check_groups(cls, value: str) -> str:
        for group in filter(str.strip, value.split(";")):
            members = [m.strip() for m in group.split(",") if m.strip()]
            if len(members) < 2 or any("/" not in m for m in members):
                raise ValueError(
                    "must be groups of two or more ccxt symbols, ',' within a group and ';' between groups "
                    f"(e.g. BTC/USDT:USDT,ETH/USDT:USDT;SOL/USDT:USDT,AVAX/USDT:USDT), or empty; got {group.strip()!r}"
                )
        return value

    @model_validator(mode="after")
    def _check_engine(self) -> Settings:
        if self.engine in ("llm", "ensemble") and self.llm_api_key is None and not is_local_endpoint(self.llm_base_url):
            raise ValueError(f"ENGINE={self.engine} needs LLM_API_KEY (or a local LLM_BASE_URL)")
        llm_contestants = [c for c in self.arena_contestants if c.split(":")[0] in ("llm", "ensemble")]
        if llm_contestants and self.llm_api_key is None and not is_local_endpoint(self.llm_base_url):
            raise ValueError(f"ARENA: {', '.join(llm_contestants)} need LLM_API_KEY (or a local LLM_BASE_URL)")
        if self.trend_tp2_r <= self.trend_tp1_r:
            raise ValueError(f"TREND_TP2_R ({self.trend_tp2_r}) must be above TREND_TP1_R ({self.trend_tp1_r})")
        return self

    # ---- derived values -----------------------------------------------------------------------

    @property
    def effective_engine(self) -> EngineName:
        if self.engine is not None:
            return self.engine
        # A local or LAN server (Ollama, llama.cpp, vLLM) is a choice as clear as a key.
        return "llm" if self.llm_api_key is not None or is_local_endpoint(self.llm_base_url) else "trend"

    @property
    def live_requested(self) -> bool:
        return not self.dry_run

    def exchange_credentials(self) -> ExchangeCredentials:
        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value else None

        return ExchangeCredentials(
            self.exchange_id, api_key=secret(self.exchange_api_key), secret=secret(self.exchange_secret),
            testnet=self.exchange_testnet, wallet_address=self.exchange_wallet_address,
            private_key=secret(self.exchange_private_key), vault_address=self.exchange_vault_address,
        )

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
            max_stop_pct=self.max_stop_pct,
            correlation_groups=groups,
            btc_filter_drop_pct=self.btc_filter_drop_pct,
            btc_filter_symbol=self.btc_filter_symbol.strip(),
            lock_profit_trigger_pct=self.lock_profit_trigger_pct,
            lock_profit_offset_pct=self.lock_profit_offset_pct,
            trail_after_tp1_pct=self.trail_after_tp1_pct,
            news_veto_hours=self.news_veto_hours,
            news_veto_close=self.news_veto_close,
            news_regime=self.news_regime,
        )

    def trend_params(self) -> TrendParams:
        return TrendParams(
            min_spread_atr=self.trend_min_spread_atr,
            atr_stop_multiple=self.trend_atr_stop_multiple,
            target_r=(self.trend_tp1_r, self.trend_tp2_r),
            allow_shorts=self.trend_allow_shorts,
            max_stop_pct=self.max_stop_pct,
            signal=self.trend_signal,
            funding_veto_quantile=self.trend_funding_veto_quantile or None,
            regime_filter=self.trend_regime_filter,
        )

    def scan_filters(self) -> ScanFilters:
        return ScanFilters(min_volume_usd=self.scan_min_volume_usd, max_spread_pct=self.scan_max_spread_pct)

    def cost_model(self) -> CostModel:
        return CostModel(taker_fee_bps=self.taker_fee_bps, slippage_bps=self.slippage_bps)

    def llm_config(self) -> LlmConfig:
        return LlmConfig(
            base_url=self.llm_base_url,
            model=self.llm_model,
            fallback_models=self.llm_fallback_models,
            timeout_s=self.llm_timeout_budget_s,
            max_retries=self.llm_max_retries,
            daily_token_budget=self.llm_daily_token_budget,
            price_prompt_per_mtok=self.llm_price_prompt_per_mtok,
            price_completion_per_mtok=self.llm_price_completion_per_mtok,
            prices=parse_prices(self.llm_prices),
            max_tokens=self.llm_max_tokens,
            temperature=self.llm_temperature,
        )

    @property
    def llm_timeout_budget_s(self) -> float:
        """LLM_TIMEOUT_S, or its default: a CPU-bound local model needs minutes where an API needs seconds."""
        if self.llm_timeout_s is not None:
            return self.llm_timeout_s
        return LOCAL_LLM_TIMEOUT_S if is_local_endpoint(self.llm_base_url) else REMOTE_LLM_TIMEOUT_S


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the environment variable and, for a number, its allowed range, e.g.
    `TELEGRAM_ADMIN_IDS: must be comma-separated numeric Telegram user ids, got abc`."""
    lines = []
    for problem in error.errors():
        field = "_".join(str(part) for part in problem["loc"] if not isinstance(part, int))
        message = problem["msg"].removeprefix("Value error, ")
        allowed = _allowed_range(field)
        if allowed and not problem["type"].startswith("value_error"):
            message = f"{message}, got {problem['input']!r}; allowed: {allowed}"
        lines.append(f"{field.upper() or 'SETTINGS'}: {message}")
    return "; ".join(lines)


def _allowed_range(field: str) -> str | None:
    """`a number from 0 to 100` for a field with numeric bounds (finite), else None."""
    info = Settings.model_fields.get(field)
    if info is None:
        return None
    low = high = None
    for rule in info.metadata:
        if isinstance(rule, (annotated_types.Gt, annotated_types.Ge)):
            low = f"{'above' if isinstance(rule, annotated_types.Gt) else 'from'} {rule.gt if isinstance(rule, annotated_types.Gt) else rule.ge:g}"
        elif isinstance(rule, (annotated_types.Lt, annotated_types.Le)):
            high = f"{'below' if isinstance(rule, annotated_types.Lt) else 'up to'} {rule.lt if isinstance(rule, annotated_types.Lt) else rule.le:g}"
    if low is None and high is None:
        return None
    kind = "a whole number" if info.annotation is int else "a finite number"
    return " ".join(part for part in (kind, low, high) if part)


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read settings; raise UserInputError with a one-line message naming each bad variable."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg, arg-type]  # (validated by pydantic)
    except ValidationError as error:
        raise UserInputError(f"invalid settings: {format_validation_error(error)}") from None
