"""The import rules of DESIGN §2, as import-linter contracts in pyproject.toml, run with the suite.

The second test proves the contracts are live: a copy of the packages with one forbidden import added
must fail them, naming that import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "core", "handlers", "jobs", "storage")
LINT = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True, no_logo=True))"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    # cwd first on sys.path (python -c), so a copy in cwd shadows the editable install of the checkout
    return subprocess.run([sys.executable, "-c", LINT], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/models.py", "import aiogram", "core imports no aiogram"),
        ("jobs/daily_job.py", "import handlers.admin", "jobs get their collaborators as arguments"),
        ("core/execution/perp_math.py", "import core.risk.guard", "Layers inside core"),
        ("storage/db.py", "import bot.telegram.post_format", "Top-level layers"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert broken in done.stdout.replace("\n", " ")
    assert module.removesuffix(".py").replace("/", ".") in done.stdout


def test_core_type_checks_clean() -> None:
    """mypy over core/ as configured in pyproject.toml ([tool.mypy]); its cache lives in .mypy_cache."""
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found")


def test_every_module_of_bot_and_core_sits_in_a_layer() -> None:
    """A new module outside the layers contracts would escape them: name it in pyproject.toml's layers."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    named: set[str] = set()
    for contract in contracts:
        if contract["type"] == "layers":
            prefix = f"{contract['containers'][0]}." if contract.get("containers") else ""
            for layer in contract["layers"]:
                named.update(prefix + part.strip() for part in layer.replace(":", "|").split("|"))
    for package in ("bot", "core"):
        children = {p.stem for p in (ROOT / package).glob("*.py")} | {
            p.parent.name for p in (ROOT / package).glob("*/__init__.py")
        }
        children -= {"__init__", "__main__"}
        missing = sorted(f"{package}.{c}" for c in children if f"{package}.{c}" not in named)
        if package == "core":
            assert "core" in named  # core as a whole sits below bot
        assert not missing, f"not in any layers contract: {missing}"
