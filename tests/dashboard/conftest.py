"""Fixtures for the dashboard tests: a store filled by the demo workload once per session (in a child process,
since the demo registers process-wide OpenTelemetry providers; tests/demo fills the same directory the same way, so
whichever runs first fills it), and every page run once over it with Streamlit's AppTest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashtest import PAGES, run_page
from streamlit.testing.v1 import AppTest

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
def demo_pages(demo_store: Path) -> dict[str, AppTest]:
    """Every page run once over the demo store (tests only read what they show)."""
    return {page: run_page(demo_store, page) for page in PAGES}


@pytest.fixture(scope="session")
def artifacts_dir() -> Iterator[Path]:
    """./artifacts/dashboard (git-ignored): screenshots a person can look at after the run."""
    path = Path(__file__).resolve().parents[2] / "artifacts" / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    yield path
