"""The one backend: the store (`tracer.read.Store`), opened for reading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

if TYPE_CHECKING:
    from tracer.read._reader import Progress


class Readable(Protocol):
    """What a query needs of `tracer.read.Store`: its `.sql`. The queries rely on the store's views (`calls`,
    `attempts` with their call's columns, `events`, the per-minute totals); a wrapper passes them through (the
    tests record the SQL asked this way)."""

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame: ...


def open_store(path: str | Path, progress: Progress | None = None) -> Readable:
    """The store at directory `path`, for reading (`tracer.read.Store`). Raises ValueError for a file: a store is
    a directory of segments; ImportError without DuckDB (the `dashboard` extra). `progress`: see `Store`.

    >>> store = open_store(".tracer")            # doctest: +SKIP
    """
    target = Path(path)
    if target.is_file():
        raise ValueError(f"{target} is a file; a claude-tracer store is a directory (tracer.instrument(store=DIR))")
    from tracer.read._reader import Store

    store: Readable = Store(target, progress=progress)
    return store
