"""freqtrade as a peer in the replay benchmark: a virtualenv of its own under ~/.cache (created on first use with
the ordinary pip client — freqtrade pins versions of pandas, numpy and ccxt that differ from ours), a datadir of
links to the same feather files in freqtrade's `futures/` layout, and bench/freqtrade_runner.py run inside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

FREQTRADE = "freqtrade==2026.9"
VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aitrader" / "bench" / "freqtrade-venv"
RUNNER = Path(__file__).with_name("freqtrade_runner.py")


class PeerUnavailable(RuntimeError):
    """freqtrade could not be installed or run here; the message says why (the bench prints it)."""


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import freqtrade"], capture_output=True).returncode == 0:
        return python
    print(f"creating {VENV} with {FREQTRADE} (once per machine; a few minutes) …", flush=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = ([sys.executable, "-m", "venv", "--clear", str(VENV)],
             [str(python), "-m", "pip", "install", "-q", FREQTRADE])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise PeerUnavailable(f"{' '.join(map(str, step[-3:]))} failed: {last[0]}")
    return python


def datadir(data: Path, symbols: tuple[str, ...], out: Path) -> Path:
    """`out/futures/` with links to the candles (1h, 5m), funding and mark files of `symbols` in `data`."""
    futures = out / "futures"
    futures.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        stem = symbol.replace("/", "_").replace(":", "_")
        for kind in ("1h-futures", "5m-futures", "8h-funding_rate", "8h-mark"):
            source = data / f"{stem}-{kind}.feather"
            if not source.exists():
                raise PeerUnavailable(f"freqtrade needs {source.name} in {data}")
            link = futures / source.name
            if not link.exists():
                link.symlink_to(source.resolve())
    return out


def run(data: Path, symbols: tuple[str, ...], start: datetime, end: datetime, work: Path) -> dict:
    """freqtrade's backtest loop over the window: {"seconds", "cpu_seconds", "bars", "trades", "version"}."""
    python = ensure_venv()
    folder = datadir(data, symbols, work)
    done = subprocess.run(
        [str(python), str(RUNNER), str(folder), f"{start:%Y%m%d}", f"{end:%Y%m%d}", *symbols],
        capture_output=True, text=True, cwd=work,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise PeerUnavailable(f"freqtrade backtesting failed: {last[0]}")
    return json.loads(lines[-1])
