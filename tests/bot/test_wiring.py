"""bot.wiring: one factory for every wired decision path; entry names, overrides and strategy versions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.settings import Settings
from bot.wiring import CycleFactory, apply_sets, parse_engine, parse_engines
from core.decide.rules import RulesEngine
from core.errors import UserInputError


def factory(**kw: object) -> CycleFactory:
    return CycleFactory(Settings(_env_file=None, **kw))  # type: ignore[call-arg]


def test_engine_names_and_entry_names() -> None:
    entries = parse_engines("rules,fast=rules,llm:gpt-4o,ensemble,baseline:tsmom,llm")
    assert [(e.name, e.engine, e.kind) for e in entries] == [
        ("rules", "rules", "rules"), ("fast", "rules", "rules"), ("llm-gpt-4o", "llm:gpt-4o", "llm"),
        ("ensemble", "ensemble", "ensemble"), ("tsmom", "baseline:tsmom", "baseline"), ("llm", "llm", "llm"),
    ]
    assert entries[2].model == "gpt-4o" and entries[4].baseline == "tsmom"
    for bad in ("llm:", "rules:x", "baseline:", "magic", "a b=rules"):
        with pytest.raises(UserInputError):
            parse_engine(bad)


def test_sets_reach_only_their_entry_and_are_validated_like_settings() -> None:
    entries = apply_sets(parse_engines("rules,strict=rules"), ["strict:MIN_CONFIDENCE=0.75", "strict:max_leverage=3"])
    f = factory()
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 2, 1, tzinfo=UTC)
    plain, strict = (f.replay_spec(e, ("BTC/USDT:USDT",), start, end, 1000.0) for e in entries)
    assert plain.limits.min_confidence == 0.6 and strict.limits.min_confidence == 0.75 and strict.max_leverage == 3
    with pytest.raises(UserInputError, match="MAX_LEVERAGE"):
        f.settings_for(parse_engine("rules").with_overrides({"MAX_LEVERAGE": "500"}))


def test_strategy_version_follows_decisions_not_secrets_or_channels() -> None:
    rules = parse_engine("rules")
    base = factory().version(rules).id
    assert len(base) == 10 and base == factory().version(rules).id  # stable
    assert factory(telegram_channel_id="@other", llm_api_key="sk-secret-123").version(rules).id == base
    assert factory(min_confidence=0.7).version(rules).id != base
    assert factory().version(rules.with_overrides({"entry_threshold": "0.5"})).id != base
    llm = parse_engine("llm:model-a")
    a, b = factory().version(llm), factory().version(parse_engine("llm:model-b"))
    assert a.id != b.id and a.descriptor["model"] == "model-a" and a.descriptor["prompt_version"]
    assert "sk-secret" not in str(factory(llm_api_key="sk-secret-123").version(llm).descriptor)


def test_rules_parameters_reach_the_engine() -> None:
    engine = factory().decision_engine(parse_engine("rules").with_overrides({"entry_threshold": "0.55"}), clock=None)
    assert isinstance(engine, RulesEngine) and engine.params.entry_threshold == 0.55
    with pytest.raises(UserInputError, match="not a number"):
        factory().decision_engine(parse_engine("rules").with_overrides({"entry_threshold": "x"}), clock=None)


def test_the_app_builds_its_engine_through_the_same_factory() -> None:
    import inspect

    import bot.app

    source = inspect.getsource(bot.app.App._engine)
    assert "decision_engine_for" in source and "build_engine(" not in source
