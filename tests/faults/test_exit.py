"""Exit and flush: nothing recorded is lost when a script ends without `tracer.flush()`, and neither `flush()` nor
the interpreter's exit waits longer than its deadline, whatever the OTLP endpoint does (issue 19, items 4 and 5).

Each application runs in a subprocess (exit is what is tested, and `instrument()` registers global providers)
against the fake API served by the test process; the store is read afterwards with a real DuckDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.export.receivers import closed_port
from tests.faults.servers import SilentServer, StatusServer
from tracer.fakeapi import FakeAPI
from tracer.read import Store

APP = textwrap.dedent(
    """
    import json, sys, time

    import anthropic

    import tracer

    base_url, store, calls, endpoint, protocol, flush_timeout = sys.argv[1:7]
    tracer.instrument(store=store, otlp_endpoint=endpoint or None, otlp_protocol=protocol or None)
    client = anthropic.Anthropic(api_key="sk-test", base_url=base_url, max_retries=2)
    message = [{"role": "user", "content": "Say hello"}]
    for i in range(int(calls)):
        # Every fifth call is answered 529 then 200 (two attempts), every seventh is streamed.
        script = {"x-fake-script": "529:5,ok"} if i % 5 == 0 else {}
        if i % 7 == 3:
            with client.messages.stream(model="claude-haiku-4-5", max_tokens=16, messages=message) as stream:
                stream.get_final_message()
        else:
            client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=message, extra_headers=script)
    out = {}
    if flush_timeout:
        started = time.monotonic()
        out["flushed"] = tracer.flush(timeout_s=float(flush_timeout))
        out["flush_s"] = time.monotonic() - started
    out["ended_at"] = time.time()
    print(json.dumps(out), flush=True)
    # No tracer.flush() or uninstrument(): the interpreter's exit does it.
    """
)


def run_app(tmp_path: Path, api: FakeAPI, calls: int, *, endpoint: str = "", protocol: str = "",
            flush_timeout: str = "", exit_timeout_s: float | None = None) -> tuple[dict[str, Any], float, str]:
    """(what the app printed, seconds from its last line to its exit, its stderr)."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
    if exit_timeout_s is not None:
        env["TRACER_EXIT_TIMEOUT_S"] = str(exit_timeout_s)
    args = [sys.executable, str(script), api.base_url, str(tmp_path / "store"), str(calls), endpoint, protocol, flush_timeout]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    ended = time.time()
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out, ended - out["ended_at"], done.stderr


def count(store: Path, table: str) -> int:
    return int(Store(store).sql(f"SELECT count(*) AS n FROM {table}")["n"][0])


@pytest.fixture(scope="module")
def api() -> Any:
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


class TestNothingLostAtExit:
    @pytest.mark.parametrize("calls", [10, 100])
    def test_a_script_that_never_flushes_keeps_every_call_and_attempt(self, tmp_path, api, calls):
        run_app(tmp_path, api, calls)
        retried = sum(1 for i in range(calls) if i % 5 == 0 and i % 7 != 3)  # as the app scripts them
        assert count(tmp_path / "store", "calls") == calls
        assert count(tmp_path / "store", "attempts") == calls + retried


# A collector can refuse connections, accept them and never answer, or answer with an error. Whatever it does, the
# application's exit waits at most TRACER_EXIT_TIMEOUT_S for it (plus the store's own write and the margin a loaded
# 2-core machine needs), the store keeps every call, and the one warning says what happened.
EXIT_TIMEOUT_S = 1.0
MARGIN_S = 5.0  # the old code: 15 s against a silent endpoint, 10 s or more against one answering 503


class TestExitWithABadCollector:
    @pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
    def test_a_silent_endpoint_bounds_flush_and_exit(self, tmp_path, api, protocol):
        with SilentServer() as silent:
            out, exit_s, stderr = run_app(tmp_path, api, 5, endpoint=silent.endpoint, protocol=protocol,
                                          flush_timeout="1", exit_timeout_s=EXIT_TIMEOUT_S)
            assert silent.accepted >= 1  # it was tried, and it never answered
        assert out["flushed"] is False
        assert out["flush_s"] < 1.0 + MARGIN_S / 2
        assert exit_s < EXIT_TIMEOUT_S + MARGIN_S, stderr
        assert "no answer within" in stderr, stderr
        assert count(tmp_path / "store", "calls") == 5

    @pytest.mark.parametrize(
        ("server", "said"),
        [("refused", "connection was refused"), (503, "HTTP status 503"), (400, "HTTP status 400")],
    )
    def test_a_refusing_or_rejecting_endpoint_is_named_and_exit_is_bounded(self, tmp_path, api, server, said):
        if server == "refused":
            out, exit_s, stderr = run_app(tmp_path, api, 5, endpoint=f"http://127.0.0.1:{closed_port()}",
                                          protocol="http/protobuf", flush_timeout="2", exit_timeout_s=EXIT_TIMEOUT_S)
        else:
            with StatusServer(int(server)) as rejecting:
                out, exit_s, stderr = run_app(tmp_path, api, 5, endpoint=rejecting.endpoint, protocol="http/protobuf",
                                              flush_timeout="2", exit_timeout_s=EXIT_TIMEOUT_S)
        assert out["flushed"] is False  # truthfully: the spans did not go out
        assert exit_s < EXIT_TIMEOUT_S + MARGIN_S, stderr
        warnings = [line for line in stderr.splitlines() if "cannot export" in line]
        assert warnings and said in warnings[0], stderr
        assert count(tmp_path / "store", "calls") == 5
