"""A real local HTTP server for the news gateways (#17): serves fixture bodies by path, with a scripted status or
delay per path, over TCP so httpx and feedparser read them as they would CoinDesk, CryptoPanic or alternative.me.
Every request (path and query) is recorded."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "news"


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "application/rss+xml"
    delay_s: float = 0.0


class FakeNewsServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def serve(self, path: str, body: bytes | str, **kwargs: Any) -> str:
        self.routes[path] = Route(body.encode() if isinstance(body, str) else body, **kwargs)
        return self.url(path)

    def fixture(self, path: str, name: str, **kwargs: Any) -> str:
        return self.serve(path, (FIXTURES / name).read_bytes(), **kwargs)

    def start(self) -> FakeNewsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                route = fake.routes.get(urlsplit(self.path).path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if route.delay_s:
                    time.sleep(route.delay_s)
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that timed out
                    self.wfile.write(route.body)

        return Handler


@pytest.fixture
def news_server() -> Iterator[FakeNewsServer]:
    """The stand-in, started and stopped around one test (import it into a test module to use it)."""
    fake = FakeNewsServer().start()
    yield fake
    fake.stop()
