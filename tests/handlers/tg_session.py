"""In-process Telegram for handler tests: a recording aiogram session and update builders.

`RecordingSession` is a real `BaseSession` subclass: aiogram serialises each method exactly as it would
for Telegram, and the session answers with real-shaped JSON parsed by aiogram's own response path.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.types import CallbackQuery, Chat, Message, MessageEntity, Update, User

BOT_ID = 999_000
ADMIN_ID = 1001
OTHER_ADMIN_ID = 1002
USER_ID = 2002


@dataclass
class Call:
    name: str
    params: dict[str, Any]


@dataclass
class RecordingSession(BaseSession):
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(500)

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109
        params = method.model_dump(exclude_none=True, mode="python")
        name = type(method).__name__
        self.calls.append(Call(name, params))
        too_long = _over_limit(name, params)
        if too_long:  # as Telegram answers it
            self.check_response(bot, method, 400, json.dumps({"ok": False, "error_code": 400, "description": too_long}))
        result = self._result(name, params)
        response = self.check_response(bot, method, 200, json.dumps({"ok": True, "result": result}))
        return response.result

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        now = int(datetime.now(UTC).timestamp())
        if name == "GetMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "AI Trader", "username": "aitrader_test_bot"}
        chat_id = params.get("chat_id", 0)
        chat = {"id": int(chat_id) if str(chat_id).lstrip("-").isdigit() else -100123, "type": "private"}
        if name == "SendMessage":
            return {"message_id": next(self._ids), "date": now, "chat": chat, "text": params.get("text", "")}
        if name == "SendPhoto":
            photo = [{"file_id": "f1", "file_unique_id": "u1", "width": 100, "height": 60}]
            return {
                "message_id": next(self._ids), "date": now, "chat": chat, "photo": photo,
                "caption": params.get("caption", ""),
            }
        if name == "EditMessageText":
            return {"message_id": params.get("message_id", 1), "date": now, "chat": chat, "text": params["text"]}
        return True

    # ---- reading what the bot did ---------------------------------------------------------------

    def named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def texts(self) -> list[str]:
        out = []
        for c in self.calls:
            if c.name in ("SendMessage", "EditMessageText"):
                out.append(c.params["text"])
            elif c.name == "SendPhoto":
                out.append(c.params.get("caption", ""))
            elif c.name == "AnswerCallbackQuery":
                out.append(c.params.get("text", ""))
        return out

    def last_text(self) -> str:
        texts = self.texts()
        assert texts, f"the bot sent nothing; calls: {[c.name for c in self.calls]}"
        return texts[-1]

    def clear(self) -> None:
        self.calls.clear()


def _over_limit(name: str, params: dict[str, Any]) -> str | None:
    if name in ("SendMessage", "EditMessageText") and len(params.get("text", "")) > 4096:
        return "Bad Request: message is too long"
    if name == "SendPhoto" and len(params.get("caption", "")) > 1024:
        return "Bad Request: message caption is too long"
    return None


_update_ids = itertools.count(1)
_message_ids = itertools.count(1)


def user(user_id: int) -> User:
    return User(id=user_id, is_bot=False, first_name=f"user{user_id}")


def command_update(text: str, user_id: int) -> Update:
    """A private-chat message from `user_id`, with the bot_command entity Telegram would add."""
    command = text.split()[0] if text.startswith("/") else ""
    entities = [MessageEntity(type="bot_command", offset=0, length=len(command))] if command else None
    return Update(
        update_id=next(_update_ids),
        message=Message(
            message_id=next(_message_ids),
            date=datetime.now(UTC),
            chat=Chat(id=user_id, type="private"),
            from_user=user(user_id),
            text=text,
            entities=entities,
        ),
    )


def callback_update(data: str, user_id: int, chat_id: int) -> Update:
    return Update(
        update_id=next(_update_ids),
        callback_query=CallbackQuery(
            id=str(next(_update_ids)),
            from_user=user(user_id),
            chat_instance="ci",
            data=data,
            message=Message(
                message_id=next(_message_ids),
                date=datetime.now(UTC),
                chat=Chat(id=chat_id, type="private"),
                from_user=User(id=BOT_ID, is_bot=True, first_name="AI Trader"),
                text="confirm?",
            ),
        ),
    )
