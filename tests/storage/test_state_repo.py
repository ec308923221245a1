from datetime import UTC, datetime
from pathlib import Path

from core.models import AuditEntry, RuntimeState
from storage.db import Database, migrations
from storage.state_repo import SqliteStateStore

DEFAULTS = RuntimeState(paused=False, dry_run=True, max_leverage=5, symbols=("BTC/USDT:USDT",))


def test_migrations_are_numbered_without_gaps() -> None:
    numbers = [n for n, _, _ in migrations()]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_state_survives_reopen_and_is_typed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    async with Database(path) as db:
        store = SqliteStateStore(db)
        assert await store.load_state(DEFAULTS) == DEFAULTS
        changed = RuntimeState(paused=True, dry_run=True, max_leverage=7, symbols=("ETH/USDT:USDT", "BTC/USDT:USDT"))
        await store.save_state(changed)
        await store.append_audit(AuditEntry(datetime(2024, 1, 1, tzinfo=UTC), "tg:1", "leverage", "5", "7"))
    async with Database(path) as db:
        store = SqliteStateStore(db)
        assert await store.load_state(DEFAULTS) == changed
        (entry,) = await store.audit()
        assert (entry.actor, entry.action, entry.old, entry.new) == ("tg:1", "leverage", "5", "7")
        async with db.conn.execute("PRAGMA journal_mode") as cursor:
            assert (await cursor.fetchone())[0] == "wal"
        async with db.conn.execute("PRAGMA user_version") as cursor:
            assert (await cursor.fetchone())[0] == len(migrations())


async def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    async with Database(path) as db:
        await SqliteStateStore(db).set_value("demo_clock", "2024-01-01T00:00:00+00:00")
    async with Database(path) as db:
        assert await db.migrate() == len(migrations())
        assert await SqliteStateStore(db).get_value("demo_clock") == "2024-01-01T00:00:00+00:00"
