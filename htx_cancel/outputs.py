"""Where the report goes, and what may stop it: standard streams that may be closed or full, the
audit log, and the signals that end a run. The CLI's plumbing, kept apart from its options so
each rule has one place: the exit code always says what happened to the orders, never whether
the report could be printed.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import IO, Final, TextIO

from htx_cancel.errors import UsageError

ENDING_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP)
"""What `timeout`, cron, systemd and a closing terminal send: ended like Ctrl-C, exit 128+N."""


class Signals:
    """Ctrl-C, SIGTERM and SIGHUP stop a run the same way: the first one raises KeyboardInterrupt
    at the next bytecode, which the engine turns into a report of what is known, and is
    remembered for the exit code (128+N). Any later one is only remembered: the report being
    put together and written must not be cut short by a second Ctrl-C. While a finished run's
    report is written (`held`), even the first one is only remembered."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        for number in (signal.SIGINT, *ENDING_SIGNALS):
            signal.signal(number, self._interrupt)

    def exit_code(self, default: int) -> int:
        """128 + the signal that ended the run, or `default` when none was seen."""
        return 128 + self.received if self.received is not None else default

    @contextmanager
    def held(self) -> Iterator[None]:
        previous = {n: signal.signal(n, self._remember) for n in (signal.SIGINT, *ENDING_SIGNALS)}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _interrupt(self, number: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = number
        raise KeyboardInterrupt

    def _remember(self, number: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = number


class Forgiving(io.TextIOBase):
    """stderr that cannot fail a run: once a write fails (a reader that went away, EIO after the
    terminal hung up), everything after it goes nowhere, and the exit code still tells what
    happened to the orders."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._dead = False

    @property
    def encoding(self) -> str:  # type: ignore[override]  # io.TextIOBase's is read-only too
        return self._stream.encoding

    def write(self, text: str) -> int:
        if not self._dead:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                self._dead = True
        return len(text)

    def flush(self) -> None:
        if not self._dead:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._dead = True

    def isatty(self) -> bool:
        return not self._dead and self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


class Streams:
    """stdout and stderr as the process got them. A closed descriptor (`>&-`, `2>&-`) is put on
    /dev/null first thing, so no socket or file opened later can take its number and receive
    the report by mistake; the report then says on stderr that it could not be written."""

    def __init__(self) -> None:
        self.stdout_closed = False
        for fd in (0, 1, 2):
            try:
                os.fstat(fd)
            except OSError:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
                if fd == 1:
                    self.stdout_closed = True
        if sys.stdout is None:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
        if sys.stderr is None:
            sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        if not isinstance(sys.stderr, Forgiving):
            sys.stderr = Forgiving(sys.stderr)

    def write_report(self, write: Callable[[IO[str]], object], say: Callable[[str], None]) -> None:
        """Write the report to stdout; if it cannot be (closed, full disk, broken pipe), say so on
        stderr and carry on: the exit code is about the orders. A reader that went away (`| head`)
        is expected and stays quiet."""
        if self.stdout_closed:
            say("standard output is closed: the report was not written")
            return
        try:
            write(sys.stdout)
            sys.stdout.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                say(f"could not write the report to standard output: {exc.strerror or exc}")
            self._drop_stdout()

    def _drop_stdout(self) -> None:
        """Anything still buffered cannot be written either: point stdout at /dev/null so the
        final flush does not fail a second time."""
        with suppress(OSError, ValueError):
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.close(null)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115


class AuditLog:
    """--log-file: JSON lines appended and flushed one by one, from the run's start (version, URL,
    contract, how many IDs) to its end (exit code, interrupted or not), so a cron trail can be
    read without the terminal. A failing disk is said once and ends the logging, never the run."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        self._warn = warn
        try:
            self._handle: IO[str] | None = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--log-file: cannot open '{path}': {exc.strerror}") from None

    def write(self, line: str) -> None:
        if self._handle is None:
            return
        try:
            self._handle.write(line + "\n")
            self._handle.flush()
        except OSError as exc:
            self._warn(f"warning: --log-file: {exc.strerror}; audit log stopped")
            self.close()

    def record(self, **body: object) -> None:
        from htx_cancel.render import audit_record

        self.write(audit_record(dict(body)))

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            with suppress(OSError):
                handle.close()
