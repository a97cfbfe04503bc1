"""Shared test configuration. Area fixtures live in each tests/<area>/conftest.py."""

from __future__ import annotations

import os
import shutil

import pytest


def require_system_tool(name: str) -> str:
    """The path of a Debian tool the test drives for real; skip without it, unless CI requires it."""
    path = shutil.which(name)
    if path:
        return path
    if os.environ.get("TRACER_REQUIRE_SYSTEM_TOOLS"):
        pytest.fail(f"{name} is not installed; `make test` installs it (apt-get) on a machine where it can")
    pytest.skip(f"{name} is not installed (make system-tools installs it)")
