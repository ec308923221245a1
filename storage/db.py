"""One aiosqlite connection per process: WAL mode, foreign keys, migrations by PRAGMA user_version.

Migrations are the `storage/migrations/NNN_name.sql` files, applied in order; `user_version` holds
the number of the last one applied, so a restart applies only what is new.

A path that cannot hold the database (no such folder, a folder, read-only, /proc) raises
`DatabaseUnusable` naming the setting; a file deleted or replaced under the running process (its device
and inode changed) raises `DatabaseReplaced` on the next write, and `on_lost` is told, so the bot stops
instead of writing into an unlinked file and starting a second history on restart (issue #12 items 8–9).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

from core.errors import FatalError

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration shipped in the package, in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..N without gaps, found {numbers}")
    return found


class DatabaseUnusable(FatalError):
    """The database cannot be opened, written or migrated at its path."""


class DatabaseReplaced(FatalError):
    """The database file was deleted or replaced while this process had it open."""


def _open_and_close(path: str, uri: bool = False) -> None:
    sqlite3.connect(path, uri=uri).close()  # as aiosqlite.connect opens it


def _read_only_uri(path: str) -> str:
    """as_uri quotes what SQLite's URI parser would misread. A file no process is writing (no -wal or -journal
    beside it) is opened immutable: a read-only reader of a WAL file would otherwise leave a -wal and -shm behind,
    as only a writer removes them; one being written is read through its WAL, so nothing committed is missed."""
    target = Path(path).resolve()
    busy = any(Path(f"{target}{suffix}").exists() for suffix in ("-wal", "-journal"))
    return f"{target.as_uri()}?mode=ro" + ("" if busy else "&immutable=1")


def _explain(error: BaseException, path: str) -> str:
    text = str(error)
    target = Path(path)
    if target.is_dir():
        return f"{text} (it is a folder; give a file path)"
    folder = target.parent
    if not folder.is_dir():
        return f"{text} (the folder {folder} does not exist and cannot be created)"
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK):
            return f"{text} (the folder {folder} is read-only)"
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorname", "")
        if code.startswith("SQLITE_READONLY") or "readonly" in text:
            return f"{text} (the file or its folder is read-only)"
        if code == "SQLITE_FULL" or "full" in text:
            return f"{text} (the disk is full)"
        if code.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
            return f"{text} (needs an existing, writable folder and a file path, not a folder)"
    return text


class Database:
    """Every write goes through `write`, `write_many` or `transaction`, which hold one lock: tasks share
    this connection (symbols of a cycle run concurrently), and Python's sqlite3 opens transactions
    implicitly, so an unguarded commit of one task would end another task's half-done transaction."""

    def __init__(
        self, path: str | Path, *, setting: str = "database", on_lost: Callable[[str], None] | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = str(path)
        self.setting = setting  # named in errors: DATABASE_PATH for the bot
        self.read_only = read_only  # another process's file, only read: no migration, no write, nothing created
        self._on_lost = on_lost
        self._conn: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._identity: tuple[int, int] | None = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("Database.connect() has not been awaited")
        return self._conn

    async def connect(self) -> Database:
        if self.read_only:
            return await self._connect_read_only()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            if self.path != ":memory:":
                # aiosqlite stops its worker thread after a failed open by resolving a future on this loop;
                # when the failure ends the process straight away that races the loop's close and prints a
                # traceback from the thread. Opening once here first keeps that failure out of aiosqlite.
                _open_and_close(self.path)  # at start-up, before anything else runs on the loop
            self._conn = await aiosqlite.connect(self.path)
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA journal_mode=WAL")
            await self._conn.execute("PRAGMA synchronous=NORMAL")
            await self._conn.execute("PRAGMA foreign_keys=ON")
            await self._conn.execute("PRAGMA busy_timeout=5000")
            await self.migrate()
            # a write, so a read-only file fails here and not at the first trade
            await self._conn.execute("BEGIN IMMEDIATE")
            await self._conn.rollback()
        except (sqlite3.Error, OSError) as error:
            await self.close()
            raise DatabaseUnusable(f"{self.setting}: cannot use {self.path!r}: {_explain(error, self.path)}") from None
        self._identity = self._stat()
        return self

    async def _connect_read_only(self) -> Database:
        uri = _read_only_uri(self.path)
        try:
            _open_and_close(uri, uri=True)
            self._conn = await aiosqlite.connect(uri, uri=True)
            self._conn.row_factory = aiosqlite.Row
            await self._conn.execute("PRAGMA query_only=ON")
            # a file that is not SQLite opens without complaint and fails at its first read: here, not later
            await (await self._conn.execute("SELECT count(*) FROM sqlite_master")).close()
        except (sqlite3.Error, OSError) as error:
            await self.close()
            raise DatabaseUnusable(f"{self.setting}: cannot read {self.path!r}: {error}") from None
        return self

    async def tables(self) -> set[str]:
        async with self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'") as cursor:
            return {str(row[0]) for row in await cursor.fetchall()}

    def _stat(self) -> tuple[int, int] | None:
        if self.path == ":memory:" or self.path.startswith("file:"):
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return (-1, -1)
        return (st.st_dev, st.st_ino)

    def check_identity(self) -> None:
        """Raise DatabaseReplaced (and tell `on_lost`) when the file at `path` is no longer the one opened."""
        if self._identity is None or self._conn is None:
            return
        now = self._stat()
        if now == self._identity:
            return
        what = "deleted" if now == (-1, -1) else "replaced by another file"
        line = (
            f"{self.setting}: {self.path} was {what} while the bot was running; stopping rather than "
            "start a second history (restore the file, or start afresh deliberately)"
        )
        if self._on_lost is not None:
            self._on_lost(line)
        raise DatabaseReplaced(line)

    async def migrate(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        for number, _name, sql in migrations():
            if number <= current:
                continue
            await self.conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
            current = number
        return current

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Several statements committed together, or rolled back together on any error."""
        self.check_identity()
        async with self._write_lock:
            try:
                yield self.conn
                await self.conn.commit()
            except BaseException:
                await self.conn.rollback()
                raise

    async def write(self, sql: str, params: Sequence[object] = ()) -> int:
        """One statement in its own transaction; returns the number of rows it changed."""
        async with self.transaction() as conn:
            cursor = await conn.execute(sql, params)
            changed = cursor.rowcount
            await cursor.close()
        return changed

    async def write_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def __aenter__(self) -> Database:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
