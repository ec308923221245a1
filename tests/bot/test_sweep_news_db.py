"""`aitrader sweep --news-db` (#17 follow-up): every cell — each window, each symbol set, each walk-forward part —
reads the recorded news point-in-time exactly as `aitrader replay --news-db` does; the news is part of a cell's
identity; a bad file is one line, exit 2, nothing written. On the bundled real sample, with the recorded news
made as tests/bot/test_news_db_cli.py makes it."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from bot.cli import app
from bot.commands.news_db import news_reader, recorded_news
from bot.commands.sweep_cmd import run_sweep
from bot.commands.sweep_worker import replay_cell, run_sweep_cell
from bot.settings import Settings
from bot.wiring import CycleFactory, EngineEntry
from core.clock import SimulatedClock
from core.evaluation.report import write_report
from core.evaluation.sweep import SweepCell
from core.market.news import FetchedHeadline
from core.market.offline import sample_data_dir
from storage.db import Database
from storage.news_repo import SqliteNewsStore
from tests.bot.test_news_db_cli import _record_hacks, news_db  # noqa: F401 - the recorded-news fixture, reused
from tests.core.decide.test_llm import server  # noqa: F401 - the OpenAI-compatible stand-in
from tests.fakes.openai_server import FakeOpenAIServer, answer

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
START, END = datetime(2024, 2, 28, tzinfo=UTC), datetime(2024, 3, 3, tzinfo=UTC)
VETO = {"news_veto_hours": ("0", "6")}


@pytest.fixture
def hacks(news_db: Path) -> Path:  # noqa: F811 - the fixture imported above
    """A hack about bitcoin every 3 h from 2024-02-22 for 11 days (ETH is not named: its cells never veto)."""
    path = news_db.parent / "hacks.sqlite"
    asyncio.run(_record_hacks(path, datetime(2024, 2, 22, tzinfo=UTC), 24 * 11))
    return path


def record_late(path: Path, first_seen: datetime, count: int) -> None:
    """Headlines about bitcoin that the bot first saw at `first_seen` (new guids: the file grows)."""
    async def go() -> None:
        async with Database(path) as db:
            await SqliteNewsStore(db).record([FetchedHeadline(f"late{k}", "coindesk.com", f"Bitcoin exchange {k} "
                                                              "hacked") for k in range(count)], first_seen)

    asyncio.run(go())


def sweep(out: Path, news: Path | None, **kw: Any) -> tuple[int, str]:
    console = Console(file=(buffer := io.StringIO()), width=200)
    args: dict[str, Any] = {"data": sample_data_dir(), "symbols": ((BTC,), (ETH,)), "start": START, "end": END,
                            "engine": "rules", "grid": VETO, "out": out, "workers": 2, "console": console,
                            "report": Console(file=io.StringIO()), "news_db": news}
    args.update(kw)
    return run_sweep(**args), buffer.getvalue()


def cells(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))]


def cell_of(row: dict[str, Any]) -> SweepCell:
    """The SweepCell a cell file was made from (its key proves it), to replay it in this process."""
    ident = row["identity"]
    cell = SweepCell(row["engine"], tuple(sorted(row["overrides"].items())), tuple(row["symbols"]),
                     datetime.fromisoformat(ident["start"]), datetime.fromisoformat(ident["end"]), ident["version"],
                     ident["descriptor"], ident["data"], ident["initial_equity"], ident["extra"], ident["folds"],
                     news_db=row["news"]["news_db"], news_digest=ident["news"])
    assert cell.key == row["key"]
    return cell


def replay(out: Path, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["replay", "--data", str(sample_data_dir()), "--engine", "rules",
                                      "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text())


def same_as_replay(row: dict[str, Any], folder: Path, news: Path, monkeypatch: pytest.MonkeyPatch,
                   *extra: str) -> dict[str, Any]:
    """`aitrader replay --news-db` over the cell's window with the cell's settings, against the cell: the worker's
    metrics are the report's, and the cell replayed here by the worker's own function writes the same report.json,
    trades.csv and equity.csv, byte for byte. Returns the replay's report."""
    for key, value in row["overrides"].items():
        monkeypatch.setenv(key.upper(), value)
    window = row["identity"]  # the cell's window (a walk-forward's report starts at its first test part)
    report = replay(folder / "replay", "--symbols", ",".join(row["symbols"]), "--start", window["start"],
                    "--end", window["end"], "--news-db", str(news), *extra)
    metrics = {k: v for k, v in report["metrics"].items() if k not in ("calibration", "exits_by_reason")}
    assert row["metrics"] == metrics and row["guard"] == {k: report["guard"][k] for k in ("approved", "rejected")}
    assert json.loads((folder / "replay" / "run.json").read_text())["news"]["headlines"] == row["news"]["headlines"]
    entry = EngineEntry("cell", row["engine"], tuple(sorted(row["overrides"].items())))
    result, read = asyncio.run(replay_cell(CycleFactory.from_environment(), entry, cell_of(row), folder / "cache"))
    write_report(result, folder / "cell")
    for name in ("report.json", "trades.csv", "equity.csv"):
        assert (folder / "cell" / name).read_bytes() == (folder / "replay" / name).read_bytes(), name
    assert read == row["news"]
    return report


def test_every_cell_reads_the_news_as_replay_does(hacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "sweep"
    code, log = sweep(out, hacks, windows=2)
    assert code == 0, log
    assert (f"news: 88 headlines recorded in {hacks.resolve()}, first seen 2024-02-22T00:00:00Z → "
            "2024-03-03T21:00:00Z; analyst keywords") in log
    rows = cells(out)
    assert len(rows) == 8  # 2 windows × 2 symbol sets × NEWS_VETO_HOURS 0, 6
    block = {"news_db": str(hacks.resolve()), "headlines": 88, "analyst": "keywords",
             "first_seen": ["2024-02-22T00:00:00Z", "2024-03-03T21:00:00Z"]}
    assert json.loads((out / "sweep.json").read_text())["news"] == block
    assert all(r["news"] == block for r in rows)
    for r in rows:  # in both windows the bitcoin hacks veto every BTC entry at 6 h, none at 0 h; ETH is not named
        vetoed = r["symbols"] == [BTC] and r["overrides"]["news_veto_hours"] == "6"
        assert (r["guard"]["approved"] == 0) == vetoed, r

    # cells against `aitrader replay --news-db` over their window with their setting: the same files
    assert {r["start"] for r in rows} == {"2024-02-28T00:00:00Z", "2024-03-01T01:00:00Z"}
    for symbol, veto, start in ((BTC, "6", "2024-02-28T00:00:00Z"), (ETH, "0", "2024-03-01T01:00:00Z")):
        row = next(r for r in rows if r["symbols"] == [symbol] and r["overrides"]["news_veto_hours"] == veto
                   and r["start"] == start)
        report = same_as_replay(row, tmp_path / symbol[:3], hacks, monkeypatch)
        assert ("news_veto" in report["guard"]["reasons"]) == (symbol == BTC)


def test_walk_forward_cells_read_the_news_in_every_part_as_replay_folds_does(
    hacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sweep"
    window = {"start": datetime(2024, 2, 23, tzinfo=UTC), "end": END, "folds": 2, "symbols": ((BTC,),)}
    code, log = sweep(out, hacks, **window)
    assert code == 0, log
    by_veto = {r["overrides"]["news_veto_hours"]: r for r in cells(out)}
    assert by_veto["0"]["guard"]["approved"] > 0 and by_veto["6"]["guard"]["approved"] == 0
    assert all(r["walk_forward"]["folds"] and r["news"]["headlines"] == 88 for r in by_veto.values())

    report = same_as_replay(by_veto["6"], tmp_path, hacks, monkeypatch, "--folds", "2")
    assert by_veto["6"]["walk_forward"] == report["walk_forward"]  # every part, params and OOS metrics
    assert report["guard"]["reasons"]["news_veto"] > 0


def test_the_news_file_is_part_of_a_cells_identity(hacks: Path, news_db: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "sweep"
    assert sweep(out, hacks)[0] == 0
    code, log = sweep(out, hacks)
    assert code == 0 and "all 4 cells finished earlier" in log
    with_hacks = {r["key"]: r for r in cells(out)}

    code, log = sweep(out, None)  # no news: every cell again, none of the news cells reused
    assert code == 0 and "4 cells, 0 finished earlier, running 4" in log, log
    plain = {r["key"]: r for r in cells(out)}.keys() - with_hacks.keys()
    assert len(plain) == 4 and all("news" not in r for r in cells(out) if r["key"] in plain)
    assert "news" not in json.loads((out / "sweep.json").read_text())

    code, log = sweep(out, news_db)  # other recorded news (three headlines around 2024-03-01)
    assert code == 0 and "4 cells, 0 finished earlier, running 4" in log, log

    # the same file after the window: headlines first seen after 2024-03-03 change no cell, so all are reused
    grown = tmp_path / "grown.sqlite"
    grown.write_bytes(hacks.read_bytes())
    record_late(grown, datetime(2024, 3, 4, tzinfo=UTC), 5)
    code, log = sweep(out, grown)
    assert code == 0 and "all 4 cells finished earlier" in log, log
    assert json.loads((out / "sweep.json").read_text())["news"]["headlines"] == 88 + 5


def test_a_worker_refuses_a_cell_when_the_file_holds_other_news_than_planned(hacks: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert sweep(out, hacks, symbols=((BTC,),), grid={})[0] == 0
    (row,) = cells(out)
    cell = cell_of(row)
    record_late(hacks, datetime(2024, 3, 1, 1, tzinfo=UTC), 1)  # the window sees one headline more than planned
    with pytest.raises(RuntimeError, match="not the news the sweep was planned with"):
        run_sweep_cell(cell)


def _not_sqlite(path: Path) -> None:
    path.write_text("timestamp,title\n2024-03-01,hello\n")


def _without_news_tables(path: Path) -> None:  # a bot database from before news was recorded
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE positions (id INTEGER PRIMARY KEY)")
        conn.execute("PRAGMA user_version = 6")
    conn.close()


@pytest.mark.parametrize(("make", "message"), [
    (None, "is not a file"),
    (_not_sqlite, "file is not a database"),
    (_without_news_tables, "has no recorded news (no fear_greed, news_headlines table)"),
])
@pytest.mark.parametrize("command", ["sweep", "replay", "compare"])
def test_a_bad_news_db_is_one_line_exit_2_and_nothing_written(
    news_db: Path, tmp_path: Path, make: Any, message: str, command: str  # noqa: F811
) -> None:
    """Before, replay and compare migrated a bot database without news tables (writing to it) and ran as if without
    news, and printed their progress bar (compare: made its folders) before refusing a missing file."""
    path = tmp_path / "given.sqlite"
    if make is not None:
        make(path)
    before = path.read_bytes() if path.exists() else None
    out = tmp_path / "out"
    extra = {"sweep": ["--engine", "rules", "--grid", "NEWS_VETO_HOURS=0,6"], "replay": ["--engine", "rules"],
             "compare": ["--engines", "rules,veto=rules", "--set", "veto:NEWS_VETO_HOURS=6"]}[command]
    result = CliRunner().invoke(app, [command, "--data", str(sample_data_dir()), "--symbols", BTC,
                                      "--start", "2024-02-28T00:00:00Z", "--end", "2024-03-03T00:00:00Z",
                                      "--out", str(out), "--news-db", str(path), *extra])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --news-db:") and message in lines[0], result.output
    assert not out.exists()
    assert (path.read_bytes() if path.exists() else None) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("given")) == (
        ["given.sqlite"] if make else [])


@pytest.mark.slow  # starts a Dask cluster
def test_on_a_dask_cluster_the_path_travels_and_the_cells_are_the_local_ones(hacks: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask distributed is the test extra's cluster engine")
    local = tmp_path / "local"
    assert sweep(local, hacks)[0] == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  dashboard_address=None) as cluster:
        code, log = sweep(tmp_path / "dask", hacks, cluster=cluster.scheduler_address)
    assert code == 0, log
    a, b = ({r["key"]: r for r in cells(folder)} for folder in (local, tmp_path / "dask"))
    assert len(a) == 4 and a.keys() == b.keys()
    assert all(a[k]["metrics"] == b[k]["metrics"] and b[k]["news"]["headlines"] == 88 for k in a)


def test_with_a_cluster_a_missing_local_file_is_refused_before_the_cluster_is_reached(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sweep", "--data", str(sample_data_dir()), "--symbols", BTC,
                                      "--start", "2024-02-28T00:00:00Z", "--end", "2024-03-03T00:00:00Z",
                                      "--grid", "NEWS_VETO_HOURS=0,6", "--out", str(tmp_path / "out"),
                                      "--cluster", "tcp://127.0.0.1:9", "--news-db", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "--news-db" in result.output and "is not a file" in result.output and not (tmp_path / "out").exists()
    (option,) = [p for p in typer.main.get_command(app).commands["sweep"].params  # type: ignore[attr-defined]
                 if "--news-db" in p.opts]
    assert "with --cluster the same path must exist on every worker" in option.help


async def test_a_read_only_reader_with_the_llm_analyst_uses_the_files_scores_and_writes_nothing(
    hacks: Path, server: FakeOpenAIServer  # noqa: F811
) -> None:
    """What a sweep worker opens: the scores `replay --news-db` cached in the file are read, not asked again;
    scores made now stay in memory; the file (and its folder) are byte for byte as before."""
    server.requests.clear()
    server.script(answer(json.dumps({"items": [{"id": 1, "impact": -2, "coins": []},
                                               {"id": 2, "impact": 1, "coins": ["BTC"]}]})))
    settings = Settings(_env_file=None, llm_base_url=server.base_url, news_analyst="llm")  # type: ignore[call-arg]
    headlines = await (await recorded_news(hacks)).seen_between(START - timedelta(days=30), END)
    clock = SimulatedClock(START)
    async with news_reader(hacks, settings, clock) as reader:  # as replay: the scores are cached in the file
        scored = await reader.score(headlines[:2])
    assert len(server.requests) == 1 and reader.provenance["analyst"] == "llm"
    before = {p.name: p.read_bytes() for p in hacks.parent.iterdir() if p.name.startswith(hacks.name)}
    async with news_reader(hacks, settings, clock, read_only=True) as reader:
        assert await reader.score(headlines[:2]) == scored and len(server.requests) == 1  # from the file
        fresh = await reader.score(headlines[2:4])
        assert {h.guid for h in headlines[2:4]} <= fresh.keys() and len(server.requests) == 2
    assert {p.name: p.read_bytes() for p in hacks.parent.iterdir() if p.name.startswith(hacks.name)} == before


def test_a_replay_with_the_keyword_analyst_leaves_an_older_bots_file_as_it_was(
    hacks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file may be a running bot's own (of an older version): reading its news must not migrate it. Before,
    `replay --news-db` opened it for writing and applied this version's migrations to it."""
    with sqlite3.connect(hacks) as conn:  # as a bot from before migration 008 left it
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'arena%'")\
                .fetchall():
            conn.execute(f"DROP TABLE {table}")
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(hacks.name)}
    monkeypatch.setenv("NEWS_VETO_HOURS", "6")
    report = replay(tmp_path / "replay", "--symbols", BTC, "--start", "2024-02-28T00:00:00Z",
                    "--end", "2024-03-03T00:00:00Z", "--news-db", str(hacks))
    assert report["guard"]["reasons"]["news_veto"] > 0
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(hacks.name)} == before
