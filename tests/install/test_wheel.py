"""The wheel built from this checkout: every package under tracer/ (pyproject.toml lists them by hand, as the
renamed dashboard rules out `packages.find`), the dashboard under its own name, and no top-level `dashboard`
that an application's package of that name would collide with."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_every_module_of_tracer_is_in_the_wheel(wheel_files: set[str]) -> None:
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tracer").rglob("*.py") if "__pycache__" not in p.parts}
    assert modules and modules - wheel_files == set()
    assert {"tracer/py.typed", "tracer/cost/extra.toml"} <= wheel_files


def test_the_dashboard_installs_as_claude_tracer_dashboard_and_not_as_dashboard(wheel_files: set[str]) -> None:
    pages = {f"claude_tracer_dashboard/{p.name}" for p in (ROOT / "dashboard").glob("*.py")}
    assert "claude_tracer_dashboard/app.py" in pages and pages <= wheel_files
    tops = {name.split("/")[0] for name in wheel_files if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"tracer", "claude_tracer_dashboard"}
