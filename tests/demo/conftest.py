"""A store filled once per session by `tracer demo --no-dashboard --latency-scale 0`, in a child process (the demo
registers process-wide OpenTelemetry providers). tests/dashboard fills the same directory the same way, so
whichever area runs first fills it and the other reuses it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracer.demo import fill_store

DEMO_CALLS = 120


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.getbasetemp() / "demo-store"
    summary = store.parent / "demo-store.out"
    if not summary.exists():
        done = fill_store(store, calls=DEMO_CALLS, seed=0, latency_scale=0)
        summary.write_text(done.stdout)
    return store


@pytest.fixture(scope="session")
def demo_output(demo_store: Path) -> str:
    """What `tracer demo` printed while filling `demo_store`."""
    return (demo_store.parent / "demo-store.out").read_text()
