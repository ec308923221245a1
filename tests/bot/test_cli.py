"""Argument errors exit 2 with one line naming the argument, never a traceback (DESIGN §4.1)."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["demo", "--speed", "-1"], "--speed"),
        (["demo", "--bars", "0"], "--bars"),
        (["demo", "--start", "yesterday"], "--start"),
        (["demo", "--symbols", "BTCUSDT"], "--symbols"),
        (["decide", "--snapshot", "x.json", "--engine", "magic"], "--engine"),
        (["replay", "--data", ".", "--symbols", "BTC/USDT:USDT", "--start", "2024-01-02", "--end", "2024-01-01",
          "--out", "o"], "--end"),
        (["replay", "--data", ".", "--symbols", "BTC/USDT:USDT", "--start", "nope", "--end", "2024-01-01",
          "--out", "o"], "--start"),
        (["replay", "--data", ".", "--symbols", "BTC/USDT:USDT", "--start", "2024-01-01", "--end", "2024-02-01",
          "--out", "o", "--engine", "dice"], "--engine"),
        (["download", "--symbols", "BTC/USDT:USDT", "--out", "o", "--days", "0"], "--days"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output
    assert "Traceback" not in result.output


def test_python_dash_m_bot_is_the_same_command() -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("run", "demo", "snapshot", "decide", "replay", "download", "check"):
        assert command in result.stdout


def test_version_and_help_texts_a_lone_clone_can_follow() -> None:
    from typer.testing import CliRunner

    from bot.cli import app as cli_app

    runner = CliRunner()
    done = runner.invoke(cli_app, ["--version"])
    assert done.exit_code == 0 and done.output.startswith("aitrader ")
    for command in ("demo", "snapshot", "decide", "replay", "download"):
        shown = runner.invoke(cli_app, [command, "--help"]).output
        assert "DESIGN" not in shown, f"{command} --help cites DESIGN, which a lone clone does not have"


@pytest.mark.parametrize(("command", "option"), [("decide", "--engine"), ("replay", "--engine"),
                                                  ("compare", "--engines"), ("sweep", "--engine")])
def test_every_engine_option_names_trend_the_default_without_an_llm(command: str, option: str) -> None:
    shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"}).output
    line = next(line for line in shown.splitlines() if f" {option} " in line)
    assert "trend" in line, line


@pytest.mark.parametrize("arena", ["rules,magic", "rules,rules", "llm:"])
def test_a_bad_arena_setting_stops_the_start_with_one_line_and_exit_2(
    arena: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("ARENA", arena)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "bot.sqlite"))
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: invalid settings: ARENA: "), result.output
