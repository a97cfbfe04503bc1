"""pytest plugin for `scripts/sdk_suite.py`: sets up tracing the way an application would, records every outcome.

Loaded into the anthropic SDK's own test run with `-p sdk_suite_plugin`. `SDK_SUITE_MODE` says how:

- `plain`: a bare OpenTelemetry SDK `TracerProvider` registered globally, so the SDK's native spans are on as in any
  traced application;
- `tracer`: `tracer.instrument()` with its defaults, the embedded store in a temporary directory (`TRACER_STORE`).

Both are set up in `pytest_configure`, after the SDK's own early plugins (its `httpx` alias must come first).
At the end the controller writes `{test id: outcome}` and, for failures, the crash line to `SDK_SUITE_RESULTS`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest

_outcomes: dict[str, str] = {}
_messages: dict[str, str] = {}
_RANK = {"passed": 0, "skipped": 1, "xfailed": 1, "failed": 2, "error": 3}


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # the xdist controller runs no test: only its workers are set up
    mode = os.environ.get("SDK_SUITE_MODE")
    if mode == "plain":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())
    elif mode == "tracer":
        import tracer
        from tracer.capture import ClaudeTracerInstrumentor

        tracer.instrument()  # the store goes to $TRACER_STORE, a temporary directory the runner made
        if not ClaudeTracerInstrumentor().is_instrumented_by_opentelemetry:
            raise pytest.UsageError("tracer.instrument() did not instrument: this run would test nothing of ours")
    else:
        raise pytest.UsageError(f"SDK_SUITE_MODE must be 'plain' or 'tracer', not {mode!r}")


def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get("SDK_SUITE_MODE") == "tracer" and "tracer" in sys.modules:
        import tracer

        tracer.flush()  # so that the runner finds in the store what this process recorded


def _note(nodeid: str, outcome: str, message: str | None) -> None:
    # A test has up to three reports (setup, call, teardown); the worst one is its outcome.
    if _RANK[outcome] >= _RANK.get(_outcomes.get(nodeid, "passed"), 0):
        _outcomes[nodeid] = outcome
        if message:
            _messages[nodeid] = message


def _crash_line(report: Any) -> str | None:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).splitlines()[0][:300] if crash.message else None
    text = str(report.longrepr or "").strip().splitlines()
    return text[-1][:300] if text else None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "failed"  # a strict xpass is reported as failed
    elif report.failed:
        outcome = "failed" if report.when == "call" else "error"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "passed"
    _note(report.nodeid, outcome, _crash_line(report) if outcome in ("failed", "error") else None)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:  # a module that cannot be imported: every test in it is lost
        _note(report.nodeid or "<collection>", "error", _crash_line(report))


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("SDK_SUITE_RESULTS")
    if path and not hasattr(session.config, "workerinput"):  # xdist workers send their reports to the controller
        with open(path, "w") as f:
            json.dump({"outcomes": _outcomes, "messages": _messages}, f, indent=0, sort_keys=True)
