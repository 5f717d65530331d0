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
    "ledger",
    "plan",
    "confirm",
    "notify",
    "orders",
    "trail",
    "prepare",
    "dial",
    "tls",
    "proxies",
    "rest",
    "sweep",
    "outputs",
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


def test_cli_loads_the_engine_only_once_inputs_are_valid() -> None:
    """The connection is dialled before websocket-client and the engine load (their imports then
    overlap the TCP and TLS round trips), so importing the CLI must not pull them in."""
    code = (
        "import sys, htx_cancel.cli\n"
        "late = ('websocket', 'htx_cancel.engine', 'http.client')\n"
        "print(','.join(m for m in late if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
