"""Every span and deferred item the telemetry pipeline drops before an exporter has it, counted in one place.

Three stages can drop (`tracer.semconv.DROP_STAGES`):

- `processor_queue`: a batch span processor's queue was full (`capture/_batch.py`), for the store or OTLP;
- `worker_queue`: our worker's deque was full (`capture/_worker.py`): an attempt span or a call's metrics;
- `exporter`: the store's exporter could not keep or write what it was given (`store/_exporter.py`).

The counts are process-wide and only grow, so that one reading can be compared with a later one: `tracer.flush()`
returns False when the total grew since the previous flush, the `tracer.dropped` metric reports them as cumulative
sums, and the store's writer persists this process's counts (`write_record`) where `tracer store info` reads them.
Counting is the only thing done where the drop happens (an application thread, often): no logging, no I/O, no
metric SDK call; the worker thread says once per stage that drops began (`newly_dropping`).

Standard library only: the store's writer imports it in the application.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import socket
import threading
from pathlib import Path

from tracer import semconv

PROCESSOR_QUEUE, WORKER_QUEUE, EXPORTER = semconv.DROP_STAGES
STORE = "store"  # what a processor or exporter feeds: the embedded store,
OTLP = "otlp"  # or an OTLP endpoint
ALL = ""  # the worker feeds both

# Where the store's writer keeps each process's counts (one small JSON file per process): `<root>/drops/`.
RECORD_DIR = "drops"
RECORD_SUFFIX = ".json"

_lock = threading.Lock()  # taken only when something is dropped
_counts: dict[tuple[str, str], int] = {}
_at_fork: dict[tuple[str, str], int] = {}  # the parent's counts when this process was forked: not this process's
_warned: set[str] = set()


def count(stage: str, feeds: str = ALL, n: int = 1) -> None:
    """Count `n` items dropped at `stage` on the way to `feeds`. Never raises; no I/O."""
    key = (stage, feeds)
    with _lock:
        _counts[key] = _counts.get(key, 0) + n


def total() -> int:
    """Everything dropped in this process so far (a forked child's count starts at its parent's)."""
    return sum(_counts.values())


def snapshot() -> dict[tuple[str, str], int]:
    """(stage, feeds) -> items dropped so far; a copy."""
    with _lock:
        return dict(_counts)


def newly_dropping() -> list[tuple[str, int]]:
    """(stage, count) for each stage other than the exporter's (which says so itself) that has dropped something
    since the last call and never before: the worker thread warns once per stage with it."""
    out = []
    for (stage, _), n in snapshot().items():
        if n and stage != EXPORTER and stage not in _warned:
            _warned.add(stage)
            out.append((stage, n))
    return out


def _forked() -> None:
    global _lock
    _lock = threading.Lock()
    _at_fork.clear()
    _at_fork.update(_counts)
    _record_names.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


# -- the persisted record: what this process dropped on the way to a store --------------------------------------

_HOST = "".join(ch if ch.isalnum() else "_" for ch in socket.gethostname())[:32] or "host"
_record_names: dict[int, str] = {}  # pid -> this process's record file name (one per process and store)


def store_counts() -> dict[str, int]:
    """Stage -> items this process dropped that a store would have had (the store's queue, the worker's, the store
    exporter's), from its start (a forked child: from the fork). Stages with none are left out."""
    out: dict[str, int] = {}
    for (stage, feeds), n in snapshot().items():
        if feeds in (STORE, ALL):
            n -= _at_fork.get((stage, feeds), 0)
            if n > 0:
                out[stage] = out.get(stage, 0) + n
    return out


def write_record(root: Path, counts: dict[str, int]) -> None:
    """Write this process's `counts` (`store_counts()`) as its record under `root/drops/`, replacing its previous
    one atomically. Raises OSError; the caller (the store's writer thread) decides how loudly to say so."""
    pid = os.getpid()
    name = _record_names.get(pid)
    if name is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        name = _record_names[pid] = f"{stamp}-{_HOST}-{pid}-{secrets.token_hex(4)}{RECORD_SUFFIX}"
    directory = root / RECORD_DIR
    directory.mkdir(parents=True, exist_ok=True)
    body = {
        "host": socket.gethostname(),
        "pid": pid,
        "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dropped": counts,
    }
    tmp = directory / f".tmp-{name}"
    try:
        tmp.write_text(json.dumps(body, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, directory / name)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
