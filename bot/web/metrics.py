"""Prometheus metrics (text format via prometheus_client), one registry per server.

Cycle duration and decisions move with each cycle the app reports (`observe_cycle`); the rest is read from
the app's services at scrape time (`Scrape`): guard verdicts come from the decision log, so they count every
cycle since the database began, also those an admin ran from chat."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.services.cycle import CycleSummary

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Scrape:
    """What the server read from the services just before rendering."""

    guard_counts: dict[str, int] = field(default_factory=dict)
    open_positions: int = 0
    equity: float = 0.0
    outbox_depth: int = 0
    llm_tokens_today: int | None = None  # None: no LLM engine
    llm_cost_usd: float | None = None  # every LLM call's estimated cost since the database began


class _ScrapeCollector(Collector):
    def __init__(self) -> None:
        self.scrape = Scrape()

    def collect(self) -> Iterator[Metric]:
        s = self.scrape
        verdicts = CounterMetricFamily("aitrader_guard_verdicts", "Risk guard verdicts by reason (approved: passed)",
                                       labels=["reason"])
        for reason, count in sorted(s.guard_counts.items()):
            verdicts.add_metric([reason], count)
        yield verdicts
        yield GaugeMetricFamily("aitrader_open_positions", "Open positions", value=s.open_positions)
        yield GaugeMetricFamily("aitrader_equity", "Account equity in the quote currency", value=s.equity)
        yield GaugeMetricFamily("aitrader_outbox_depth", "Posts waiting in the outbox", value=s.outbox_depth)
        if s.llm_tokens_today is not None:
            yield GaugeMetricFamily("aitrader_llm_tokens_today", "LLM tokens used today (UTC)",
                                    value=s.llm_tokens_today)
        if s.llm_cost_usd is not None:
            yield CounterMetricFamily("aitrader_llm_cost_usd", "Estimated USD spent on LLM calls (LLM_PRICES)",
                                      value=s.llm_cost_usd)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.cycle_seconds = Histogram(
            "aitrader_cycle_duration_seconds", "Duration of a trading cycle", registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.decisions = Counter("aitrader_decisions", "Decisions per symbol and cycle, by action or status",
                                 ["status"], registry=r)
        self._scraped = _ScrapeCollector()
        r.register(self._scraped)

    def observe_cycle(self, summary: CycleSummary) -> None:
        self.cycle_seconds.observe(max(summary.duration_ms, 0.0) / 1000)
        for status in summary.decisions.values():
            self.decisions.labels(status=status).inc()

    def render(self, scrape: Scrape) -> bytes:
        self._scraped.scrape = scrape
        return generate_latest(self.registry)
