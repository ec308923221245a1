"""A local Bot API server for fault tests: real HTTP on loopback, Telegram-shaped answers, and a switch
that makes it refuse the token (401 Unauthorized, as Telegram answers a revoked token) or fail (500).

The shared emulator (../shared/tools/telegram-emulator) accepts any token, so it cannot play a revoked one.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from aiohttp import web

UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}
NOT_FOUND = {"ok": False, "error_code": 404, "description": "Not Found"}  # Telegram's answer to an unknown token
SERVER_ERROR = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
ME = {"id": 777000111, "is_bot": True, "first_name": "AI Trader", "username": "aitrader_fault_bot"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FakeBotApi:
    mode: str = "ok"  # "ok" | "revoked" | "unknown" | "down"
    calls: list[str] = field(default_factory=list)
    sent: list[dict[str, str]] = field(default_factory=list)  # the fields of every sendMessage
    posted: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # every call's method and fields
    revoke_after_updates: int | None = None  # after this many getUpdates, answer 401 to everything
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self, port: int | None = None) -> str:
        """Listen on `port` (a free one by default); stop() then start(same port) is Telegram going away and
        coming back."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        fields = {k: str(v) for k, v in (await request.post()).items()}
        self.posted.append((method, fields))
        if method.lower() == "sendmessage":
            self.sent.append(fields)
        limit = self.revoke_after_updates
        if method.lower() == "getupdates" and limit is not None and self.calls.count(method) > limit:
            self.mode = "revoked"
        if self.mode == "revoked":
            return web.json_response(UNAUTHORIZED, status=401)
        if self.mode == "unknown":
            return web.json_response(NOT_FOUND, status=404)
        if self.mode == "down":
            return web.json_response(SERVER_ERROR, status=500)
        result: object = True
        if method.lower() == "getme":
            result = ME
        elif method.lower() == "getupdates":
            await asyncio.sleep(0.2)  # a short long-poll, so polling does not spin
            result = []
        elif method.lower() == "sendmessage":
            chat = {"id": int(self.sent[-1].get("chat_id", "1")), "type": "private"}
            result = {"message_id": len(self.sent), "date": 1700000000, "chat": chat, "text": self.sent[-1]["text"]}
        return web.json_response({"ok": True, "result": result})
