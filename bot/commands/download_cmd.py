"""`aitrader download --exchange ID --symbols A,B --timeframes 1h,4h --days N --out DIR`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from core.errors import TemporaryError, UserInputError
from core.market.ccxt_source import CcxtMarketData
from core.market.download import download_history
from core.market.offline import MissingDataError
from core.market.timeframes import tf_ms


async def run_download(
    exchange_id: str,
    symbols: Sequence[str],
    timeframes: Sequence[str],
    days: int,
    out: Path,
    *,
    market_factory: Callable[[str], CcxtMarketData] | None = None,
    now: datetime | None = None,
) -> int:
    if not timeframes:
        raise UserInputError("--timeframes: give at least one timeframe, e.g. 1h,4h")
    for timeframe in timeframes:
        try:
            tf_ms(timeframe)
        except UserInputError as error:
            raise UserInputError(f"--timeframes: {error}") from None
    if _is_file(out):
        raise UserInputError(f"--out: {out} exists and is not a folder")
    market = (market_factory or CcxtMarketData.from_id)(exchange_id)
    console = Console(stderr=True)
    try:
        with Progress(
            TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = bar.add_task(label, total=total)
                bar.update(tasks[label], completed=done, total=total)

            try:
                results = await download_history(
                    market, symbols, timeframes, days=days, out=out, now=now or datetime.now(UTC),
                    progress=progress,
                )
            except MissingDataError as error:
                raise UserInputError(f"--symbols: {error}") from None
    except TemporaryError as error:
        console.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        return 1
    finally:
        await market.close()
    for result in results:
        span = f"{result.first:%Y-%m-%d %H:%M} → {result.last:%Y-%m-%d %H:%M}" if result.first else "empty"
        console.print(f"{result.path}: +{result.added} rows, {result.total} total ({span})",
                      markup=False, highlight=False, soft_wrap=True)
    return 0


def _is_file(path: Path) -> bool:
    return path.exists() and not path.is_dir()
