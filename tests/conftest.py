"""Shared test configuration and helpers. Area fixtures live in each tests/<area>/conftest.py; what several areas
need lives here (import helpers as `from tests.conftest import ...`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

DEMO_CALLS = 120  # calls of the demo run that tests/demo and tests/dashboard share


def require_system_tool(name: str) -> str:
    """The path of a Debian tool the test drives for real; skip without it, unless CI requires it."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("TRACER_REQUIRE_SYSTEM_TOOLS"):
        pytest.fail(f"{name} is not installed; `make test` installs it (apt-get) on a machine where it can")
    pytest.skip(f"{name} is not installed (make system-tools installs it)")


def metric_points(reader: Any, name: str) -> list[tuple[dict[str, Any], Any]]:
    """(attributes, point) for every point of the metric `name` that an SDK metric reader collects now."""
    data = reader.get_metrics_data()
    out = []
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    out.extend((dict(p.attributes or {}), p) for p in m.data.data_points)
    return out


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store filled once per session by `tracer demo --no-dashboard --latency-scale 0` in a child process (the demo
    registers process-wide OpenTelemetry providers), shared by tests/demo and tests/dashboard. What the demo printed
    is beside it, in `demo-store.out`."""
    from tracer.demo import fill_store

    store = tmp_path_factory.getbasetemp() / "demo-store"
    summary = store.parent / "demo-store.out"
    if not summary.exists():
        done = fill_store(store, calls=DEMO_CALLS, seed=0, latency_scale=0)
        summary.write_text(done.stdout)
    return store
