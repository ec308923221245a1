"""The demo command's pieces that a newcomer meets: where its data comes from, and how it ends."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bot.commands import demo_cmd
from bot.settings import load_settings
from core.market.offline import sample_data_dir


async def test_a_second_run_keeps_the_data_source_of_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    async def offline(*args: object, **kwargs: object) -> Path:
        calls.append(1)
        raise ConnectionError("offline")

    monkeypatch.setattr(demo_cmd, "download_recent", offline)
    monkeypatch.setattr(demo_cmd, "shared_data_dir", lambda: tmp_path / "no-shared")
    console = Console(record=True, width=200)
    settings = load_settings(env_file=None)
    first = await demo_cmd.resolve_data(None, ("BTC/USDT:USDT",), settings, tmp_path / "out", console)
    assert first == sample_data_dir() and calls == [1]
    second = await demo_cmd.resolve_data(None, ("BTC/USDT:USDT",), settings, tmp_path / "out", console)
    assert second == sample_data_dir().resolve() and calls == [1], "no new download, no silent switch"
    shown = console.export_text()
    assert shown.count("Market data:") == 2 and "as in the previous run; --data DIR to change" in shown


def test_the_demo_prints_contestant_names_and_paths_as_they_are() -> None:
    """`ARENA=rules,llm:A,llm:B aitrader demo` ended with "Arena llm🅰 equity …": rich read `:A:` as an emoji."""
    console = demo_cmd.demo_console()
    with console.capture() as captured:
        console.print("Arena llm:A: equity 10,000.00 USDT · Arena llm:smile: · data [bold]x[/bold]")
    assert captured.get().strip() == "Arena llm:A: equity 10,000.00 USDT · Arena llm:smile: · data [bold]x[/bold]"
