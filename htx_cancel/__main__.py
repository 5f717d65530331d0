"""Allow `python -m htx_cancel` for environments where the console script is not on PATH."""

from htx_cancel.cli import run

run()
