"""The `aitrader` command (DESIGN §4.1). Each command parses its arguments and hands over to one
function in `bot.commands.<name>`; bad arguments exit 2 with one line naming the argument."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import FatalError, UserInputError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="AI Trader: an LLM-driven perpetual-futures bot you steer from Telegram.",
)



# Options several commands share, spelled once
DataFolder = Annotated[Path, typer.Option("--data", help="folder of candle files in freqtrade's layout (BTC_USDT_USDT-1h-futures.feather, …)")]
FirstAsOf = Annotated[str, typer.Option("--start", help="first as_of, ISO-8601")]
LastAsOf = Annotated[str, typer.Option("--end", help="last as_of, ISO-8601")]
InitialEquity = Annotated[float, typer.Option("--initial-equity", help="starting equity in quote currency")]
NewsDb = Annotated[Path | None, typer.Option("--news-db", help="headlines and Fear & Greed a bot recorded (its DATABASE_PATH): the snapshot's sentiment, point-in-time")]

def parse_time(value: str, name: str) -> datetime:
    """ISO-8601 → aware UTC datetime; `name` is the argument named in the error."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserInputError(f"{name}: cannot parse {value!r} as an ISO-8601 time (e.g. 2024-03-01T12:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_symbols(value: str, name: str = "--symbols") -> tuple[str, ...]:
    symbols = tuple(s.strip() for s in value.split(",") if s.strip())
    if not symbols:
        raise UserInputError(f"{name}: give at least one symbol, e.g. BTC/USDT:USDT,ETH/USDT:USDT")
    bad = [s for s in symbols if "/" not in s]
    if bad:
        raise UserInputError(f"{name}: {', '.join(bad)} is not a ccxt symbol like BTC/USDT:USDT")
    return symbols


def _run(coro_factory: Callable[[], Coroutine[Any, Any, int | None]]) -> None:
    try:
        code = asyncio.run(coro_factory())
    except UserInputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except FatalError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code or 0)


def _run_blocking(fn: Callable[[], int | None]) -> None:
    """_run for a command that manages its own workers and event loops (sweep)."""
    try:
        code = fn()
    except UserInputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code or 0)


def _setup_logging(verbose: bool) -> None:
    from bot.logging_setup import configure_logging

    configure_logging(logging.DEBUG if verbose else logging.INFO)


def _print_version(value: bool) -> None:
    if value:
        from bot.provenance import git_commit, package_version

        info = git_commit()
        commit = f" (commit {info['commit'][:12]}{', modified' if info.get('dirty') else ''})" if info.get("commit") else ""
        typer.echo(f"aitrader {package_version()}{commit}")
        raise typer.Exit(0)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
    version: Annotated[
        bool, typer.Option("--version", help="print the version and exit", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    _setup_logging(verbose)


@app.command()
def run() -> None:
    """The Telegram bot with its scheduler; settings from environment / .env."""

    async def go() -> int | None:
        from bot.commands.run_cmd import run_bot

        return await run_bot()

    _run(go)


@app.command()
def demo(
    data: Annotated[Path | None, typer.Option(help="folder of candle files in freqtrade's layout (e.g. ../shared/data/...); default: download recent ones")] = None,
    speed: Annotated[float, typer.Option(help="wall seconds per simulated base bar")] = 0.5,
    start: Annotated[str | None, typer.Option(help="simulated start time, ISO-8601")] = None,
    bars: Annotated[int, typer.Option(help="how many base bars to play")] = 120,
    symbols: Annotated[str | None, typer.Option(help="comma-separated symbols (default: SYMBOLS)")] = None,
    out: Annotated[Path, typer.Option(help="where images go when there is no Telegram token")] = Path("demo-out"),
    database: Annotated[Path | None, typer.Option(help="SQLite file for the demo's state")] = None,
) -> None:
    """The full bot in dry-run on a simulated clock: no keys needed."""
    if speed < 0:
        raise_bad("--speed", f"must be >= 0 seconds per bar, got {speed}")
    if bars < 1:
        raise_bad("--bars", f"must be >= 1, got {bars}")
    start_at = None
    if start is not None:
        try:
            start_at = parse_time(start, "--start")
        except UserInputError as error:
            raise_bad("--start", str(error).split(": ", 1)[1])
    parsed_symbols = None
    if symbols is not None:
        try:
            parsed_symbols = parse_symbols(symbols)
        except UserInputError as error:
            raise_bad("--symbols", str(error).split(": ", 1)[1])
    async def go() -> int | None:
        from bot.commands.demo_cmd import run_demo

        return await run_demo(
            data=data, speed=speed, start=start_at, bars=bars, symbols=parsed_symbols, out=out, database=database
        )

    _run(go)


@app.command()
def snapshot(
    data: DataFolder,
    symbol: Annotated[str, typer.Option(help="ccxt symbol, e.g. BTC/USDT:USDT")],
    at: Annotated[str, typer.Option(help="as_of, ISO-8601 UTC")],
    news_db: NewsDb = None,
) -> None:
    """Print the point-in-time snapshot JSON (closed bars only, indicators, regime) at a time."""

    async def go() -> int | None:
        moment = parse_time(at, "--at")
        from bot.commands.snapshot_cmd import print_snapshot

        return await print_snapshot(data=data, symbol=symbol, at=moment, news_db=news_db)

    _run(go)


@app.command()
def decide(
    snapshot: Annotated[str, typer.Option(help="snapshot JSON file, or - for standard input")],
    engine: Annotated[str | None, typer.Option(help="llm, trend or rules (default: ENGINE)")] = None,
) -> None:
    """Print the decision record (action, stop, targets, confidence, reasoning) for a snapshot."""
    if engine is not None and engine not in ("llm", "rules", "trend", "ensemble"):
        raise_bad("--engine", f"must be llm, rules, trend or ensemble, got {engine!r}")

    async def go() -> int | None:
        from bot.commands.decide_cmd import print_decision

        return await print_decision(snapshot_source=snapshot, engine=engine)

    _run(go)


@app.command()
def replay(
    data: DataFolder,
    symbols: Annotated[str, typer.Option(help="comma-separated symbols")],
    start: FirstAsOf,
    end: LastAsOf,
    out: Annotated[Path, typer.Option(help="report folder")],
    engine: Annotated[str, typer.Option(help="rules, trend, llm, llm:MODEL, ensemble or baseline:NAME")] = "rules",
    initial_equity: InitialEquity = 10_000.0,
    folds: Annotated[int, typer.Option(help="walk-forward folds (anchored); 0 = one replay")] = 0,
    news_db: NewsDb = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="ask the LLM again for the decisions this folder's cache recorded as failed")] = False,
) -> None:
    """Replay the live cycle over history and write the report (report.json, trades.csv, report.png, …)."""
    from bot.wiring import parse_engine

    try:
        parse_engine(engine, "--engine")
    except UserInputError as error:
        raise_bad("--engine", str(error).split(": ", 1)[1])
    if initial_equity <= 0:
        raise_bad("--initial-equity", f"must be positive, got {initial_equity}")
    if folds < 0 or folds == 1:
        raise_bad("--folds", f"must be 0 (off) or from 2 to 20, got {folds}")

    async def go() -> int | None:
        start_at, end_at = parse_time(start, "--start"), parse_time(end, "--end")
        if end_at <= start_at:
            raise UserInputError(f"--end: {end} must be after --start {start}")
        from bot.commands.replay_cmd import run_replay

        return await run_replay(
            data=data,
            symbols=parse_symbols(symbols),
            start=start_at,
            end=end_at,
            engine=engine,
            out=out,
            initial_equity=initial_equity,
            folds=folds,
            news_db=news_db,
            retry_failed=retry_failed,
        )

    _run(go)


@app.command()
def compare(
    data: DataFolder,
    symbols: Annotated[str, typer.Option(help="comma-separated symbols")],
    start: FirstAsOf,
    end: LastAsOf,
    engines: Annotated[str, typer.Option(help="E1,E2,… each rules|llm|llm:MODEL|ensemble|baseline:NAME, or NAME=ENGINE")],
    out: Annotated[Path, typer.Option(help="output folder: compare.json, compare.png, one folder per entry")],
    initial_equity: InitialEquity = 10_000.0,
    set_: Annotated[list[str] | None, typer.Option("--set", help="NAME:KEY=VALUE override for one entry")] = None,
    folds: Annotated[int, typer.Option(help="walk-forward folds (anchored); 0 = one replay per entry")] = 0,
    news_db: NewsDb = None,
) -> None:
    """Several engines or configurations over the same symbols and window, in one report."""
    from bot.wiring import apply_sets, parse_engines

    try:
        entries = apply_sets(parse_engines(engines), set_ or [])
    except UserInputError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if initial_equity <= 0:
        raise_bad("--initial-equity", f"must be positive, got {initial_equity}")
    if folds < 0 or folds == 1:
        raise_bad("--folds", f"must be 0 (off) or from 2 to 20, got {folds}")

    async def go() -> int | None:
        start_at, end_at = parse_time(start, "--start"), parse_time(end, "--end")
        if end_at <= start_at:
            raise UserInputError(f"--end: {end} must be after --start {start}")
        from bot.commands.compare_cmd import run_compare

        return await run_compare(data, parse_symbols(symbols), start_at, end_at, entries, out, initial_equity,
                                 folds=folds, news_db=news_db)

    _run(go)


@app.command()
def leaderboard(
    as_json: Annotated[bool, typer.Option("--json", help="print the §4.8 JSON list")] = False,
    limit: Annotated[int, typer.Option(help="how many rows")] = 50,
) -> None:
    """Strategy versions ranked by their recorded results."""
    if limit < 1:
        raise_bad("--limit", f"must be >= 1, got {limit}")

    async def go() -> int | None:
        from bot.commands.leaderboard_cmd import print_leaderboard

        return await print_leaderboard(as_json=as_json, limit=limit)

    _run(go)


@app.command()
def sweep(
    data: DataFolder,
    symbols: Annotated[str, typer.Option(help="comma-separated symbols replayed together in a cell; ';' between sets: A,B;C")],
    start: FirstAsOf,
    end: LastAsOf,
    out: Annotated[Path, typer.Option(help="sweep folder (cells/, sweep.csv, sweep.json)")],
    grid: Annotated[list[str] | None, typer.Option(help="SETTING=V1,V2 (repeatable), e.g. MIN_CONFIDENCE=0.55,0.6")] = None,
    engine: Annotated[str, typer.Option(help="rules, llm, llm:MODEL, ensemble or baseline:NAME")] = "rules",
    windows: Annotated[int, typer.Option(help="cut --start..--end into N consecutive equal windows")] = 1,
    per_symbol: Annotated[bool, typer.Option(help="one cell per symbol instead of all symbols together")] = False,
    workers: Annotated[int | None, typer.Option(help="local worker processes (default: CPUs, at most 4)")] = None,
    cluster: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786); needs the optional cluster extra")] = None,
    initial_equity: InitialEquity = 10_000.0,
    folds: Annotated[int, typer.Option(help="N > 1: each cell an anchored walk-forward, ranked out-of-sample")] = 0,
    news_db: Annotated[Path | None, typer.Option("--news-db", help="headlines and Fear & Greed a bot recorded (its DATABASE_PATH): every cell reads them point-in-time, as replay --news-db; workers open the file read-only, so with --cluster the same path must exist on every worker")] = None,
) -> None:
    """Replay a grid of settings × symbols × windows, resumably, on local processes or a Dask cluster."""

    def go() -> int:
        from bot.commands.sweep_cmd import default_workers, run_sweep
        from core.evaluation.sweep import parse_grid

        start_at, end_at = parse_time(start, "--start"), parse_time(end, "--end")
        if end_at <= start_at:
            raise UserInputError(f"--end: {end} must be after --start {start}")
        if not initial_equity > 0:
            raise UserInputError(f"--initial-equity: must be positive, got {initial_equity}")
        sets = tuple(parse_symbols(part) for part in symbols.split(";") if part.strip())
        if not sets:
            raise UserInputError("--symbols: give at least one symbol, e.g. BTC/USDT:USDT,ETH/USDT:USDT")
        return run_sweep(
            data=data,
            symbols=sets,
            start=start_at,
            end=end_at,
            engine=engine,
            grid=parse_grid(grid or []),
            out=out,
            windows=windows,
            per_symbol=per_symbol,
            workers=workers if workers is not None else default_workers(),
            cluster=cluster,
            initial_equity=initial_equity,
            folds=folds,
            news_db=news_db,
        )

    _run_blocking(go)


@app.command()
def download(
    symbols: Annotated[str, typer.Option(help="comma-separated symbols")],
    out: Annotated[Path, typer.Option(help="folder to write, in freqtrade's data layout")],
    exchange: Annotated[str, typer.Option(help="ccxt exchange id")] = "binanceusdm",
    timeframes: Annotated[str, typer.Option(help="comma-separated timeframes")] = "1h,4h,1d",
    days: Annotated[int, typer.Option(help="how many days of history")] = 30,
) -> None:
    """Fetch history through ccxt into the offline data layout, resuming where files end."""
    if days < 1:
        raise_bad("--days", f"must be >= 1, got {days}")
    tfs = tuple(t.strip() for t in timeframes.split(",") if t.strip())

    async def go() -> int | None:
        parsed = parse_symbols(symbols)
        from bot.commands.download_cmd import run_download

        return await run_download(exchange_id=exchange, symbols=parsed, timeframes=tfs, days=days, out=out)

    _run(go)


@app.command()
def scan(
    exchange: Annotated[str | None, typer.Option(help="ccxt exchange id (default: EXCHANGE_ID)")] = None,
    top: Annotated[int, typer.Option(help="how many markets to show")] = 10,
    data: Annotated[Path | None, typer.Option(help="rank a data folder's symbols instead of an exchange's")] = None,
    at: Annotated[str | None, typer.Option(help="with --data: the time to rank at, ISO-8601 (default: data end)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """The coin hunter: perpetual markets ranked by 24 h volume, spread, volatility and momentum."""
    if not 1 <= top <= 200:
        raise_bad("--top", f"must be from 1 to 200, got {top}")
    if at is not None and data is None:
        raise_bad("--at", "needs --data (an exchange is ranked as of now)")
    if data is not None and exchange is not None:
        raise_bad("--exchange", "give --exchange or --data, not both")

    async def go() -> int | None:
        from bot.commands.scan_cmd import run_scan

        moment = parse_time(at, "--at") if at is not None else None
        return await run_scan(exchange=exchange, data=data, at=moment, top=top, as_json=as_json)

    _run(go)


@app.command()
def check(
    reset_llm_capabilities: bool = typer.Option(
        False, "--reset-llm-capabilities", help="forget the structured-output modes stored per LLM endpoint + model"
    ),
) -> None:
    """Validate settings and reach Telegram, the exchange and the LLM (one real completion), reporting each."""

    async def go() -> int | None:
        from bot.commands.check_cmd import run_check

        return await run_check(reset_llm_capabilities=reset_llm_capabilities)

    _run(go)


def raise_bad(argument: str, message: str) -> None:
    typer.echo(f"error: {argument}: {message}", err=True)
    raise typer.Exit(2)


def main() -> None:
    try:
        app()
    except UserInputError as error:  # raised while parsing, outside _run
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)
