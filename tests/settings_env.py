"""A test's settings from nothing but what it sets: no stray .env (the working folder is the test's tmp_path)
and none of the named variables from the developer's shell."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest


def isolate_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, names: Iterable[str]) -> None:
    monkeypatch.chdir(tmp_path)
    for name in names:
        monkeypatch.delenv(name, raising=False)
