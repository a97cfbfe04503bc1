"""A store made of one day of another store's segments, linked table by table: to load a day's attempts before
their calls, then the calls, then to prune them."""

from __future__ import annotations

import os
from pathlib import Path


def empty_day(source: Path, root: Path) -> str:
    """The second day of the store at `source`, with its (empty) table directories made in the store at `root`."""
    day = sorted(p.name for p in (source / "calls").iterdir())[1]
    for table in ("attempts", "calls", "events"):
        (root / table / day).mkdir(parents=True)
    return day


def link_day(source: Path, root: Path, table: str, day: str) -> None:
    """Hard-link `table`'s segments of `day` from the store at `source` into the one at `root`."""
    for path in (source / table / day).glob("*.parquet"):
        os.link(path, root / table / day / path.name)


def unlink_day(root: Path, table: str, day: str) -> None:
    """Delete `table`'s segments of `day` from the store at `root` (as `prune` would)."""
    for path in (root / table / day).glob("*.parquet"):
        path.unlink()
