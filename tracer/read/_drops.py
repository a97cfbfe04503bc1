"""What the processes writing a store dropped on the way to it, from their drop records (`tracer._drops`).

Each process whose pipeline dropped anything keeps one small JSON file under `<store>/drops/`, brought up to date by
its store writer: `{"host", "pid", "updated", "dropped": {stage: count}}`. `tracer store info` sums them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracer import _drops


def store_drops(root: Path) -> dict[str, Any]:
    """`{"by_stage": {stage: items}, "processes": n, "unreadable": [paths]}` over every drop record of the store
    at `root`; empty counts when there is none. A record that does not parse is listed, not counted.

    >>> store_drops(Path("/nonexistent"))
    {'by_stage': {}, 'processes': 0, 'unreadable': []}
    """
    by_stage: dict[str, int] = {}
    processes = 0
    unreadable: list[str] = []
    directory = root / _drops.RECORD_DIR
    paths = sorted(directory.glob("*" + _drops.RECORD_SUFFIX)) if directory.is_dir() else []
    for path in paths:
        if path.name.startswith("."):
            continue
        try:
            dropped = json.loads(path.read_text(encoding="utf-8"))["dropped"]
            counts = {str(stage): n for stage, n in dropped.items() if type(n) is int and n >= 0}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            unreadable.append(str(path))
            continue
        processes += 1
        for stage, n in counts.items():
            by_stage[stage] = by_stage.get(stage, 0) + n
    return {"by_stage": dict(sorted(by_stage.items())), "processes": processes, "unreadable": unreadable}
