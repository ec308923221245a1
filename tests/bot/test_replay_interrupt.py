"""Ctrl-C in `aitrader replay` (issue #12, item 15): a real SIGINT to the process mid-loop or just after it
leaves no folder that looks finished — no report at all, and one line saying so."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
BARS = 40_000  # ~4.5 years of hours: the loop runs for seconds, long enough to be interrupted


def synthetic_folder(folder: Path) -> Path:
    """A sane random walk (no data of ours is this long and small): only the interruption is under test."""
    folder.mkdir()
    rng = np.random.default_rng(7)
    times = pd.date_range("2019-01-01", periods=BARS, freq="1h", tz="UTC").as_unit("ms").asi8
    for seed, stem in enumerate(("BTC_USDT_USDT", "ETH_USDT_USDT")):
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.006 + 0.002 * seed, BARS)))
        open_ = np.r_[close[0], close[:-1]]
        wick = np.abs(rng.normal(0, 0.003, BARS))
        frame = pd.DataFrame({"timestamp_ms": times, "open": open_, "high": np.maximum(open_, close) * (1 + wick),
                              "low": np.minimum(open_, close) * (1 - wick), "close": close,
                              "volume": rng.uniform(1e5, 1e6, BARS)})
        frame.to_csv(folder / f"{stem}-1h-futures.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_folder(tmp_path_factory.mktemp("long") / "data")


def interrupt(mode: str, data: Path, out: Path, tmp_path: Path) -> tuple[int, str]:
    marker = tmp_path / "marker"
    argv = [sys.executable, "-m", "tests.bot.replay_interrupt_runner", mode, str(marker), "replay", "--data", str(data),
            "--symbols", "BTC/USDT:USDT,ETH/USDT:USDT", "--start", "2019-03-01T00:00:00Z",
            "--end", "2023-07-01T00:00:00Z", "--out", str(out)]
    env = {**os.environ, "DATABASE_PATH": str(tmp_path / "lb.sqlite"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err_text = proc.communicate()
            pytest.fail(f"the replay ended before the marker (rc {proc.returncode}): {err_text[-2000:]}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and "replay ━" not in line and "window" not in line]


@pytest.mark.parametrize("mode", ["loop", "after"])
def test_sigint_leaves_no_finished_looking_folder_and_says_so(data: Path, tmp_path: Path, mode: str) -> None:
    out = tmp_path / "out"
    code, err = interrupt(mode, data, out, tmp_path)
    assert code == 130, err
    said = lines_of(err)
    assert len(said) == 1 and "Traceback" not in err, err
    assert said[0].startswith("replay interrupted after ") and f"no report written to {out}" in said[0], said
    left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert not {"report.json", "trades.csv", "equity.csv", "report.png", "tearsheet.html", "run.json"} & set(left), left
    assert ".incomplete" not in left, left


def test_an_earlier_report_is_kept_and_named_as_such(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}", encoding="utf-8")  # what an earlier finished run left
    code, err = interrupt("loop", data, out, tmp_path)
    assert code == 130
    assert "the report already there is from an earlier run" in lines_of(err)[0]
    assert (out / "report.json").read_text(encoding="utf-8") == "{}"
