"""`CcxtMarketData`: the `MarketData` protocol on `ccxt.async_support` (live candles, funding, ticker…).

Every request goes through `_call`, which retries ccxt's NetworkError family (timeouts, exchange not
available, DDoS protection, RateLimitExceeded) with exponential backoff (tenacity) and then raises
`TemporaryError`; ccxt itself spaces requests by the exchange's rate limit (`enableRateLimit`).
An unknown symbol becomes `MissingDataError` (a user error naming it).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import ccxt
import ccxt.async_support as ccxt_async
import pandas as pd
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from core.errors import TemporaryError, UserInputError
from core.market.offline import OHLCV, MissingDataError
from core.market.scan import MarketStats
from core.market.timeframes import tf_ms, to_ms
from core.protocols import OrderBookTop, Ticker

T = TypeVar("T")

MAX_PAGE = 1000  # candles / funding rows per request (Binance allows 1500 for klines, 1000 for funding)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _one_line(error: Exception) -> str:
    """ccxt messages carry the exchange id, method and URL on separate lines."""
    return " ".join(str(error).split())


def candles_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """ccxt OHLCV rows `[ms, o, h, l, c, v]` → frame indexed by UTC open time (sorted, unique)."""
    frame = pd.DataFrame([list(r[:6]) for r in rows], columns=["timestamp_ms", *OHLCV])
    index = pd.DatetimeIndex(pd.to_datetime(frame.pop("timestamp_ms").astype("int64"), unit="ms", utc=True))
    frame.index = index.as_unit("ns")
    frame.index.name = "date"
    frame = frame.astype("float64")
    return frame[~frame.index.duplicated(keep="last")].sort_index()


class CcxtMarketData:
    """Market data from a ccxt exchange. Build with `from_id`, or pass a ccxt async exchange instance."""

    def __init__(self, exchange: ccxt_async.Exchange, *, attempts: int = 4, wait: wait_base | None = None) -> None:
        self.exchange = exchange
        self._attempts = attempts
        self._wait = wait if wait is not None else wait_exponential(multiplier=0.5, min=0.5, max=20)

    @classmethod
    def from_id(
        cls,
        exchange_id: str,
        *,
        api_key: str | None = None,
        secret: str | None = None,
        testnet: bool = False,
        setting: str = "--exchange",
        **kwargs: Any,
    ) -> CcxtMarketData:
        """`setting` names where the id came from in the error (`--exchange`, or `EXCHANGE_ID`)."""
        if exchange_id not in ccxt_async.exchanges:
            raise UserInputError(f"{setting}: {exchange_id!r} is not a ccxt exchange id (e.g. binanceusdm, bybit, okx)")
        config: dict[str, Any] = {"enableRateLimit": True}
        if api_key and secret:
            config.update(apiKey=api_key, secret=secret)
        exchange = getattr(ccxt_async, exchange_id)(config)
        if testnet:
            exchange.set_sandbox_mode(True)
        return cls(exchange, **kwargs)

    # ---- plumbing -------------------------------------------------------------------------------

    async def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(ccxt.NetworkError),
                stop=stop_after_attempt(self._attempts),
                wait=self._wait,
                reraise=True,
            ):
                with attempt:
                    return await make()
        except ccxt.BadSymbol as error:
            raise MissingDataError(f"{self.exchange.id} has no market {what}: {_one_line(error)}") from None
        except ccxt.NetworkError as error:
            raise TemporaryError(
                f"{self.exchange.id} {what}: {type(error).__name__} after {self._attempts} attempts: "
                f"{_one_line(error)}"
            ) from error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _market(self, symbol: str) -> dict[str, Any]:
        await self._call("markets", self.exchange.load_markets)
        if symbol not in self.exchange.markets:
            raise MissingDataError(f"{self.exchange.id} has no market {symbol}")
        return self.exchange.markets[symbol]

    async def market_info(self, symbol: str) -> dict[str, Any]:
        """ccxt's market structure for `symbol` (MissingDataError when the exchange has no such market)."""
        return await self._market(symbol)

    async def ohlcv_page(self, symbol: str, timeframe: str, since_ms: int, limit: int) -> list[list[Any]]:
        """One raw page of `[ms, o, h, l, c, v]` rows from `since_ms` (with retries); for bulk downloads."""
        return await self._call(
            f"{symbol} {timeframe} candles",
            partial(self.exchange.fetch_ohlcv, symbol, timeframe, since=since_ms, limit=limit),
        )

    async def funding_page(self, symbol: str, since_ms: int, limit: int) -> list[dict[str, Any]]:
        """One raw page of ccxt funding-history dicts from `since_ms` (with retries)."""
        return await self._call(
            f"{symbol} funding history",
            partial(self.exchange.fetch_funding_rate_history, symbol, since=since_ms, limit=limit),
        )

    # ---- MarketData protocol ----------------------------------------------------------------------

    async def candles(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        return await self._ohlcv(symbol, timeframe, until=until, limit=limit, params={})

    async def mark_prices(self, symbol: str, timeframe: str, *, until: datetime, limit: int) -> pd.DataFrame:
        """Mark-price candles (Binance-style `price: mark`), same shape as `candles`."""
        return await self._ohlcv(symbol, timeframe, until=until, limit=limit, params={"price": "mark"})

    async def _ohlcv(
        self, symbol: str, timeframe: str, *, until: datetime, limit: int, params: dict[str, Any]
    ) -> pd.DataFrame:
        await self._market(symbol)
        step = tf_ms(timeframe)
        until_ms = to_ms(until)
        since = until_ms - (limit + 1) * step
        rows: list[list[Any]] = []
        while since < until_ms:
            page_size = min(MAX_PAGE, (until_ms - since) // step + 2)
            start = since
            page = await self._call(
                f"{symbol} {timeframe} candles",
                partial(self.exchange.fetch_ohlcv, symbol, timeframe, since=start, limit=page_size, params=params),
            )
            if not page:
                break
            rows.extend(page)
            last = int(page[-1][0])
            if last + step > until_ms or len(page) < page_size or last < since:
                break
            since = last + step
        closed = [r for r in rows if int(r[0]) + step <= until_ms]
        return candles_frame(closed).iloc[-limit:] if closed else candles_frame([])

    async def funding_rates(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series:
        await self._market(symbol)
        since_ms, until_ms = to_ms(since), to_ms(until)
        times: list[int] = []
        rates: list[float] = []
        cursor = since_ms
        while cursor <= until_ms:
            start = cursor
            page = await self._call(
                f"{symbol} funding history",
                partial(self.exchange.fetch_funding_rate_history, symbol, since=start, limit=MAX_PAGE),
            )
            if not page:
                break
            for item in page:
                # exchanges stamp settlements with ms jitter: 08:00:00.001 is the 08:00 settlement, also for `until`
                # (a snapshot at 08:00 counts it, as the offline files' rounded times do in replay)
                stamp = round(int(item["timestamp"]) / 1000) * 1000
                rate = _float(item.get("fundingRate"))
                if stamp <= until_ms and rate is not None:
                    times.append(stamp)
                    rates.append(rate)
            last = int(page[-1]["timestamp"])
            if len(page) < MAX_PAGE or last < cursor:
                break
            cursor = last + 1
        index = pd.DatetimeIndex(pd.to_datetime(times, unit="ms", utc=True)).as_unit("ns")
        series = pd.Series(rates, index=index, dtype="float64", name="funding_rate")
        return series[~series.index.duplicated(keep="last")].sort_index()

    async def funding_rate(self, symbol: str) -> float | None:
        """The rate of the running funding interval (settles at the next funding time)."""
        await self._market(symbol)
        data = await self._call(f"{symbol} funding rate", lambda: self.exchange.fetch_funding_rate(symbol))
        return _float(data.get("fundingRate"))

    async def ticker(self, symbol: str) -> Ticker:
        await self._market(symbol)
        data = await self._call(f"{symbol} ticker", lambda: self.exchange.fetch_ticker(symbol))
        last = _float(data.get("last")) or _float(data.get("close"))
        if last is None:
            raise TemporaryError(f"{self.exchange.id} {symbol} ticker has no last price")
        bid, ask = _float(data.get("bid")), _float(data.get("ask"))
        if bid is None or ask is None:  # Binance futures' 24h ticker carries no book; ask the book
            top = await self.order_book_top(symbol)
            if top is not None:
                bid, ask = top.bid, top.ask
        return Ticker(
            symbol=symbol,
            last=last,
            bid=bid,
            ask=ask,
            quote_volume_24h=_float(data.get("quoteVolume")),
            change_24h_pct=_float(data.get("percentage")),
        )

    async def order_book_top(self, symbol: str) -> OrderBookTop | None:
        await self._market(symbol)
        book = await self._call(f"{symbol} order book", lambda: self.exchange.fetch_order_book(symbol, limit=5))
        if not book.get("bids") or not book.get("asks"):
            return None
        (bid, bid_size, *_), (ask, ask_size, *_) = book["bids"][0], book["asks"][0]
        return OrderBookTop(symbol=symbol, bid=float(bid), bid_size=float(bid_size), ask=float(ask),
                            ask_size=float(ask_size))

    async def open_interest(self, symbol: str) -> float | None:
        """Open interest in contracts/base units (None when the exchange does not report it)."""
        await self._market(symbol)
        if not self.exchange.has.get("fetchOpenInterest"):
            return None
        data = await self._call(f"{symbol} open interest", lambda: self.exchange.fetch_open_interest(symbol))
        return _float(data.get("openInterestAmount")) or _float(data.get("openInterest"))

    async def order_book(self, symbol: str) -> tuple[list[list[float]], list[list[float]]]:
        """The first levels of the book (bids, asks) as [price, size] rows, for the snapshot's spread and
        imbalance (core/market/context.py)."""
        await self._market(symbol)
        book = await self._call(f"{symbol} order book", lambda: self.exchange.fetch_order_book(symbol, limit=5))
        return list(book.get("bids") or []), list(book.get("asks") or [])

    async def open_interest_history(self, symbol: str, *, since: datetime, until: datetime) -> pd.Series | None:
        """Hourly open interest readings in [since, until] indexed by reading time (None: not offered)."""
        await self._market(symbol)
        if not self.exchange.has.get("fetchOpenInterestHistory"):
            return None
        since_ms, until_ms = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
        rows = await self._call(
            f"{symbol} open interest history",
            lambda: self.exchange.fetch_open_interest_history(symbol, "1h", since_ms, 30),
        )
        points = {}
        for row in rows or []:
            stamp = row.get("timestamp")
            value = _float(row.get("openInterestAmount")) or _float(row.get("openInterest"))
            if isinstance(stamp, int | float) and since_ms <= stamp <= until_ms and value is not None:
                points[int(stamp)] = value
        index = pd.to_datetime(sorted(points), unit="ms", utc=True)
        return pd.Series([points[k] for k in sorted(points)], index=index, dtype="float64")

    async def market_stats(self) -> list[MarketStats]:
        """The 24 h statistics of every active perpetual market, in two requests where the venue allows
        (all tickers, then all best bids/asks when the tickers carry no book, as on Binance futures)."""
        markets = await self._call("markets", self.exchange.load_markets)
        swaps = {s for s, m in markets.items() if m.get("swap") and m.get("active") is not False}
        tickers = await self._call("tickers", self.exchange.fetch_tickers)
        books: dict[str, Any] = {}
        if any(t.get("bid") is None for s, t in tickers.items() if s in swaps) and self.exchange.has.get(
            "fetchBidsAsks"
        ):
            books = await self._call("best bids and asks", self.exchange.fetch_bids_asks)
        out = []
        for symbol in sorted(swaps & set(tickers)):
            data, book = tickers[symbol], books.get(symbol, {})
            last = _float(data.get("last")) or _float(data.get("close"))
            if last is None or last <= 0:
                continue
            out.append(MarketStats(
                symbol=symbol,
                last=last,
                quote_volume_24h=_float(data.get("quoteVolume")),
                bid=_float(data.get("bid")) if data.get("bid") is not None else _float(book.get("bid")),
                ask=_float(data.get("ask")) if data.get("ask") is not None else _float(book.get("ask")),
                high_24h=_float(data.get("high")),
                low_24h=_float(data.get("low")),
                change_24h_pct=_float(data.get("percentage")),
            ))
        return out

    async def symbols(self) -> Sequence[str]:
        markets = await self._call("markets", self.exchange.load_markets)
        return sorted(s for s, m in markets.items() if m.get("swap") and m.get("active") is not False)

    async def close(self) -> None:
        await self.exchange.close()
