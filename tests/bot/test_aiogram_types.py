"""aiogram imported with its types built on first use (bot/aiogram_types.py) must behave as shipped.

The checks that need a fresh interpreter (nothing built yet, every type buildable) run in a subprocess;
the rest of the suite already runs on the lazily built types, since tests/conftest.py imports them first.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import bot.aiogram_types

import pytest
from aiogram.methods import SendPhoto
from aiogram.methods.base import Response
from aiogram.types import Message, Update

REPO = Path(__file__).resolve().parents[2]


def run_fresh(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_this_process_uses_the_lazy_types() -> None:
    assert bot.aiogram_types.LAZY_TYPES is True


@pytest.mark.slow  # fresh interpreters that import aiogram
def test_types_are_not_built_at_import_and_every_type_and_method_builds_on_first_use() -> None:
    out = run_fresh(
        """
        import inspect
        import bot.aiogram_types
        import aiogram.methods, aiogram.types
        from pydantic import BaseModel

        assert bot.aiogram_types.LAZY_TYPES
        def models(package):
            return [o for o in vars(package).values() if inspect.isclass(o) and issubclass(o, BaseModel)]
        def main():  # pydantic's first-use build reads a caller's frame 5 levels up: not at module level
            types, methods = models(aiogram.types), models(aiogram.methods)
            built_at_import = [t.__name__ for t in types if t.__pydantic_complete__]
            assert not built_at_import, built_at_import
            for model in types + methods:
                model.__pydantic_validator__.validate_python  # a deferred model builds here, or raises
                model.__pydantic_serializer__.to_python
            print(len(types), len(methods), sum(not m.__pydantic_complete__ for m in types + methods))
        main()
        """
    )
    n_types, n_methods, incomplete = map(int, out.split())
    assert n_types > 250 and n_methods > 100
    assert incomplete == 0


@pytest.mark.slow
def test_importing_after_aiogram_changes_nothing() -> None:
    out = run_fresh(
        """
        import aiogram.types
        import bot.aiogram_types
        print(bot.aiogram_types.LAZY_TYPES, aiogram.types.Message.__pydantic_complete__)
        """
    )
    assert out.split() == ["False", "True"]


def test_nested_update_validates_into_typed_objects() -> None:
    update = Update.model_validate(
        {
            "update_id": 7,
            "message": {
                "message_id": 3,
                "date": 1_700_000_000,
                "chat": {"id": -100, "type": "supergroup", "title": "desk"},
                "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
                "text": "/leverage 5",
                "entities": [{"type": "bot_command", "offset": 0, "length": 9}],
                "reply_to_message": {
                    "message_id": 2,
                    "date": 1_700_000_000,
                    "chat": {"id": -100, "type": "supergroup"},
                    "photo": [{"file_id": "f", "file_unique_id": "u", "width": 800, "height": 600}],
                    "reply_markup": {"inline_keyboard": [[{"text": "Confirm", "callback_data": "c:1"}]]},
                },
            },
        }
    )
    message = update.message
    assert message is not None and message.from_user is not None
    assert (message.chat.type, message.from_user.id, message.entities[0].type) == ("supergroup", 42, "bot_command")
    reply = message.reply_to_message
    assert reply is not None and reply.photo is not None and reply.reply_markup is not None
    assert reply.photo[0].width == 800
    assert reply.reply_markup.inline_keyboard[0][0].callback_data == "c:1"


def test_method_requests_and_responses_round_trip() -> None:
    method = SendPhoto(chat_id="@channel", photo="file-id", caption="<b>BTC</b>", reply_parameters={"message_id": 9})
    assert method.reply_parameters is not None and method.reply_parameters.message_id == 9
    dumped = method.model_dump(exclude_none=True)
    assert dumped["reply_parameters"]["message_id"] == 9
    response = Response[Message].model_validate(
        {"ok": True, "result": {"message_id": 11, "date": 0, "chat": {"id": -100, "type": "channel"}, "caption": "x"}}
    )
    assert response.result is not None and response.result.chat.type == "channel"
