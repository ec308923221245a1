"""Typed configuration values the core needs; `bot.settings` builds them from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.models import HARD_MAX_LEVERAGE, DomainError


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Every rule of DESIGN §5 as a number with a safe default."""

    risk_per_trade_pct: float = 1.5
    max_open_positions: int = 3
    hard_max_leverage: int = HARD_MAX_LEVERAGE
    min_reward_risk: float = 1.5
    min_confidence: float = 0.6
    max_spread_bps: float = 15.0
    min_quote_volume_24h: float = 5_000_000.0
    extreme_funding_rate: float = 0.001  # |rate| per 8h above which entries paying it are vetoed
    daily_loss_limit_pct: float = 5.0
    max_drawdown_pct: float = 20.0
    cooldown_after_stop_h: float = 4.0
    stale_exit_h: float = 48.0
    stale_min_profit_pct: float = 1.0
    min_stop_pct: float = 1.5
    max_stop_pct: float = 5.0
    atr_stop_multiple: float = 2.0
    trailing_atr_multiple: float = 2.0
    tp1_close_fraction: float = 0.5
    # the seed's two-phase trailing (exit ladder; 0 = off): stop to entry + offset once the profit reaches
    # the trigger, and after TP1 a trail at this % of the best price instead of the initial stop distance
    lock_profit_trigger_pct: float = 0.0
    lock_profit_offset_pct: float = 0.15
    trail_after_tp1_pct: float = 0.0
    correlation_groups: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    # BTC filter (#17): no new longs while the reference fell more than this % over 4 h (0 = off)
    btc_filter_drop_pct: float = 2.0
    btc_filter_symbol: str = "BTC/USDT:USDT"
    symbol_leverage: tuple[tuple[str, int], ...] = ()  # per-symbol leverage caps set from chat (/set leverage)
    # news (#17), both off by default: a critical negative headline (impact −2) first seen within this many hours
    # vetoes new entries (0 = off); news regimes PANIC/DIGESTING scale leverage down and widen stops
    news_veto_hours: float = 0.0
    news_veto_close: bool = False  # also close open longs on such a headline (within news_veto_hours)
    news_regime: bool = False

    def __post_init__(self) -> None:
        if not (0 < self.risk_per_trade_pct <= 10):
            raise DomainError(f"risk_per_trade_pct must be within (0, 10], got {self.risk_per_trade_pct}")
        if not (1 <= self.hard_max_leverage <= HARD_MAX_LEVERAGE):
            raise DomainError(f"hard_max_leverage must be within [1, {HARD_MAX_LEVERAGE}]")
        if not (0 < self.min_stop_pct < self.max_stop_pct):
            raise DomainError(f"stop bounds must satisfy 0 < {self.min_stop_pct} < {self.max_stop_pct}")
        if self.max_open_positions < 1:
            raise DomainError(f"max_open_positions must be >= 1, got {self.max_open_positions}")


@dataclass(frozen=True, slots=True)
class CostModel:
    """Perpetual-futures costs for the paper broker and replay (DESIGN §6)."""

    taker_fee_bps: float = 5.0
    slippage_bps: float = 2.0
    maintenance_margin_rate: float = 0.005
    funding_interval_h: int = 8


@dataclass(frozen=True, slots=True)
class LlmConfig:
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    fallback_models: tuple[str, ...] = ()
    timeout_s: float = 60.0  # the time budget of one whole decision: every attempt, wait, re-ask and fallback
    max_retries: int = 3
    daily_token_budget: int = 2_000_000
    price_prompt_per_mtok: float | None = None  # set: one price for every model (core/decide/prices.py)
    price_completion_per_mtok: float | None = None
    temperature: float = 0.2
    max_tokens: int = 800  # completion tokens per request: a constrained decoder may otherwise never stop
    prices: tuple[tuple[str, float, float], ...] = ()  # (model, prompt, completion) USD per million tokens
    retry_backoff_s: float = 1.0  # first transport-retry wait, doubled per attempt
    retry_wait_cap_s: float = 30.0  # longest wait between retries, also for a server's Retry-After
