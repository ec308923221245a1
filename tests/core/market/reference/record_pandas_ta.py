"""Records pandas-ta's indicator values on the shared data into pandas_ta_values.json (not a test).

Run once, in an environment that still has pandas-ta (the JSON says which versions it came from):
`pip install pandas-ta==0.4.71b0 && python -m tests.core.market.reference.record_pandas_ta`. For every case of
cases.py it stores the sha256 of each full indicator column and the column's last value;
tests/core/market/test_indicators_reference.py recomputes them without pandas-ta.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandas_ta as ta

from tests.core.market.reference.cases import CASES, COLUMNS, VALUES, digest, window


def pandas_ta_columns(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """What core/market/indicators.py computed with pandas-ta until #18 (the same calls, the same steps)."""
    n = len(frame)

    def arr(series: pd.Series | None) -> np.ndarray:
        return np.full(n, np.nan) if series is None else series.to_numpy(dtype="float64", na_value=np.nan)

    close, high, low = frame["close"], frame["high"], frame["low"]
    rsi = arr(ta.rsi(close, length=14)).copy()
    rsi[: min(14, n)] = np.nan
    ema_12, ema_26 = ta.ema(close, length=12), ta.ema(close, length=26)
    if ema_12 is None or ema_26 is None:
        macd = signal = np.full(n, np.nan)
    else:
        line = ema_12 - ema_26
        sig = ta.ema(line.loc[line.first_valid_index():], length=9)
        macd, signal = arr(line), arr(None if sig is None else sig.reindex(line.index))
    return {"rsi_14": rsi, "macd": macd, "macd_signal": signal, "macd_hist": macd - signal,
            "ema_20": arr(ta.ema(close, length=20)), "ema_50": arr(ta.ema(close, length=50)),
            "ema_200": arr(ta.ema(close, length=200)), "atr_14": arr(ta.atr(high, low, close, length=14))}


def main() -> None:
    out = []
    for folder, symbol, timeframe, offset, bars in CASES:
        frame = window(folder, symbol, timeframe, offset, bars)
        columns = pandas_ta_columns(frame)
        out.append({
            "folder": folder, "symbol": symbol, "timeframe": timeframe, "offset": offset, "bars": bars,
            "first_bar": frame.index[0].isoformat(), "length": len(frame),
            "sha256": {k: digest(columns[k]) for k in COLUMNS},
            "last": {k: (None if np.isnan(columns[k][-1]) else float(columns[k][-1])) for k in COLUMNS},
        })
    meta = {"pandas_ta": ta.version, "pandas": pd.__version__, "numpy": np.__version__}
    VALUES.write_text(json.dumps({"recorded_with": meta, "cases": out}, indent=1) + "\n")
    print(f"wrote {len(out)} cases to {VALUES}")


if __name__ == "__main__":
    main()
