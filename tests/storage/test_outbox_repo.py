from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import DomainError
from core.services.outbox import MemoryOutbox, NewPost
from storage.db import Database
from storage.outbox_repo import SqliteOutbox

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


async def open_db(path: Path) -> Database:
    return await Database(path).connect()


def post(key: str, chat: str = "-1001", **kw: object) -> NewPost:
    fields: dict = {"kind": "entry", "text": f"<b>{key}</b>", "created_at": T0} | kw
    return NewPost(key, chat, **fields)


@pytest.fixture(params=["sqlite", "memory"])
async def outbox(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "memory":
        yield MemoryOutbox()
        return
    db = await open_db(tmp_path / "o.sqlite")
    yield SqliteOutbox(db)
    await db.close()


async def test_enqueue_is_idempotent_on_dedupe_key(outbox) -> None:
    assert await outbox.enqueue(post("entry:p1", image=b"\x89PNG"))
    assert not await outbox.enqueue(post("entry:p1", text="changed"))
    (row,) = await outbox.posts()
    assert (row.dedupe_key, row.text, row.image, row.status, row.attempts) == (
        "entry:p1",
        "<b>entry:p1</b>",
        b"\x89PNG",
        "pending",
        0,
    )


async def test_due_gives_each_chats_head_and_a_delayed_head_blocks_its_chat(outbox) -> None:
    for key, chat in [("a1", "A"), ("a2", "A"), ("b1", "B")]:
        await outbox.enqueue(post(key, chat))
    assert [p.dedupe_key for p in await outbox.due(T0)] == ["a1", "b1"]
    a1 = await outbox.get("a1")
    await outbox.mark_retry(a1.id, T0 + timedelta(seconds=30), "TelegramRetryAfter: retry in 30")
    assert [p.dedupe_key for p in await outbox.due(T0 + timedelta(seconds=29))] == ["b1"]
    assert [p.dedupe_key for p in await outbox.due(T0 + timedelta(seconds=30))] == ["a1", "b1"]


async def test_parts_sent_and_latency_are_recorded(outbox) -> None:
    await outbox.enqueue(post("daily:2024-03-01", kind="daily"))
    row = await outbox.get("daily:2024-03-01")
    await outbox.mark_handed(row.id, T0 + timedelta(milliseconds=250))
    await outbox.record_part(row.id, 41)
    await outbox.record_part(row.id, 42)
    await outbox.mark_sent(row.id, T0 + timedelta(seconds=1))
    row = await outbox.get("daily:2024-03-01")
    assert row.message_ids == (41, 42) and row.message_id == 41
    assert row.status == "sent" and row.attempts == 1
    assert row.handover_latency_s == pytest.approx(0.25)
    assert await outbox.due(T0 + timedelta(days=1)) == []


async def test_failed_post_does_not_block_its_chat(outbox) -> None:
    await outbox.enqueue(post("x1"))
    await outbox.enqueue(post("x2"))
    x1 = await outbox.get("x1")
    await outbox.mark_failed(x1.id, "TelegramBadRequest: chat not found")
    assert [p.dedupe_key for p in await outbox.due(T0)] == ["x2"]
    assert (await outbox.get("x1")).last_error == "TelegramBadRequest: chat not found"
    assert [p.kind for p in await outbox.posts("entry")] == ["entry", "entry"]


async def test_rows_survive_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    db = await open_db(path)
    box = SqliteOutbox(db)
    await box.enqueue(post("entry:p9", image=b"img"))
    await box.record_part((await box.get("entry:p9")).id, 7)
    await db.close()
    db = await open_db(path)
    again = await SqliteOutbox(db).get("entry:p9")
    await db.close()
    assert again is not None and again.message_ids == (7,) and again.image == b"img"
    assert again.created_at == T0


def test_new_post_checks_its_invariants() -> None:
    with pytest.raises(DomainError, match="dedupe_key"):
        post(" ")
    with pytest.raises(DomainError, match="kind"):
        post("k", kind="tweet")
    with pytest.raises(DomainError, match="neither text nor image"):
        post("k", text=" ")
    with pytest.raises(DomainError, match="naive"):
        post("k", created_at=datetime(2024, 1, 1))
