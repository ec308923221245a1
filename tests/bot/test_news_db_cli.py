"""`--news-db` (#17): `aitrader snapshot` and `aitrader replay` read the headlines and Fear & Greed a bot recorded,
point-in-time; without it `sentiment` is null; a bad path is one line and exit 2. On the bundled real sample."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from core.market.news import FearGreed, FetchedHeadline
from core.market.offline import sample_data_dir
from storage.db import Database
from storage.news_repo import SqliteNewsStore

AT = datetime(2024, 3, 1, 12, tzinfo=UTC)


async def _record(path: Path) -> None:
    async with Database(path) as db:
        store = SqliteNewsStore(db)
        await store.record([FetchedHeadline("a", "cointelegraph.com", "Exchange hacked, $200M in bitcoin stolen")],
                           AT - timedelta(hours=2))
        await store.record([FetchedHeadline("b", "coindesk.com", "Ether surges to record high")],
                           AT - timedelta(hours=30))
        await store.record([FetchedHeadline("c", "decrypt.co", "Bitcoin rallies to all-time high")],
                           AT + timedelta(minutes=1))  # after --at: never in that snapshot
        await store.record_fear_greed([FearGreed(date(2024, 3, 1), 80, "Extreme Greed"),
                                       FearGreed(date(2024, 3, 2), 12, "Extreme Fear")])


@pytest.fixture
def news_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("LLM_API_KEY", "LLM_BASE_URL", "ENGINE", "NEWS_ANALYST", "SYMBOLS"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "bot.sqlite"
    asyncio.run(_record(path))
    return path


def snapshot(*extra: str):
    return CliRunner().invoke(app, ["snapshot", "--data", str(sample_data_dir()), "--symbol", "BTC/USDT:USDT",
                                    "--at", "2024-03-01T12:00:00Z", *extra])


def test_snapshot_with_news_db_shows_what_was_seen_by_then(news_db: Path) -> None:
    result = snapshot("--news-db", str(news_db))
    assert result.exit_code == 0, result.output
    sentiment = json.loads(result.stdout)["sentiment"]
    assert sentiment["fear_greed"] == 80
    assert [e["title"] for e in sentiment["key_events"]] == ["Exchange hacked, $200M in bitcoin stolen"]
    assert sentiment["key_events"][0] == {"time": "2024-03-01T10:00:00Z",
                                          "title": "Exchange hacked, $200M in bitcoin stolen", "impact": -2}
    # the hack (2 h old, weight 0.944) is about bitcoin; the ether headline is not BTC's; "c" came later
    assert sentiment["news_score"] == pytest.approx(-2 * 0.5 ** (2 / 24), abs=0.01)


def test_snapshot_without_news_db_has_a_null_sentiment(news_db: Path) -> None:
    result = snapshot()
    assert result.exit_code == 0 and json.loads(result.stdout)["sentiment"] is None


def test_a_missing_news_db_is_one_line(news_db: Path) -> None:
    result = snapshot("--news-db", str(news_db.parent / "nope.sqlite"))
    assert result.exit_code == 2
    assert "--news-db" in result.output and "is not a file" in result.output and "Traceback" not in result.output


async def _record_hacks(path: Path, start: datetime, hours: int) -> None:
    async with Database(path) as db:
        for k in range(0, hours, 3):
            await SqliteNewsStore(db).record([FetchedHeadline(f"hack{k}", "cointelegraph.com",
                                                              f"Exchange {k} hacked, bitcoin stolen")],
                                             start + timedelta(hours=k))


def test_replay_with_news_db_vetoes_on_recorded_news_and_is_repeatable(
    news_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWS_VETO_HOURS", "6")
    monkeypatch.setenv("ENGINE", "rules")
    hacks = news_db.parent / "hacks.sqlite"
    asyncio.run(_record_hacks(hacks, datetime(2024, 2, 27, tzinfo=UTC), 24 * 6))
    reports = {}
    for name, extra in (("a", ["--news-db", str(hacks)]), ("b", ["--news-db", str(hacks)]), ("none", [])):
        out = news_db.parent / name
        result = CliRunner().invoke(app, [
            "replay", "--data", str(sample_data_dir()), "--symbols", "BTC/USDT:USDT", "--start", "2024-02-28T00:00:00Z",
            "--end", "2024-03-03T00:00:00Z", "--engine", "rules", "--out", str(out), *extra,
        ])
        assert result.exit_code == 0, result.output
        reports[name] = (out / "report.json").read_text()
    assert reports["a"] == reports["b"]
    news = json.loads((news_db.parent / "a" / "run.json").read_text())["news"]
    assert news == {"news_db": str(hacks), "headlines": 48, "analyst": "keywords",
                    "first_seen": ["2024-02-27T00:00:00Z", "2024-03-03T21:00:00Z"]}  # every 3 h for 6 days
    assert "news" not in json.loads((news_db.parent / "none" / "run.json").read_text())
    with_news, without = json.loads(reports["a"])["guard"], json.loads(reports["none"])["guard"]
    assert without["approved"] > 0 and "news_veto" not in without["reasons"]
    # every entry the engine asked for met a fresh hack: vetoed (hour after hour, where without news it held one)
    assert with_news["approved"] == 0 and with_news["reasons"]["news_veto"] >= without["approved"]


def test_compare_with_news_db_measures_an_effect_against_the_same_engine_without_it(news_db: Path) -> None:
    hacks = news_db.parent / "hacks.sqlite"
    asyncio.run(_record_hacks(hacks, datetime(2024, 2, 27, tzinfo=UTC), 24 * 6))
    out = news_db.parent / "cmp"
    result = CliRunner().invoke(app, [
        "compare", "--data", str(sample_data_dir()), "--symbols", "BTC/USDT:USDT", "--start", "2024-02-28T00:00:00Z",
        "--end", "2024-03-03T00:00:00Z", "--engines", "rules,veto=rules", "--set", "veto:NEWS_VETO_HOURS=6",
        "--out", str(out), "--news-db", str(hacks),
    ])
    assert result.exit_code == 0, result.output
    plain = json.loads((out / "rules" / "report.json").read_text())["guard"]
    veto = json.loads((out / "veto" / "report.json").read_text())["guard"]
    assert plain["approved"] > 0 and "news_veto" not in plain["reasons"]
    assert veto["approved"] == 0 and veto["reasons"]["news_veto"] > 0
    # each entry's run.json records the news it read, as replay's (it had none before)
    assert all(json.loads((out / name / "run.json").read_text())["news"]["headlines"] == 48 for name in ("rules", "veto"))


def test_walk_forward_reads_the_recorded_news_in_every_part(news_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--folds N --news-db`: compare refused the pair and replay ignored the file without a word; now every
    training and test part reads the news point-in-time, and run.json says which."""
    hacks = news_db.parent / "hacks.sqlite"
    asyncio.run(_record_hacks(hacks, datetime(2024, 2, 22, tzinfo=UTC), 24 * 11))
    window = ["--data", str(sample_data_dir()), "--symbols", "BTC/USDT:USDT", "--start", "2024-02-23T00:00:00Z",
              "--end", "2024-03-03T00:00:00Z", "--folds", "2"]
    out = news_db.parent / "cmp"
    result = CliRunner().invoke(app, ["compare", *window, "--engines", "rules,veto=rules",
                                      "--set", "veto:NEWS_VETO_HOURS=6", "--out", str(out), "--news-db", str(hacks)])
    assert result.exit_code == 0, result.output
    plain = json.loads((out / "rules" / "report.json").read_text())
    veto = json.loads((out / "veto" / "report.json").read_text())
    assert plain["walk_forward"] and veto["walk_forward"]
    assert plain["guard"]["approved"] > 0 and "news_veto" not in plain["guard"]["reasons"]
    assert veto["guard"]["approved"] == 0 and veto["guard"]["reasons"]["news_veto"] > 0
    assert json.loads((out / "veto" / "run.json").read_text())["news"]["news_db"] == str(hacks)

    monkeypatch.setenv("NEWS_VETO_HOURS", "6")
    reports = {}
    for name, extra in (("with", ["--news-db", str(hacks)]), ("without", [])):
        folder = news_db.parent / f"wf-{name}"
        result = CliRunner().invoke(app, ["replay", *window, "--engine", "rules", "--out", str(folder), *extra])
        assert result.exit_code == 0, result.output
        reports[name] = json.loads((folder / "report.json").read_text())["guard"]
        run = json.loads((folder / "run.json").read_text())
        assert ("news" in run) == (name == "with")
    assert reports["with"]["approved"] == 0 and reports["with"]["reasons"]["news_veto"] > 0
    assert reports["without"]["approved"] > 0 and "news_veto" not in reports["without"]["reasons"]
