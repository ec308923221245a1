"""The news analyst without an LLM (#17): keyword rules give a headline an impact −2..+2 and its coins.

Deliberately plain and predictable: the strongest matching rule decides the impact (a negative beats a
positive of the same strength: "ETF approval delayed after hack" reads as the hack); coins are named by
ticker or name (short tickers that are also words — SOL, ADA, DOT, LINK — only by name). A headline naming no known coin is about the whole market.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.market.news import Headline
from core.market.sentiment import HeadlineScore

# (impact, pattern) — word-boundary regexes over the lower-cased title (and summary)
_RULES: tuple[tuple[int, str], ...] = (
    (-2, r"hack(ed|er|ers)?|exploit(ed)?|drained|stolen|heist|insolven\w*|bankrupt\w*|halts? withdrawals|"
         r"rug ?pull|depeg\w*|collapse[sd]?|ponzi|fraud charges?"),
    (-2, r"sec (sues|charges)|lawsuit against|banned?|ban on|crackdown"),
    (-1, r"plunge[sd]?|crash(es|ed)?|tumble[sd]?|slump[sd]?|sell-?off|liquidat\w+|outflows?|delay(s|ed)?|"
         r"reject(s|ed)?|probe|investigation|fine[sd]?|downgrade[sd]?|bearish|fears?|warns?|lawsuit|sues"),
    (2, r"etf (approved|approval)|approves? (spot )?\w* ?etf|record high|all-time high|ath\b"),
    (1, r"surge[sd]?|rall(y|ies|ied)|soar(s|ed)?|jumps?|gains?|inflows?|adopt(s|ed|ion)|partnership|"
        r"launch(es|ed)?|upgrade[sd]?|bullish|approv(e|es|ed|al)|buys?|accumulat\w+"),
)
_COMPILED = tuple((impact, re.compile(rf"\b(?:{pattern})\b")) for impact, pattern in _RULES)

COIN_NAMES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "btc"),
    "ETH": ("ethereum", "ether", "eth"),
    "SOL": ("solana",),
    "XRP": ("ripple", "xrp"),
    "BNB": ("binance coin", "bnb"),
    "ADA": ("cardano",),
    "DOGE": ("dogecoin", "doge"),
    "LTC": ("litecoin", "ltc"),
    "AVAX": ("avalanche", "avax"),
    "DOT": ("polkadot",),
    "LINK": ("chainlink",),
    "TRX": ("tron", "trx"),
}
_COIN_PATTERNS = {
    coin: re.compile(r"(?<![\w$])\$?(?:" + "|".join(re.escape(n) for n in names) + r")\b")
    for coin, names in COIN_NAMES.items()
}


def keyword_impact(text: str) -> int:
    lowered = text.lower()
    hits = [impact for impact, pattern in _COMPILED if pattern.search(lowered)]
    if not hits:
        return 0
    strongest = max(abs(i) for i in hits)
    return -strongest if -strongest in hits else strongest


def coins_named(text: str) -> tuple[str, ...]:
    lowered = text.lower()
    return tuple(coin for coin, pattern in _COIN_PATTERNS.items() if pattern.search(lowered))


class KeywordScorer:
    name = "keywords"

    async def score(self, headlines: Sequence[Headline]) -> dict[str, HeadlineScore]:
        return {h.guid: score_text(h.title, h.summary) for h in headlines}


def score_text(title: str, summary: str = "") -> HeadlineScore:
    """Impact from the title (the summary only when the title matches nothing); coins from both."""
    impact = keyword_impact(title) or keyword_impact(summary)
    return HeadlineScore(impact, coins_named(f"{title} {summary}"))


__all__ = ["COIN_NAMES", "KeywordScorer", "coins_named", "keyword_impact", "score_text"]
