"""`aitrader decide --snapshot FILE|- [--engine llm|rules|ensemble]`: one decision record (DESIGN §4.4),
plus `cached` (answered from the decision cache, no request), `latency_ms` and the LLM's output `mode`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bot.logging_setup import register_secret
from bot.settings import load_settings
from core.decide.engines import build_engine
from core.errors import UserInputError
from core.market.snapshot_json import snapshot_from_json
from core.models import AccountView, DecisionRecord, DomainError, Snapshot
from storage.db import Database
from storage.llm_repo import SqliteCapabilityStore, SqliteDecisionCache, SqliteUsageLog


def read_snapshot(source: str) -> Snapshot:
    """The snapshot JSON from a file or `-` (standard input); every problem is one UserInputError line."""
    if source == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as error:
            raise UserInputError(f"--snapshot: standard input is not UTF-8 text ({error.reason})") from None
    else:
        path = Path(source)
        if not path.is_file():
            raise UserInputError(f"--snapshot: no such file {source}")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UserInputError(f"--snapshot: cannot read {source}: {error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise UserInputError(f"--snapshot: not valid JSON ({error})") from None
    except RecursionError:
        raise UserInputError("--snapshot: not a snapshot (JSON nested too deeply)") from None
    try:
        return snapshot_from_json(data)
    except DomainError as error:
        raise UserInputError(f"--snapshot: {error}") from None


def record_json(record: DecisionRecord) -> dict[str, object]:
    return {**record.to_json_dict(), "cached": record.cached, "latency_ms": record.latency_ms, "mode": record.mode}


async def print_decision(snapshot_source: str, engine: str | None) -> int:
    snapshot = read_snapshot(snapshot_source)
    settings = load_settings()
    kind = engine or settings.effective_engine
    account = AccountView(equity=settings.initial_equity, available=settings.initial_equity)
    if kind in ("rules", "trend"):
        record = await build_engine(kind, trend_params=settings.trend_params()).decide(snapshot, account)
        print(json.dumps(record_json(record)))
        return 0
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    register_secret(api_key)
    async with Database(settings.database_path) as db:
        decider = build_engine(
            kind,
            llm_config=settings.llm_config(),
            api_key=api_key,
            usage=SqliteUsageLog(db),
            capabilities=SqliteCapabilityStore(db),
            cache=SqliteDecisionCache(db),
        )
        try:
            record = await decider.decide(snapshot, account)
        finally:
            close = getattr(decider, "close", None)
            if close is not None:
                await close()
    print(json.dumps(record_json(record)))
    return 0
