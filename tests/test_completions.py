"""Committed completion scripts must be exactly what the app generates (STYLE: generated files
are committed and a stale one fails a test). Regenerate with:

    HTX_UPDATE_COMPLETIONS=1 python -m pytest tests/test_completions.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"bash": "htx-cancel", "zsh": "_htx-cancel", "fish": "htx-cancel.fish"}


def generate(shell: str) -> str:
    env = {**os.environ, "_HTX_CANCEL_COMPLETE": f"source_{shell}"}
    out = subprocess.run(
        [sys.executable, "-m", "htx_cancel"], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip() + "\n"


@pytest.mark.parametrize("shell", sorted(SCRIPTS))
def test_committed_completion_is_current(shell: str) -> None:
    path = ROOT / "completions" / SCRIPTS[shell]
    text = generate(shell)
    if os.environ.get("HTX_UPDATE_COMPLETIONS"):
        path.write_text(text)
    assert path.read_text() == text, f"{path} is stale: regenerate it (see this file's docstring)"
    if shell == "zsh":
        assert text.startswith("#compdef htx-cancel")
