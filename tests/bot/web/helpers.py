"""A demo App over the bundled real sample data with the dashboard on a free loopback port, and Telegram's
initData signing (written from https://core.telegram.org/bots/webapps, independent of aiogram's check)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from bot.app import App
from bot.commands.demo_cmd import DEFAULT_START
from bot.settings import load_settings
from core.clock import SimulatedClock
from core.market.offline import OfflineMarketData, sample_data_dir

TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
ADMIN = 1001
FOLLOWER = 2002
ENV = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHANNEL_ID", "TELEGRAM_ADMIN_IDS", "LLM_API_KEY", "ENGINE",
       "EXCHANGE_API_KEY", "EXCHANGE_SECRET", "MARKET_DATA_DIR", "DATABASE_PATH", "SYMBOLS", "DRY_RUN",
       "WEB_PORT", "WEB_PUBLIC_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dashboard_app(tmp_path: Path, port: int) -> tuple[App, SimulatedClock]:
    settings = load_settings(
        env_file=None,
        market_data_dir=sample_data_dir(),
        database_path=tmp_path / "app.sqlite",
        symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"),
        telegram_admin_ids=(ADMIN,),
        web_port=port,
    )
    clock = SimulatedClock(DEFAULT_START)
    market = OfflineMarketData(sample_data_dir(), clock=clock)
    return App(settings, clock=clock, demo=True, console_out=tmp_path / "out", market_data=market), clock


def signed_init_data(token: str, user_id: int, auth_date: datetime, *, secret_token: str | None = None) -> str:
    """initData as Telegram signs it: HMAC-SHA256 over the sorted `key=value` lines, keyed by
    HMAC-SHA256("WebAppData", bot token). `secret_token` signs with another bot's token (a forgery)."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps({"id": user_id, "first_name": "Ann", "username": "ann"}, separators=(",", ":")),
        "auth_date": str(int(auth_date.timestamp())),
    }
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", (secret_token or token).encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)
