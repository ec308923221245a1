"""The one factory of a wired decision path (DESIGN §2): settings → engine, risk limits, costs, leverage cap.

`bot/app.py` (the live bot and the demo), `aitrader replay`, `aitrader compare` and `aitrader sweep` all get
their engine and their cycle's settings from here, so no command builds the strategy a second way:

    factory = CycleFactory.from_environment()            # or CycleFactory(settings)
    entry = parse_engine("fast=rules")                   # NAME=ENGINE; ENGINE as DESIGN §4.1
    entry = entry.with_overrides({"MIN_CONFIDENCE": "0.7"})
    result = await factory.replay(market, entry, symbols, start, end, 10_000.0, cache_dir=out / "fast")
    factory.version(entry)                               # StrategyVersion(id="…", descriptor={…})

Engine names: `rules`, `trend` (the default without an LLM), `llm` (the configured model), `llm:MODEL`, `ensemble`, `baseline:buy_and_hold`,
`baseline:buy_and_hold_spot`, `baseline:ema_cross`, `baseline:tsmom`. Overrides are settings by their
environment name (`MIN_CONFIDENCE=0.7`, validated as at start-up) or, for a baseline, its parameters
(`lookback_days=60`). Importing this module pulls in no aiogram (replay workers stay light).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.settings import Settings, format_validation_error, load_settings
from core.errors import UserInputError

if TYPE_CHECKING:
    from core.clock import SimulatedClock
    from core.decide.cache import DecisionCache
    from core.evaluation.baseline_engines import BaselineEngine
    from core.evaluation.replay import ProgressCallback, ReplaySpec
    from core.evaluation.report import ReplayResult
    from core.market.offline import OfflineMarketData
    from core.market.sentiment import SentimentReader
    from core.market.snapshot import SeriesSnapshotSource
    from core.protocols import DecisionEngine

CACHE_FILE = "decision-cache.jsonl"
CYCLE_ENGINES = ("rules", "trend", "llm", "ensemble")
# settings that change no decision (where to post, secrets, schedules): left out of a strategy version
_NOT_DECISIONS = frozenset({
    "telegram_bot_token", "telegram_api_base", "telegram_channel_id", "telegram_admin_ids", "llm_api_key",
    "llm_timeout_s", "llm_max_retries", "llm_daily_token_budget", "llm_price_prompt_per_mtok",
    "llm_price_completion_per_mtok", "llm_prices", "exchange_id", "exchange_api_key", "exchange_secret", "exchange_testnet",
    "symbols", "dry_run", "database_path", "market_data_dir", "cycle_cron", "pulse_cron", "daily_summary_cron",
    "monitor_interval_s", "initial_equity", "engine", "replay_resume_after_days",
    "news_api_key", "news_api_url", "fear_greed_url", "news_fetch_interval_s", "arena", "arena_daily_post",
    "unreachable_alert_min", "web_admin_token",  # ops (#16, #20): they change no decision, nor a version id
})


@dataclass(frozen=True, slots=True)
class EngineEntry:
    """One `--engines` item: a name (its folder and table row), the engine, and its `--set` overrides."""

    name: str
    engine: str
    overrides: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:
        return self.engine.split(":", 1)[0]

    @property
    def model(self) -> str | None:
        return self.engine.split(":", 1)[1] if self.kind == "llm" and ":" in self.engine else None

    @property
    def baseline(self) -> str | None:
        return self.engine.split(":", 1)[1] if self.kind == "baseline" else None

    def with_overrides(self, changes: Mapping[str, str]) -> EngineEntry:
        merged = dict(self.overrides)
        merged.update({str(k): str(v) for k, v in changes.items()})
        return EngineEntry(self.name, self.engine, tuple(sorted(merged.items())))


def _check_name(name: str, argument: str) -> str:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise UserInputError(f"{argument}: entry name {name!r} may hold only letters, digits, '-', '_' and '.'")
    return name


def parse_engine(text: str, argument: str = "--engines") -> EngineEntry:
    """`rules`, `llm:gpt-4o`, `fast=rules`, `baseline:tsmom` → an EngineEntry (name defaults to a slug)."""
    text = text.strip()
    name, sep, engine = text.partition("=")
    if not sep:
        name, engine = "", text
    engine = engine.strip()
    kind, colon, arg = engine.partition(":")
    if (kind in ("rules", "trend", "ensemble", "llm") and not colon) or (kind == "llm" and arg):
        pass
    elif kind == "baseline" and arg:
        from core.evaluation.baseline_engines import BASELINES

        if arg not in BASELINES:
            raise UserInputError(f"{argument}: unknown baseline {arg!r} (have: {', '.join(BASELINES)})")
    else:
        raise UserInputError(
            f"{argument}: unknown engine {engine!r} (use rules, trend, llm, llm:MODEL, ensemble or baseline:NAME, "
            "optionally named as NAME=ENGINE)"
        )
    if not name:
        name = engine.replace("baseline:", "").replace(":", "-").replace("/", "-")
    return EngineEntry(_check_name(name.strip(), argument), engine)


def parse_engines(text: str, argument: str = "--engines") -> tuple[EngineEntry, ...]:
    items = [part for part in text.split(",") if part.strip()]
    if not items:
        raise UserInputError(f"{argument}: name at least one engine, e.g. rules,baseline:buy_and_hold")
    entries = tuple(parse_engine(item, argument) for item in items)
    names = [e.name for e in entries]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserInputError(f"{argument}: the entry name {', '.join(twice)} is used twice; name them as NAME=ENGINE")
    return entries


def apply_sets(entries: Sequence[EngineEntry], sets: Sequence[str], argument: str = "--set") -> tuple[EngineEntry, ...]:
    """`NAME:KEY=VALUE` items (DESIGN §4.1) applied to the entry called NAME."""
    by_name = {e.name: e for e in entries}
    changes: dict[str, dict[str, str]] = {}
    for item in sets:
        target, colon, assignment = item.partition(":")
        key, eq, value = assignment.partition("=")
        if not colon or not eq or not key.strip():
            raise UserInputError(f"{argument}: {item!r} is not NAME:KEY=VALUE (e.g. rules:MIN_CONFIDENCE=0.7)")
        if target not in by_name:
            raise UserInputError(f"{argument}: {item!r} names no entry (entries: {', '.join(by_name)})")
        changes.setdefault(target, {})[key.strip()] = value.strip()
    return tuple(e.with_overrides(changes[e.name]) if e.name in changes else e for e in entries)


@dataclass(frozen=True, slots=True)
class StrategyVersion:
    """engine + model + prompt version + the settings that change decisions; `id` is a short hash of them."""

    id: str
    descriptor: Mapping[str, Any] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True)
class CycleFactory:
    settings: Settings

    @classmethod
    def from_environment(cls, env_file: str | Path | None = ".env") -> CycleFactory:
        return cls(load_settings(env_file))

    # ---- settings of one entry ----------------------------------------------------------------

    def _split(self, entry: EngineEntry) -> tuple[dict[str, str], dict[str, str]]:
        """(settings overrides by field name, engine parameters: a baseline's or the rules engine's)."""
        from dataclasses import fields as dataclass_fields

        from core.decide.rules import RulesParams

        fields = set(Settings.model_fields)
        rules_fields = {f.name for f in dataclass_fields(RulesParams)}
        settings_over: dict[str, str] = {}
        params: dict[str, str] = {}
        for key, value in entry.overrides:
            name = key.lower()
            if name in fields:
                settings_over[name] = value
            elif entry.kind == "baseline" or (entry.kind in ("rules", "ensemble") and key in rules_fields):
                params[key] = value
            else:
                raise UserInputError(f"--set: {entry.name}:{key} is not a setting (see .env.example)")
        if entry.model is not None:
            settings_over["llm_model"] = entry.model
        return settings_over, params

    def settings_for(self, entry: EngineEntry) -> Settings:
        over, _ = self._split(entry)
        if not over:
            return self.settings
        data = self.settings.model_dump()
        data.update(over)
        try:
            return Settings(_env_file=None, **data)  # type: ignore[call-arg]
        except ValidationError as error:
            raise UserInputError(f"--set {entry.name}: {format_validation_error(error)}") from None

    def replay_spec(
        self, entry: EngineEntry, symbols: tuple[str, ...], start: datetime, end: datetime, initial_equity: float,
        *, intrabar: bool = True,
    ) -> ReplaySpec:
        from core.evaluation.replay import ReplaySpec

        s = self.settings_for(entry)
        return ReplaySpec(
            symbols=symbols, start=start, end=end, engine=entry.engine, initial_equity=initial_equity,
            limits=s.risk_limits(), costs=s.cost_model(), max_leverage=s.max_leverage, intrabar=intrabar,
            resume_after_days=s.replay_resume_after_days,
        )

    # ---- engines ------------------------------------------------------------------------------

    def decision_engine(
        self, entry: EngineEntry, *, clock: Any, cache: DecisionCache | None = None, **stores: Any
    ) -> DecisionEngine:
        if entry.kind not in CYCLE_ENGINES:
            raise UserInputError(f"--engines: {entry.engine} is not a cycle engine")
        params = self.rules_params(entry)
        return decision_engine_for(
            self.settings_for(entry), entry.kind, clock=clock, cache=cache, rules_params=params, **stores
        )

    def rules_params(self, entry: EngineEntry) -> Any:
        """The rules engine's parameters with the entry's overrides (`entry_threshold=0.5`), checked."""
        from dataclasses import replace

        from core.decide.rules import RulesParams

        given = self._split(entry)[1] if entry.kind in ("rules", "ensemble") else {}
        if not given:
            return None
        base = RulesParams()
        changes: dict[str, Any] = {}
        for key, raw in given.items():
            kind = type(getattr(base, key))
            if kind not in (int, float):
                raise UserInputError(f"--set: {entry.name}:{key} cannot be set from the command line")
            try:
                changes[key] = kind(float(raw)) if kind is int else float(raw)
            except ValueError:
                raise UserInputError(f"--set: {entry.name}:{key}={raw!r} is not a number") from None
        return replace(base, **changes)

    def baseline_engine(self, entry: EngineEntry) -> BaselineEngine:
        from core.evaluation.baseline_engines import build_baseline

        if entry.baseline is None:
            raise UserInputError(f"--engines: {entry.engine} is not a baseline")
        return build_baseline(entry.baseline, self._split(entry)[1])

    def version(self, entry: EngineEntry) -> StrategyVersion:
        s = self.settings_for(entry)
        descriptor: dict[str, Any] = {"engine": entry.kind if entry.kind != "baseline" else entry.engine}
        rules = self.rules_params(entry) if entry.kind != "baseline" else None
        if rules is not None:
            descriptor["rules_params"] = {k: getattr(rules, k) for k in sorted(self._split(entry)[1])}
        if entry.kind == "baseline":
            descriptor["params"] = self.baseline_engine(entry).params()
            descriptor["costs"] = {"taker_fee_bps": s.taker_fee_bps, "slippage_bps": s.slippage_bps}
        else:
            if entry.kind in ("llm", "ensemble"):
                from core.decide.prompt import prompt_version

                descriptor["model"] = s.llm_model
                descriptor["fallback_models"] = list(s.llm_fallback_models)
                descriptor["llm_base_url"] = s.llm_base_url
                descriptor["prompt_version"] = prompt_version()
            descriptor["settings"] = {
                k: _plain(v) for k, v in sorted(s.model_dump().items()) if k not in _NOT_DECISIONS
            }
        digest = hashlib.sha256(json.dumps(descriptor, sort_keys=True).encode()).hexdigest()[:10]
        return StrategyVersion(digest, descriptor)

    def model_of(self, entry: EngineEntry) -> str | None:
        return self.settings_for(entry).llm_model if entry.kind in ("llm", "ensemble") else None

    # ---- a replay of one entry ----------------------------------------------------------------

    async def replay(
        self,
        market: OfflineMarketData,
        entry: EngineEntry,
        symbols: tuple[str, ...],
        start: datetime,
        end: datetime,
        initial_equity: float,
        *,
        cache_dir: Path | None = None,
        progress: ProgressCallback | None = None,
        clock: SimulatedClock | None = None,
        source: SeriesSnapshotSource | None = None,
        sentiment: SentimentReader | None = None,
        retry_failed: bool = False,
    ) -> ReplayResult:
        """The entry over the window: cycle engines through the live TradingCycle (`run_replay_cycle`), LLM
        ones through a decision cache in `cache_dir`; baselines through the same accounting. `source`: the
        window's indicators when already built (a sweep reuses them across the cells of one window); `sentiment`:
        recorded news read point-in-time into each snapshot (`--news-db`, #17); `retry_failed`: ask again the decisions
        the folder's cache recorded as failed (`replay --retry-failed`)."""
        spec = self.replay_spec(entry, symbols, start, end, initial_equity)
        if entry.kind == "baseline":
            from core.evaluation.baseline_replay import replay_baseline

            return await replay_baseline(market, spec, self.baseline_engine(entry))
        from core.clock import SimulatedClock
        from core.evaluation.replay import run_replay_cycle

        clock = clock or SimulatedClock(start)
        cache = None
        if entry.kind not in ("rules", "trend") and cache_dir is not None:
            from core.decide.jsonl_cache import JsonlDecisionCache

            cache = JsonlDecisionCache(cache_dir / CACHE_FILE, retry_failed=retry_failed)
        engine = self.decision_engine(entry, clock=clock, cache=cache)
        # An LLM step takes seconds: the progress moves every bar (rules: every 200 steps at ~20,000 bars/s).
        every = {"progress_every": 1} if entry.kind in ("llm", "ensemble") else {}
        try:
            return await run_replay_cycle(market, spec, engine, progress=progress, clock=clock, source=source,
                                          sentiment=sentiment, **every)
        finally:
            close = getattr(engine, "close", None)  # an LLM engine's HTTP client, on this run's event loop
            if close is not None:
                await close()


def decision_engine_for(settings: Settings, kind: str, *, clock: Any, **stores: Any) -> DecisionEngine:
    """ENGINE=llm|rules|ensemble with the settings' LLM configuration: what App and every replay run."""
    from core.decide.engines import build_engine

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
    if kind in ("rules", "trend"):
        return build_engine(kind, trend_params=settings.trend_params(), rules_params=stores.get("rules_params"))
    return build_engine(kind, llm_config=settings.llm_config(), api_key=key, clock=clock, **stores)


# ---- news and sentiment (#17) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewsWiring:
    """What NEWS_FEEDS / FEAR_GREED / NEWS_API_KEY make: the providers to fetch and the reader snapshots use."""

    providers: tuple[Any, ...]
    fear_greed: Any | None
    reader: Any
    client: Any  # the httpx.AsyncClient the providers share (close it when done)


def llm_configured(settings: Settings) -> bool:
    from core.decide.endpoints import is_local_endpoint

    return settings.llm_api_key is not None or is_local_endpoint(settings.llm_base_url)


def news_analyst_of(settings: Settings) -> str:
    """The analyst NEWS_ANALYST makes with these settings: `keywords` or `llm` (its scorer's name)."""
    wanted = settings.news_analyst
    return "keywords" if wanted == "keywords" or (wanted == "auto" and not llm_configured(settings)) else "llm"


def news_scorer_for(settings: Settings, *, clock: Any, cache: Any = None, **llm_stores: Any) -> Any:
    """NEWS_ANALYST: the LLM (through the decision engine's client, stores and budget) or the keyword rules."""
    from core.market.news_keywords import KeywordScorer

    if news_analyst_of(settings) == "keywords":
        return KeywordScorer()
    from core.decide.llm import LlmEngine
    from core.services.news_analyst import LlmNewsScorer

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key is not None else None
    return LlmNewsScorer(LlmEngine(settings.llm_config(), key, clock=clock, **llm_stores), cache)


def news_providers(settings: Settings, client: Any) -> tuple[list[Any], Any | None]:
    """(headline providers, the Fear & Greed provider or None) the settings name, on one httpx client."""
    from core.market.news_feeds import AlternativeMeFearGreed, CryptoPanicPosts, RssFeed

    providers: list[Any] = [RssFeed(url, client) for url in settings.news_feeds]
    if settings.news_api_key is not None:
        providers.append(CryptoPanicPosts(settings.news_api_key.get_secret_value(), client, url=settings.news_api_url))
    fear_greed = AlternativeMeFearGreed(client, url=settings.fear_greed_url) if settings.fear_greed else None
    return providers, fear_greed


def news_for(settings: Settings, store: Any, *, clock: Any, score_cache: Any = None, **llm_stores: Any) -> NewsWiring:
    import httpx

    from core.market.sentiment import SentimentReader

    client = httpx.AsyncClient()
    providers, fear_greed = news_providers(settings, client)
    scorer = news_scorer_for(settings, clock=clock, cache=score_cache, **llm_stores)
    reader = SentimentReader(store, scorer, fear_greed=settings.fear_greed)
    return NewsWiring(tuple(providers), fear_greed, reader, client)


__all__ = [
    "CACHE_FILE",
    "CycleFactory",
    "EngineEntry",
    "NewsWiring",
    "StrategyVersion",
    "apply_sets",
    "decision_engine_for",
    "llm_configured",
    "news_analyst_of",
    "news_for",
    "news_providers",
    "news_scorer_for",
    "parse_engine",
    "parse_engines",
]
