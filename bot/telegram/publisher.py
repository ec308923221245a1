"""Drains the outbox to Telegram (or the console) in order, without losing or doubling a post.

Delivery rules:
- Per chat, posts go out in enqueue order; a delayed post holds back the later posts of its chat only.
- `TelegramRetryAfter` (429): the post waits `retry_after` seconds, and so does its chat.
- Network errors, server errors and other answers from Telegram: exponential backoff; the post is kept,
  however long the outage.
- Anything else (a vanished image file, a bug): the same backoff, but after `max_attempts` hand-overs the
  post is marked failed and the admins are told, so one post that can never go does not hold back its
  chat forever.
- `TelegramBadRequest` / forbidden / not found / too large: the post is marked failed with the error and
  the admins are told through `on_failure` (never the channel).
- Each part's Telegram message id is committed the moment Telegram answers, so a restart resumes after
  the last accepted part and never re-sends it.

The crash window: between Telegram accepting a part and the commit of its message id (one SQLite write,
milliseconds) a crash cannot be told apart from "not sent". We re-send in that case (at-least-once):
a rare duplicate is better than a lost entry post that its exits would reply to. `recover()` logs such
posts at start-up (handed to the sender, no error recorded, not finished) so a duplicate can be traced.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import bot.aiogram_types  # noqa: F401  (before aiogram: its types build on first use)

from aiogram import Bot
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import BufferedInputFile, FSInputFile, InputMediaPhoto, LinkPreviewOptions, ReplyParameters
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from bot.telegram.post_format import CAPTION_LIMIT, TEXT_LIMIT, split_html
from core.clock import SystemClock
from core.protocols import Alert, Clock
from core.services.outbox import Outbox, OutboxPost

log = logging.getLogger(__name__)

_PERMANENT = (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramEntityTooLarge,
    TelegramMigrateToChat,
)


@dataclass(frozen=True, slots=True)
class PostPart:
    """One Telegram message of a post: the photo with its caption, or one ≤ 4096-character text."""

    index: int
    text: str
    image: bytes | None = None
    image_path: str | None = None


def post_parts(post: OutboxPost) -> list[PostPart]:
    """A post as Telegram messages: a photo's caption holds ≤ 1024 characters, the rest follows as text."""
    if not post.has_image:
        return [PostPart(i, chunk) for i, chunk in enumerate(split_html(post.text, TEXT_LIMIT))]
    # a text of tags only has no visible caption: the photo goes alone
    caption_chunks = (split_html(post.text, CAPTION_LIMIT) if post.text.strip() else []) or [""]
    parts = [PostPart(0, caption_chunks[0], post.image, post.image_path)]
    rest = "\n".join(caption_chunks[1:])
    if rest.strip():
        parts.extend(PostPart(i, chunk) for i, chunk in enumerate(split_html(rest, TEXT_LIMIT), start=1))
    return parts


class PostSender(Protocol):
    async def send(self, post: OutboxPost, part: PostPart, reply_to: int | None) -> int:
        """Deliver one part; return the message id Telegram (or the stand-in) gave it."""
        ...

    def redact(self, text: str) -> str:
        """Remove secrets (the bot token) from an error text before it is stored or logged."""
        ...


def _chat(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


class TelegramSender:
    """Sends through aiogram with HTML parse mode; replies tolerate a deleted target."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, post: OutboxPost, part: PostPart, reply_to: int | None) -> int:
        if post.kind == "record_edit" and reply_to is not None:
            return await self._edit_record(post, part, reply_to)
        reply = ReplyParameters(message_id=reply_to, allow_sending_without_reply=True) if reply_to is not None else None
        if part.image is not None or part.image_path is not None:
            photo = (
                BufferedInputFile(part.image, filename=f"{post.kind}-{post.id}.png")
                if part.image is not None
                else FSInputFile(str(part.image_path))
            )
            message = await self._bot.send_photo(
                chat_id=_chat(post.chat_id),
                photo=photo,
                caption=part.text or None,
                parse_mode="HTML",
                reply_parameters=reply,
            )
            if post.kind == "record":
                await self._pin(post, message.message_id)
        else:
            message = await self._bot.send_message(
                chat_id=_chat(post.chat_id),
                text=part.text,
                parse_mode="HTML",
                reply_parameters=reply,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        return message.message_id

    async def _pin(self, post: OutboxPost, message_id: int) -> None:
        # the post is delivered whether or not it can be pinned (the bot may lack the right): never re-send it
        try:
            await self._bot.pin_chat_message(chat_id=_chat(post.chat_id), message_id=message_id, disable_notification=True)
        except AiogramError as error:
            log.warning("could not pin the track record in %s: %s", post.chat_id, self.redact(str(error)))

    async def _edit_record(self, post: OutboxPost, part: PostPart, message_id: int) -> int:
        """The pinned track record, edited in place (picture and caption); an unchanged one is no error."""
        if part.index > 0:
            return message_id
        try:
            if part.image is not None or part.image_path is not None:
                photo = (
                    BufferedInputFile(part.image, filename=f"record-{post.id}.png")
                    if part.image is not None
                    else FSInputFile(str(part.image_path))
                )
                media = InputMediaPhoto(media=photo, caption=part.text or None, parse_mode="HTML")
                await self._bot.edit_message_media(chat_id=_chat(post.chat_id), message_id=message_id, media=media)
            else:
                await self._bot.edit_message_caption(
                    chat_id=_chat(post.chat_id), message_id=message_id, caption=part.text, parse_mode="HTML"
                )
        except TelegramBadRequest as error:
            if "not modified" not in str(error).lower():
                raise
        return message_id

    def redact(self, text: str) -> str:
        token = self._bot.token
        return text.replace(token, "<bot-token>") if token else text


_TAGS = re.compile(r"<[^>]+>")


class ConsoleSender:
    """Stand-in for Telegram when there is no token: prints each post readably and writes its image to
    `<out_dir>/<post id>-<kind>.png`. Message ids are made up (post id × 10 + part) and stable."""

    def __init__(self, out_dir: str | Path = "demo-out", console: Console | None = None) -> None:
        self.out_dir = Path(out_dir)
        self._console = console or Console(highlight=False, emoji=False)  # `llm:A:` is a name, not an emoji code

    async def send(self, post: OutboxPost, part: PostPart, reply_to: int | None) -> int:
        message_id = post.id * 10 + part.index
        image_note = ""
        if part.image is not None or part.image_path is not None:
            target = self.out_dir / f"{post.id}-{post.kind}.png"
            await asyncio.to_thread(self._write_image, target, part)
            image_note = f"\n[dim]🖼  {target}[/dim]"
        title = f"#{message_id} {post.kind} → {post.chat_id}"
        if post.kind == "record_edit" and reply_to is not None:
            message_id, title = reply_to, f"#{reply_to} track record edited in place → {post.chat_id}"
        elif post.kind == "record":
            title += " (pinned)"
        elif reply_to is not None:
            title += f" (reply to #{reply_to})"
        plain = html.unescape(_TAGS.sub("", part.text))
        self._console.print(Panel(escape(plain) + image_note, title=title, title_align="left"))
        return message_id

    def _write_image(self, target: Path, part: PostPart) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        data = part.image if part.image is not None else Path(str(part.image_path)).read_bytes()
        target.write_bytes(data)

    def redact(self, text: str) -> str:
        return text


@dataclass(slots=True)
class DrainReport:
    sent: int = 0
    delayed: int = 0
    failed: int = 0
    keys: list[str] = field(default_factory=list)


FailureHook = Alert


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        sender: PostSender,
        *,
        clock: Clock | None = None,
        on_failure: FailureHook | None = None,
        base_backoff_s: float = 2.0,
        max_backoff_s: float = 300.0,
        max_posts_per_drain: int = 200,
        max_attempts: int = 10,
    ) -> None:
        self._outbox = outbox
        self._sender = sender
        self._clock = clock or SystemClock()
        self._on_failure = on_failure
        self._base_backoff_s = base_backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_posts = max_posts_per_drain
        self._max_attempts = max_attempts
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[DrainReport] | None = None
        self._again = False
        self._backing_off: set[int] = set()  # posts waiting out a network/server backoff (not flood control)

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    def set_failure_hook(self, hook: FailureHook | None) -> None:
        """Set after construction when the hook (the notifier's alert) needs this publisher itself."""
        self._on_failure = hook

    async def recover(self) -> list[OutboxPost]:
        """At start-up: the posts that were with the sender when the process died (see module doc)."""
        uncertain = [
            p for p in await self._outbox.posts() if p.status == "pending" and p.attempts > 0 and p.last_error is None
        ]
        for post in uncertain:
            log.warning(
                "post %s was being sent when the process stopped; re-sending from part %d (a duplicate of "
                "that part is possible if Telegram had accepted it)",
                post.dedupe_key,
                len(post.message_ids),
            )
        return uncertain

    def kick(self) -> None:
        """Drain soon in the background (after an enqueue), without making the caller wait for Telegram."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._drain_until_quiet())

    async def _drain_until_quiet(self) -> DrainReport:
        report = DrainReport()
        while True:
            self._again = False
            part = await self.drain()
            report.sent += part.sent
            report.delayed += part.delayed
            report.failed += part.failed
            report.keys.extend(part.keys)
            if not self._again:
                return report

    async def wait_idle(self) -> None:
        """Wait for a background drain started by `kick()` (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            with contextlib.suppress(Exception):
                await self._task

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def retry_now(self) -> int:
        """Telegram is reachable again (#16 item 11): the posts backing off after network or server errors are
        due now instead of after up to `max_backoff_s`, in their order; flood-control waits are kept. Returns
        how many were released, and drains in the background."""
        now = self._clock.now()
        released = 0
        async with self._lock:
            for post in await self._outbox.posts():
                if post.id in self._backing_off and post.status == "pending" and post.next_attempt_at > now:
                    await self._outbox.mark_retry(post.id, now, post.last_error or "")
                    released += 1
            self._backing_off.clear()
        if released:
            self.kick()
        return released

    async def drain(self) -> DrainReport:
        """Send every due post once at most; delayed posts wait for a later drain."""
        report = DrainReport()
        async with self._lock:
            tried: set[int] = set()
            while len(tried) < self._max_posts:
                due = [p for p in await self._outbox.due(self._clock.now()) if p.id not in tried]
                if not due:
                    break
                for post in due:
                    tried.add(post.id)
                    await self._deliver(post, report)
        return report

    async def _deliver(self, post: OutboxPost, report: DrainReport) -> None:
        await self._outbox.mark_handed(post.id, self._clock.now())
        sent_ids = list(post.message_ids)
        try:
            parts = post_parts(post)
            reply_to = await self._reply_target(post)
            for part in parts[len(sent_ids) :]:
                message_id = await self._sender.send(post, part, reply_to if part.index == 0 else None)
                await self._outbox.record_part(post.id, message_id)
                sent_ids.append(message_id)
        except TelegramRetryAfter as error:
            wait = max(1, int(error.retry_after))
            self._backing_off.discard(post.id)
            await self._outbox.mark_retry(post.id, self._clock.now() + timedelta(seconds=wait), self._error_text(error))
            log.warning("flood control on chat %s: post %s waits %ss", post.chat_id, post.dedupe_key, wait)
            report.delayed += 1
            return
        except _PERMANENT as error:
            text = self._error_text(error)
            await self._outbox.mark_failed(post.id, text)
            log.error("post %s rejected by Telegram: %s", post.dedupe_key, text)
            report.failed += 1
            await self._report_failure(post, text)
            return
        except asyncio.CancelledError:
            raise
        except Exception as error:  # network, server, anything else: keep the post and back off
            text = self._error_text(error)
            if not isinstance(error, AiogramError) and post.attempts + 1 >= self._max_attempts:
                await self._outbox.mark_failed(post.id, text)
                log.error("post %s given up after %d attempts: %s", post.dedupe_key, post.attempts + 1, text)
                report.failed += 1
                await self._report_failure(post, f"{text} (after {post.attempts + 1} attempts)")
                return
            # the exponent is capped: after ~1000 attempts (days of outage) 2**n no longer fits a float
            delay = min(self._max_backoff_s, self._base_backoff_s * 2 ** min(max(0, post.attempts), 30))
            await self._outbox.mark_retry(post.id, self._clock.now() + timedelta(seconds=delay), text)
            self._backing_off.add(post.id)
            log.warning("post %s not delivered (%s); retry in %.0fs", post.dedupe_key, text, delay)
            report.delayed += 1
            return
        self._backing_off.discard(post.id)
        await self._outbox.mark_sent(post.id, self._clock.now())
        report.sent += 1
        report.keys.append(post.dedupe_key)

    async def _reply_target(self, post: OutboxPost) -> int | None:
        if not post.reply_to_key:
            return None
        target = await self._outbox.get(post.reply_to_key)
        if target is None or target.chat_id != post.chat_id:
            return None
        return target.message_id

    def _error_text(self, error: BaseException) -> str:
        return self._sender.redact(f"{type(error).__name__}: {error}")[:1000]

    async def _report_failure(self, post: OutboxPost, error: str) -> None:
        if self._on_failure is None or post.kind in ("alert", "notice"):
            return
        try:
            await self._on_failure(f"A {post.kind} post ({post.dedupe_key}) could not be posted: {error}")
        except Exception:
            log.exception("could not alert the admins about the failed post %s", post.dedupe_key)
