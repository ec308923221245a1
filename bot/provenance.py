"""What makes a run reproducible (DESIGN §4.6 run.json): code version, data hashes, settings, prompt, model.

Everything here is a function of the inputs, never of the run (no wall time, no host): two runs with the same
inputs write the same run.json. The git commit is read from the checkout the package runs from, when it is
one (`git` missing or no checkout: null); `dirty` says whether tracked files differ from that commit.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]


def package_version() -> str:
    try:
        return metadata.version("aitrader")
    except metadata.PackageNotFoundError:
        return "unknown"


@cache
def git_commit() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(_ROOT), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_hashes(paths: Iterable[Path]) -> dict[str, str]:
    """{file name: sha256} of every data file read (names: the folder is the user's, the bytes are the data)."""
    return {p.name: sha256_file(p) for p in sorted(paths)}


def run_record(
    *,
    command: str,
    data_dir: Path,
    files: Iterable[Path],
    settings: Mapping[str, Any],
    prompt_version: str | None,
    model: str | None,
    intrabar: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "command": command,
        "package_version": package_version(),
        "git": git_commit(),
        "data_dir": str(data_dir),
        "data_files_sha256": data_hashes(files),
        "settings": dict(settings),
        "prompt_version": prompt_version,
        "model": model,
        "intrabar_resolution": dict(intrabar),
        **dict(extra or {}),
    }
