"""Runs inside the freqtrade virtualenv that bench/freqtrade_peer.py creates (it imports nothing of
aitrader): freqtrade's own Backtesting over the same BTC/ETH perp bars, futures, isolated margin, an EMA 20/50
cross long and short with a stop, 5m detail bars for intrabar fills, funding from the funding-rate files.

No network: the exchange's markets are the two perps written out below (the fields freqtrade reads), and
binance's leverage tiers come from the file freqtrade ships for dry-run. Prints one JSON line: wall and CPU
seconds of `Backtesting.backtest` (the loop: signals, fills, stops, funding, liquidation — indicators apart), bars,
trades.

Usage: python freqtrade_runner.py DATADIR START END PAIR [PAIR …]   (dates YYYYMMDD)
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from copy import deepcopy
from pathlib import Path

STRATEGY = '''
import talib.abstract as ta
from freqtrade.strategy import IStrategy


class EmaCross(IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = True
    minimal_roi = {"0": 100}
    stoploss = -0.05
    startup_candle_count = 60
    process_only_new_candles = True

    def populate_indicators(self, dataframe, metadata):
        dataframe["fast"] = ta.EMA(dataframe, timeperiod=20)
        dataframe["slow"] = ta.EMA(dataframe, timeperiod=50)
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        up = (dataframe["fast"] > dataframe["slow"]) & (dataframe["fast"].shift(1) <= dataframe["slow"].shift(1))
        down = (dataframe["fast"] < dataframe["slow"]) & (dataframe["fast"].shift(1) >= dataframe["slow"].shift(1))
        dataframe.loc[up, "enter_long"] = 1
        dataframe.loc[down, "enter_short"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        up = (dataframe["fast"] > dataframe["slow"]) & (dataframe["fast"].shift(1) <= dataframe["slow"].shift(1))
        down = (dataframe["fast"] < dataframe["slow"]) & (dataframe["fast"].shift(1) >= dataframe["slow"].shift(1))
        dataframe.loc[down, "exit_long"] = 1
        dataframe.loc[up, "exit_short"] = 1
        return dataframe

    def leverage(self, pair, current_time, current_rate, proposed_leverage, max_leverage, entry_tag, side, **kw):
        return 3.0
'''


def market(base: str, price_step: float, amount_step: float) -> dict:
    symbol, market_id = f"{base}/USDT:USDT", f"{base}USDT"
    return {
        "id": market_id, "symbol": symbol, "base": base, "quote": "USDT", "settle": "USDT", "baseId": base,
        "quoteId": "USDT", "settleId": "USDT", "type": "swap", "spot": False, "margin": False, "swap": True,
        "future": False, "option": False, "active": True, "contract": True, "linear": True, "inverse": False,
        "contractSize": 1.0, "taker": 0.0005, "maker": 0.0002, "expiry": None, "expiryDatetime": None,
        "strike": None, "optionType": None,
        "precision": {"amount": amount_step, "price": price_step},
        "limits": {"amount": {"min": amount_step, "max": 1e6}, "cost": {"min": 5.0, "max": None},
                   "price": {"min": price_step, "max": None}, "leverage": {"min": 1, "max": 125},
                   "market": {"min": amount_step, "max": 1e6}},
        "info": {"symbol": market_id, "pair": market_id, "contractType": "PERPETUAL", "status": "TRADING"},
    }


def main() -> None:
    datadir, start, end, *pairs = sys.argv[1:]
    logging.disable(logging.CRITICAL)
    from freqtrade.enums import RunMode
    from freqtrade.exchange.exchange import Exchange
    from freqtrade.optimize.backtesting import Backtesting

    markets = [market(p.split("/")[0], 0.01, 0.001) for p in pairs]

    def offline_markets(self: Exchange, reload: bool = False) -> None:
        self._api_async.set_markets(deepcopy(markets))

    Exchange._load_async_markets = offline_markets  # type: ignore[method-assign]
    Exchange.fetch_trading_fees = lambda self: {}  # type: ignore[method-assign]

    strategy_dir = Path(tempfile.mkdtemp())
    (strategy_dir / "ema_cross.py").write_text(STRATEGY)
    config = {
        "runmode": RunMode.BACKTEST, "dry_run": True, "trading_mode": "futures", "margin_mode": "isolated",
        "stake_currency": "USDT", "stake_amount": 1000, "dry_run_wallet": 10_000, "max_open_trades": len(pairs),
        "timeframe": "1h", "timeframe_detail": "5m", "timerange": f"{start}-{end}", "datadir": Path(datadir),
        "user_data_dir": strategy_dir, "strategy": "EmaCross", "strategy_path": str(strategy_dir),
        "exchange": {"name": "binance", "pair_whitelist": list(pairs), "pair_blacklist": [], "key": "", "secret": ""},
        "pairlists": [{"method": "StaticPairList"}], "dataformat_ohlcv": "feather", "candle_type_def": "futures",
        "export": "none", "exportfilename": strategy_dir / "result", "fee": 0.0005,
        "entry_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "exit_pricing": {"price_side": "other", "use_order_book": True, "order_book_top": 1},
        "unfilledtimeout": {"entry": 10, "exit": 10}, "order_types": {"entry": "market", "exit": "market",
                                                                      "stoploss": "market", "stoploss_on_exchange": False},
        "backtest_cache": "none", "cancel_open_orders_on_exit": False, "minimal_roi": {"0": 100},
        "original_config": {},
    }
    backtesting = Backtesting(config)
    data, timerange = backtesting.load_bt_data()
    strategy = backtesting.strategylist[0]
    backtesting._set_strategy(strategy)
    processed = strategy.advise_all_indicators(data)
    from freqtrade.data.history import get_timerange
    from freqtrade.optimize.backtesting import trim_dataframes

    trimmed = trim_dataframes(processed, timerange, backtesting.required_startup)  # as backtest_one_strategy
    first, last = get_timerange(trimmed)
    bars = sum(len(frame) for frame in trimmed.values())
    started, cpu = time.perf_counter(), time.process_time()
    result = backtesting.backtest(processed=deepcopy(processed), start_date=first, end_date=last)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "bars": bars, "trades": len(result["results"]),
                      "version": __import__("freqtrade").__version__}))


if __name__ == "__main__":
    main()
