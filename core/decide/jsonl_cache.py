"""The decision cache as an append-only JSON-lines file, for replays and the lab (one per report folder).

Unlike the live cache it keeps failed outcomes too (a timeout, no usable JSON): a replay folder records what the
run got, so running it again gives the same report and asks the model nothing. `retry_failed` (`aitrader replay
--retry-failed`) ignores the recorded failures and asks those decisions again; an answer then replaces the
failure in the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.decide.cache import record_from_json, record_to_json
from core.models import DecisionRecord


class JsonlDecisionCache:
    """The decision cache as an append-only JSON-lines file: one {"key", "record"} object per line.

    Read whole at start (a replay's worth is a few MB); a torn last line from a killed run is skipped.
    """

    def __init__(self, path: Path, *, retry_failed: bool = False) -> None:
        self._path = path
        self._retry_failed = retry_failed
        self._records: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                    self._records[str(item["key"])] = item["record"]
                except (ValueError, KeyError, TypeError):
                    continue

    def __len__(self) -> int:
        return len(self._records)

    async def get(self, key: str) -> DecisionRecord | None:
        data = self._records.get(key)
        if data is None or (self._retry_failed and data.get("status") == "failed"):
            return None
        return record_from_json(data)

    async def put(self, key: str, record: DecisionRecord) -> None:
        old = self._records.get(key)
        if old is not None and (old.get("status") != "failed" or record.status == "failed"):
            return  # the first answer stays; only a failure is replaced, by an answer
        data = record_to_json(record)
        self._records[key] = data
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "record": data}, sort_keys=True) + "\n")
