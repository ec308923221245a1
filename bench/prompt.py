"""Prompt tokens per symbol (system + user) for real snapshots. Target: at most 1,200 tokens per symbol.

    .venv/bin/python bench/prompt.py [--data DIR] [--at ISO] [--news]

`--news` adds the worst usual `sentiment` (#17): Fear & Greed, a news score and the most key events a snapshot
carries, with long real-style headlines.

Snapshots come from the real Binance perp data in ../shared/data (built the way `aitrader snapshot` builds
them); the account context is the worst usual case: an open position on the symbol and three closed
trades. Tokens are counted with the o200k_base encoding (gpt-4o family) by the first counter available:
`tiktoken` (needs its encoding file, downloaded on first use), `bpe_openai` (ships the encodings, works
offline), else an approximation (documented in `approx_tokens`). The chat format adds about 3 tokens per
message plus 3 for the reply, counted in the total.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.decide.prompt import build_messages  # noqa: E402
from core.market.snapshot_json import snapshot_from_json  # noqa: E402
from core.models import AccountView, ClosedTrade, Position, Snapshot  # noqa: E402

DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
FIXTURES = ROOT / "tests" / "fixtures" / "snapshots"
TARGET = 1_200
CHAT_OVERHEAD = 3 * 2 + 3  # per message (2 messages) and the reply primer
_PIECES = re.compile(r"[^\W\d_]+|\d{1,3}|[^\s\w]+|\s+")


def approx_tokens(text: str) -> int:
    """Without a tokenizer: split like GPT pre-tokenizers do (letter runs, digit groups of up to three,
    punctuation runs), count a letter run of n characters as ceil(n / 6) tokens and every other piece as
    one, plus 3 % for safety. On these prompts the raw count was 1.5 % under o200k_base (checked against
    bpe_openai), so the result errs a little high."""
    total = 0
    for piece in _PIECES.findall(text):
        if piece.isspace():
            total += 1 if "\n" in piece else 0
        elif piece[0].isalpha():
            total += math.ceil(len(piece) / 6)
        else:
            total += 1
    return math.ceil(total * 1.03)


def token_counter() -> tuple[str, Callable[[str], int]]:
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("o200k_base")
        return "tiktoken o200k_base", lambda text: len(encoding.encode(text))
    except Exception:  # not installed, or offline and the encoding file cannot be fetched
        pass
    try:
        import bpe_openai

        bpe = bpe_openai.get_encoding("o200k_base")
        return "bpe_openai o200k_base", lambda text: len(bpe.encode(text))
    except Exception:
        pass
    return "approximation (see approx_tokens)", approx_tokens


def real_snapshots(data: Path, at: datetime) -> list[Snapshot]:
    try:
        from core.market.offline import OfflineMarketData
        from core.market.snapshot import LiveSnapshotSource
    except ImportError:
        OfflineMarketData = None  # type: ignore[assignment,misc]
    if OfflineMarketData is not None and data.is_dir():
        market = OfflineMarketData(data)

        async def build() -> list[Snapshot]:
            source = LiveSnapshotSource(market)
            symbols = sorted(await market.symbols())
            return [await source.snapshot(symbol, at) for symbol in symbols]

        return asyncio.run(build())
    print(f"(core.market.snapshot or {data} unavailable: using the snapshot fixtures)")
    return [snapshot_from_json(json.loads(p.read_text())) for p in sorted(FIXTURES.glob("*.json"))]


def busy_account(snapshot: Snapshot) -> AccountView:
    price, t = snapshot.price, snapshot.as_of
    position = Position(
        "p1", snapshot.symbol, "long", 0.5, price * 0.98, t - timedelta(hours=7), 5, price * 0.96, price * 0.96,
        (price * 1.01, price * 1.03), price * 0.8, price * 0.1,
    )
    trades = tuple(
        ClosedTrade(
            f"t{i}", snapshot.symbol, "short" if i % 2 else "long", t - timedelta(days=3 - i), price * (1 + i / 50),
            t - timedelta(days=2 - i), price * (1 + i / 40), 0.5, 5, price * 1.03, "tp1" if i else "stop",
            12.3 * (i - 1), 1.1, 0.2, 11.0 * (i - 1),
        )
        for i in range(3)
    )
    return AccountView(10_432.17, 8_900.0, positions=(position,), recent_trades=trades)


def with_news(snapshot: Snapshot) -> Snapshot:
    from dataclasses import replace

    from core.market.sentiment import MAX_KEY_EVENTS
    from core.models import KeyEvent, Sentiment

    titles = (
        "Exchange halts withdrawals after $200M hack drains hot wallets; user funds in cold storage said to be safe",
        "SEC sues crypto lender over unregistered yield product as regulators widen crackdown on the industry",
        "Bitcoin surges past $62K as spot ETF inflows hit a record $670 million in a single trading day",
        "Ether options traders bet on $4K by end of March as Dencun upgrade date is confirmed by core developers",
    )
    events = tuple(KeyEvent(snapshot.as_of - timedelta(hours=2 + 5 * k), titles[k], (-2, -2, 2, 1)[k])
                   for k in range(MAX_KEY_EVENTS))
    return replace(snapshot, sentiment=Sentiment(23, -1.37, events, "cointelegraph.com"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--at", default="2024-03-01T12:00:00Z")
    parser.add_argument("--news", action="store_true", help="with the worst usual sentiment (#17)")
    args = parser.parse_args()
    at = datetime.fromisoformat(args.at.replace("Z", "+00:00")).astimezone(UTC)
    name, count = token_counter()
    print(f"token counter: {name}")
    snapshots = real_snapshots(args.data, at)
    if args.news:
        snapshots = [with_news(s) for s in snapshots]
    worst = 0
    print(f"{'symbol':<20} {'system':>7} {'user':>6} {'total':>6}  (flat account: total)")
    for snapshot in snapshots:
        system, user = build_messages(snapshot, busy_account(snapshot))
        flat_user = build_messages(snapshot, AccountView(10_000.0, 10_000.0))[1]
        s_tokens, u_tokens = count(system["content"]), count(user["content"])
        total = s_tokens + u_tokens + CHAT_OVERHEAD
        flat_total = s_tokens + count(flat_user["content"]) + CHAT_OVERHEAD
        worst = max(worst, total)
        print(f"{snapshot.symbol:<20} {s_tokens:>7} {u_tokens:>6} {total:>6}  ({flat_total})")
        if not name.startswith("approx"):
            approx = approx_tokens(system["content"]) + approx_tokens(user["content"]) + CHAT_OVERHEAD
            print(f"{'':<20} approximation would say {approx}")
    verdict = "OK" if worst <= TARGET else "OVER"
    print(f"worst prompt: {worst} tokens per symbol (target <= {TARGET}): {verdict}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
