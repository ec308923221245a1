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


# ---- issue #12 items 8 and 9: unusable paths, a full disk, a database deleted or replaced ----------------

import contextlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from storage.db import DatabaseReplaced, DatabaseUnusable  # noqa: E402


@contextlib.contextmanager
def tmpfs(target: Path, size: str = "1m") -> Iterator[Path]:
    """A real tiny filesystem (root only; the test skips elsewhere)."""
    target.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


@pytest.mark.parametrize("path", ["/proc/x.sqlite", "DIR", "/nonexistent-root-dir/x/y.sqlite"])
async def test_unusable_path_names_the_setting_and_leaves_no_thread(tmp_path: Path, path: str) -> None:
    threads = threading.active_count()
    target = tmp_path if path == "DIR" else Path(path)
    if path.startswith("/nonexistent") and os.geteuid() == 0:
        target = Path("/proc/nonexistent/x.sqlite")  # root may create folders anywhere else
    with pytest.raises(DatabaseUnusable) as error:
        await Database(target, setting="DATABASE_PATH").connect()
    assert str(error.value).startswith(f"DATABASE_PATH: cannot use '{target}'") and "\n" not in str(error.value)
    await _threads_back_to(threads)  # the connection's thread did not outlive the error


async def test_unopenable_path_starts_no_database_thread_to_race_the_loop_closing(tmp_path: Path) -> None:
    """A failed open used to leave aiosqlite's worker thread resolving a future on a loop that the exiting
    process had already closed, printing a traceback after the one-line error (#12's start-up failures)."""
    threads = threading.active_count()
    with pytest.raises(DatabaseUnusable):
        await Database(Path("/proc/x.sqlite"), setting="DATABASE_PATH").connect()
    assert threading.active_count() == threads  # at once, not after the thread winds down


async def _threads_back_to(count: int) -> None:
    for _ in range(100):  # aiosqlite stops its thread asynchronously after a failed connect
        if threading.active_count() <= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{threading.active_count() - count} database thread(s) still running")


async def test_read_only_database_is_refused_at_connect(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro") as mount:
        async with Database(mount / "bot.sqlite"):
            pass
        await asyncio.to_thread(subprocess.run, ["mount", "-o", "remount,ro", str(mount)], check=True)
        threads = threading.active_count()
        with pytest.raises(DatabaseUnusable, match=r"DATABASE_PATH: cannot use .*read-only"):
            await Database(mount / "bot.sqlite", setting="DATABASE_PATH").connect()
        await _threads_back_to(threads)


async def _fill_until_full(db: Database) -> sqlite3.OperationalError:
    await db.write("CREATE TABLE IF NOT EXISTS blob (k INTEGER PRIMARY KEY, v BLOB)")
    await db.write("CREATE TABLE IF NOT EXISTS pair (k INTEGER PRIMARY KEY, a BLOB, b BLOB)")
    for _ in range(10_000):
        try:
            await db.write("INSERT INTO blob (v) VALUES (?)", (os.urandom(8192),))
        except sqlite3.OperationalError as error:
            return error
    raise AssertionError("never filled up")


async def _assert_nothing_half_written(db: Database) -> None:
    before = await _count(db)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        async with db.transaction() as conn:  # a two-statement write: both or neither
            await conn.execute("INSERT INTO pair (a, b) VALUES (?, ?)", (b"x", b"y"))
            await conn.execute("INSERT INTO blob (v) VALUES (?)", (os.urandom(200_000),))
    assert await _count(db) == before


async def _count(db: Database) -> tuple[int, int]:
    async with db.conn.execute("SELECT (SELECT COUNT(*) FROM pair), (SELECT COUNT(*) FROM blob)") as cursor:
        row = await cursor.fetchone()
    return int(row[0]), int(row[1])


async def test_full_disk_simulated_sqlite_full_writes_nothing_half(tmp_path: Path) -> None:
    """SQLITE_FULL from SQLite itself: max_page_count caps the file, as a full disk would."""
    async with Database(tmp_path / "full.sqlite") as db:
        await db.conn.execute("PRAGMA max_page_count = 200")
        error = await _fill_until_full(db)
        assert error.sqlite_errorname == "SQLITE_FULL"
        await _assert_nothing_half_written(db)


async def test_full_disk_on_a_1mb_tmpfs_writes_nothing_half(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", "1m") as mount:
        async with Database(mount / "bot.sqlite") as db:
            error = await _fill_until_full(db)
            assert error.sqlite_errorname == "SQLITE_FULL"
            await _assert_nothing_half_written(db)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_database_deleted_or_replaced_under_a_running_process_is_detected(tmp_path: Path, how: str) -> None:
    lost: list[str] = []
    path = tmp_path / "bot.sqlite"
    async with Database(path, setting="DATABASE_PATH", on_lost=lost.append) as db:
        await db.write("CREATE TABLE t (k INTEGER)")
        if how == "deleted":
            path.unlink()
        else:
            async with Database(tmp_path / "other.sqlite"):
                pass
            os.replace(tmp_path / "other.sqlite", path)
        with pytest.raises(DatabaseReplaced, match=f"DATABASE_PATH: .* was {how}"):
            await db.write("INSERT INTO t VALUES (1)")
        assert len(lost) == 1 and how in lost[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


async def test_a_read_only_connection_reads_another_process_file_and_writes_nothing(tmp_path: Path) -> None:
    """`read_only=True` (a sweep worker's `--news-db`): no migration, no write, nothing created, odd names too."""
    path = tmp_path / "a bot's 50% #1 ?.sqlite"
    async with Database(path) as db:
        await db.write("INSERT INTO audit_log (at, actor, action, old, new) VALUES ('t', 'a', 'k', 'o', 'n')")
    before = _files(tmp_path)
    reader = await Database(path, setting="--news-db", read_only=True).connect()
    try:
        assert "news_headlines" in await reader.tables()
        async with reader.conn.execute("SELECT action FROM audit_log") as cursor:
            assert [r[0] for r in await cursor.fetchall()] == ["k"]
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|query_only"):
            await reader.write("DELETE FROM audit_log")
    finally:
        await reader.close()
    assert _files(tmp_path) == before
    with pytest.raises(DatabaseUnusable, match="--news-db: cannot read"):
        await Database(tmp_path / "none.sqlite", setting="--news-db", read_only=True).connect()
    assert not (tmp_path / "none.sqlite").exists()


async def test_a_read_only_connection_sees_what_a_running_writer_committed(tmp_path: Path) -> None:
    """The bot still running on its file: the rows it committed are still in its -wal, and are read."""
    path = tmp_path / "live.sqlite"
    async with Database(path) as writer:
        await writer.write("INSERT INTO audit_log (at, actor, action, old, new) VALUES ('t', 'a', 'live', 'o', 'n')")
        assert (tmp_path / "live.sqlite-wal").stat().st_size > 0
        reader = await Database(path, read_only=True).connect()
        try:
            async with reader.conn.execute("SELECT action FROM audit_log") as cursor:
                assert [r[0] for r in await cursor.fetchall()] == ["live"]
        finally:
            await reader.close()
