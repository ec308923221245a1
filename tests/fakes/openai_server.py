"""A real local HTTP server speaking OpenAI's `/v1/chat/completions`, with scripted behaviour per request.

It runs `http.server` in a thread, so the real openai SDK (httpx underneath) talks to it over TCP exactly as
it would to OpenAI, OpenRouter, DeepSeek, Ollama or vLLM. Each request takes the next scripted `Reply`
(the last one repeats); a reply may also be a function of the request body, e.g. to refuse
`response_format` json_schema the way DeepSeek does. Every request (headers and JSON body) is recorded
so tests can check what was sent — including that the API key never reached a prompt.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = None  # the assistant message content for a 200
    body: dict[str, Any] | None = None  # a raw JSON body instead of a completion
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drip_s: float = 0.0  # send the body one byte at a time, this long apart (a stalled proxy or server)
    prompt_tokens: int = 900
    completion_tokens: int = 80
    usage: bool = True
    finish_reason: str = "stop"  # "length" when a real server stops at max_tokens


def answer(content: str | None, **kwargs: Any) -> Reply:
    return Reply(content=content, **kwargs)


def error(status: int, message: str = "error", *, headers: dict[str, str] | None = None, **kwargs: Any) -> Reply:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
    return Reply(status=status, body=body, headers=headers or {}, **kwargs)


ReplyRule = Reply | Callable[[dict[str, Any]], Reply]


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: str
    at: float

    @property
    def model(self) -> str:
        return str(self.body.get("model"))

    @property
    def response_format(self) -> str | None:
        fmt = self.body.get("response_format")
        return None if fmt is None else fmt.get("type")

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))


class FakeOpenAIServer:
    def __init__(self, port: int = 0) -> None:  # 0: any free port; a fixed one keeps base_url (cache keys) stable
        self.requests: list[ReceivedRequest] = []
        self.models: list[str] = ["main-model"]  # what GET /models lists
        self._script: list[ReplyRule] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # a reply still sleeping for a timed-out client must not hold us
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: ReplyRule | Iterable[ReplyRule]) -> None:
        """Replies for the next requests, in order; the last one repeats."""
        flat: list[ReplyRule] = []
        for reply in replies:
            if isinstance(reply, Reply) or callable(reply):
                flat.append(reply)
            else:
                flat.extend(reply)
        with self._lock:
            self._script = flat

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if not self._script:
                rule: ReplyRule = error(500, "no scripted reply")
            elif len(self._script) == 1:
                rule = self._script[0]
            else:
                rule = self._script.pop(0)
        return rule(body) if callable(rule) and not isinstance(rule, Reply) else rule

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

            def do_GET(self) -> None:
                if self.path.endswith("/models"):  # what `aitrader check` lists first
                    self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}, {})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length).decode()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                server.requests.append(
                    ReceivedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw, time.time())
                )
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}}, {})
                    return
                reply = server._next(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = reply.body if reply.body is not None else _completion(body, reply)
                headers = {**reply.headers, **({"x-fake-drip-s": str(reply.drip_s)} if reply.drip_s else {})}
                self._send(reply.status, payload, headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    if reply_drip := headers.get("x-fake-drip-s"):
                        for byte in data:
                            self.wfile.write(bytes((byte,)))
                            self.wfile.flush()
                            time.sleep(float(reply_drip))
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        return Handler


def _completion(request: dict[str, Any], reply: Reply) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "unknown"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }
        ],
    }
    if reply.usage:
        body["usage"] = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }
    return body
