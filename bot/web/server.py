"""The read-only aiohttp server (DESIGN §4.9): GET only; data through the app's services, never the database.

Public: `/healthz`, `/readyz`, `/metrics`, `/api/track_record`, `/api/positions`, `/api/trades`,
`/api/why/{signal_id}` and the page at `/`. `/api/admin/*` needs a Mini App `initData` of an admin,
or `Authorization: Bearer <WEB_ADMIN_TOKEN>` when that is set."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any, Protocol

from aiohttp import web

from bot.web import payloads
from bot.web.init_data import InitDataRefused, admin_of
from bot.web.metrics import CONTENT_TYPE, Metrics, Scrape
from bot.web.readiness import Check, run_checks
from core.errors import UserInputError
from core.evaluation.leaderboard import LeaderboardService
from core.protocols import CycleRecord, TradeHistory
from core.services.control import ControlService
from core.services.cycle import CycleSummary

log = logging.getLogger(__name__)

INIT_DATA_HEADER = "X-Telegram-Init-Data"
DEFAULT_TRADES = 50
STATIC = files("bot.web") / "static"
PAGES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"),
         "/style.css": ("style.css", "text/css")}
# Telegram shows Mini Apps in an iframe on its web clients: framing is allowed for Telegram only.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'self' https://web.telegram.org https://*.telegram.org")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Server": "aitrader",  # not aiohttp's name and version
}
RATE_LIMIT = 300  # requests per client address and RATE_WINDOW_S; the page makes ~6 per load
RATE_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class WebSources:
    """What the server reads. `now` is the app's clock (simulated in the demo), `wall_now` real time for
    initData's age; `token` only checks signatures and is never served."""

    control: ControlService
    history: TradeHistory
    outbox_depth: Callable[[], Awaitable[int]]
    checks: Mapping[str, Check]
    admin_ids: Collection[int]
    token: str | None
    wall_now: Callable[[], datetime]
    llm_tokens_today: Callable[[], Awaitable[int]] | None = None
    llm_cost_usd: Callable[[], Awaitable[float]] | None = None
    admin_token: str | None = None  # WEB_ADMIN_TOKEN: `Authorization: Bearer …` opens the admin views too
    leaderboard: LeaderboardService | None = None
    decisions: RecentDecisions | None = None


class RecentDecisions(Protocol):
    """The decision log, newest first (`storage.decision_log_repo.SqliteDecisionLog.recent`)."""

    async def recent(self, limit: int = 50) -> list[CycleRecord]: ...


@web.middleware
async def _headers(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                   ) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # 404, 405 …: raised on, with the headers too
        error.headers.update(HEADERS)
        raise
    except Exception as error:  # one line in the log, a plain 500 out (no traceback, no paths)
        log.error("dashboard %s failed: %s: %s", request.path, type(error).__name__, error)
        response = _json({"error": "internal error"}, status=500)
    response.headers.update(HEADERS)
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


class RateLimit:
    """A sliding window per client address. Behind a proxy every client shares the proxy's address: the
    limit then caps the whole dashboard, which still bounds the load it can put on the bot."""

    def __init__(self, limit: int = RATE_LIMIT, window_s: float = RATE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, client: str) -> float | None:
        """None when the request may go on, else the seconds until it may."""
        now = self._clock()
        seen = self._seen.setdefault(client, deque())
        while seen and now - seen[0] >= self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            return self.window_s - (now - seen[0])
        seen.append(now)
        if len(self._seen) > 10_000:  # forget idle clients
            self._seen = {k: v for k, v in self._seen.items() if v and now - v[-1] < self.window_s}
        return None


def _limit(request: web.Request) -> int | web.Response:
    raw = request.query.get("limit", str(DEFAULT_TRADES))
    if not raw.isdecimal() or not 1 <= int(raw) <= payloads.MAX_TRADES:
        return _json({"error": f"limit must be a whole number from 1 to {payloads.MAX_TRADES}"}, status=400)
    return int(raw)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, allow_nan=False), status=status, content_type="application/json")


class WebServer:
    def __init__(self, sources: WebSources, rate_limit: RateLimit | None = None) -> None:
        self.sources = sources
        self.metrics = Metrics()
        self.rate_limit = rate_limit or RateLimit()
        self.app = web.Application(middlewares=[_headers, self._limit])
        routes = [
            web.get("/healthz", self.healthz),
            web.get("/readyz", self.readyz),
            web.get("/metrics", self.metrics_text),
            web.get("/api/track_record", self.track_record),
            web.get("/api/positions", self.positions),
            web.get("/api/trades", self.trades),
            web.get("/api/why/{signal_id}", self.why),
            web.get("/api/leaderboard", self.leaderboard),
            web.get("/api/decisions", self.decisions),
            web.get("/api/admin/audit", self.admin_audit),
            web.get("/api/admin/risk", self.admin_risk),
        ]
        routes += [web.get(path, self.page) for path in PAGES]
        self.app.add_routes(routes)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @web.middleware
    async def _limit(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if request.path not in ("/healthz", "/readyz", "/metrics"):  # probes and scrapers are not throttled
            wait = self.rate_limit.retry_after(request.remote or "?")
            if wait is not None:
                response = _json({"error": "too many requests"}, status=429)
                response.headers["Retry-After"] = str(max(int(wait + 0.999), 1))
                return response
        return await handler(request)

    def observe_cycle(self, summary: CycleSummary | None) -> None:
        if summary is not None:
            self.metrics.observe_cycle(summary)

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: any free port); returns the port."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        log.info("dashboard on http://%s:%s/", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- public ---------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"ok": True})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = await run_checks(self.sources.checks)
        ok = all(c["ok"] for c in checks.values())
        return _json({"ok": ok, "checks": checks}, status=200 if ok else 503)

    async def metrics_text(self, request: web.Request) -> web.Response:
        s = self.sources
        status = await s.control.status()
        tokens = await s.llm_tokens_today() if s.llm_tokens_today else None
        cost = await s.llm_cost_usd() if s.llm_cost_usd else None
        scrape = Scrape(guard_counts=status.guard_counts, open_positions=len(status.positions),
                        equity=status.equity, outbox_depth=await s.outbox_depth(), llm_tokens_today=tokens,
                        llm_cost_usd=cost)
        body = self.metrics.render(scrape)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def track_record(self, request: web.Request) -> web.Response:
        s = self.sources
        legs, equity = await asyncio.gather(s.history.closed_trades(), s.history.equity_curve())
        open_ids = {p.id for p in await s.control.positions()}
        body = await asyncio.to_thread(payloads.track_record, equity, legs, open_ids)
        return _json(body)

    async def positions(self, request: web.Request) -> web.Response:
        return _json([payloads.position(p) for p in await self.sources.control.positions()])

    async def trades(self, request: web.Request) -> web.Response:
        limit = _limit(request)
        if isinstance(limit, web.Response):
            return limit
        legs = await self.sources.history.closed_trades()
        return _json(payloads.recent_trades(legs, limit))

    async def decisions(self, request: web.Request) -> web.Response:
        """The decision log: engine, model, decision and guard verdict per symbol and cycle, newest first."""
        limit = _limit(request)
        if isinstance(limit, web.Response):
            return limit
        if self.sources.decisions is None:
            return _json([])
        return _json([payloads.why(e) for e in await self.sources.decisions.recent(limit)])

    async def why(self, request: web.Request) -> web.Response:
        signal_id = request.match_info["signal_id"]
        try:
            entry = await self.sources.control.why(signal_id[:200])
        except UserInputError as error:
            return _json({"error": str(error)}, status=400)
        if entry is None:
            return _json({"error": "no such signal"}, status=404)
        return _json(payloads.why(entry))

    async def leaderboard(self, request: web.Request) -> web.Response:
        """Strategy versions ranked as `aitrader leaderboard --json` ranks them (DESIGN §4.8)."""
        if self.sources.leaderboard is None:
            return _json({"rows": [], "live_version": None})
        board = await self.sources.leaderboard.board(20)
        return _json({"rows": [r.to_json() for r in board.rows], "live_version": board.live_version})

    async def page(self, request: web.Request) -> web.Response:
        name, kind = PAGES[request.path]
        return web.Response(body=(STATIC / name).read_bytes(), content_type=kind, charset="utf-8")

    # ---- admins (Mini App initData) -------------------------------------------------------------

    def _admin(self, request: web.Request) -> web.Response | None:
        """None when the request may see admin views: a Mini App initData signed for an admin, or (plain web)
        the WEB_ADMIN_TOKEN as a bearer token, compared in constant time and never logged."""
        s = self.sources
        authorization = request.headers.get("Authorization")
        if authorization is not None:
            scheme, _, given = authorization.partition(" ")
            if not s.admin_token:
                return _json({"error": "no WEB_ADMIN_TOKEN is set: admin views open only from the Mini App"},
                             status=401)
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), s.admin_token.encode()):
                return _json({"error": "bearer token is not valid"}, status=401)
            return None
        if s.admin_token and not s.token and not request.headers.get(INIT_DATA_HEADER):
            return _json({"error": "missing Authorization: Bearer <WEB_ADMIN_TOKEN>"}, status=401)
        try:
            admin_of(request.headers.get(INIT_DATA_HEADER), token=s.token, admin_ids=s.admin_ids, now=s.wall_now())
        except InitDataRefused as refused:
            return _json({"error": refused.reason}, status=refused.status)
        return None

    async def admin_audit(self, request: web.Request) -> web.Response:
        refused = self._admin(request)
        if refused is not None:
            return refused
        return _json(payloads.audit(await self.sources.control.audit(50)))

    async def admin_risk(self, request: web.Request) -> web.Response:
        refused = self._admin(request)
        if refused is not None:
            return refused
        state = await self.sources.control.state()
        return _json({"limits": payloads.risk(await self.sources.control.risk()),
                      "state": {"paused": state.paused, "dry_run": state.dry_run,
                                "max_leverage": state.max_leverage, "symbols": list(state.symbols)}})
