"""App's wiring is one frozen, typed `Services`, built once in `App.build()`; App adds no attribute later."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.app import Services
from tests.bot.test_app import _clean_env, demo_app  # noqa: F401  (the env fixture, autouse here too)


async def test_build_fills_services_and_adds_no_attribute_outside_init(tmp_path: Path) -> None:
    app, _ = demo_app(tmp_path)
    before = set(vars(app))
    with pytest.raises(RuntimeError, match="build"):
        _ = app.services
    assert app.dp is None and app.bot is None
    await app.start()
    try:
        assert set(vars(app)) == before
        services = app.services
        assert app.cycle is services.cycle and app.control is services.control and app.dp is services.dp
        with pytest.raises(dataclasses.FrozenInstanceError):
            services.cycle = None  # type: ignore[misc]
    finally:
        await app.stop()
    assert set(vars(app)) == before


def test_services_fields_are_typed_without_any() -> None:
    annotations = {f.name: f.type for f in dataclasses.fields(Services)}  # strings (postponed annotations)
    assert annotations and all(isinstance(t, str) and t and "Any" not in t for t in annotations.values())
