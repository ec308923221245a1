import asyncio
from pathlib import Path

import pytest

from storage.db import Database, migrations


async def test_concurrent_writers_on_one_connection_never_split_a_transaction(tmp_path: Path) -> None:
    async with Database(tmp_path / "w.sqlite") as db:
        await db.write("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")

        async def multi(k: int) -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t (k, v) VALUES (?, 'a')", (k,))
                await asyncio.sleep(0)  # another task's write would interleave here without the lock
                await conn.execute("UPDATE t SET v = 'b' WHERE k = ?", (k,))

        async def single(k: int) -> None:
            assert await db.write("INSERT INTO t (k, v) VALUES (?, 'b')", (k,)) == 1

        await asyncio.gather(*(multi(k) if k % 2 else single(k) for k in range(200)))
        async with db.conn.execute("SELECT COUNT(*), SUM(v = 'b') FROM t") as cursor:
            assert tuple(await cursor.fetchone()) == (200, 200)


async def test_a_failed_transaction_is_rolled_back_whole(tmp_path: Path) -> None:
    async with Database(tmp_path / "r.sqlite") as db:
        await db.write("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO t (k) VALUES (1)")
                raise RuntimeError("boom")
        await db.write("INSERT INTO t (k) VALUES (2)")
        async with db.conn.execute("SELECT k FROM t") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == [2]


def test_the_shipped_migrations_are_complete() -> None:
    """A missing or misnumbered migration fails here (no test skips over it)."""
    numbers = [number for number, _, _ in migrations()]
    assert numbers and numbers == list(range(1, len(numbers) + 1))
