"""Kill the trading process with SIGKILL mid-run, restart it, and compare its book with an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.core.csv_feed import have_data, load_bars
from tests.core.cycle_fakes import hours_after

ROOT = Path(__file__).resolve().parents[2]
CYCLES = 300


def start(db: Path, marker: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.core.sigkill_runner", str(db), str(marker), str(CYCLES)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def done_cycles(marker: Path) -> int:
    if not marker.exists():
        return 0
    lines = marker.read_text().split()
    return int(lines[-1]) if lines else 0


@pytest.mark.slow
@pytest.mark.skipif(not have_data(), reason="needs ../shared/data (real Binance perp candles and funding)")
def test_sigkill_mid_run_loses_nothing_and_doubles_nothing(tmp_path):
    reference = start(tmp_path / "ref.sqlite", tmp_path / "ref.marker")
    out, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err
    expected = json.loads(out)

    db, marker = tmp_path / "killed.sqlite", tmp_path / "killed.marker"
    kills = 0
    for kill_at in (40, 120, 210):
        proc = start(db, marker)
        deadline = time.monotonic() + 300
        while done_cycles(marker) < kill_at and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
    assert kills == 3
    survivor = start(db, marker)
    out, err = survivor.communicate(timeout=600)
    assert survivor.returncode == 0, err
    book = json.loads(out)

    assert len(expected["trades"]) > 10
    assert book["positions"] == expected["positions"]  # nothing lost, nothing doubled
    assert book["trades"] == expected["trades"]  # every exit (stops included) happened exactly once
    assert book["equity"] == pytest.approx(expected["equity"], abs=0.01)
    first_bar = load_bars("BTCUSDT")[0, 0]
    last_kill = hours_after(first_bar, 60 + 210).isoformat()
    assert [t for t in book["trades"] if t[1] == "stop" and t[2] > last_kill]  # stops still enforced after restarts
