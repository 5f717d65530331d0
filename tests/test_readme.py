"""The README's command reference is the real --help, never a stale copy of it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- help:start -->\n)(.*?)(<!-- help:end -->)", re.S)


def current_help() -> str:
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb"}
    out = subprocess.run(
        [sys.executable, "-m", "htx_cancel", "--help"], env=env, capture_output=True, text=True, check=True
    )
    return "```\n" + out.stdout.rstrip() + "\n```\n"


def test_readme_command_reference_matches_help() -> None:
    text = README.read_text()
    match = BLOCK.search(text)
    assert match, "README.md lost its <!-- help:start --> / <!-- help:end --> markers"
    expected = current_help()
    if os.environ.get("HTX_UPDATE_README"):
        README.write_text(text[: match.start(2)] + expected + text[match.end(2) :])
        return
    assert match.group(2) == expected, "README command reference is stale: see tests/test_readme.py"


def test_help_teaches_scripts_cron_and_exit_codes() -> None:
    text = current_help()
    assert "--json | jq" in text
    assert "*/5 * * * * htx-cancel" in text
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"    {code}" in text
    assert "HTX_SECRET_KEY" in text and "HTX_WS_URL" in text
