"""The core must stay free of Typer and Rich (speed, and a library-first design)."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "inputs",
    "config",
    "models",
    "signing",
    "frames",
    "reconcile",
    "pacing",
    "transport",
    "engine",
    "errors",
]


def test_core_modules_import_neither_typer_nor_rich() -> None:
    code = (
        "import sys\n"
        + "".join(f"import htx_cancel.{name}\n" for name in CORE)
        + "banned = ('typer', 'rich', 'click', 'websockets')\n"
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in banned)\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_loads_rich_only_to_render() -> None:
    code = "import sys, htx_cancel.cli\nprint('rich' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
