"""What a command prints while a big store loads into its reader cache for the first time (`tracer.read.Progress`):
one line saying what is happening and why it happens once, then how far it is: redrawn in place on a terminal,
a line per quarter when the output is a file or a pipe."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# Below this many rows a load takes a second or two: not worth a line.
SHOW_FROM_ROWS = 500_000


def printer(stream: TextIO | None = None, *, show_from_rows: int | None = None) -> _Printer:
    """A `tracer.read.Progress` that prints to `stream` (default stderr) once a load has at least `show_from_rows`
    (default `SHOW_FROM_ROWS`)."""
    return _Printer(stream or sys.stderr, SHOW_FROM_ROWS if show_from_rows is None else show_from_rows)


class _Printer:
    def __init__(self, stream: TextIO, show_from_rows: int) -> None:
        self.stream = stream
        self.show_from_rows = show_from_rows
        self.started: float | None = None
        self.quarter = 0
        self.live = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        if total < self.show_from_rows:
            return
        now = time.monotonic()
        if self.started is None:
            self.started = now
            self._write(
                f"tracer: loading {total:,} rows into the store's reader cache (a first open, or much new data; "
                "later opens load only what is new)\n"
            )
        line = f"  {100 * done // total:3d}%  {done:,} of {total:,} rows, {now - self.started:.0f} s"
        if self.live:
            self._write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total or 4 * done // total > self.quarter:
            self.quarter = 4 * done // total
            self._write(line + "\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: the load matters, its progress does not
            pass
