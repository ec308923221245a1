"""Importing core's kernel costs no pandas or numpy: commands that never touch a frame start without them (#18)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_kernel_imports_neither_pandas_nor_numpy() -> None:
    code = ("import sys, core.models, core.protocols, core.clock, core.errors; "
            "print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
