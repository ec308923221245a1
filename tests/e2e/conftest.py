"""The Telegram Bot API emulator from ../shared/tools, installed once per test session (npm), for every e2e
test that runs the bot against it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EMULATOR_SRC = REPO / ".." / "shared" / "tools" / "telegram-emulator"


def start_emulator(emulator_dir: Path, port: int) -> subprocess.Popen[str]:
    """`node emulator.js PORT`, once it says READY (fails the test otherwise)."""
    proc = subprocess.Popen(
        ["node", "emulator.js", str(port)], cwd=emulator_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "READY" not in line:
        proc.kill()
        pytest.fail(f"emulator did not start: {line!r}")
    return proc


@pytest.fixture(scope="session")
def emulator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The emulator with its node_modules, installed once per test session."""
    if not EMULATOR_SRC.is_dir():
        pytest.skip(f"needs ../shared (the emulator in {EMULATOR_SRC}); not present")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs node and npm to run the Telegram Bot API emulator")
    target = tmp_path_factory.mktemp("tgemu")
    for name in ("emulator.js", "package.json"):
        shutil.copy(EMULATOR_SRC / name, target / name)
    try:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"], cwd=target, capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install of the emulator timed out (offline?)")
    if done.returncode != 0:
        pytest.skip(f"npm install of the emulator failed (offline?): {done.stderr.strip()[-300:]}")
    return target
