"""Demo traffic: a realistic day of Claude API use against the bundled fake API, recorded by `tracer.instrument()`.

>>> from tracer.demo import fill_store
>>> fill_store("/tmp/demo-store", calls=120, latency_scale=0)      # a store every dashboard panel has data in   # doctest: +SKIP

`tracer demo` runs it with a progress bar, prints a summary and serves the dashboard over the store. `run` is the
workload itself (in this process: it registers OpenTelemetry providers); `fill_store` runs `tracer demo
--no-dashboard` in a fresh process, for tests and scripts that must keep their own process uninstrumented.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracer.demo._models import Models, pick_models
from tracer.demo._settings import DEFAULT_CALLS, DEFAULT_FAULTS, SERVICE_NAME

if TYPE_CHECKING:
    from tracer.demo._runner import Result, Task, plan, run

__all__ = [
    "DEFAULT_CALLS",
    "DEFAULT_FAULTS",
    "SERVICE_NAME",
    "Models",
    "Result",
    "Task",
    "fill_store",
    "pick_models",
    "plan",
    "run",
]
_LAZY = ("Result", "Task", "plan", "run")


def __getattr__(name: str) -> Any:
    # The workload imports the SDK and the resilience toolkit: only when used, so `tracer --help` stays fast.
    if name in _LAZY:
        from tracer.demo import _runner

        return getattr(_runner, name)
    raise AttributeError(f"module 'tracer.demo' has no attribute {name!r}")


def fill_store(
    store: str | os.PathLike[str],
    *,
    calls: int = DEFAULT_CALLS,
    seed: int = 0,
    latency_scale: float = 0.0,
    timeout_s: float = 300.0,
) -> subprocess.CompletedProcess[str]:
    """Run `tracer demo --no-dashboard` into `store` in a child process; raises CalledProcessError if it fails.

    Returns the finished process (its `stdout` holds the summary tables).
    """
    command = [
        sys.executable, "-c", "import sys; from tracer.cli import main; sys.exit(main())", "demo", "--no-dashboard",
        "--store", str(Path(store)), "--calls", str(calls), "--seed", str(seed), "--latency-scale", str(latency_scale),
    ]  # fmt: skip
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=True)
