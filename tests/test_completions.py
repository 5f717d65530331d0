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


def test_bash_completes_an_option_with_the_committed_script() -> None:
    """What pressing Tab after `htx-cancel --ti` does in bash, with the script we ship."""
    script = ROOT / "completions" / "htx-cancel"
    bin_dir = Path(sys.executable).parent
    probe = (
        f"source '{script}'; COMP_WORDS=(htx-cancel --ti); COMP_CWORD=1; "
        '_htx_cancel_completion htx-cancel; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["--timeout"]


def test_install_completion_writes_a_sourced_script(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    out = subprocess.run(
        [sys.executable, "-m", "htx_cancel", "--install-completion", "bash"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    installed = tmp_path / ".bash_completions" / "htx-cancel.sh"
    assert "_HTX_CANCEL_COMPLETE" in installed.read_text()
    assert str(installed) in (tmp_path / ".bashrc").read_text()
