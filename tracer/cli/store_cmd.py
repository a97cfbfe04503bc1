"""`tracer store info|compact|prune`: look after the embedded store's segment files.

tracer store info                      # segments, rows, size, schema versions and time range per table
tracer store compact                   # merge small segments into big ones (readers keep reading)
tracer store prune --older-than 30d    # delete whole days that ended more than 30 days ago
tracer store repair                    # rewrite segments that decode only row by row, with every row that decodes

Every subcommand takes `--store DIR` (default `$TRACER_STORE`, else `./.tracer`). All three are safe while
applications write and dashboards read: compaction and pruning take the store's lock, and segments are only ever
replaced whole (docs/store.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from tracer.cli import CliError

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "store",
        help="inspect, compact or prune the embedded store",
        description="Inspect, compact or prune the embedded store (a directory of Parquet segments).",
    )
    sub = parser.add_subparsers(dest="store_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    info = sub.add_parser(
        "info",
        help="segments, rows, size, schema versions and time range per table",
        description="Per table (calls, attempts, events): live segments, rows, bytes on disk, schema versions, "
        "days held and the earliest and latest time. Unreadable segments are counted (and skipped by readers).",
    )
    _store_option(info)
    info.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    info.set_defaults(func=info_handler)

    compact = sub.add_parser(
        "compact",
        help="merge small segments into big ones",
        description="Merge each table's small segments per day into big ones sorted by time, and delete leftovers "
        "of an interrupted compaction. Safe while applications write and dashboards read.",
    )
    _store_option(compact)
    compact.set_defaults(func=compact_handler)

    prune = sub.add_parser(
        "prune",
        help="delete the days that ended more than a given age ago",
        description="Delete whole days (the store's partitions) that ended more than --older-than ago, in every "
        "table. Safe while applications write and dashboards read.",
    )
    _store_option(prune)
    prune.add_argument(
        "--older-than", required=True, metavar="AGE", help="an age with a unit: 45s, 90m, 12h, 30d (or 4w)"
    )
    prune.set_defaults(func=prune_handler)

    repair = sub.add_parser(
        "repair",
        help="rewrite damaged segments with every row that decodes",
        description="Rewrite each row segment that does not decode as a whole (a value out of its column's range, "
        "written before schema 4) with every row that decodes; values that do not fit are NULL and named in "
        "damaged_fields. Atomic, under the store's lock; reports per file the rows kept and left out. Segments that "
        "fail their checksum are listed and left as they are.",
    )
    _store_option(repair)
    repair.set_defaults(func=repair_handler)


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="DIR", help="store directory (default $TRACER_STORE, else ./.tracer)")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def parse_age(text: str) -> dt.timedelta:
    """`"30d"` -> 30 days. Units s, m, h, d (and w); raises CliError naming the accepted form.

    >>> parse_age("36h")
    datetime.timedelta(days=1, seconds=43200)
    """
    match = _AGE.match(text)
    if not match:
        raise CliError(f"--older-than {text!r}: expected a number and a unit (s, m, h or d), like 30d, 12h or 90m")
    age = dt.timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])
    if age <= dt.timedelta(0):
        raise CliError(f"--older-than {text!r}: must be more than zero")
    return age


def _root(args: argparse.Namespace, *, must_exist: bool = True) -> Path:
    from tracer.store import default_root

    root = Path(args.store).expanduser() if args.store else default_root()
    if must_exist and not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise CliError(f"no store at {root} ({what}); pass --store DIR or set TRACER_STORE")
    return root


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # unreachable: the loop returns at GiB


def _when(value: dt.datetime | None) -> str:
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def info_handler(args: argparse.Namespace) -> int:
    from tracer.read import store_drops, store_info

    root = _root(args)
    info = store_info(root)
    drops = store_drops(root)
    if args.json:
        plain = {
            table: {**values, "first": _iso(values["first"]), "last": _iso(values["last"])}
            for table, values in info.items()
        }
        print(json.dumps({"store": str(root), "tables": plain, "dropped": drops}, indent=2))
        return 0

    from rich.console import Console
    from rich.table import Table

    out = Table(title=f"store {root}", title_justify="left")
    for column in ("table", "segments", "rows", "size", "schema", "days", "first (UTC)", "last (UTC)", "unreadable", "rows lost", "damaged rows"):
        out.add_column(column, justify="left" if column in ("table", "schema") else "right", no_wrap=True)
    for table, values in info.items():
        out.add_row(
            table,
            f"{values['segments']:,}",
            f"{values['rows']:,}",
            _size(values["bytes"]),
            ", ".join(f"v{v}" for v in values["versions"]) or "-",
            str(len(values["days"])),
            _when(values["first"]),
            _when(values["last"]),
            str(values["unreadable"]),
            f"{sum(values['lost'].values()):,}",
            f"{values['damaged_rows']:,}",
        )
    console = Console()
    if not console.is_terminal:  # piped or captured: keep each table on one line
        console = Console(width=160)
    console.print(out)
    segments = sum(v["segments"] for v in info.values())
    size = sum(v["bytes"] for v in info.values())
    console.print(f"total: {segments:,} segments, {_size(size)}")
    unreadable = sum(v["unreadable"] for v in info.values())
    if unreadable:
        console.print(
            f"{unreadable} unreadable segments (truncated, damaged or not a segment) are skipped by every reader with "
            "a warning; move them out of the store to silence it:"
        )
        for values in info.values():
            for path in values["bad"]:
                console.print(f"  {path}", soft_wrap=True)
    salvaged = [(path, values["lost"].get(path, 0)) for values in info.values() for path in values["salvaged"]]
    if salvaged:
        console.print(
            f"{len(salvaged)} segments decode only row by row (a value out of its column's range); readers keep every "
            "row that decodes; `tracer store repair` rewrites them:"
        )
        for path, lost in salvaged:
            console.print(f"  {path}: {lost:,} rows left out", soft_wrap=True)
    skewed = sum(v["clock_skew_rows"] for v in info.values())
    if skewed:
        console.print(
            f"{skewed:,} rows are stamped after now: a writer's clock runs fast; windows that end at now (`tracer "
            "report --since`, the dashboard) leave them out"
        )
    damaged = sum(v["damaged_rows"] for v in info.values())
    if damaged:
        console.print(f"{damaged:,} rows hold a value stored as NULL because it did not fit its column (damaged_fields)")
    if drops["by_stage"]:
        stages = ", ".join(f"{n:,} at {stage}" for stage, n in drops["by_stage"].items())
        writers = f"{drops['processes']} writing process" + ("es" if drops["processes"] != 1 else "")
        console.print(f"dropped before reaching the store, by {writers}: {stages} (see docs/faults.md section 10)")
    return 0


def repair_handler(args: argparse.Namespace) -> int:
    from tracer.read import repair

    root = _root(args)
    try:
        result = repair(root)
    except OSError as exc:
        raise CliError(f"cannot repair the store at {root}: {exc}") from None
    for damaged, written, kept, left_out in result.files:
        print(f"repaired {damaged}: {kept:,} rows kept, {left_out:,} left out -> {written}")
    print(f"repaired {root}: {result.salvaged} segments rewritten, {result.rows_kept:,} rows kept, {result.rows_left_out:,} left out")
    if result.unreadable:
        print(f"{len(result.unreadable)} segments do not decode at all (checksum or header); left as they are:")
        for path in result.unreadable:
            print(f"  {path}")
    return 0


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def compact_handler(args: argparse.Namespace) -> int:
    from tracer.read import compact, store_info

    root = _root(args)
    before = sum(v["segments"] for v in store_info(root).values())
    try:
        result = compact(root)
    except OSError as exc:
        raise CliError(f"cannot compact the store at {root}: {exc}") from None
    after = sum(v["segments"] for v in store_info(root).values())
    print(
        f"compacted {root}: {result.merged} segments merged into {result.written}; "
        f"{before} live segments before, {after} after"
    )
    if result.removed_stale:
        print(f"removed {result.removed_stale} leftover files of interrupted writes or compactions")
    if result.skipped_bad:
        print(f"left {result.skipped_bad} groups uncompacted because a segment in them is unreadable")
    return 0


def prune_handler(args: argparse.Namespace) -> int:
    from tracer.read import prune

    age = parse_age(args.older_than)
    root = _root(args)
    now = dt.datetime.now(dt.UTC)
    try:
        result = prune(root, age, now=now)
    except OSError as exc:
        raise CliError(f"cannot prune the store at {root}: {exc}") from None
    cutoff = now - age
    records = result.drop_records_removed
    print(
        f"pruned {root}: {result.days_removed} day partitions ({result.files_removed} files) that ended before "
        f"{_when(cutoff)} UTC" + (f", and {records} drop records last written before then" if records else "")
    )
    return 0
