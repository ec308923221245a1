"""The durable outbox of posts: what to post where, and how far each post got.

`storage.outbox_repo.SqliteOutbox` is the durable one; `MemoryOutbox` behaves the same without disk
(tests, replay, a demo without a database). The publisher drains either through the `Outbox` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, Protocol, get_args

from core.models import DomainError, require_utc

# "record": the pinned track record (sent, then pinned); "record_edit": a new version of it, edited in place
# into the message of the post named by `reply_to_key`
PostKind = Literal[
    "entry", "exit", "update", "pulse", "daily", "alert", "chart", "stats", "weekly", "record", "record_edit",
    "notice",  # to the admins, not a warning: the bot started or stopped
    "arena",  # the daily arena standings (ARENA_DAILY_POST)
]
PostStatus = Literal["pending", "sent", "failed"]
POST_KINDS: tuple[str, ...] = get_args(PostKind)


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post to enqueue. `created_at` is when the event was announced (the start of the latency clock)."""

    dedupe_key: str
    chat_id: str
    kind: PostKind
    text: str
    created_at: datetime
    image: bytes | None = None
    image_path: str | None = None
    reply_to_key: str | None = None

    def __post_init__(self) -> None:
        if not self.dedupe_key.strip():
            raise DomainError("a post needs a non-empty dedupe_key")
        if not str(self.chat_id).strip():
            raise DomainError(f"post {self.dedupe_key} needs a chat_id")
        if self.kind not in POST_KINDS:
            raise DomainError(f"post {self.dedupe_key} kind must be one of {', '.join(POST_KINDS)}, got {self.kind!r}")
        if not self.text.strip() and self.image is None and self.image_path is None:
            raise DomainError(f"post {self.dedupe_key} has neither text nor image")
        object.__setattr__(self, "chat_id", str(self.chat_id))
        object.__setattr__(self, "created_at", require_utc(self.created_at, "created_at"))


@dataclass(frozen=True, slots=True)
class OutboxPost:
    """A stored post. `message_ids` are the Telegram ids of the parts already accepted, in order."""

    id: int
    dedupe_key: str
    chat_id: str
    kind: PostKind
    text: str
    image: bytes | None
    image_path: str | None
    reply_to_key: str | None
    status: PostStatus
    attempts: int
    next_attempt_at: datetime
    message_ids: tuple[int, ...]
    created_at: datetime
    handed_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None

    @property
    def message_id(self) -> int | None:
        """The id a reply should point at: the first part (the photo, for posts with an image)."""
        return self.message_ids[0] if self.message_ids else None

    @property
    def has_image(self) -> bool:
        return self.image is not None or self.image_path is not None

    @property
    def handover_latency_s(self) -> float | None:
        """Seconds from the announcement (created_at) to the first hand-over to the sender."""
        if self.handed_at is None:
            return None
        return (self.handed_at - self.created_at).total_seconds()


class Outbox(Protocol):
    async def enqueue(self, post: NewPost) -> bool:
        """Store the post unless one with the same dedupe_key exists; True when it was new."""
        ...

    async def due(self, now: datetime) -> list[OutboxPost]:
        """For each chat, its oldest pending post if that one is due at `now` (a delayed head blocks its
        chat, which keeps the channel in order); ordered by id."""
        ...

    async def mark_handed(self, post_id: int, now: datetime) -> None:
        """The post is about to be handed to the sender: count the attempt (first hand-over time kept)."""
        ...

    async def record_part(self, post_id: int, message_id: int) -> None:
        """Telegram accepted one more part of the post: store its id at once."""
        ...

    async def mark_sent(self, post_id: int, now: datetime) -> None: ...

    async def mark_retry(self, post_id: int, next_attempt_at: datetime, error: str) -> None: ...

    async def mark_failed(self, post_id: int, error: str) -> None: ...

    async def get(self, dedupe_key: str) -> OutboxPost | None: ...

    async def posts(self, kind: str | None = None) -> list[OutboxPost]:
        """Every stored post (of one kind), oldest first: for /status, tests and the bench."""
        ...


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


class MemoryOutbox:
    """In-memory outbox with the same semantics as the SQLite one (no durability)."""

    def __init__(self) -> None:
        self._rows: dict[int, OutboxPost] = {}
        self._by_key: dict[str, int] = {}
        self._next_id = 1

    async def enqueue(self, post: NewPost) -> bool:
        if post.dedupe_key in self._by_key:
            return False
        row = OutboxPost(
            id=self._next_id,
            dedupe_key=post.dedupe_key,
            chat_id=post.chat_id,
            kind=post.kind,
            text=post.text,
            image=post.image,
            image_path=post.image_path,
            reply_to_key=post.reply_to_key,
            status="pending",
            attempts=0,
            next_attempt_at=post.created_at,
            message_ids=(),
            created_at=post.created_at,
        )
        self._rows[row.id] = row
        self._by_key[row.dedupe_key] = row.id
        self._next_id += 1
        return True

    async def due(self, now: datetime) -> list[OutboxPost]:
        heads: dict[str, OutboxPost] = {}
        for row in sorted(self._rows.values(), key=lambda r: r.id):
            if row.status == "pending" and row.chat_id not in heads:
                heads[row.chat_id] = row
        return [row for row in heads.values() if row.next_attempt_at <= _utc(now)]

    async def mark_handed(self, post_id: int, now: datetime) -> None:
        row = self._rows[post_id]
        self._rows[post_id] = replace(row, attempts=row.attempts + 1, handed_at=row.handed_at or _utc(now))

    async def record_part(self, post_id: int, message_id: int) -> None:
        row = self._rows[post_id]
        self._rows[post_id] = replace(row, message_ids=(*row.message_ids, int(message_id)))

    async def mark_sent(self, post_id: int, now: datetime) -> None:
        self._rows[post_id] = replace(self._rows[post_id], status="sent", sent_at=_utc(now), last_error=None)

    async def mark_retry(self, post_id: int, next_attempt_at: datetime, error: str) -> None:
        self._rows[post_id] = replace(self._rows[post_id], next_attempt_at=_utc(next_attempt_at), last_error=error)

    async def mark_failed(self, post_id: int, error: str) -> None:
        self._rows[post_id] = replace(self._rows[post_id], status="failed", last_error=error)

    async def get(self, dedupe_key: str) -> OutboxPost | None:
        post_id = self._by_key.get(dedupe_key)
        return None if post_id is None else self._rows[post_id]

    async def posts(self, kind: str | None = None) -> list[OutboxPost]:
        rows = sorted(self._rows.values(), key=lambda r: r.id)
        return [r for r in rows if kind is None or r.kind == kind]
